"""Output folders: refuse someone else's, mark our own, clean up after killed runs.

A folder a command writes gets a small marker file, ``.mammo-output`` (JSON: which
command wrote it). Writing into a non-empty folder that is not a previous output
(no marker, and holding files other than the ones the command writes) could replace or
delete the user's files, so it is refused unless ``overwrite=True`` (``--overwrite``).
Folders are created with the user's umask, and temporary files or folders of killed runs
(see :func:`converters.atomic.remove_stale_temps`) are removed when the folder is claimed.
"""

from __future__ import annotations

from pathlib import Path

from converters.atomic import is_temp_name, remove_stale_temps, write_json_atomic
from converters.errors import InputError

MARKER = ".mammo-output"


def is_own_output(out: str | Path, known_names=(), signature: str | None = None) -> bool:
    """True when ``out`` carries the marker, or is an output written before the marker existed.

    The latter: ``signature`` (a file only this command writes, e.g. ``report.json``) is
    there, and every other entry is one of ``known_names`` or a temporary of this module.
    """
    out = Path(out)
    if (out / MARKER).is_file():
        return True
    if not signature or not (out / signature).is_file():
        return False
    known = set(known_names) | {signature}
    names = [e.name for e in out.iterdir()]
    return all(n in known or is_temp_name(n) or any(n.startswith(f".{k}") for k in known) for n in names)


def check_output_dir(out: str | Path, overwrite: bool = False, known_names=(), signature: str | None = None,
                     flag: str = "--out") -> Path:
    """Raise InputError unless ``out`` is missing, empty, a previous output, or ``overwrite``.

    Nothing is created or written (call it before the slow work, so a refused run costs
    nothing).

    Args:
        out: the output folder.
        overwrite: write into a foreign non-empty folder anyway.
        known_names: file and folder names the command writes at the top of ``out``.
        signature: a file only this command writes (see :func:`is_own_output`).
        flag: the option name for the message.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{flag} is a file; expected a folder (it is created if missing)", out)
    if out.is_dir() and not overwrite:
        try:
            names = tuple(known_names) + ((signature,) if signature else ())
            # only temporaries of killed runs in it: as good as empty
            empty = all(is_temp_name(e.name, names) for e in out.iterdir())
            own = empty or is_own_output(out, known_names, signature)
        except OSError as err:
            raise InputError(f"cannot list the {flag} folder ({err.strerror})", out) from None
        if not own:
            raise InputError(
                f"{flag} is a non-empty folder that mammo did not write; choose a new or empty folder, "
                "or pass --overwrite to write into it (its files of the same names are replaced)",
                out,
            )
    return out


def claim_output_dir(out: str | Path, command: str, legacy_temp_names=()) -> Path:
    """Create ``out`` (user's umask), remove stale temporaries of killed runs, write the marker.

    Args:
        out: the output folder.
        command: the command writing it (recorded in the marker).
        legacy_temp_names: output names whose older, pid-less temporaries
            (``.NAME.tmpXXXX``) are removed too.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError("cannot create the output folder: a file is in its way", out) from None
    except OSError as err:
        raise InputError(f"cannot create the output folder ({err.strerror})", out) from None
    remove_stale_temps(out, legacy_temp_names)
    if not (out / MARKER).is_file():
        write_json_atomic(out / MARKER, {"written_by": "mammo", "command": command})
    return out
