"""The classifier's typed config: the paper's recipe is the default.

``configs/bcdcnn.yaml`` restates these defaults; flags override; every run writes the
resolved config to ``RUN/config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

from converters.errors import InputError, look_up_option

PROTOCOLS = ("patient", "paper")
SUBSETS = ("all", "mass", "calc")
BALANCING = ("oversample", "undersample", "weighted", "none")
NORMAL_SIZES = ("lesion", "fixed")
OPTIMIZERS = ("sgd", "adam")


@dataclass
class ClassifierConfig:
    """Everything a training run depends on.

    Args:
        arch: ``bcdcnn``, ``resnet18`` or ``yolov5n_stem`` (see :data:`classifier.model.ARCHS`).
        start_weights: a ``.safetensors`` file whose tensors are copied into the new model by
            name and shape before training (:func:`classifier.model.load_start_weights`), e.g.
            ``pretrained/yolov5n-coco/backbone_neck.safetensors`` for ``yolov5n_stem`` (not
            shipped: see ``configs/yolov5n_stem_crops.yaml``);
            empty: all layers start from initialisation. Its sha256 goes into the run's sidecar.
        input_px: crop side fed to the network (48 for BCDCNN, as the paper).
        drop_rate: dropout before the last layer.
        protocol: ``patient`` (split patients, then crop/augment the training side) or
            ``paper`` (crop and augment everything, then split crops at random: LEAKY).
        subset: ``all`` (normal/benign/malignant), ``mass`` or ``calc`` (benign/malignant).
        seed: training seed (init, batch order, normal-crop positions).
        split_seed, val_frac, test_frac: the converters' patient split (or the paper's crop split).
        fold, kfold: ``fold >= 0`` trains on the other ``kfold - 1`` patient folds of the
            development (non-test) films and evaluates on fold ``fold``.
        coco_cv: with ``fold >= 0`` and an added COCO source, fold that source's development
            patients the same way (its fold ``fold`` is held out as side ``test_coco``); off,
            all its training patients join every fold (and ``val_coco``/``test_coco`` are its
            fixed validation and test patients).
        steps, batch_size, lr, optimizer, momentum, weight_decay: the optimisation recipe.
        balance: ``oversample`` (class-weighted sampling), ``undersample`` (a balanced subset),
            ``weighted`` (class-weighted loss) or ``none``.
        normal_size: ``lesion`` (normal crop sides drawn from the training lesions' 2r) or
            ``fixed`` (the paper's fixed ``normal_fixed_px``).
        normals_per_normal_film, normals_per_abnormal_film: normal crops cut per film.
        coco_normals_per_film: normal crops cut away from the boxes on each training film of
            an added COCO source (``--coco-json``; CBIS-DDSM has no normal films).
        max_background_frac: crops with more non-breast area than this are dropped.
        augment: 8x rotations/flips on the training side.
        checkpoint_minutes: wall-clock minutes between checkpoints.
        num_threads: torch threads (1 avoids oversubscribing the cores).
        n_bootstrap: bootstrap resamples for every CI.
    """

    arch: str = "bcdcnn"
    start_weights: str = ""
    input_px: int = 48
    drop_rate: float = 0.5
    protocol: str = "patient"
    subset: str = "all"
    seed: int = 0
    split_seed: int = 0
    val_frac: float = 0.1
    test_frac: float = 0.2
    fold: int = -1
    kfold: int = 5
    coco_cv: bool = False
    steps: int = 20000
    batch_size: int = 32
    lr: float = 0.003
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    balance: str = "oversample"
    normal_size: str = "lesion"
    normal_fixed_px: int = 48
    normals_per_normal_film: int = 2
    normals_per_abnormal_film: int = 0
    coco_normals_per_film: int = 1
    max_background_frac: float = 0.5
    augment: bool = True
    checkpoint_minutes: float = 3.0
    num_threads: int = 1
    n_bootstrap: int = 1000

    def __post_init__(self) -> None:
        look_up_option(self.protocol, PROTOCOLS, "protocol")
        look_up_option(self.subset, SUBSETS, "subset")
        look_up_option(self.balance, BALANCING, "balance")
        look_up_option(self.normal_size, NORMAL_SIZES, "normal_size")
        look_up_option(self.optimizer, OPTIMIZERS, "optimizer")
        from classifier.model import ARCHS

        look_up_option(self.arch, ARCHS, "arch")
        if self.steps < 1 or self.batch_size < 1:
            raise InputError(f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}")
        if not 0 <= self.max_background_frac <= 1:
            raise InputError(f"max_background_frac must be in [0, 1], got {self.max_background_frac}")
        if self.fold >= self.kfold:
            raise InputError(f"fold must be < kfold ({self.kfold}), got {self.fold}")

    @property
    def class_names(self) -> tuple[str, ...]:
        return ("normal", "benign", "malignant") if self.subset == "all" else ("benign", "malignant")

    @property
    def leaky(self) -> bool:
        return self.protocol == "paper"
