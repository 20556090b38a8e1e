import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def mias_dir_env() -> Path:
    """The real mini-MIAS folder named by MIAS_DIR (tests skip without it)."""
    value = os.environ.get("MIAS_DIR")
    if not value:
        pytest.skip("MIAS_DIR is not set (set it to a mini-MIAS folder to run real-data tests)")
    path = Path(value)
    if not (path / "Info.txt").is_file():
        pytest.fail(f"MIAS_DIR={value} has no Info.txt")
    return path
