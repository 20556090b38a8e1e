"""``results.jsonl``: screening results written as they come, safe against a kill, resumable.

One JSON object per line, appended, flushed and synced to disk before the next film starts::

    {"key": {"file": "sub/mdb001.pgm", "sha256": "..."}, "film": {... one film of report.json ...}}
    {"key": {"file": "bad.png", "sha256": "..."}, "failure": {"file": "bad.png", "error": "..."}}

A film is identified by its name in the batch plus the SHA-256 of its bytes, so a file that
changed since is screened again. A kill can leave at most one incomplete last line; reading
skips it (and any other line that is not a complete record), so at most the films in flight
are lost. ``mammo screen`` merges the log into ``report.json`` at the end, reading one record
at a time by its byte offset, so memory does not grow with the number of films.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

LOG_NAME = "results.jsonl"


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (read in chunks; memory does not grow with the file)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def film_key(path: str | Path, name: str) -> tuple[str, str]:
    """``(name, sha256)``; an unreadable file gets an empty hash (it is screened, and fails, again)."""
    try:
        return name, file_sha256(path)
    except OSError:
        return name, ""


def parse_log(lines) -> tuple[dict[tuple[str, str], dict], int]:
    """``(records by key, number of lines skipped)`` from the lines of a log (pure)."""
    done: dict[tuple[str, str], dict] = {}
    skipped = 0
    for line in lines:
        try:
            rec = json.loads(line)
            key = (str(rec["key"]["file"]), str(rec["key"]["sha256"]))
            if not key[1] or ("film" in rec) == ("failure" in rec):
                raise ValueError("a record holds exactly one of film and failure")
            if "film" in rec and not isinstance(rec["film"], dict):
                raise ValueError("film must be an object")
        except (ValueError, KeyError, TypeError):
            skipped += 1
            continue
        done[key] = rec
    return done, skipped


class ResultsLog:
    """The log of one output folder: earlier records (when resuming) and appends."""

    def __init__(self, out: str | Path, resume: bool):
        self.path = Path(out) / LOG_NAME
        self.done: dict[tuple[str, str], dict] = {}
        self.offsets: dict[tuple[str, str], int] = {}  # byte offset of each key's record in the log
        self.skipped_lines = 0
        self.kept = 0  # films whose earlier record was reused (get found it)
        if resume and self.path.is_file():
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                self.done, self.skipped_lines = parse_log(fh)
        # Rewrite the kept records first (drops an incomplete last line), then append.
        tmp = self.path.with_name(f".{LOG_NAME}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            for key, rec in self.done.items():
                self.offsets[key] = fh.tell()
                fh.write((json.dumps(rec, allow_nan=False) + "\n").encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._fh = open(self.path, "ab")
        self._reader = None

    def get(self, key: tuple[str, str]) -> dict | None:
        """The earlier run's record of ``key`` (a film or a failure), if any; each one found is counted in :attr:`kept`."""
        rec = self.done.get(key) if key[1] else None
        self.kept += rec is not None
        return rec

    def offset(self, key: tuple[str, str]) -> int:
        """Where ``key``'s record starts in the log (kept from an earlier run or appended)."""
        return self.offsets[key]

    def append(self, key: tuple[str, str], film: dict | None = None, failure: dict | None = None) -> int:
        """Append one record, flushed and synced; returns its byte offset."""
        rec = {"key": {"file": key[0], "sha256": key[1]}, **({"film": film} if film is not None else {"failure": failure})}
        at = self._fh.tell()
        self._fh.write((json.dumps(rec, allow_nan=False) + "\n").encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.offsets[key] = at
        return at

    def read(self, offset: int) -> dict:
        """The record that starts at ``offset`` (one line read; nothing else is held in memory)."""
        if self._reader is None:
            self._reader = open(self.path, "rb")
        self._reader.seek(offset)
        return json.loads(self._reader.readline())

    def close(self) -> None:
        self._fh.close()
        if self._reader is not None:
            self._reader.close()

    def __enter__(self) -> "ResultsLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
