"""nnrender's names for engines, denoisers, projections and lights -> Blender's enums.
The only place they are spelled the Blender way."""

from __future__ import annotations

ENGINES = {"cycles": "CYCLES", "eevee": "BLENDER_EEVEE", "workbench": "BLENDER_WORKBENCH"}
DENOISE_QUALITY = {"fast": "FAST", "balanced": "BALANCED", "high": "HIGH"}
PROJECTIONS = {"perspective": "PERSP", "orthographic": "ORTHO"}
LIGHTS = {"area": "AREA", "point": "POINT", "spot": "SPOT", "sun": "SUN"}
ALIGN_X = {"left": "LEFT", "center": "CENTER", "right": "RIGHT"}
ALIGN_Y = {"top": "TOP", "center": "CENTER", "bottom": "BOTTOM"}


def blender_name(table: dict[str, str], name: str, what: str) -> str:
    """``table[name]``; Blender's own spelling passes through (plans built by hand)."""
    if name in table:
        return table[name]
    if name in table.values():
        return name
    raise ValueError(f"unknown {what} {name!r} (one of {', '.join(table)})")
