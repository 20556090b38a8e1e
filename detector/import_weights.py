"""Convert an Ultralytics / YOLOv5 ``.pt`` checkpoint to safetensors WITHOUT executing its pickle.

A ``.pt`` checkpoint pickles whole Python objects (the model's classes, the training
arguments), and a normal ``torch.load`` would import those classes and run whatever their
pickle asks for. Here:

1. The pickle's global names are listed by reading its opcodes (:mod:`pickletools`; nothing runs).
2. Names outside the namespaces a model checkpoint uses (``torch``, ``ultralytics``, the YOLOv5
   repository's ``models``/``utils``, ``numpy``, ``collections``, ``argparse``, ``types``,
   ``datetime``) are refused: one :class:`InputError` naming them (``os.system``,
   ``builtins.exec``, ``subprocess.Popen``... never belong in a checkpoint).
3. The file is read by torch's ``weights_only`` unpickler. The globals torch itself allows (its
   tensor rebuild functions, storages, ``OrderedDict``, ``set``) keep their meaning; every other
   name is bound to an *inert stand-in*: a class with that name whose construction and
   ``__setstate__`` only record their arguments. Nothing of the named module is imported or called.
4. The model (``ema`` if present, else ``model``) is walked like ``nn.Module.state_dict``
   through the stand-ins' recorded ``_parameters``/``_buffers``/``_modules``; a plain dict of
   tensors is taken as it is. Tensors are written as fp32 safetensors with a JSON sidecar:
   source name, size and sha256, tensor count, the pickle's global names and which were stubbed.
"""

from __future__ import annotations

import hashlib
import pickletools
import zipfile
from pathlib import Path

from converters.errors import InputError

STUB_ROOTS = ("torch", "ultralytics", "models", "utils", "numpy", "collections", "argparse", "types", "datetime")
# Python 2 names in old pickles for types torch already allows.
ALIASES = {"__builtin__.set": set, "__builtin__.dict": dict, "builtins.dict": dict, "builtins.list": list,
           "builtins.tuple": tuple, "builtins.frozenset": frozenset}


class _Inert:
    """Stand-in for a class the pickle names: records what it is given, does nothing else."""

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        object.__setattr__(obj, "_inert_args", args)
        object.__setattr__(obj, "_inert_state", None)
        return obj

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        object.__setattr__(self, "_inert_state", state)


def _stub(full_name: str) -> type:
    module, _, name = full_name.rpartition(".")
    return type(name, (_Inert,), {"__module__": module, "__qualname__": name})


def pickle_globals(pt: str | Path) -> list[str]:
    """``module.name`` of every GLOBAL in the checkpoint's ``data.pkl``, read as opcodes only."""
    pt = Path(pt)
    try:
        with zipfile.ZipFile(pt) as zf:
            pkl = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pkl) != 1:
                raise InputError(f"expected one data.pkl in the torch zip archive, found {len(pkl)}", pt)
            data = zf.read(pkl[0])
    except zipfile.BadZipFile:
        raise InputError("not a torch zip checkpoint (torch >= 1.6 format); the legacy format is not read", pt) from None
    names = set()
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                module, name = str(arg).split(" ", 1)
                names.add(f"{module}.{name}")
            elif op.name in ("STACK_GLOBAL", "INST", "OBJ"):
                raise InputError(f"pickle opcode {op.name} is not read here (expected protocol 2 as torch.save writes)", pt)
    except (ValueError, EOFError) as err:
        raise InputError(f"malformed pickle in the checkpoint ({err})", pt) from None
    return sorted(names)


def _torch_allowed() -> set[str]:
    from torch._weights_only_unpickler import _get_allowed_globals

    return set(_get_allowed_globals())


def load_checkpoint_inert(pt: str | Path) -> tuple[object, dict]:
    """The unpickled checkpoint (non-torch classes as inert stand-ins) and what was done to read it."""
    import torch

    pt = Path(pt)
    if not pt.is_file():
        raise InputError("checkpoint not found", pt)
    names = pickle_globals(pt)
    allowed = _torch_allowed()
    foreign = [n for n in names if n not in allowed and n not in ALIASES]
    refused = [n for n in foreign if n.split(".", 1)[0] not in STUB_ROOTS]
    if refused:
        raise InputError(f"refused: the pickle names globals no model checkpoint needs ({', '.join(refused[:5])}); "
                         "it may run code when loaded normally", pt)
    safe = [(ALIASES[n], n) for n in names if n in ALIASES] + [(_stub(n), n) for n in foreign]
    try:
        with torch.serialization.safe_globals(safe):
            obj = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError from a damaged archive...
        raise InputError(f"could not read the checkpoint's tensors ({err.__class__.__name__}: {str(err)[:120]})", pt) from None
    return obj, {"pickle_globals": names, "stubbed_globals": foreign}


def _state_of(obj) -> dict:
    state = getattr(obj, "_inert_state", None)
    if isinstance(state, tuple):
        state = next((s for s in state if isinstance(s, dict)), None)
    return state if isinstance(state, dict) else {}


def _is_module(obj) -> bool:
    return isinstance(obj, _Inert) and "_modules" in _state_of(obj)


def module_tensors(obj, prefix: str = "") -> dict:
    """``nn.Module.state_dict``'s names and tensors from a stand-in module tree."""
    import torch

    state = _state_of(obj)
    out: dict = {}
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        for name, t in (state.get(group) or {}).items():
            if isinstance(t, torch.Tensor) and name not in skip:
                out[prefix + name] = t
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(module_tensors(child, f"{prefix}{name}."))
    return out


def checkpoint_tensors(obj) -> tuple[dict, str]:
    """``(tensors, entry)``: the EMA model if present, else the model, else a dict of tensors."""
    import torch

    if _is_module(obj):
        return module_tensors(obj), "(module)"
    if isinstance(obj, dict):
        for key in ("ema", "model", "state_dict", "model_state_dict"):
            val = obj.get(key)
            if _is_module(val):
                return module_tensors(val), key
            if isinstance(val, dict) and val and all(isinstance(v, torch.Tensor) for v in val.values()):
                return dict(val), key
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors and len(tensors) == len(obj):
            return tensors, "(dict of tensors)"
    raise InputError("no model in the checkpoint (expected 'ema'/'model' module, a state_dict, or a dict of tensors)")


def import_weights(pt: str | Path, dst: str | Path) -> dict:
    """Write ``dst`` (fp32 safetensors) and ``dst.json`` from the checkpoint ``pt``; return the sidecar."""
    from detector.weights_io import write_weights

    pt = Path(pt)
    obj, how = load_checkpoint_inert(pt)
    try:
        tensors, entry = checkpoint_tensors(obj)
    except InputError as err:
        raise InputError(err.message, pt) from None
    if not tensors:
        raise InputError("the checkpoint's model holds no tensors", pt)
    dtypes = sorted({str(t.dtype).replace("torch.", "") for t in tensors.values()})
    state = {k: (t.detach().float() if t.is_floating_point() else t.detach()).contiguous().clone()
             for k, t in tensors.items()}
    meta = {"source_file": pt.name, "source_size": pt.stat().st_size,
            "source_sha256": hashlib.sha256(pt.read_bytes()).hexdigest(), "entry": entry,
            "tensors": len(state), "source_dtypes": dtypes, "written_dtype": "float32 (integer buffers kept)",
            "read_with": "torch weights_only unpickler; globals outside torch's allowlist bound to inert stand-ins "
                         "(never imported or executed)", **how}
    write_weights(dst, state, meta)
    return meta
