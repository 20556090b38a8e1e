"""One exception type for bad input, so every command can print one clear line.

Every message names the file (and line, where there is one), what was expected and
what was received. The CLI catches :class:`InputError`, prints ``str(err)`` and exits
with status 2; nothing else in the project prints tracebacks for bad input.
"""

from __future__ import annotations

import difflib
from pathlib import Path


class InputError(ValueError):
    """Bad user input: a malformed label row, an unreadable image, a bad option.

    Args:
        message: what was expected and what was received.
        path: the file the problem is in, if any.
        line: 1-based line number in ``path``, if any.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        super().__init__(where + message)


def did_you_mean(value: str, options) -> str:
    """Return ``" (did you mean 'X'?)"`` for the closest option, or ``""``."""
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def look_up_option(value: str, options, what: str) -> str:
    """Check ``value`` is one of ``options``; raise InputError naming them otherwise."""
    opts = list(options)
    if value in opts:
        return value
    raise InputError(
        f"unknown {what} {value!r}; expected one of {', '.join(map(str, opts))}"
        + did_you_mean(value, opts)
    )
