"""Processes behind ``mammo inspect``: a private MongoDB and the FiftyOne App server.

FiftyOne normally starts its own ``mongod`` through a "multi-client" service that any
later FiftyOne process of the same user attaches to, whatever database folder that
process asked for. To keep the database in the folder the user chose, and to be able to
promise that nothing is left running, this module starts ``mongod`` itself (the binary
shipped in ``fiftyone-db``) and points FiftyOne at it with ``database_uri``:

* :class:`MongoDatabase` runs ``mongod --dbpath DB_DIR`` on a free loopback port, or
  reuses the one already serving that folder (another ``mammo inspect`` may be showing
  the App); it stops only a ``mongod`` it started.
* :class:`AppServer` runs ``python -m fiftyone.server.main`` as a child process in its
  own session, waits until it answers, and stops it with its whole process group.
* :func:`serve_until_interrupted` prints the URLs and blocks until Ctrl-C / SIGTERM.

Both children get ``PR_SET_PDEATHSIG`` on Linux, so even a ``kill -9`` of the parent does
not orphan them. Environment variables are only set for the children, never at import.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from converters.errors import InputError

DEFAULT_PORT = 5151
DEFAULT_ADDRESS = "127.0.0.1"
_STATE_FILE = "mammo-mongod.json"


def default_db_dir() -> Path:
    """``$XDG_CACHE_HOME/mammoscreen/fiftyone-db`` (``~/.cache/...`` when unset)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mammoscreen" / "fiftyone-db"


def free_port(address: str = DEFAULT_ADDRESS) -> int:
    """A TCP port that was free on ``address`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _port_open(address: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """``preexec_fn``: ask Linux to SIGTERM the child when its parent dies."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not glibc Linux: the parent's own clean-up still applies
        pass


def _tail(path: Path, n_lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n_lines:])
    except OSError:
        return "(no log)"


