"""Run the YOLO detector on onnxruntime (CPU) instead of PyTorch, with the same results.

:func:`export_onnx` writes ``NAME.onnx`` and the same JSON sidecar as the safetensors weights
(backend, image size, preprocessing), plus ``"runtime": "onnxruntime"``, the opset and the
name of the weights it came from. :func:`load_onnx_detector` returns the usual
:class:`detector.api.Detector`; only the network's forward pass changes. Letterbox, NMS and
the mapping of boxes back to the film are :class:`detector.yolo_backend.YoloNet`'s own, so the
two runtimes differ only by floating-point rounding inside the network
(``tests/test_onnx_runtime.py`` states and checks the tolerance).

The network is exported with dynamic height and width (the letterbox pads each film to a
multiple of the stride, not to a square), with the TorchScript-based exporter of
``torch.onnx`` (opset :data:`ONNX_OPSET`), which needs no package beyond ``onnx``.

Example::

    from detector.onnx_runtime import export_onnx, load_onnx_detector
    export_onnx(None, "work/yolov5n-coco-mias-cbis.onnx")    # the shipped weights
    det = load_onnx_detector("work/yolov5n-coco-mias-cbis.onnx")  # or a .safetensors file, exported in memory
    found = det.predict(image_u8)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from converters.errors import InputError
from detector.yolo_backend import YoloNet

ONNX_OPSET = 17
RUNTIME = "onnxruntime"


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - a dependency
        raise InputError("the onnxruntime runtime needs onnxruntime: pip install onnxruntime") from None
    return onnxruntime


def make_session(model: bytes | str | Path, intra_op_threads: int = 1):
    """An onnxruntime CPU session; ``intra_op_threads`` threads inside an operator (1: no oversubscription)."""
    if intra_op_threads < 1:
        raise InputError(f"intra_op_threads must be >= 1, got {intra_op_threads}")
    ort = _import_onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # errors only
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for bad files
        where = None if isinstance(model, bytes) else model
        raise InputError(f"not a loadable ONNX model ({err.__class__.__name__}: {' '.join(str(err).split())[:120]})",
                         where) from None


def _first_output(model):
    import torch

    class FirstOutput(torch.nn.Module):
        """The raw prediction tensor only (ultralytics' head also returns its feature maps in eval mode)."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            y = self.inner(x)
            return y[0] if isinstance(y, (tuple, list)) else y

    return FirstOutput(model).eval()


def yolo_net_to_onnx(net: YoloNet) -> bytes:
    """The network of a loaded :class:`YoloNet` as ONNX bytes (input ``images`` (B, 3, H, W) in [0, 1])."""
    import io

    import torch

    wrapped = _first_output(net.model)
    example = torch.zeros(1, 3, net.imgsz, net.imgsz)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice and tracer warnings
        torch.onnx.export(wrapped, (example,), buf, dynamo=False, opset_version=ONNX_OPSET,
                          input_names=["images"], output_names=["output0"],
                          dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"},
                                        "output0": {0: "batch", 2: "anchors"}})
    return buf.getvalue()


def _yolo_from_weights(weights: str | Path | None):
    from detector.api import default_weights_path
    from detector.weights_io import read_weights

    path = Path(weights) if weights is not None else default_weights_path()
    state, meta = read_weights(path)
    if meta.get("backend") != "yolo":
        raise InputError(f"onnxruntime runs the yolo backend only; these weights are {meta.get('backend')!r}", path)
    net = YoloNet(state, meta["model_yaml"], int(meta["imgsz"]), nc=int(meta.get("nc", 1)))
    return net, meta, path


def export_onnx(weights: str | Path | None, dst: str | Path) -> Path:
    """Write ``dst`` (``.onnx``) and its sidecar ``dst.with_suffix('.json')`` from YOLO safetensors weights.

    Args:
        weights: ``.safetensors`` weights with their sidecar; ``None``: the shipped default.
        dst: the ONNX file to write (atomically); its sidecar goes beside it.
    """
    from converters.atomic import write_bytes_atomic, write_json_atomic
    from detector.weights_io import sidecar_path

    dst = Path(dst)
    if dst.suffix != ".onnx":
        raise InputError(f"the ONNX model file must end in .onnx, got {dst.name!r}", dst)
    net, meta, src = _yolo_from_weights(weights)
    data = yolo_net_to_onnx(net)
    write_bytes_atomic(dst, data)
    write_json_atomic(sidecar_path(dst), {**meta, "runtime": RUNTIME, "onnx_opset": ONNX_OPSET, "stride": net.stride,
                                          "source_weights": src.name})
    return dst


class OnnxNet(YoloNet):
    """:class:`YoloNet` with its forward pass on onnxruntime; letterbox and NMS unchanged.

    Args:
        model: ONNX bytes or file.
        imgsz: letterbox size (longer side), pixels.
        stride: the network's largest stride (the letterbox pads to a multiple of it).
        conf, iou, max_det: NMS settings.
        intra_op_threads: onnxruntime threads inside an operator.
    """

    def __init__(self, model: bytes | str | Path, imgsz: int, stride: int = 32, conf: float = 0.001, iou: float = 0.5,
                 max_det: int = 100, intra_op_threads: int = 1):
        import torch

        self.session = make_session(model, intra_op_threads)
        self.input_name = self.session.get_inputs()[0].name
        self.stride, self.imgsz, self.conf, self.iou, self.max_det, self.device = int(stride), int(imgsz), conf, iou, max_det, "cpu"
        self._torch = torch

    def forward_raw(self, batch):
        x = batch.detach().cpu().numpy().astype(np.float32, copy=False)
        return self._torch.from_numpy(self.session.run(None, {self.input_name: x})[0])


def load_onnx_detector(weights: str | Path | None = None, conf: float = 0.001, intra_op_threads: int = 1):
    """A :class:`detector.api.Detector` whose network runs on onnxruntime.

    Args:
        weights: an ``.onnx`` file with its sidecar (:func:`export_onnx`), or YOLO
            ``.safetensors`` weights (exported in memory, a few seconds); ``None``: the shipped default.
        conf: lowest score kept.
        intra_op_threads: onnxruntime threads inside an operator.
    """
    from converters.preprocess import PreprocessConfig
    from detector.api import Detector
    from detector.weights_io import read_meta

    if weights is not None and Path(weights).suffix == ".onnx":
        meta = read_meta(weights)
        if meta.get("runtime") != RUNTIME or meta.get("backend") != "yolo":
            raise InputError(f"sidecar of an ONNX detector must say runtime {RUNTIME!r} and backend 'yolo', got "
                             f"{meta.get('runtime')!r} and {meta.get('backend')!r}", Path(weights).with_suffix(".json"))
        model, stride = Path(weights), int(meta.get("stride", 32))
    else:
        net, meta, _ = _yolo_from_weights(weights)
        model, stride = yolo_net_to_onnx(net), net.stride
        meta = {**meta, "runtime": RUNTIME, "onnx_opset": ONNX_OPSET}
    net = OnnxNet(model, int(meta["imgsz"]), stride, conf=conf, intra_op_threads=intra_op_threads)
    return Detector(net, PreprocessConfig(**meta["preprocess"]), "yolo", meta)
