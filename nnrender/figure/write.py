"""Saving a figure so that the same inputs give the same bytes: no dates, a fixed SVG id
salt, fonts embedded as TrueType in a PDF (text stays selectable and searchable), text as
text in an SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from nnrender import __version__

CREATOR = f"nnrender {__version__}"
RC = {
    "pdf.fonttype": 42,  # TrueType, embedded (subset): real text, not Type 3 glyph drawings
    "ps.fonttype": 42,
    "svg.fonttype": "none",  # <text> elements, editable and searchable
    "svg.hashsalt": "nnrender",  # ids from content, not random
    "pdf.compression": 9,
    "path.simplify": False,
}


def metadata(fmt: str) -> dict[str, str | None]:
    """File metadata without timestamps (matplotlib writes the time unless told not to)."""
    if fmt == "pdf":
        return {"Creator": CREATOR, "Producer": CREATOR, "CreationDate": None,
                "ModDate": None}
    if fmt == "svg":
        return {"Creator": CREATOR, "Date": None}
    return {"Software": CREATOR}


def save(fig: Figure, path: str | Path, fmt: str | None = None, dpi: int | None = None
         ) -> Path:
    """Write ``fig`` as PDF, SVG or PNG (``fmt``, else the file's suffix), deterministic;
    ``dpi`` for the embedded images and PNG pixels (default: the figure's)."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "pdf").lower()
    with matplotlib.rc_context(RC):
        fig.savefig(path, format=fmt, dpi=dpi or fig.dpi, metadata=metadata(fmt),
                    facecolor=fig.get_facecolor(), transparent=False)
    return path
