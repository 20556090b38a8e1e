"""``report.json`` (a contract other tools read), ``report.csv`` and overlay PNGs.

Schema version 2 (boxes in ORIGINAL film pixels, origin top-left; ``file`` relative to
the folder screened)::

    {"schema_version": 2,
     "films": [{"file": "mdb001.pgm", "width": 1024, "height": 1024,
                "verdict": "normal|benign|malignant",
                "abnormal_score": 0.0-1.0, "malignant_score": 0.0-1.0,
                "contralateral": "mdb002.pgm" | null,
                "detections": [{"finding": "mass|calcification|asymmetry",
                                "xyxy": [x1, y1, x2, y2], "score": 0.0-1.0,
                                "grade": "normal|benign|malignant",
                                "probabilities": {"normal": p, "benign": p, "malignant": p},
                                "n_specks": n, "specks_xy": [[x, y], ...]}],
                "seconds": t}],
     "config": {...}, "failures": [{"file": ..., "error": ...}]}

``n_specks`` and ``specks_xy`` are present on calcification clusters only. Version 1
reports (no ``schema_version``, no ``finding``) are still read: every detection of a
version 1 report is a mass (:func:`finding_of`). Films may carry extra keys (``features``,
``note``, ``overlay``); readers must ignore keys they do not know.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from converters.errors import InputError
from converters.records import GRADES
from screening.readers import FilmImage

GRADE_COLOURS_BGR = {"normal": (80, 200, 80), "benign": (0, 200, 255), "malignant": (40, 40, 255)}
SCHEMA_VERSION = 2
FINDINGS = ("mass", "calcification", "asymmetry")


def finding_of(detection: dict) -> str:
    """A detection's finding type; version 1 reports only had masses."""
    return detection.get("finding", "mass")


@dataclass(frozen=True)
class Finding:
    """One finding: a box in the ORIGINAL film's pixels, its type, score and grade.

    ``n_specks`` is set for calcification clusters; ``specks_xy`` (original pixels) too,
    for inspection; neither is set for masses and asymmetries.
    """

    finding: str
    xyxy: tuple[float, float, float, float]
    score: float
    probabilities: tuple[float, float, float]
    n_specks: int | None = None
    specks_xy: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        if self.finding not in FINDINGS:
            raise ValueError(f"finding must be one of {FINDINGS}, got {self.finding!r}")
        if not 0 <= self.score <= 1 or not np.isfinite(self.xyxy).all():
            raise ValueError(f"finding score must be in [0, 1] and its box finite, got {self.score}, {self.xyxy}")

    @property
    def grade(self) -> str:
        return GRADES[int(np.argmax(self.probabilities))]

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.xyxy
        return ((x1 + x2) / 2, (y1 + y2) / 2)

    @property
    def probability(self) -> dict[str, float]:
        """``grade -> probability``."""
        return dict(zip(GRADES, self.probabilities))

    @classmethod
    def from_json(cls, d: dict) -> "Finding":
        """A finding from its report entry (validated by :func:`validate_report`); version 1 entries are masses."""
        specks = d.get("specks_xy")
        return cls(finding_of(d), tuple(float(v) for v in d["xyxy"]), float(d["score"]),
                   tuple(float(d["probabilities"][g]) for g in GRADES),
                   d.get("n_specks") if isinstance(d.get("n_specks"), int) else None,
                   tuple((float(x), float(y)) for x, y in specks) if specks else None)

    def to_json(self) -> dict:
        d = {
            "finding": self.finding,
            "xyxy": [round(float(v), 2) for v in self.xyxy],
            "score": round(float(self.score), 5),
            "grade": self.grade,
            "probabilities": {g: round(float(v), 5) for g, v in zip(GRADES, self.probabilities)},
        }
        if self.n_specks is not None:
            d["n_specks"] = int(self.n_specks)
        if self.specks_xy is not None:
            d["specks_xy"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.specks_xy]
        return d


@dataclass
class FilmResult:
    file: str
    width: int
    height: int
    verdict: str
    findings: list[Finding]
    seconds: float
    abnormal_score: float = 0.0
    malignant_score: float = 0.0
    note: str = ""
    contralateral: str | None = None
    features: dict | None = None
    film: FilmImage | None = field(default=None, repr=False)

    @property
    def detections(self) -> list[dict]:
        return [f.to_json() for f in self.findings]

    @property
    def stem(self) -> str:
        return Path(self.file.replace("\\", "/")).stem

    @classmethod
    def from_json(cls, d: dict) -> "FilmResult":
        """A film from its report entry (validated by :func:`validate_report`)."""
        seconds = d.get("seconds")
        return cls(d["file"], int(d["width"]), int(d["height"]), d["verdict"],
                   [Finding.from_json(x) for x in d["detections"]], float(seconds) if isinstance(seconds, (int, float)) else 0.0,
                   float(d.get("abnormal_score", 0.0)), float(d.get("malignant_score", 0.0)), d.get("note", ""),
                   d.get("contralateral"), d.get("features"))

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "width": self.width,
            "height": self.height,
            "verdict": self.verdict,
            "detections": self.detections,
            "seconds": round(self.seconds, 4),
            "abnormal_score": round(self.abnormal_score, 5),
            "malignant_score": round(self.malignant_score, 5),
            "contralateral": self.contralateral,
            **({"features": {k: round(v, 5) for k, v in self.features.items()}} if self.features else {}),
            **({"note": self.note} if self.note else {}),
        }


