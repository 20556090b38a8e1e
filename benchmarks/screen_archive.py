"""Throughput of `mammo screen` on an archive: one process against Ray with 1 and 2 actors.

Runs `mammo screen` in a fresh process on N films (links to the six bundled sample films)
with the local engine and with `--engine ray --actors K`, each into a fresh output folder,
and prints for each:

* end to end: N / wall clock, start-up included (imports, loading the models, starting Ray
  and its actors): what a user waits for on a batch of N films;
* steady state: the marginal rate (N - M) / (t(N) - t(M)) from a second run on M films, so
  start-up cancels out: the rate an archive of 10,000 films and more is screened at;
* the speed-up of each Ray figure over one process's, and the peak resident memory of each
  Ray actor process (sampled every 0.5 s).

Usage:
    python benchmarks/screen_archive.py [--films 200] [--small 40] [--actors 1 --actors 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def make_folder(root: Path, n: int) -> Path:
    films = sorted(SAMPLE.glob("*.pgm"))
    root.mkdir(parents=True)
    for i in range(n):
        (root / f"film{i:05d}.pgm").symlink_to(films[i % len(films)])
    return root


class ActorMemory:
    """Peak RSS (MB) of processes whose command line names the screening actor."""

    def __init__(self):
        self.peak: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for p in psutil.process_iter(["pid", "cmdline", "memory_info"]):
                try:
                    if any("_ScreenActor" in c for c in (p.info["cmdline"] or [])):
                        mb = p.info["memory_info"].rss / 2**20
                        self.peak[p.info["pid"]] = max(self.peak.get(p.info["pid"], 0.0), mb)
                except (psutil.Error, TypeError):
                    pass
            self._stop.wait(0.5)

    def __enter__(self) -> "ActorMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _timed(folder: Path, out: Path, config_yaml: Path, *engine: str) -> float:
    """Wall clock of one `mammo screen` in a fresh process (imports and model loading included)."""
    exe = shutil.which("mammo") or str(Path(sys.executable).with_name("mammo"))
    t0 = time.perf_counter()
    subprocess.run([exe, "screen", str(folder), "--out", str(out), "--config", str(config_yaml), "--quiet", *engine],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    report = json.loads((out / "report.json").read_text())
    n = len(list(folder.iterdir()))
    if len(report["films"]) != n or report["failures"]:
        raise SystemExit(f"{out}: {len(report['films'])} of {n} films screened, failures {report['failures'][:3]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--films", type=int, default=200)
    ap.add_argument("--small", type=int, default=40, help="films of the second run that cancels start-up")
    ap.add_argument("--actors", type=int, action="append")
    args = ap.parse_args()
    if not 0 < args.small < args.films:
        ap.error("--small must be between 0 and --films")
    n, m = args.films, args.small
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "screen.yaml"
        cfg.write_text("overlays: false\n")
        big, small = make_folder(Path(tmp) / "big", n), make_folder(Path(tmp) / "small", m)
        t_big, t_small = _timed(big, Path(tmp) / "local", cfg), _timed(small, Path(tmp) / "local-small", cfg)
        local_e2e, local_steady = n / t_big, (n - m) / (t_big - t_small)
        print(f"films: {n} and {m} (links to data/sample), overlays off")
        print(f"one process:      end to end {local_e2e:6.2f} films/s; steady state {local_steady:6.2f} films/s "
              f"(start-up {t_small - m / local_steady:.1f} s)")
        for k in args.actors or [1, 2]:
            with ActorMemory() as mem:
                ray_args = ("--engine", "ray", "--actors", str(k))
                t_big = _timed(big, Path(tmp) / f"ray{k}", cfg, *ray_args)
                t_small = _timed(small, Path(tmp) / f"ray{k}-small", cfg, *ray_args)
            e2e, steady = n / t_big, (n - m) / (t_big - t_small)
            per_actor = ", ".join(f"{v:.0f}" for v in sorted(mem.peak.values())) or "n/a"
            print(f"Ray, {k} actor(s):  end to end {e2e:6.2f} films/s ({e2e / local_e2e:.2f}x); steady state "
                  f"{steady:6.2f} films/s ({steady / local_steady:.2f}x; start-up {t_small - m / steady:.1f} s); "
                  f"peak RSS per actor (MB): {per_actor}")


if __name__ == "__main__":
    main()
