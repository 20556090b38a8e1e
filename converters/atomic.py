"""Write outputs through a temporary name and a rename, so a run never leaves half a file.

Temporary names are hidden siblings that carry the writing process's id
(``.NAME.tmp-PID-xxxx``), so a later run can tell the leftovers of a killed run (whose
process is gone) from the work of one still running, and remove only those
(:func:`remove_stale_temps`). JSON is written strictly: NaN and infinities become
``null`` (bare ``NaN`` is not JSON), and a record with a ``to_json()`` method is written
as what that method returns, so records stay typed until they are written.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def default_file_mode() -> int:
    """``0o666`` less the process umask: the mode a plain ``open()`` would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def default_dir_mode() -> int:
    """``0o777`` less the process umask: the mode a plain ``mkdir`` would give a new folder."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def _temp_prefix(name: str) -> str:
    return f".{name}.tmp-{os.getpid()}-"


_TEMP_RE = re.compile(r"^\..+\.(?:tmp|old)-(\d+)-")


def is_temp_name(name: str, legacy_names=()) -> bool:
    """True for the names of temporary files and folders this module makes.

    ``legacy_names``: output names whose older, pid-less temporaries count too
    (``.NAME.tmpXXXX`` folders, ``.NAMEXXXX.tmp`` files).
    """
    if _TEMP_RE.match(name):
        return True
    return any((name.startswith(f".{n}.tmp") and not name.startswith(f".{n}.tmp-"))
               or (name.startswith(f".{n}") and name.endswith(".tmp")) for n in legacy_names)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(folder: str | Path, legacy_names=()) -> list[str]:
    """Remove temporary files/folders left in ``folder`` by killed runs; returns their names.

    Only names this module makes are touched (``.NAME.tmp-PID-...``, ``.NAME.old-PID-...``),
    and only when process PID no longer runs. ``legacy_names`` also removes the older
    pid-less forms ``.NAME.tmpXXXX`` and ``.NAMEXXXX.tmp`` of those output names (e.g.
    ``("overlays", "report.json")``).
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        m = _TEMP_RE.match(entry.name)
        if (m and not _pid_alive(int(m.group(1)))) or (not m and is_temp_name(entry.name, legacy_names)):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return sorted(removed)


def temp_file_beside(path: str | Path, suffix: str = ".tmp") -> tuple[int, str]:
    """``(fd, name)`` of a new hidden file next to ``path``, with normal (umask) permissions.

    ``tempfile.mkstemp`` creates files 0600; outputs people share should not be.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path.name), suffix=suffix)
    os.chmod(tmp, default_file_mode())
    return fd, tmp


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def finite_json(obj):
    """A copy of ``obj`` with every NaN or infinite float replaced by ``None`` (JSON ``null``).

    Numpy scalars and arrays become plain numbers and lists; tuples become lists; a record
    with a ``to_json()`` method (a metric estimate, a film result) becomes what it returns.
    """
    if isinstance(obj, bool) or obj is None or isinstance(obj, (str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    to_json = getattr(obj, "to_json", None)
    if callable(to_json) and not isinstance(obj, type):
        return finite_json(to_json())
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return obj
    if isinstance(obj, np.generic):
        return finite_json(obj.item())
    if isinstance(obj, np.ndarray):
        return finite_json(obj.tolist())
    return obj


def write_json_atomic(path: str | Path, obj, indent: int | None = 1) -> None:
    """Write strict JSON (NaN and infinities as ``null``) through a temporary file."""
    write_text_atomic(path, json.dumps(finite_json(obj), indent=indent, allow_nan=False) + "\n")


@contextmanager
def atomic_dir(path: str | Path):
    """Yield a temporary sibling folder; on success it replaces ``path`` whole.

    On an exception the temporary folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=_temp_prefix(path.name)))
    os.chmod(tmp, default_dir_mode())  # mkdtemp makes 0700; the output gets the user's umask
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-{os.getpid()}-")) / path.name
        os.replace(path, old)
        old = old.parent
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def owned_files_dir(path: str | Path):
    """Yield a temporary sibling folder; on success its files are moved into ``path``.

    Unlike :func:`atomic_dir`, ``path`` is not replaced whole: files someone else put
    there stay. Files a previous call put there (listed in the sibling file
    ``.NAME.files.json``) that this call did not write are removed, so no stale output of an earlier run stays
    beside this run's. Each file is replaced atomically. On an exception the temporary
    folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=_temp_prefix(path.name)))
    try:
        yield tmp
        path.mkdir(exist_ok=True)
        listing = path.parent / f".{path.name}.files.json"
        previous: set[str] = set()
        if listing.is_file():
            try:
                previous = {str(n) for n in json.loads(listing.read_text(encoding="utf-8"))["files"]}
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                previous = set()
        new = sorted(p.name for p in tmp.iterdir() if p.is_file())
        for name in new:
            os.replace(tmp / name, path / name)
        for name in previous - set(new):
            if name == Path(name).name and not name.startswith("."):  # plain names only: never outside path
                (path / name).unlink(missing_ok=True)
        write_json_atomic(listing, {"files": new})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
    except RecursionError:
        raise InputError(f"JSON nested too deeply to read; expected {what}", path) from None


def read_model_json(path: str | Path, fmt: str, what: str, made_by: str) -> dict:
    """A model stored as plain JSON, checked for its ``format`` key; one clear InputError otherwise.

    Args:
        path: the file.
        fmt: the value its ``format`` key must have.
        what: what it is, for messages ("calcification model").
        made_by: the command that writes it, for messages.
    """
    from converters.errors import InputError

    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} not found (expected a JSON file written by `{made_by}`)", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{what} is not valid JSON ({err})", path) from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise InputError(f"not a {what} (expected format '{fmt}')", path)
    return doc