def _fail(msg: str, where) -> None:
    raise InputError(f"report does not match the schema: {msg}", where)


def validate_film(f, i: int, where="report.json") -> None:
    """Check one entry of ``films`` (index ``i``) against the schema above."""
    at = f"films[{i}]"
    if not isinstance(f, dict):
        _fail(f"{at} must be an object", where)
    if not isinstance(f.get("file"), str) or not f["file"]:
        _fail(f"{at}.file must be a non-empty string", where)
    for k in ("width", "height"):
        if not isinstance(f.get(k), int) or f[k] <= 0:
            _fail(f"{at}.{k} must be a positive integer", where)
    if f.get("verdict") not in GRADES:
        _fail(f"{at}.verdict must be one of {GRADES}", where)
    if not isinstance(f.get("seconds"), (int, float)) or f["seconds"] < 0:
        _fail(f"{at}.seconds must be a number >= 0", where)
    if not isinstance(f.get("detections"), list):
        _fail(f"{at}.detections must be a list", where)
    for j, d in enumerate(f["detections"]):
        dat = f"{at}.detections[{j}]"
        box = d.get("xyxy") if isinstance(d, dict) else None
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
            _fail(f"{dat}.xyxy must be 4 numbers", where)
        x1, y1, x2, y2 = box
        if not (0 <= x1 <= x2 <= f["width"] and 0 <= y1 <= y2 <= f["height"]):
            _fail(f"{dat}.xyxy {box} must lie inside the {f['width']}x{f['height']} film with x1<=x2, y1<=y2", where)
        if not isinstance(d.get("score"), (int, float)) or not 0 <= d["score"] <= 1:
            _fail(f"{dat}.score must be in [0, 1]", where)
        if d.get("grade") not in GRADES:
            _fail(f"{dat}.grade must be one of {GRADES}", where)
        if finding_of(d) not in FINDINGS:
            _fail(f"{dat}.finding must be one of {FINDINGS}", where)
        if "n_specks" in d and not (isinstance(d["n_specks"], int) and d["n_specks"] >= 0):
            _fail(f"{dat}.n_specks must be an integer >= 0", where)
        probs = d.get("probabilities")
        if not isinstance(probs, dict) or set(probs) != set(GRADES):
            _fail(f"{dat}.probabilities must have exactly the keys {GRADES}", where)
        if abs(sum(probs.values()) - 1) > 1e-3:
            _fail(f"{dat}.probabilities must sum to 1", where)


def validate_report(doc, where="report.json") -> dict:
    """Check a parsed report against the schema above; returns it unchanged."""
    if not isinstance(doc, dict):
        _fail("top level must be an object", where)
    for key, tp in (("films", list), ("config", dict), ("failures", list)):
        if not isinstance(doc.get(key), tp):
            _fail(f"'{key}' must be a {tp.__name__}", where)
    version = doc.get("schema_version", 1)
    if version not in (1, SCHEMA_VERSION):
        _fail(f"schema_version must be 1 or {SCHEMA_VERSION}, got {version!r} (a newer mammoscreen wrote it?)", where)
    for i, f in enumerate(doc["films"]):
        validate_film(f, i, where)
    for i, fl in enumerate(doc["failures"]):
        if not (isinstance(fl, dict) and isinstance(fl.get("file"), str) and isinstance(fl.get("error"), str)):
            _fail(f"failures[{i}] must have string 'file' and 'error'", where)
    return doc


def load_report(path: str | Path) -> dict:
    from converters.atomic import read_json

    return validate_report(read_json(path, "the report.json that mammo screen wrote"), path)


def report_document(results, failures, config: dict) -> dict:
    films = [r if isinstance(r, dict) else r.to_json() for r in results]
    return {"schema_version": SCHEMA_VERSION, "films": films, "config": config, "failures": list(failures)}


CSV_HEADER = ["file", "verdict", "finding", "x1", "y1", "x2", "y2", "score", "grade", "p_normal", "p_benign",
              "p_malignant", "n_specks"]


def write_report(out: Path, doc: dict) -> None:
    """``report.json`` and ``report.csv`` of a report document (validated first)."""
    validate_report(doc, out / "report.json")
    extra = {k: v for k, v in doc.items() if k not in ("schema_version", "films", "config", "failures")}
    write_report_stream(out, doc["films"], doc["failures"], doc["config"], extra)


