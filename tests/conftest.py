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


# Where the configs expect the COCO-pretrained YOLOv5n backbone+neck (not shipped: AGPL-3.0).
YOLOV5N_COCO_IN_REPO = Path("pretrained") / "yolov5n-coco" / "backbone_neck.safetensors"


def find_yolov5n_coco() -> Path | None:
    """The COCO YOLOv5n tensors: YOLOV5N_COCO if set, else ``pretrained/...`` in the repository, else None."""
    value = os.environ.get("YOLOV5N_COCO")
    if value:
        return Path(value)
    path = Path(__file__).resolve().parents[1] / YOLOV5N_COCO_IN_REPO
    return path if path.is_file() else None


@pytest.fixture
def yolov5n_coco() -> Path:
    """The COCO YOLOv5n tensors (tests skip without them; fail when YOLOV5N_COCO names no file)."""
    path = find_yolov5n_coco()
    if path is None:
        pytest.skip(f"COCO YOLOv5n tensors not found: set YOLOV5N_COCO to the .safetensors file "
                    f"or place it at {YOLOV5N_COCO_IN_REPO.as_posix()} in the repository")
    if not path.is_file():
        pytest.fail(f"YOLOV5N_COCO={path} is not a file")
    return path
