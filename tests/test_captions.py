"""Every report caption of the figure tables renders as Snakemake's report renders it (Jinja with
the figure's wildcards, then reStructuredText through docutils) without a single docutils system
message: the report shows those as red error boxes inside the caption."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from docutils import nodes
from docutils.core import publish_doctree
from jinja2 import Environment, StrictUndefined
from workflow_helpers import REPO, SMOKE

from hierphase.plan import load_plan_files

#: As snakemake.report sets up its Jinja environment; undefined names fail here.
JINJA = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)


def caption_problems(text: str) -> list[str]:
    """The system messages (info and up) docutils reports on ``text``."""
    stream = io.StringIO()
    tree = publish_doctree(text, settings_overrides={
        "report_level": 1, "halt_level": 5, "warning_stream": stream})
    found = [m.astext() for m in tree.findall(nodes.system_message)]
    return found + ([stream.getvalue()] if stream.getvalue() else [])


def rendered_captions():
    """(id, rendered caption) of every instance of every figure of the default and smoke plans."""
    seen = {}
    for overlays in ((), (SMOKE,)):
        plan = load_plan_files(*overlays, root=REPO)
        for figure in plan.figures():
            template = (REPO / "workflow" / "report" / figure.caption).read_text()
            for wildcards in figure.instances:
                snakemake = SimpleNamespace(wildcards=SimpleNamespace(**wildcards),
                                            params=SimpleNamespace(**figure.params),
                                            config=plan.config, rule=figure.rule)
                text = JINJA.from_string(template).render(snakemake=snakemake)
                seen[f"{figure.rule}{sorted(wildcards.items())}"] = text
    return sorted(seen.items())


CAPTIONS = rendered_captions()


def test_every_figure_has_a_caption():
    assert len(CAPTIONS) > 20


@pytest.mark.parametrize("text", [text for _, text in CAPTIONS], ids=[i for i, _ in CAPTIONS])
def test_caption_builds_without_docutils_messages(text):
    assert caption_problems(text) == []


def test_the_caption_check_sees_a_bad_substitution():
    """``|gap|`` is a substitution reference docutils cannot resolve: an error it reports."""
    assert caption_problems("the mean |gap| over the noise values")
    assert caption_problems("the mean ``|gap|`` over the noise values") == []
