"""Read a ``.safetensors`` file (tensors only, nothing unpickled) with one clear error."""

from __future__ import annotations

from pathlib import Path

from converters.errors import InputError


def read_safetensors(path: str | Path) -> dict:
    """``{name: torch.Tensor}`` on the CPU; a missing or malformed file is an InputError."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise InputError("weights file not found (expected a .safetensors file)", path)
    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # safetensors raises its own SafetensorError types
        raise InputError(f"not a safetensors file ({err.__class__.__name__})", path) from None