def _stop_process_group(proc: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left after ``timeout_s``."""
    import psutil

    try:
        family = [psutil.Process(proc.pid)] + psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(psutil.Error):
        proc.terminate()
    _, alive = psutil.wait_procs(family, timeout=timeout_s)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


class MongoDatabase:
    """A ``mongod`` serving ``db_dir`` on loopback; use as a context manager.

    Args:
        db_dir: folder of the database files (created if missing).
        timeout_s: how long to wait for ``mongod`` to accept connections.

    Example:
        >>> with MongoDatabase(tmp_path / "db") as db:   # doctest: +SKIP
        ...     use_fiftyone_database(db.uri)
    """

    def __init__(self, db_dir: str | Path, timeout_s: float = 60.0):
        self.db_dir = Path(db_dir).expanduser().resolve()
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.owned = False

    @property
    def uri(self) -> str:
        # A short server-selection timeout: a vanished database fails fast instead of 30 s.
        return f"mongodb://127.0.0.1:{self.port}/?serverSelectionTimeoutMS=5000"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _running_elsewhere(self) -> int | None:
        """Port of a live ``mongod`` another process started on this folder, if any."""
        import psutil

        state = self.db_dir / _STATE_FILE
        try:
            info = json.loads(state.read_text())
            pid, port = int(info["pid"]), int(info["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            proc = psutil.Process(pid)
            alive = "mongod" in proc.name() and str(self.db_dir) in proc.cmdline()
        except psutil.Error:
            alive = False
        return port if alive and _port_open("127.0.0.1", port) else None

    def start(self) -> "MongoDatabase":
        from fiftyone.core.service import DatabaseService

        self.db_dir.mkdir(parents=True, exist_ok=True)
        port = self._running_elsewhere()
        if port is not None:
            self.port, self.owned = port, False
            return self
        mongod = DatabaseService.find_mongod()
        log = self.db_dir / "log" / "mongo.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cmd = [mongod, "--dbpath", str(self.db_dir), "--logpath", str(log), "--logappend",
               "--port", str(self.port), "--bind_ip", "127.0.0.1", "--nounixsocket"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self.owned = True
        deadline = time.monotonic() + self.timeout_s
        while not _port_open("127.0.0.1", self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise InputError(
                    "could not start the FiftyOne database (mongod); expected a writable folder not "
                    f"used by another mongod. Last log lines:\n{_tail(log)}",
                    self.db_dir,
                )
            time.sleep(0.1)
        state = {"pid": self.proc.pid, "port": self.port}
        (self.db_dir / _STATE_FILE).write_text(json.dumps(state))
        return self

    def stop(self) -> None:
        """Stop ``mongod`` if this object started it (a reused one is left to its owner)."""
        disconnect_fiftyone()
        if self.proc is not None and self.owned:
            _stop_process_group(self.proc, timeout_s=20.0)
            (self.db_dir / _STATE_FILE).unlink(missing_ok=True)
            fo = sys.modules.get("fiftyone")
            if fo is not None and self.port is not None and fo.config.database_uri == self.uri:
                fo.config.database_uri = None  # do not leave FiftyOne pointing at a stopped database
        self.proc = None

    def __enter__(self) -> "MongoDatabase":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def use_fiftyone_database(uri: str) -> None:
    """Point this process's FiftyOne at ``uri``, tracking off (call before any dataset use)."""
    import fiftyone as fo

    if fo.config.database_uri != uri:
        disconnect_fiftyone()
    fo.config.database_uri = uri
    fo.config.do_not_track = True


def disconnect_fiftyone() -> None:
    """Close FiftyOne's client so its exit hook does not wait for a stopped database."""
    if "fiftyone" not in sys.modules:
        return
    from fiftyone.core.odm import database

    database._disconnect()


def app_env(db_uri: str) -> dict:
    """Environment of the App server child: our database, no tracking, no update checks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIFTYONE_PRIVATE")}
    env.update({
        "FIFTYONE_DATABASE_URI": db_uri,
        "FIFTYONE_DO_NOT_TRACK": "true",
    })
    return env


def app_url(address: str, port: int, dataset_name: str, view_slug: str | None = None) -> str:
    """``http://ADDRESS:PORT/datasets/NAME[?view=SLUG]`` (the form the App opens saved views from)."""
    url = f"http://{address}:{port}/datasets/{quote(dataset_name, safe='')}"
    return url + (f"?view={quote(view_slug, safe='')}" if view_slug else "")


class AppServer:
    """The FiftyOne App (``python -m fiftyone.server.main``) as a child process.

    Args:
        db_uri: database the server reads (see :class:`MongoDatabase`).
        port: TCP port to serve on.
        address: interface; loopback unless the user asks for another.
        log_path: where the server's output goes (default: a temporary file).
        timeout_s: how long to wait for the first answer.
    """

    def __init__(self, db_uri: str, port: int = DEFAULT_PORT, address: str = DEFAULT_ADDRESS,
                 log_path: str | Path | None = None, timeout_s: float = 90.0):
        self.db_uri, self.port, self.address = db_uri, int(port), address
        self.log_path = Path(log_path) if log_path else None
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> "AppServer":
        if _port_open(self.address, self.port):
            raise InputError(f"port {self.port} on {self.address} is already in use; pass another --port")
        if self.log_path is None:
            import tempfile

            fd, name = tempfile.mkstemp(prefix="mammo-fiftyone-app-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        cmd = [sys.executable, "-m", "fiftyone.server.main", "--port", str(self.port), "--address", self.address]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=app_env(self.db_uri), start_new_session=True,
                                         preexec_fn=_die_with_parent)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        host = "127.0.0.1" if self.address in ("0.0.0.0", "") else self.address
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self.proc.poll() is not None:
                log = _tail(self.log_path)
                self.stop()
                raise InputError(f"the FiftyOne App server exited early. Last log lines:\n{log}", self.log_path)
            try:
                with urllib.request.urlopen(f"http://{host}:{self.port}/", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise InputError(f"the FiftyOne App did not answer within {self.timeout_s:.0f} s", self.log_path)
            time.sleep(0.25)

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process_group(self.proc)
        self.proc = None

    def __enter__(self) -> "AppServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Stop(Exception):
    """Raised from the SIGTERM handler so ``finally`` blocks run."""


def serve_until_interrupted(server: AppServer, urls: dict[str, str], echo=print) -> None:
    """Print ``urls`` and block until Ctrl-C, SIGTERM or SIGHUP (or the server dies); then stop it.

    Must run in the main thread (it installs signal handlers, restored on return).
    """
    def on_signal(signum, frame):
        raise _Stop()

    # Handled explicitly: a shell starting us in the background may have set SIGINT to "ignore".
    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in stop_signals}
    try:
        for label, url in urls.items():
            echo(f"{label}: {url}")
        echo("Serving the FiftyOne App; press Ctrl-C to stop.")
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(0.5)
        if server.proc is not None:
            echo(f"the App server exited (code {server.proc.returncode}); log: {server.log_path}")
    except (KeyboardInterrupt, _Stop):
        echo("Stopping the FiftyOne App ...")
    finally:
        for sig in stop_signals:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, lambda *_: None)
        try:
            server.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
