"""Write outputs through a temporary name and a rename, so a run never leaves half a file."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def default_file_mode() -> int:
    """``0o666`` less the process umask: the mode a plain ``open()`` would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_file_beside(path: str | Path, suffix: str = ".tmp") -> tuple[int, str]:
    """``(fd, name)`` of a new hidden file next to ``path``, with normal (umask) permissions.

    ``tempfile.mkstemp`` creates files 0600; outputs people share should not be.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=suffix)
    os.chmod(tmp, default_file_mode())
    return fd, tmp


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, obj, indent: int | None = 1) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent) + "\n")


@contextmanager
def atomic_dir(path: str | Path):
    """Yield a temporary sibling folder; on success it replaces ``path`` whole.

    On an exception the temporary folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix="." + path.name + ".tmp"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = path.parent / (f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_json(path: str | Path, what: str):
    """Parse a JSON file; a missing or malformed file is one clear InputError.

    Args:
        path: the file.
        what: what the file should be, for the message ("a splits.json from mammo convert").
    """
    from converters.errors import InputError

    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"file not found; expected {what}", path) from None
    except UnicodeDecodeError:
        raise InputError(f"not a text file; expected {what}", path) from None
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err.msg}); expected {what}", path, err.lineno) from None
