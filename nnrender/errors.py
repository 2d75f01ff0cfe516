"""User-facing errors: one line naming the file and what is wrong, exit code 2."""

from __future__ import annotations

from pathlib import Path

EXIT_BAD_INPUT = 2


class NNRenderError(Exception):
    """Bad input from the user. The CLI prints it as one line and exits 2, no traceback."""

    def __init__(self, source: str | Path | None, message: str) -> None:
        self.source = str(source) if source is not None else None
        self.message = message
        super().__init__(self.line())

    def line(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"nnrender: error: {where}{self.message}"


class ConfigError(NNRenderError):
    """A scene, preset or --set value is invalid; the message names the key."""


class DumpError(NNRenderError):
    """A dump folder is missing, corrupt, or inconsistent."""


class ModelError(NNRenderError):
    """A model or weights file cannot be read, or does not fit the architecture."""
