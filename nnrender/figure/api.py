"""``nnrender.figure(...)``: a scene, dump, model or plan drawn as a matplotlib Figure that
can be annotated before it is saved (``nnrender.figure.save``)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

from matplotlib.figure import Figure

from nnrender.errors import NNRenderWarning
from nnrender.figure.draw import draw
from nnrender.figure.options import FigureOptions
from nnrender.figure.source import open_source
from nnrender.plan.make import make_plan
from nnrender.plan.types import ScenePlan
from nnrender.sources import ReaderOptions

NO_WEIGHTS = "edges: the dump holds no weights"  # the plan's note, noise in architecture mode


def make_figure(source: str | Path | ScenePlan, *, columns: int | None = None,
                width: str | float | None = None, dpi: int | None = None,
                style: str | None = None, quality: str | None = None,
                sets: list[str] | None = None, epoch: int | None = None,
                architecture: bool = False, inputs: list[str] | None = None,
                reader: ReaderOptions | None = None) -> Figure:
    """The figure of ``source``: a scene YAML (or a bundled scene's name), a dump folder, a
    model file (architecture only) or a ``ScenePlan``. ``columns`` (1: 3.5 in, 2: 7.16 in)
    or ``width`` (``"3.5in"``, ``"89mm"``, or inches) set the width, else the scene's
    ``figure`` section does; ``dpi`` the embedded activations; ``sets``: ``key=value``
    overrides as on the command line (``["figure.font=STIXGeneral"]``); ``epoch``: the
    recorded epoch shown (the last by default); ``architecture``: boxes coloured by layer
    type instead of activations; ``inputs`` (``--input`` specs) for a model file: it is
    dumped with them (``nnrender dump``, in a child process) and its activations drawn
    (``reader``: all the dump options). The figure's ``nnrender_notes`` lists what was left
    out."""
    if isinstance(source, ScenePlan):
        options = replace(FigureOptions().with_cli(columns, _width(width), dpi), epoch=epoch)
        return draw(source, options, activations=False if architecture else None)
    sets = list(sets or [])
    if epoch is not None:
        sets.append(f"figure.epoch={int(epoch)}")
    if reader is None and inputs:
        reader = ReaderOptions(inputs=[str(i) for i in inputs])
    src = open_source(source, sets, style, quality, architecture, reader)
    try:
        options = FigureOptions.from_config(src.config.figure, src.origin)
        # the plan holds the one epoch shown (see ``source.settle``)
        options = replace(options.with_cli(columns, _width(width), dpi), epoch=None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NNRenderWarning)
            plan = make_plan(src.dump, src.config, src.origin)
        fig = draw(plan, options, graph=src.dump.manifest.layers)
        notes = list(plan.warnings)
        if not src.config.look.activations:  # a shapes-only dump has no weights by design
            notes = [n for n in notes if not n.startswith(NO_WEIGHTS)]
        fig.nnrender_notes = src.notes + notes + fig.nnrender_notes
        fig.nnrender_plan = plan
        fig.nnrender_name = src.name
        return fig
    finally:
        src.dump.close()
        if src.workdir is not None:
            src.workdir.cleanup()


def _width(width: str | float | None) -> str | None:
    if width is None:
        return None
    return f"{width}in" if isinstance(width, (int, float)) else str(width)
