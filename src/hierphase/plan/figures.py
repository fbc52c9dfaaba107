"""The figure table: one entry per figure rule (name, inputs, plotting script, caption), from which
the workflow generates the rules and the report entries (``workflow/rules/common.smk``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Figure"]


@dataclass(frozen=True)
class Figure:
    """One figure rule. ``rule``: its name, also that of its plotting script
    ``workflow/scripts/<rule>.py`` (it reads the inputs, calls one function of ``hierphase.plots``
    and saves both files); ``path``: the output pattern without extension (a PNG for the report
    and a PDF); ``inputs``: name -> file pattern, list of files or input function; ``caption``:
    the report caption,
    ``workflow/report/<caption>``; ``instances``: the wildcard values of every figure the config
    asks for (the branch's targets)."""

    rule: str
    path: str
    inputs: dict[str, Any]
    caption: str
    category: str
    subcategory: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    instances: tuple[dict, ...] = ({},)
    log: str = ""
    conda: str = ""
    mem_mb: int = 2000
    runtime: int = 10

    @property
    def png(self) -> str:
        return f"{self.path}.png"

    @property
    def pdf(self) -> str:
        return f"{self.path}.pdf"

    def targets(self) -> list[str]:
        """The PNG and PDF of every instance."""
        return [f"{self.path}.{ext}".format(**wc) for wc in self.instances for ext in ("png", "pdf")]
