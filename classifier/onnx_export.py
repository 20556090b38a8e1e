"""The grader on onnxruntime: export the crop classifier to ONNX and load it as a :class:`Grader`.

:func:`export_grader_onnx` writes ``NAME.onnx`` and a sidecar ``NAME.json`` with the same keys
as the safetensors weights' (arch, input_px, class_names ...) plus ``"runtime": "onnxruntime"``.
:func:`load_onnx_grader` returns a :class:`classifier.grade.Grader` whose network call runs
on onnxruntime; cropping, batching and the softmax are the Grader's own, so both runtimes
give the same probabilities up to floating-point rounding.

Example::

    from classifier.onnx_export import export_grader_onnx, load_onnx_grader
    export_grader_onnx(None, "work/bcdcnn.onnx")      # the shipped weights
    probs = load_onnx_grader("work/bcdcnn.onnx").grade(image_u8, boxes_xyxy)
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from classifier.grade import GRADE_ORDER, Grader, load_model, meta_path_for, read_meta, shipped_weights_path
from converters.errors import InputError

ONNX_OPSET = 17
RUNTIME = "onnxruntime"


def _session(model: bytes | str | Path, intra_op_threads: int):
    # The same settings as detector.onnx_runtime.make_session (classifier does not import detector).
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - a dependency
        raise InputError("the onnxruntime runtime needs onnxruntime: pip install onnxruntime") from None
    if intra_op_threads < 1:
        raise InputError(f"intra_op_threads must be >= 1, got {intra_op_threads}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(model if isinstance(model, bytes) else str(model), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for bad files
        raise InputError(f"not a loadable ONNX model ({err.__class__.__name__})", None if isinstance(model, bytes) else model) from None


def grader_to_onnx(model: torch.nn.Module, input_px: int, in_chans: int = 1) -> bytes:
    """A classifier network as ONNX bytes: input ``crops`` (N, in_chans, S, S) -> ``logits`` (N, classes)."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model.eval(), (torch.zeros(1, in_chans, input_px, input_px),), buf, dynamo=False,
                          opset_version=ONNX_OPSET, input_names=["crops"], output_names=["logits"],
                          dynamic_axes={"crops": {0: "n"}, "logits": {0: "n"}})
    return buf.getvalue()


def export_grader_onnx(weights: str | Path | None, dst: str | Path) -> Path:
    """Write ``dst`` (``.onnx``, atomically) and its JSON sidecar from classifier safetensors weights.

    Args:
        weights: ``.safetensors`` weights with their JSON; ``None``: the shipped grader.
        dst: the ONNX file to write.
    """
    from converters.atomic import write_bytes_atomic, write_json_atomic

    dst = Path(dst)
    if dst.suffix != ".onnx":
        raise InputError(f"the ONNX model file must end in .onnx, got {dst.name!r}", dst)
    src = shipped_weights_path() if weights is None else Path(weights)
    model, meta = load_model(src)
    data = grader_to_onnx(model, int(meta["input_px"]), int(meta.get("in_chans", 1)))
    write_bytes_atomic(dst, data)
    write_json_atomic(meta_path_for(dst), {**meta, "runtime": RUNTIME, "onnx_opset": ONNX_OPSET, "source_weights": src.name})
    return dst


class OrtClassifier:
    """Callable like the torch network: float tensor (N, C, S, S) -> logits tensor (N, classes)."""

    def __init__(self, session):
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().cpu().numpy().astype(np.float32, copy=False)
        return torch.from_numpy(self.session.run(None, {self.input_name: arr})[0])


def load_onnx_grader(weights: str | Path | None = None, intra_op_threads: int = 1) -> Grader:
    """A 3-class :class:`Grader` on onnxruntime.

    Args:
        weights: an ``.onnx`` file with its JSON (:func:`export_grader_onnx`), or ``.safetensors``
            weights (exported in memory); ``None``: the shipped grader.
        intra_op_threads: onnxruntime threads inside an operator.
    """
    if weights is not None and Path(weights).suffix == ".onnx":
        side = meta_path_for(Path(weights))
        meta = read_meta(side, "ONNX grader", ("runtime", "input_px", "class_names"))
        if meta["runtime"] != RUNTIME:
            raise InputError(f"sidecar of an ONNX grader must hold runtime {RUNTIME!r}, got {meta['runtime']!r}", side)
        session = _session(Path(weights), intra_op_threads)
        where = weights
    else:
        src = shipped_weights_path() if weights is None else Path(weights)
        model, meta = load_model(src)
        session = _session(grader_to_onnx(model, int(meta["input_px"]), int(meta.get("in_chans", 1))), intra_op_threads)
        where = src
    if tuple(meta["class_names"]) != GRADE_ORDER:
        raise InputError(f"the grader needs 3-class weights {GRADE_ORDER}, these have {meta['class_names']}", where)
    return Grader(OrtClassifier(session), meta)
