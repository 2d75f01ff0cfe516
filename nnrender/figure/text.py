"""Text measured the way matplotlib lays it out, in points, so labels can be placed on the
page before any is drawn."""

from __future__ import annotations

from functools import lru_cache

from matplotlib.font_manager import FontProperties, findfont, fontManager
from matplotlib.textpath import TextToPath

from nnrender.errors import ConfigError
from nnrender.figure.labels import Measure

LINE_SPACING = 1.1  # between label lines, of the font size (matplotlib's linespacing)
_PATHS = TextToPath()


@lru_cache(maxsize=4096)
def _line(text: str, family: str, size: float) -> tuple[float, float, float]:
    prop = FontProperties(family=family, size=size)
    return _PATHS.get_text_width_height_descent(text or " ", prop, ismath=False)


def measurer(family: str) -> Measure:
    """(text, size) -> (width, height) in points of a label in ``family``, its lines
    ``LINE_SPACING`` apart as ``Text(linespacing=LINE_SPACING)`` sets them."""

    def measure(text: str, size: float) -> tuple[float, float]:
        lines = text.split("\n")
        width = max(_line(line, family, size)[0] for line in lines)
        _, lp_h, lp_d = _line("lp", family, size)
        height = (len(lines) - 1) * (lp_h - lp_d) * LINE_SPACING + lp_h
        return width, height

    return measure


def check_font(family: str, where: str = "figure.font") -> str:
    """``family`` if matplotlib has it, else a one-line error naming a few it has."""
    try:
        findfont(FontProperties(family=family), fallback_to_default=False)
    except ValueError:
        known = sorted({f.name for f in fontManager.ttflist})
        shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
        raise ConfigError(where, f"no font {family!r} here (matplotlib has {shown})") from None
    return family
