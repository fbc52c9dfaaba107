"""The figure table: one entry per figure rule (name, inputs, drawing function, caption), from
which the workflow generates the rules and the report entries (``workflow/rules/common.smk``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Figure"]


@dataclass(frozen=True)
class Figure:
    """One figure rule. ``rule``: its name; ``draw``: the function that draws it,
    ``module:function`` (the figure glue, ``hierphase.stages.figures.<branch>``: it reads the
    inputs, pools the tables and calls one function of ``hierphase.plots``), which every figure
    rule's script ``workflow/scripts/figure.py`` calls with the rule's inputs, params and
    wildcards before saving both files; ``path``: the output pattern without extension (a PNG for
    the report and a PDF); ``inputs``: name -> file pattern, list of files or input function;
    ``caption``: the report caption, ``workflow/report/<caption>``; ``instances``: the wildcard
    values of every figure the config asks for (the branch's targets)."""

    rule: str
    path: str
    inputs: dict[str, Any]
    caption: str
    category: str
    draw: str
    subcategory: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    instances: tuple[dict, ...] = ({},)
    log: str = ""
    conda: str = ""
    mem_mb: int = 2000
    runtime: int = 10

    def __post_init__(self):
        if not isinstance(self.draw, str):
            raise TypeError(f"figure {self.rule}: draw must be a string, got {self.draw!r}")
        module, sep, function = self.draw.partition(":")
        if not (module and sep and function):
            raise ValueError(f"figure {self.rule}: draw must be 'module:function', "
                             f"got {self.draw!r}")
        if "draw" in self.params:
            raise ValueError(f"figure {self.rule}: params may not name 'draw' (the rule's own)")

    @property
    def rule_params(self) -> dict[str, Any]:
        """The rule's params: the figure's own and ``draw``, for ``workflow/scripts/figure.py``."""
        return {"draw": self.draw, **self.params}

    @property
    def png(self) -> str:
        return f"{self.path}.png"

    @property
    def pdf(self) -> str:
        return f"{self.path}.pdf"

    def targets(self) -> list[str]:
        """The PNG and PDF of every instance."""
        return [f"{self.path}.{ext}".format(**wc) for wc in self.instances for ext in ("png", "pdf")]
