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


class NNRenderWarning(UserWarning):
    """Something nnrender did differently from what was asked (a layer recorded as a generic
    block, an output with no batch axis). Readers issue these with ``warnings.warn`` and also
    list them in the manifest, so the command line can ignore this category alone and print
    the manifest's list instead, while other libraries' warnings still reach the user."""


def one_line(text: object, limit: int = 240) -> str:
    """Collapse an exception message to one short line: framework messages span lines and
    dump whole tensors, and a ``ModelError`` is printed as a single line."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def did_you_mean(name: object, known: list[str] | tuple[str, ...], cutoff: float = 0.6) -> str:
    """`` (did you mean x?)`` with the known names nearest ``name`` (difflib), or ``""``:
    a misspelt key or layer name is named back to the user rather than only rejected."""
    import difflib

    near = difflib.get_close_matches(str(name), [str(k) for k in known], n=3, cutoff=cutoff)
    return f" (did you mean {' or '.join(near)}?)" if near else ""
