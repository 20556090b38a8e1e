"""detector: lesion localisation on whole mammograms.

- :mod:`detector.api`: ``load_detector(weights=None, backend=None, device="cpu") -> Detector``;
  ``Detector.predict(film_u8) -> Detections`` (boxes in ORIGINAL film pixels). ``weights=None``
  loads the shipped default in ``detector/weights/``.
- :mod:`detector.detections`: the :class:`~detector.detections.Detections` record.
- Backends (explicit mapping ``detector.api.BACKEND_LOADERS``): :mod:`detector.yolo_backend`
  (ultralytics, default), :mod:`detector.rcnn_models` / :mod:`detector.rcnn_train` (torchvision
  Faster R-CNN and Mask R-CNN, from scratch).
- :mod:`detector.cli`: ``mammo detector train | export | evaluate | predict``.
- Metrics: :mod:`evaluation.detection`, :mod:`evaluation.froc`, :mod:`evaluation.coco_map`.

Nothing is imported or configured at import time; ultralytics' offline set-up
(:mod:`detector.offline`) runs inside the functions that need it.
"""
