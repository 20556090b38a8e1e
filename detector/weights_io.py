"""Detector weights on disk: ``NAME.safetensors`` (a state_dict) + ``NAME.json`` (how to use it).

The sidecar says which backend and architecture the tensors belong to, the image size
and the exact :class:`converters.preprocess.PreprocessConfig` the training images got, so
prediction repeats it. Neither file can carry code; nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

from converters.atomic import write_json_atomic
from converters.errors import InputError


def check_imgsz(imgsz: int) -> int:
    """A prediction size for a sidecar: a multiple of 32, at least 32 (InputError otherwise)."""
    if imgsz < 32 or imgsz % 32:
        raise InputError(f"--imgsz must be a multiple of 32 and >= 32, got {imgsz}")
    return imgsz


def sidecar_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def write_weights(dst: str | Path, state_dict: dict, meta: dict) -> Path:
    """Write tensors (safetensors, atomically) and the JSON sidecar; return ``dst``."""
    import os
    import tempfile

    from safetensors.torch import save_file

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix="." + dst.name, suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in state_dict.items()}, tmp, metadata={"backend": str(meta.get("backend"))})
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    write_json_atomic(sidecar_path(dst), meta)
    return dst


def read_meta(weights: str | Path) -> dict:
    """The sidecar of ``weights`` (raises InputError naming the missing/broken file)."""
    side = sidecar_path(weights)
    if not Path(weights).is_file():
        raise InputError("weights file not found", weights)
    try:
        meta = json.loads(side.read_text())
    except FileNotFoundError:
        raise InputError(f"expected the sidecar {side.name} beside the weights (backend, imgsz, preprocess)", side) from None
    except json.JSONDecodeError as err:
        raise InputError(f"sidecar is not valid JSON (line {err.lineno})", side) from None
    for key in ("backend", "imgsz", "preprocess"):
        if key not in meta:
            raise InputError(f"sidecar lacks {key!r}", side)
    return meta


def read_weights(weights: str | Path) -> tuple[dict, dict]:
    """``(state_dict, meta)``."""
    from converters.safetensors_io import read_safetensors

    meta = read_meta(weights)
    return read_safetensors(weights), meta