def write_report_stream(out: Path, films, failures: list[dict], config: dict, extra: dict | None = None) -> int:
    """``report.json`` and ``report.csv`` from an iterable of films, one film in memory at a time.

    ``extra``: further top-level keys (e.g. ``orthanc``), written after ``failures``.

    Each film is validated as it is written; both files go to temporary names and are
    renamed at the end, so a failure leaves the previous report in place. Returns the
    number of films written.
    """
    import json
    import os

    from converters.atomic import finite_json, temp_file_beside

    out = Path(out)
    head = {"schema_version": SCHEMA_VERSION}
    jfd, jtmp = temp_file_beside(out / "report.json")
    cfd, ctmp = temp_file_beside(out / "report.csv")
    n = 0
    try:
        with os.fdopen(jfd, "w", encoding="utf-8") as js, os.fdopen(cfd, "w", encoding="utf-8", newline="") as cs:
            w = csv.writer(cs)
            w.writerow(CSV_HEADER)
            js.write(json.dumps(head)[:-1] + ', "films": [')
            for i, f in enumerate(films):
                validate_film(f, i, out / "report.json")
                js.write(("," if i else "") + "\n  " + json.dumps(finite_json(f), allow_nan=False))
                for d in f["detections"]:
                    p = d["probabilities"]
                    w.writerow([f["file"], f["verdict"], finding_of(d), *d["xyxy"], d["score"], d["grade"], p["normal"],
                                p["benign"], p["malignant"], d.get("n_specks", "")])
                n += 1
            js.write("\n ],\n \"config\": " + json.dumps(finite_json(config), allow_nan=False)
                     + ",\n \"failures\": " + json.dumps(finite_json(list(failures)), allow_nan=False)
                     + "".join(f",\n {json.dumps(str(k))}: {json.dumps(finite_json(v), allow_nan=False)}"
                               for k, v in (extra or {}).items()) + "\n}\n")
        os.replace(jtmp, out / "report.json")
        os.replace(ctmp, out / "report.csv")
    except BaseException:
        Path(jtmp).unlink(missing_ok=True)
        Path(ctmp).unlink(missing_ok=True)
        raise
    return n


def overlay_name(file: str) -> str:
    return file.replace("/", "__").rsplit(".", 1)[0] + ".png"


FINDING_COLOURS_BGR = {"calcification": (255, 0, 255), "asymmetry": (255, 200, 0)}
# A finding is drawn when its score reaches its type's threshold (masses: the config's score_threshold).
DRAW_THRESHOLDS = {"calcification": 0.5, "asymmetry": 0.5}


def draw_overlay(image_u8: np.ndarray, film_json: dict, scale: float, score_threshold: float) -> np.ndarray:
    """The film with its findings and the verdict.

    Masses (score >= ``score_threshold``) are boxed in their grade's colour; calcification
    clusters (magenta, each speck circled) and asymmetries (cyan, thin box) are drawn from
    a score of 0.5 (:data:`DRAW_THRESHOLDS`) and labelled with their grade in words.
    """
    import cv2

    img = cv2.cvtColor(image_u8, cv2.COLOR_GRAY2BGR)
    thick = max(2, img.shape[0] // 400)
    font = max(0.5, img.shape[0] / 1600)
    for d in film_json["detections"]:
        kind = finding_of(d)
        if d["score"] < DRAW_THRESHOLDS.get(kind, score_threshold):
            continue
        x1, y1, x2, y2 = (int(round(v * scale)) for v in d["xyxy"])
        colour = FINDING_COLOURS_BGR.get(kind, GRADE_COLOURS_BGR[d["grade"]])
        cv2.rectangle(img, (x1, y1), (x2, y2), colour, max(1, thick // 2) if kind == "asymmetry" else thick)
        for sx, sy in d.get("specks_xy", []):
            cv2.circle(img, (int(round(sx * scale)), int(round(sy * scale))), max(3, thick + 1), colour, 1)
        label = f"{kind} {d['score']:.2f}" + (f" ({d['grade']})" if kind != "mass" else f" {d['grade']}")
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
        ty = max(th + 4, y1 - 4)
        cv2.rectangle(img, (x1, ty - th - 4), (x1 + tw + 4, ty + 2), colour, -1)
        cv2.putText(img, label, (x1 + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 1, cv2.LINE_AA)
    verdict = f"verdict: {film_json['verdict']}"
    if "abnormal_score" in film_json:
        verdict += f"  (abnormal score {film_json['abnormal_score']:.2f})"
    cv2.putText(img, verdict, (10, int(30 * font * 1.5)), cv2.FONT_HERSHEY_SIMPLEX, font * 1.2, GRADE_COLOURS_BGR[film_json["verdict"]], 2, cv2.LINE_AA)
    return img
