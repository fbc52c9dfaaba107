"""Glue of the figure rules: one function per entry of a branch's figure table
(``hierphase.plan.Figure.draw``, ``module:function``), which reads the rule's inputs, pools the
tables the way the figure needs them and calls one function of ``hierphase.plots``. The modules
``rhm``, ``learned``, ``images`` and ``grammar`` hold the four branches' functions, each named
after its rule. Every figure rule runs ``workflow/scripts/figure.py``, which calls :func:`draw`."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["draw", "resolve"]


def resolve(name: str):
    """The function that ``name``, ``module:function``, names (for instance
    ``hierphase.stages.figures.rhm:rhm_fig_cobweb``)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a 'module:function' string, got {type(name).__name__}")
    module, sep, function = name.partition(":")
    if not (module and sep and function) or ":" in function:
        raise ValueError(f"name must be 'module:function', got {name!r}")
    found = getattr(importlib.import_module(module), function, None)
    if not callable(found):
        raise ValueError(f"name {name!r}: module {module} has no function {function}")
    return found


def draw(name: str, inputs: Mapping, params: Mapping, wildcards: Mapping) -> Figure:
    """Draw one figure: the function ``name`` (``module:function``) called with the rule's
    inputs, params and wildcards as plain dicts (anything with ``items()``, such as Snakemake's
    named lists)."""
    for arg, value in (("inputs", inputs), ("params", params), ("wildcards", wildcards)):
        if not hasattr(value, "items"):
            raise TypeError(f"{arg} must be a mapping (with items()), got {type(value).__name__}")
    function = resolve(name)
    logging.getLogger(__name__).info("drawing with %s", name)
    fig = function(dict(inputs.items()), dict(params.items()), dict(wildcards.items()))
    if not hasattr(fig, "savefig"):
        raise TypeError(f"{name} returned {type(fig).__name__}, not a matplotlib figure")
    return fig
