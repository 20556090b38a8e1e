"""Throughput of `mammo screen` on an archive: one process against Ray with 1 and 2 actors.

Screens the same N films (links to the six bundled sample films) with the local engine and
with `--engine ray --actors K`, each in a fresh output folder, and prints films per second,
the speed-up over one process, and the peak resident memory of each Ray actor process
(sampled every 0.5 s while it runs). Start-up (imports, loading the models, starting Ray) is
included: it is what a user waits for.

Usage:
    python benchmarks/screen_archive.py [--films 200] [--actors 1 --actors 2]
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--films", type=int, default=200)
    ap.add_argument("--actors", type=int, action="append")
    args = ap.parse_args()
    from screening.pipeline import ScreenConfig
    from screening.run import screen_paths

    cfg = ScreenConfig(overlays=False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp) / "films", args.films)
        t0 = time.perf_counter()
        screen_paths([folder], Path(tmp) / "local", cfg, progress=False)
        local = args.films / (time.perf_counter() - t0)
        print(f"films: {args.films} (links to data/sample), overlays off")
        print(f"one process:      {local:6.2f} films/s")
        for k in args.actors or [1, 2]:
            with ActorMemory() as mem:
                t0 = time.perf_counter()
                screen_paths([folder], Path(tmp) / f"ray{k}", cfg, progress=False, engine="ray", actors=k)
                rate = args.films / (time.perf_counter() - t0)
            per_actor = ", ".join(f"{v:.0f}" for v in sorted(mem.peak.values())) or "n/a"
            print(f"Ray, {k} actor(s):  {rate:6.2f} films/s  ({rate / local:.2f}x one process); "
                  f"peak RSS per actor (MB): {per_actor}")


if __name__ == "__main__":
    main()
