"""Sizes read off the arrays a model object holds (the number of classes of a mixture is the
first axis of its table, ...), declared once per attribute instead of written out as a property
each: ``n_classes = AxisSize("log_probs", 0)``. Torch-free: it reads ``.shape`` only.
"""

from __future__ import annotations

__all__ = ["AxisSize"]


class AxisSize:
    """A read-only int attribute: the length of axis ``axis`` of the array (tensor or NumPy)
    held in attribute ``array`` of the same object."""

    def __init__(self, array: str, axis: int):
        self.array, self.axis = array, axis
        self.__doc__ = f"Length of axis {axis} of ``{array}``."

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return int(getattr(obj, self.array).shape[self.axis])

    def __set__(self, obj, value) -> None:
        raise AttributeError(f"{self.name} is read off {self.array}'s shape and cannot be set")
