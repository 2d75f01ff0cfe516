"""The second view of a ScenePlan: vector PDF and SVG (and PNG) figures for papers, drawn
with matplotlib (no bpy). ``nnrender.figure(source, ...)`` returns the matplotlib Figure;
``nnrender.figure.save(fig, path)`` writes it deterministically.

    fig = nnrender.figure("scenes/resnet50_paper.yaml", columns=2)
    fig.axes[0].annotate(...)            # the page, in points from its lower left
    nnrender.figure.save(fig, "resnet50.pdf")

The package itself is callable (it is also the function), and matplotlib loads only when a
figure is made.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def figure(*args: Any, **kwargs: Any) -> Any:
    """A matplotlib Figure of a scene, dump, model or plan: see ``api.make_figure``."""
    from nnrender.figure.api import make_figure

    return make_figure(*args, **kwargs)


def save(fig: Any, path: Any, fmt: str | None = None, dpi: int | None = None) -> Any:
    """Write a figure as PDF, SVG or PNG, byte for byte the same for the same inputs: see
    ``write.save``."""
    from nnrender.figure.write import save as save_figure

    return save_figure(fig, path, fmt, dpi)


class _CallableModule(types.ModuleType):
    """``nnrender.figure`` is a package and the function: ``nnrender.figure(...)``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return figure(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
