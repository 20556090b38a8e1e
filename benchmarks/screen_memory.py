"""Peak memory of `mammo screen` against the number of films (the sample films repeated).

Each size runs `mammo screen` in a fresh process on a folder of N links to the six bundled
sample films (named mdbNNNNNN, so no film is paired: the bilateral step is not timed) and reads that process's peak resident set size from
the operating system. Flat means the peak does not grow with N beyond the report entries
(a few kB per film); the images are not kept.

Usage:
    python benchmarks/screen_memory.py --films 100 --films 2000 [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def make_folder(root: Path, n: int) -> Path:
    """N films: links to the sample films, named so that none pairs with another."""
    films = sorted(SAMPLE.glob("*.pgm"))
    root.mkdir(parents=True)
    for i in range(n):
        src = films[i % len(films)]
        (root / f"mdb{i + 1:06d}.pgm").symlink_to(src)
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--films", type=int, action="append", help="number of films (repeat for several sizes)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return measure(args.one, args.threads)
    print(f"{'films':>6}  {'peak RSS (MB)':>13}  {'seconds':>8}  {'films/s':>7}")
    for n in args.films or [100, 2000]:
        # A fresh process per size, so each peak is that run's own.
        subprocess.run([sys.executable, __file__, "--one", str(n), "--threads", str(args.threads)], check=True)


def measure(n: int, threads: int) -> None:
    exe = Path(sys.executable).with_name("mammo")
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp) / "films", n)
        t0 = time.perf_counter()
        proc = subprocess.run([str(exe), "screen", str(folder), "--out", str(Path(tmp) / "out"), "--quiet",
                               "--threads", str(threads)], capture_output=True, text=True, env=os.environ)
        secs = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"mammo screen failed on {n} films: {proc.stderr[-500:]}")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"{n:>6}  {peak_mb:>13.0f}  {secs:>8.1f}  {n / secs:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
