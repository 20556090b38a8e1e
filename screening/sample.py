"""Where the bundled demo films live (``data/sample/`` of the source tree)."""

from __future__ import annotations

from pathlib import Path

from converters.errors import InputError


def sample_dir() -> Path:
    """``data/sample`` beside the installed packages (editable install) or under the cwd."""
    for base in (Path(__file__).resolve().parents[1], Path.cwd()):
        candidate = base / "data" / "sample"
        if (candidate / "Info.txt").is_file():
            return candidate
    raise InputError(
        "the bundled sample (data/sample/) was not found: install from a clone with "
        "`pip install -e .` and run mammo demo there, or screen your own films with mammo screen DIR"
    )
