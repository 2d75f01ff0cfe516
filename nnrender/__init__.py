"""nnrender: offline, cinematic renders of trained neural networks."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``nnrender.figure``: the figure package, itself callable (``nnrender.figure(...)``),
    imported on first use (it brings matplotlib); ``nnrender.render`` and
    ``nnrender.still``: a video or a still in one call (``api.py``; Blender runs in a child
    process)."""
    import importlib

    if name == "figure":
        return importlib.import_module("nnrender.figure")
    if name in ("render", "still"):
        return getattr(importlib.import_module("nnrender.api"), name)
    raise AttributeError(f"module 'nnrender' has no attribute {name!r}")
