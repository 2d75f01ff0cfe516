"""What a figure is asked to be: its width, resolution, fonts and the epoch it shows, from
the scene's ``figure`` section and the command line. Pure Python."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from nnrender.config.schema import FigureConfig
from nnrender.errors import NNRenderError

COLUMN_WIDTHS = {1: 3.5, 2: 7.16}  # inches: one column and the full width of a paper page
UNITS = {"in": 1.0, "cm": 1 / 2.54, "mm": 1 / 25.4, "pt": 1 / 72.0}
FORMATS = ("pdf", "svg", "png")
_WIDTH = re.compile(r"^\s*([-+]?\d*\.?\d+(?:e[-+]?\d+)?)\s*(in|cm|mm|pt)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class FigureOptions:
    """A figure's size and look: ``width`` in inches (the height follows the drawing)."""

    width: float = COLUMN_WIDTHS[2]
    dpi: int = 300
    font: str = "STIXGeneral"
    font_size: float = 8.0
    small_size: float = 7.0
    outline: float = 0.3
    edges: float = 1.0
    epoch: int | None = None  # the recorded epoch shown (None: the plan's last)

    @classmethod
    def from_config(cls, config: FigureConfig, source: str | Path = "figure") -> FigureOptions:
        width = (parse_width(config.width, f"{source}: figure.width")
                 if config.width is not None else COLUMN_WIDTHS[config.columns])
        return cls(width=width, dpi=config.dpi, font=config.font, font_size=config.font_size,
                   small_size=config.small_size, outline=config.outline, edges=config.edges,
                   epoch=config.epoch)

    def with_cli(self, columns: int | None = None, width: str | None = None,
                 dpi: int | None = None) -> FigureOptions:
        """The command line's ``--columns``, ``--width`` and ``--dpi`` over these."""
        out = self
        if columns is not None:
            out = replace(out, width=column_width(columns))
        if width is not None:
            out = replace(out, width=parse_width(width, "--width"))
        if dpi is not None:
            if dpi < 10 or dpi > 2400:
                raise NNRenderError("--dpi", f"must lie in 10..2400, not {dpi}")
            out = replace(out, dpi=int(dpi))
        return out


def column_width(columns: int) -> float:
    """Inches of a figure ``columns`` wide (1 or 2)."""
    if columns not in COLUMN_WIDTHS:
        raise NNRenderError("--columns", f"must be 1 or 2, not {columns}")
    return COLUMN_WIDTHS[columns]


def parse_width(text: str, where: str = "--width") -> float:
    """``3.5in``, ``8.9cm``, ``89mm``, ``252pt`` (a bare number is inches) -> inches."""
    match = _WIDTH.match(str(text))
    if match is None:
        raise NNRenderError(where, f"{text!r}: expected a length such as 3.5in, 8.9cm, 89mm "
                                   "or 252pt")
    value = float(match.group(1)) * UNITS[(match.group(2) or "in").lower()]
    if not value > 0:
        raise NNRenderError(where, f"{text!r}: the width must be more than zero")
    if value > 100:
        raise NNRenderError(where, f"{text!r}: wider than 100 in")
    return value


def output_format(fmt: str | None, out: Path | None) -> str:
    """``--format``, else the output file's suffix, else pdf; anything else is an error."""
    if fmt is not None:
        name, where = fmt.lower().lstrip("."), "--format"
    elif out is not None and out.suffix:
        name, where = out.suffix.lower().lstrip("."), str(out)
    else:
        return "pdf"
    if name not in FORMATS:
        raise NNRenderError(where, f"unknown format {name!r} (pdf, svg or png)")
    return name
