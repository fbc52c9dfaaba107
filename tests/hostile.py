"""Hostile inputs for tests: objects a crafted file could carry."""

from __future__ import annotations

from pathlib import Path


class RunsCode:
    """Unpickling this calls ``Path.touch(marker)``: what a crafted checkpoint would do (here
    harmless, and visible: the marker file appears)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))
