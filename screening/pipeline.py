"""Screen one film: read, find masses and calcification clusters, compare with the other
breast, grade, score the film, verdict.

The models are loaded once (:class:`Screener`) and reused:

* the mass detector (:mod:`detector.api`) on the preprocessed film;
* the calcification cluster detector (:mod:`detector.calc_clusters`) at the film's native
  200 micron resolution;
* the grader (:mod:`classifier.grade`) on every mass box and cluster box;
* the bilateral comparison (:mod:`screening.bilateral`) when the contralateral film of the
  same patient and view is screened in the same batch;
* the film-level model (:mod:`screening.film_model`): calibrated ``abnormal_score`` and
  ``malignant_score`` from all of the above, and the verdict at thresholds chosen on
  validation patients.

Every finding at or above ``report_min_score`` is reported, so evaluation can draw FROC
and ROC curves. With ``film_model`` set to ``none`` the earlier rule applies: the worst
grade among mass detections at or above ``score_threshold``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters.errors import InputError
from converters.preprocess import breast_mask
from converters.records import GRADES
from screening.readers import FilmImage, read_film
from screening.report import FINDINGS as FINDING_TYPES  # noqa: F401  (the finding types, re-exported)
from screening.report import Finding, FilmResult
RUNTIMES = ("torch", "onnxruntime")
ASYMMETRY_FULL_SCALE = 0.2


@dataclass
class ScreenConfig:
    """Thresholds and models of a screening run (saved into ``report.json``, see :meth:`report_dict`)."""

    # Mass detections at or above score_threshold are drawn on the overlays and counted in the
    # summary; with film_model "none" they also decide the verdict. Chosen on mini-MIAS validation
    # patients (Youden J of the mass-only verdict; with film_model "none", `mammo evaluate --split
    # test` re-derives it on the validation patients). The film model's verdict uses its own
    # thresholds (screening/weights/film-model.json), not this one.
    score_threshold: float = 0.2121
    report_min_score: float = 0.01
    max_detections: int = 30
    rescale_to_model_grid: bool = True
    detector_weights: str | None = None
    classifier_weights: str | None = None
    # Mass-only rule (film_model "none") only: the abnormal_score operating point `mammo evaluate`
    # reports when it has no validation patients to choose one on (--all, --split val). The film
    # model carries its own abnormal and malignant thresholds.
    abnormal_threshold: float | None = 0.2085
    malignant_threshold: float | None = None  # not used by any rule; accepted so older configs load
    overlays: bool = True
    num_threads: int = 1
    calcifications: bool = True
    calc_weights: str | None = None
    bilateral: bool = True
    film_model: str | None = None
    max_pixels: int = 100_000_000
    runtime: str = "onnxruntime"

    def __post_init__(self) -> None:
        for name in ("score_threshold", "report_min_score"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.report_min_score > self.score_threshold:
            raise ValueError("report_min_score must not exceed score_threshold")
        if self.num_threads < 1:
            raise ValueError(f"--threads (num_threads) must be >= 1, got {self.num_threads}")
        if self.max_pixels < 1:
            raise ValueError(f"--max-pixels (max_pixels) must be >= 1, got {self.max_pixels}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {self.runtime!r}")

    @property
    def mass_only_rule(self) -> bool:
        """True when the verdict is the mass-only rule (``film_model: none``), not the film model's."""
        return self.film_model == "none"

    def report_dict(self, mass_only_rule: bool | None = None) -> dict:
        """The config as written into ``report.json``: only the keys that apply to the run.

        ``abnormal_threshold`` belongs to the mass-only rule and is written only when that rule
        is in use (``mass_only_rule``, default :attr:`mass_only_rule`); ``malignant_threshold``
        is used by no rule and is not written.
        """
        out = dataclasses.asdict(self)
        out.pop("malignant_threshold")
        if not (self.mass_only_rule if mass_only_rule is None else mass_only_rule):
            out.pop("abnormal_threshold")
        return out


def breast_of(image: np.ndarray, name: str) -> np.ndarray:
    """The film's breast mask; a film with none (blank or constant) is bad input, not a normal film."""
    mask = breast_mask(image)
    if not mask.any() or image.min() == image.max():
        raise InputError("no breast found (the image is blank or constant)", name)
    return mask


