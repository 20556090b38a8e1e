"""Ship a trained run's weights: ``RUN/model.safetensors`` -> a smaller copy for the package.

The BCDCNN's dense layer (12x12x64 -> 1024) holds almost all of its 9.5 M parameters, so
float32 weights take 38 MB. Stored as float16 they take 19 MB; :func:`classifier.grade.load_model`
casts them back to float32 on load, so inference runs exactly as after training except
for the float16 rounding of each weight (the sidecar records ``stored_dtype``).
"""

from __future__ import annotations

import os
from pathlib import Path

from converters.atomic import default_file_mode, read_json, write_json_atomic
from converters.errors import InputError, look_up_option

DTYPES = ("float32", "float16", "bfloat16")


def export_weights(src: str | Path, dst: str | Path, dtype: str = "float16") -> Path:
    """Copy ``src`` (``.safetensors`` + ``.json`` beside it) to ``dst`` with tensors stored as ``dtype``.

    Floating tensors are converted; integer buffers (e.g. batch-norm counters) are kept.
    Both files are written to temporary names and renamed.
    """
    import torch
    from safetensors.torch import save_file

    from converters.safetensors_io import read_safetensors

    look_up_option(dtype, DTYPES, "dtype")
    src, dst = Path(src), Path(dst)
    if src.suffix != ".safetensors" or dst.suffix != ".safetensors":
        raise InputError("expected .safetensors paths for both the run weights and the export", src)
    tensors = read_safetensors(src)
    meta = read_json(src.with_suffix(".json"), "the model.json written beside the run weights")
    target = getattr(torch, dtype)
    out = {k: (v.to(target) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    meta = {**meta, "stored_dtype": dtype}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name("." + dst.name + ".tmp")
    save_file(out, str(tmp))
    os.chmod(tmp, default_file_mode())  # safetensors writes 0600; a shipped file must be readable
    os.replace(tmp, dst)
    write_json_atomic(dst.with_suffix(".json"), meta)
    return dst
