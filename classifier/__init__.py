"""classifier: grade lesion crops as normal / benign / malignant (BCDCNN, ResNet-18).

Public API for the pipeline: ``classifier.grade.load_grader(weights=None, device="cpu")``
returns a :class:`classifier.grade.Grader`; ``Grader.grade(image_u8, boxes_xyxy)`` gives
``(N, 3)`` probabilities. CLI: ``classifier.cli.app`` (``mammo classifier train|evaluate|cv-report``).
Nothing is imported here, so ``import classifier`` stays cheap.
"""