def film_verdict(scores: np.ndarray, probs: np.ndarray, score_threshold: float) -> str:
    """Worst grade among detections passing the threshold; ``normal`` if none does."""
    keep = scores >= score_threshold
    if not keep.any():
        return "normal"
    grades = probs[keep].argmax(axis=1)
    return GRADES[int(grades.max())]


def film_scores(scores: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """Film-level scores for ROC: max over detections of score x P(abnormal) / P(malignant)."""
    if len(scores) == 0:
        return 0.0, 0.0
    abnormal = scores * (probs[:, 1] + probs[:, 2])
    malignant = scores * probs[:, 2]
    return float(abnormal.max()), float(malignant.max())


@dataclass
class _Seen:
    """What the detectors and the grader found on one film (film-model grid pixels)."""

    breast: np.ndarray
    xyxy: np.ndarray
    scores: np.ndarray
    probs: np.ndarray
    c_xyxy: np.ndarray
    c_scores: np.ndarray
    c_specks: list
    c_probs: np.ndarray

    def feature_args(self) -> tuple:
        """The first four arguments of :func:`screening.film_model.film_features`."""
        return self.scores, self.probs, self.c_scores, [len(s) for s in self.c_specks]


class Screener:
    """Detector + grader, loaded once.

    Args:
        config: thresholds and weights (``None`` weights: the shipped defaults).
        detector: an already loaded detector (tests inject one); else loaded from config.
        grader: an already loaded grader; else loaded from config.
    """

    def __init__(self, config: ScreenConfig | None = None, detector=None, grader=None, calc=None, film_model=None):
        self.config = config or ScreenConfig()
        import torch

        # One thread by default: on 2 shared cores, OpenMP threads that oversubscribe the CPU
        # stall each other (measured 2-3 s per film with 2 threads on a busy machine, 0.1 s with 1).
        torch.set_num_threads(self.config.num_threads)
        import cv2

        cv2.setNumThreads(self.config.num_threads)  # OpenCV's filters too (its default is every core)
        onnx = self.config.runtime == "onnxruntime"
        if detector is None and onnx:
            from detector.onnx_runtime import load_onnx_detector

            detector = load_onnx_detector(self.config.detector_weights, conf=self.config.report_min_score,
                                          intra_op_threads=self.config.num_threads)
        elif detector is None:
            from detector.api import load_detector

            detector = load_detector(self.config.detector_weights, conf=self.config.report_min_score)
        if grader is None and onnx:
            from classifier.onnx_export import load_onnx_grader

            grader = load_onnx_grader(self.config.classifier_weights, intra_op_threads=self.config.num_threads)
        elif grader is None:
            from classifier.grade import load_grader

            grader = load_grader(self.config.classifier_weights)
        if calc is None and self.config.calcifications:
            from detector.calc_train import load_calc_detector

            calc = load_calc_detector(self.config.calc_weights)
        if film_model is None and self.config.film_model != "none":
            from screening.film_model import load_film_model

            film_model = load_film_model(self.config.film_model)
        self.detector = detector
        self.grader = grader
        self.calc = calc if self.config.calcifications else None
        self.film_model = film_model if self.config.film_model != "none" else None
        self._recent: dict = {}  # (shape, content hash) -> _Seen of the last few films

    def _findings(self, film: FilmImage, kind: str, xyxy: np.ndarray, scores: np.ndarray, probs: np.ndarray,
                  specks=None) -> list[Finding]:
        orig = film.to_original_xyxy(xyxy)
        out = []
        for i, (box, s, p) in enumerate(zip(orig, scores, probs)):
            pts = None
            if specks is not None:
                pts = tuple((float(x) / film.scale, float(y) / film.scale) for x, y in specks[i])
            out.append(Finding(kind, tuple(float(v) for v in box), float(s), tuple(float(v) for v in p),
                               len(specks[i]) if specks is not None else None, pts))
        return out

    def _seen(self, film: FilmImage, name: str) -> "_Seen":
        """What the detectors and the grader find on one film; the last few films are kept, so
        a pair screened one film after the other runs the detectors once per film.

        Raises:
            InputError: no breast found on the film (blank or constant).
        """
        import hashlib

        key = (film.image.shape, hashlib.blake2b(np.ascontiguousarray(film.image).data, digest_size=16).digest())
        if key in self._recent:
            return self._recent[key]
        cfg = self.config
        breast = breast_of(film.image, name)
        found = self.detector.predict(film.image)
        keep = found.scores >= cfg.report_min_score
        xyxy, scores = found.xyxy[keep][: cfg.max_detections], found.scores[keep][: cfg.max_detections]
        probs = self.grader.grade(film.image, xyxy) if len(scores) else np.zeros((0, 3))
        c_xyxy, c_scores, c_specks, c_probs = np.zeros((0, 4)), np.zeros(0), [], np.zeros((0, 3))
        if self.calc is not None:
            clusters, _ = self.calc.detect(film.image, breast)
            clusters = [c for c in clusters if c.score >= cfg.report_min_score]
            if clusters:
                c_xyxy = np.array([c.xyxy for c in clusters], dtype=np.float64)
                h, w = film.image.shape
                c_xyxy[:, [0, 2]] = c_xyxy[:, [0, 2]].clip(0, w)
                c_xyxy[:, [1, 3]] = c_xyxy[:, [1, 3]].clip(0, h)
                c_scores = np.array([c.score for c in clusters])
                c_specks = [c.specks_xy for c in clusters]
                c_probs = self.grader.grade(film.image, c_xyxy)
        seen = _Seen(breast, xyxy, scores, probs, c_xyxy, c_scores, c_specks, c_probs)
        self._recent[key] = seen
        while len(self._recent) > 4:
            self._recent.pop(next(iter(self._recent)))
        return seen

    def screen_image(self, film: FilmImage, name: str, partner: FilmImage | None = None,
                     partner_name: str | None = None) -> FilmResult:
        """Screen one film; ``partner`` is the contralateral film of the same patient and view, if screened too.

        With a partner, the other breast is compared with this one and its own findings are
        found too (the film model weighs each finding against the same finding on the other
        side); a partner with no breast on it is ignored.

        Raises:
            InputError: no breast found on the film (blank or constant), so no verdict.
        """
        t0 = time.perf_counter()
        cfg = self.config
        seen = self._seen(film, name)
        findings = self._findings(film, "mass", seen.xyxy, seen.scores, seen.probs)
        if len(seen.c_scores):
            findings += self._findings(film, "calcification", seen.c_xyxy, seen.c_scores, seen.c_probs, seen.c_specks)
        other = None
        if partner is not None and cfg.bilateral:
            try:
                other = self._seen(partner, partner_name or "the contralateral film")
            except InputError:
                partner = None
        bil = None
        if partner is not None and cfg.bilateral:
            from screening.bilateral import compare_breasts

            bil = compare_breasts(film.image, partner.image, breast=seen.breast)
            if bil.candidate_xyxy is not None:
                a_xyxy = np.array([bil.candidate_xyxy])
                a_score = np.array([min(1.0, bil.candidate_score / ASYMMETRY_FULL_SCALE)])
                if a_score[0] >= cfg.report_min_score:
                    findings += self._findings(film, "asymmetry", a_xyxy, a_score, self.grader.grade(film.image, a_xyxy))
        findings.sort(key=lambda f: -f.score)
        features = None
        if self.film_model is not None:
            from screening.film_model import film_features

            features = film_features(*seen.feature_args(), bil.features if bil else None,
                                     film_features(*other.feature_args(), None) if other is not None else None)
            a, m = self.film_model.scores(features)
            verdict = self.film_model.verdict(a, m)
        else:
            verdict = film_verdict(seen.scores, seen.probs, cfg.score_threshold)
            a, m = film_scores(seen.scores, seen.probs)
        w, h = film.original_wh
        contralateral = partner_name if (partner is not None and cfg.bilateral) else None
        return FilmResult(name, w, h, verdict, findings, time.perf_counter() - t0, a, m, film.note, contralateral, features, film)

    def screen_file(self, path: str | Path, name: str | None = None) -> FilmResult:
        """Read and screen one film alone (batches pair films: :func:`screening.run.screen_one`)."""
        t0 = time.perf_counter()
        film = read_film(path, self.config.rescale_to_model_grid, max_pixels=self.config.max_pixels)
        res = self.screen_image(film, name or Path(path).name)
        res.seconds = time.perf_counter() - t0
        return res
