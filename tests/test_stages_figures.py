"""hierphase.stages.figures: the figure glue that every figure rule calls through
workflow/scripts/figure.py, and the figure entries' names of it."""

from __future__ import annotations

import matplotlib.figure
import pytest

from hierphase import io
from hierphase.plan import Figure
from hierphase.stages import figures
from hierphase.stages import rhm as stage


def test_draw_calls_the_named_function_on_the_rules_tables(tmp_path):
    summary = tmp_path / "summary.parquet"
    io.write_table(stage.theory_summary_table(8, 3, 2), summary)
    fig = figures.draw("hierphase.stages.figures.rhm:rhm_fig_cobweb", {"summary": str(summary)},
                       {"v": 8, "m": 3, "s": 2, "depth": 3}, {"experiment": "main"})
    assert isinstance(fig, matplotlib.figure.Figure) and fig.axes


@pytest.mark.parametrize("name, error", [
    ("hierphase.stages.figures.rhm.rhm_fig_cobweb", ValueError),  # no colon
    ("hierphase.stages.figures.rhm:", ValueError),
    ("hierphase.stages.figures.rhm:no_such_figure", ValueError),
    ("hierphase.stages.figures.rhm:pd", ValueError),  # a module, not a function
    (None, TypeError),
])
def test_resolve_refuses_what_names_no_function(name, error):
    with pytest.raises(error, match="name"):
        figures.resolve(name)


def not_a_figure(inputs, params, wildcards):
    return inputs


def test_draw_refuses_arguments_that_are_no_mappings_and_results_that_are_no_figures():
    with pytest.raises(TypeError, match="params"):
        figures.draw("hierphase.stages.figures.rhm:rhm_fig_cobweb", {}, [1, 2], {})
    with pytest.raises(TypeError, match="not a matplotlib figure"):
        figures.draw(f"{__name__}:not_a_figure", {}, {}, {})


def test_a_figure_entry_names_its_function_and_keeps_the_rule_param_free():
    fields = dict(rule="x_fig", path="results/x/fig", inputs={}, caption="x/fig.rst",
                  category="X")
    entry = Figure(**fields, draw="pkg.mod:x_fig", params={"n": 1})
    assert entry.rule_params == {"draw": "pkg.mod:x_fig", "n": 1}
    with pytest.raises(ValueError, match="draw"):
        Figure(**fields, draw="x_fig")
    with pytest.raises(TypeError, match="draw"):
        Figure(**fields, draw=None)
    with pytest.raises(ValueError, match="draw"):
        Figure(**fields, draw="pkg.mod:x_fig", params={"draw": "other"})
