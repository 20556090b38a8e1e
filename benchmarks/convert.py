"""Time `mammo convert` on MIAS_DIR, with and without preprocessing.

Usage:
    python benchmarks/convert.py        # the mini-MIAS folder named by $MIAS_DIR
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from converters.convert import ConvertConfig, convert, load_mias_set


def main() -> None:
    mias = os.environ.get("MIAS_DIR")
    if not mias:
        sys.exit("set MIAS_DIR to a mini-MIAS folder")
    print(f"mammo convert on {mias} ({os.cpu_count()} cores)")
    for preprocess in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            source = load_mias_set(mias)
            summary = convert(source, Path(tmp) / "out", ConvertConfig(preprocess=preprocess), progress=False)
            dt = time.perf_counter() - t0
        label = "with preprocessing (segment, mirror, crop, 640 px)" if preprocess else "without preprocessing (640 px)"
        print(f"{label:52s} {dt:6.1f} s for {summary['films']} films ({dt / summary['films'] * 1000:.0f} ms per film)")


if __name__ == "__main__":
    main()
