"""Findings a PACS can show: a DICOM Comprehensive SR (TID 1500) and a GSPS per film.

:func:`build_sr` turns one film of ``report.json`` (or a :class:`screening.pipeline.FilmResult`)
and the header of the DICOM image it came from into a Comprehensive SR following TID 1500
"Measurement Report" (highdicom):

* the evidence and every region reference the source image by its Study, Series and SOP
  Instance UIDs (patient and study attributes are copied from it, so a PACS files the SR
  beside the image);
* one TID 1410 "Planar ROI Measurements and Qualitative Evaluations" group per finding: the
  box as a closed SCOORD ``POLYLINE`` (5 points, the first repeated), the finding type, the
  detector score, the probability of cancer, the grade and, for calcification clusters, the
  number of specks;
* one TID 1501 group for the whole film: its overall assessment and its two film scores.

:func:`build_gsps` writes the same boxes as graphic annotations of a Grayscale Softcopy
Presentation State, so a viewer draws them over the image.

Coordinates: ``xyxy`` of the report are in the ORIGINAL file's pixels, origin at the
top-left corner of the top-left pixel, right and bottom edges exclusive. This is exactly
DICOM's image-relative convention for SCOORD and for GSPS ``PIXEL`` units (PS3.3 C.18.6.1.1,
C.10.5.1.2: the top-left corner of the first pixel is ``0.0\\0.0``, the bottom-right corner of
the last pixel is ``Columns\\Rows``), so boxes are written unchanged as ``(column, row)`` points.

Codes (DICOM PS3.16, as listed in pydicom's concept dictionary):

============== ============================================ ==========================
report         concept                                      code
============== ============================================ ==========================
mass           Mass                                         SCT 4147007
calcification  Calcification Cluster                        SCT 129769006
asymmetry      Focal asymmetric breast tissue               SCT 129789007
grade          Pathology (concept name) with value          DCM 111042
               Normal / Benign / Malignant                  SCT 17621005 / 30807003 / 21594007
verdict        Overall Assessment with the same values      DCM 111413
score          Certainty of Finding, unit ``1`` (0-1)       DCM 111012
P(malignant)   Probability of cancer, unit ``1``            DCM 111047
n_specks       Number of calcifications, unit ``1``         DCM 111038
film scores    ``abnormal_score``, ``malignant_score``      99MAMMO (private scheme)
procedure      Mammography                                  SCT 71651007
============== ============================================ ==========================

For clusters, SCT 129769006 ("Radiographic calcification with clustered distribution", listed in
CID 6015 as "Calcification Cluster") is used rather than SCT 129748009, which is any radiographic
calcification finding. The film scores have no standard concept, so they carry codes of a private coding scheme
``99MAMMO``, declared in the SR's Coding Scheme Identification Sequence as the standard asks.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from converters.errors import InputError

PRIVATE_SCHEME = "99MAMMO"
MANUFACTURER = "mammoscreen"
FINDING_CODES = {
    "mass": ("4147007", "SCT", "Mass"),
    "calcification": ("129769006", "SCT", "Calcification Cluster"),
    "asymmetry": ("129789007", "SCT", "Focal asymmetric breast tissue"),
}
GRADE_CODES = {
    "normal": ("17621005", "SCT", "Normal"),
    "benign": ("30807003", "SCT", "Benign"),
    "malignant": ("21594007", "SCT", "Malignant"),
}
PATHOLOGY = ("111042", "DCM", "Pathology")
OVERALL_ASSESSMENT = ("111413", "DCM", "Overall Assessment")
CERTAINTY_OF_FINDING = ("111012", "DCM", "Certainty of Finding")
PROBABILITY_OF_CANCER = ("111047", "DCM", "Probability of cancer")
NUMBER_OF_CALCIFICATIONS = ("111038", "DCM", "Number of calcifications")
ABNORMAL_SCORE = ("abnormal_score", PRIVATE_SCHEME, "Abnormal score")
MALIGNANT_SCORE = ("malignant_score", PRIVATE_SCHEME, "Malignant score")
MAMMOGRAPHY = ("71651007", "SCT", "Mammography")
NO_UNITS = ("1", "UCUM", "no units")
SR_DIR = "dicom-sr"
SR_SERIES_NUMBER = 990
GSPS_SERIES_NUMBER = 991


def _code(triple):
    from highdicom.sr import CodedConcept

    value, scheme, meaning = triple
    return CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mammoscreen")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def film_json_of(film) -> dict:
    """A report film dict from a dict or a :class:`screening.pipeline.FilmResult`."""
    return film if isinstance(film, dict) else film.to_json()


def box_polyline(xyxy) -> np.ndarray:
    """``[x1, y1, x2, y2]`` -> closed ``(5, 2)`` polyline of ``(column, row)`` points, clockwise."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]], dtype=np.float64)


def check_source(source_ds, film: dict) -> None:
    """The source image's header must be an image whose size is the film's (InputError otherwise)."""
    where = film.get("file")
    for key in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "Rows", "Columns"):
        if key not in source_ds:
            raise InputError(f"source DICOM lacks {key}; expected an image with study, series and SOP instance UIDs", where)
    if (int(source_ds.Columns), int(source_ds.Rows)) != (int(film["width"]), int(film["height"])):
        raise InputError(f"source DICOM is {source_ds.Columns}x{source_ds.Rows} pixels but the report film is "
                         f"{film['width']}x{film['height']}: not the image these findings were found on", where)


def _finding_group(d: dict, index: int, source_image, algorithm):
    import highdicom as hd
    from highdicom.sr import (ImageRegion, Measurement, PlanarROIMeasurementsAndQualitativeEvaluations,
                              QualitativeEvaluation, TrackingIdentifier)

    kind = d.get("finding", "mass")
    if kind not in FINDING_CODES:
        raise InputError(f"detection {index}: finding must be one of {tuple(FINDING_CODES)}, got {kind!r}")
    region = ImageRegion(graphic_type="POLYLINE", graphic_data=box_polyline(d["xyxy"]), source_image=source_image)
    measurements = [
        Measurement(name=_code(CERTAINTY_OF_FINDING), value=float(d["score"]), unit=_code(NO_UNITS), algorithm_id=algorithm),
        Measurement(name=_code(PROBABILITY_OF_CANCER), value=float(d["probabilities"]["malignant"]),
                    unit=_code(NO_UNITS), algorithm_id=algorithm),
    ]
    if d.get("n_specks") is not None:
        measurements.append(Measurement(name=_code(NUMBER_OF_CALCIFICATIONS), value=float(d["n_specks"]),
                                        unit=_code(NO_UNITS), algorithm_id=algorithm))
    return PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=hd.UID(), identifier=f"finding {index + 1} ({kind})"),
        referenced_region=region,
        finding_type=_code(FINDING_CODES[kind]),
        algorithm_id=algorithm,
        measurements=measurements,
        qualitative_evaluations=[QualitativeEvaluation(_code(PATHOLOGY), _code(GRADE_CODES[d["grade"]]))],
    )


def build_sr(source_ds, film, series_instance_uid: str | None = None, sop_instance_uid: str | None = None,
             series_number: int = SR_SERIES_NUMBER, instance_number: int = 1, min_score: float = 0.0):
    """A TID 1500 Comprehensive SR of one screened film (see the module docstring).

    Args:
        source_ds: the source image's pydicom ``Dataset`` (the header suffices: read it with
            ``stop_before_pixels=True``).
        film: one film of ``report.json`` (dict) or a :class:`~screening.pipeline.FilmResult`.
        series_instance_uid: the SR's series (default: a new UID).
        sop_instance_uid: the SR's own UID (default: a new UID).
        series_number, instance_number: as shown by viewers.
        min_score: findings scoring below this are left out (default: all the report holds).

    Returns:
        a ``highdicom.sr.ComprehensiveSR`` (a pydicom ``Dataset``).
    """
    import highdicom as hd
    from highdicom.sr import (AlgorithmIdentification, ComprehensiveSR, DeviceObserverIdentifyingAttributes,
                              Measurement, MeasurementReport, MeasurementsAndQualitativeEvaluations,
                              ObservationContext, ObserverContext, QualitativeEvaluation, SourceImageForMeasurementGroup,
                              SourceImageForRegion, TrackingIdentifier)
    from pydicom import Dataset
    from pydicom.sr.codedict import codes

    film = film_json_of(film)
    check_source(source_ds, film)
    version = _software_version()
    algorithm = AlgorithmIdentification(name=MANUFACTURER, version=version)
    source_image = SourceImageForRegion(referenced_sop_class_uid=source_ds.SOPClassUID,
                                        referenced_sop_instance_uid=source_ds.SOPInstanceUID)
    groups = [_finding_group(d, i, source_image, algorithm)
              for i, d in enumerate(film["detections"]) if float(d["score"]) >= min_score]
    film_group = MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=hd.UID(), identifier="film assessment"),
        algorithm_id=algorithm,
        source_images=[SourceImageForMeasurementGroup(source_ds.SOPClassUID, source_ds.SOPInstanceUID)],
        qualitative_evaluations=[QualitativeEvaluation(_code(OVERALL_ASSESSMENT), _code(GRADE_CODES[film["verdict"]]))],
        measurements=[
            Measurement(name=_code(ABNORMAL_SCORE), value=float(film.get("abnormal_score", 0.0)), unit=_code(NO_UNITS),
                        algorithm_id=algorithm),
            Measurement(name=_code(MALIGNANT_SCORE), value=float(film.get("malignant_score", 0.0)), unit=_code(NO_UNITS),
                        algorithm_id=algorithm),
        ],
    )
    observer = ObserverContext(observer_type=codes.DCM.Device,
                               observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
                                   uid=hd.UID(), name=MANUFACTURER, manufacturer_name=MANUFACTURER))
    report = MeasurementReport(
        observation_context=ObservationContext(observer_device_context=observer),
        procedure_reported=_code(MAMMOGRAPHY),
        imaging_measurements=[*groups, film_group],
    )
    sr = ComprehensiveSR(
        evidence=[source_ds],
        content=report[0],
        series_instance_uid=series_instance_uid or hd.UID(),
        series_number=series_number,
        sop_instance_uid=sop_instance_uid or hd.UID(),
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description="mammoscreen findings",
    )
    scheme = Dataset()
    scheme.CodingSchemeDesignator = PRIVATE_SCHEME
    scheme.CodingSchemeName = "mammoscreen film scores"
    scheme.CodingSchemeResponsibleOrganization = MANUFACTURER
    sr.CodingSchemeIdentificationSequence = [scheme]
    sr.SoftwareVersions = version
    return sr


def build_gsps(source_ds, film, series_instance_uid: str | None = None, sop_instance_uid: str | None = None,
               series_number: int = GSPS_SERIES_NUMBER, instance_number: int = 1, min_score: float = 0.0):
    """A Grayscale Softcopy Presentation State drawing the film's boxes over the source image.

    Each finding is a closed ``POLYLINE`` in ``PIXEL`` units with a text label
    (``"mass benign 0.42"``) anchored at its top-left corner, on one graphic layer.
    Arguments as in :func:`build_sr`; ``source_ds`` must hold Rows and Columns.
    """
    import highdicom as hd
    from highdicom.pr import (GraphicAnnotation, GraphicLayer, GraphicObject, GrayscaleSoftcopyPresentationState,
                              TextObject)

    film = film_json_of(film)
    check_source(source_ds, film)
    layer = GraphicLayer(layer_name="FINDINGS", order=1, description="mammoscreen findings")
    shown = [d for d in film["detections"] if float(d["score"]) >= min_score]
    annotations = []
    if shown:
        graphics = [GraphicObject(graphic_type="POLYLINE", graphic_data=box_polyline(d["xyxy"]), units="PIXEL",
                                  tracking_id=f"finding {i + 1}", tracking_uid=hd.UID()) for i, d in enumerate(shown)]
        texts = [TextObject(text_value=f"{d.get('finding', 'mass')} {d['grade']} {float(d['score']):.2f}", units="PIXEL",
                            anchor_point=(float(d["xyxy"][0]), float(d["xyxy"][1])), anchor_point_visible=False)
                 for d in shown]
        annotations.append(GraphicAnnotation(referenced_images=[source_ds], graphic_layer=layer,
                                             graphic_objects=graphics, text_objects=texts))
    return GrayscaleSoftcopyPresentationState(
        referenced_images=[source_ds],
        series_instance_uid=series_instance_uid or hd.UID(),
        series_number=series_number,
        sop_instance_uid=sop_instance_uid or hd.UID(),
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=_software_version(),
        device_serial_number="0",
        content_label="MAMMOSCREEN",
        content_description=f"findings, verdict {film['verdict']}",
        graphic_layers=[layer],
        graphic_annotations=annotations,
    )


def write_dicom_atomic(ds, path: str | Path) -> Path:
    """Save a dataset as a DICOM file (with preamble and meta header) through a temporary name."""
    from converters.atomic import temp_file_beside

    path = Path(path)
    fd, tmp = temp_file_beside(path)
    os.close(fd)
    try:
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def sr_file_name(film_file: str, kind: str = "sr") -> str:
    """``sub/a.dcm`` -> ``sub__a.sr.dcm`` (one flat folder; ``kind`` is ``sr`` or ``gsps``)."""
    stem = film_file.replace("/", "__")
    stem = stem[: -len(Path(stem).suffix)] if Path(stem).suffix.lower() in (".dcm", ".dicom") else stem
    return f"{stem}.{kind}.dcm"


def film_sources(paths) -> dict[str, Path]:
    """Report name -> file of every film :func:`screening.run.screen_paths` finds in ``paths``."""
    from screening.readers import find_films

    files, _ = find_films(paths)
    return {name: Path(path) for path, name in files}


def write_film_objects(doc: dict, sources, out_dir: str | Path, gsps: bool = False, min_score: float = 0.0,
                       gsps_min_score: float | None = None) -> tuple[list[dict], list[dict]]:
    """Write an SR (and a GSPS) for every DICOM film of a report.

    Args:
        doc: the report document.
        sources: where the films are: a mapping report name -> file (:func:`film_sources` of
            the paths that were screened), or one folder the names are relative to.
        out_dir: where ``NAME.sr.dcm`` (and ``NAME.gsps.dcm``) go (created).
        gsps: also write presentation states.
        min_score: SR findings below this score are left out (default: all the report holds).
        gsps_min_score: boxes drawn by the GSPS (default: ``min_score``; the overlays of
            ``mammo screen`` draw those at or above ``score_threshold``).

    Returns:
        ``(written, failures)``: one ``{"file", "sr", "gsps"?}`` entry per DICOM film (names
        relative to ``out_dir``), and ``{"file", "error"}`` for films whose header cannot make
        an SR (the others are still written). Films that are not DICOM are skipped: they have
        no UIDs to refer to. As with overlays, files an earlier call wrote into ``out_dir`` that
        this one did not are removed (:func:`converters.atomic.owned_files_dir`); others' stay.
    """
    from converters.atomic import owned_files_dir

    gsps_min_score = min_score if gsps_min_score is None else gsps_min_score
    with owned_files_dir(out_dir) as tmp:
        return _write_objects(doc, sources, tmp, gsps, min_score, gsps_min_score)


def _write_objects(doc, sources, out_dir: Path, gsps: bool, min_score: float, gsps_min_score: float):
    import highdicom as hd
    import pydicom

    from screening.readers import DICOM_SUFFIXES, IMAGE_SUFFIXES, is_dicom

    written, failures = [], []
    series: dict[tuple[str, str], str] = {}  # (study UID, kind) -> series UID: a series never spans studies
    for film in doc["films"]:
        src = sources.get(film["file"]) if isinstance(sources, dict) else Path(sources) / film["file"]
        if src is None or src.suffix.lower() in IMAGE_SUFFIXES or not (src.suffix.lower() in DICOM_SUFFIXES or is_dicom(src)):
            continue
        try:
            try:
                ds = pydicom.dcmread(str(src), stop_before_pixels=True)
            except Exception as err:  # pydicom raises many types for corrupt files
                raise InputError(f"cannot read the DICOM header again for its SR ({err.__class__.__name__})", src) from None
            study = str(ds.get("StudyInstanceUID", ""))
            number = len(written) + 1
            entry = {"file": film["file"], "sr": sr_file_name(film["file"], "sr")}
            sr = build_sr(ds, film, series.setdefault((study, "sr"), hd.UID()), instance_number=number, min_score=min_score)
            pr = None
            if gsps:
                entry["gsps"] = sr_file_name(film["file"], "gsps")
                pr = build_gsps(ds, film, series.setdefault((study, "gsps"), hd.UID()), instance_number=number,
                                min_score=gsps_min_score)
        except InputError as err:
            failures.append({"file": film["file"], "error": str(err)})
            continue
        sr.save_as(out_dir / entry["sr"], enforce_file_format=True)  # a private folder, moved into place at the end
        if pr is not None:
            pr.save_as(out_dir / entry["gsps"], enforce_file_format=True)
        written.append(entry)
    return written, failures


def add_dicom_outputs(doc: dict, paths, out: str | Path, gsps: bool = False, gsps_min_score: float | None = None) -> dict:
    """After :func:`screening.run.screen_paths`: SRs (and GSPS) of its DICOM films into ``out/dicom-sr``.

    Each film that got one names it (``"dicom_sr": "dicom-sr/NAME.sr.dcm"``, ``"dicom_gsps"``);
    films whose header cannot make an SR become failure entries; ``out/report.json`` and
    ``report.csv`` are written again. Returns ``doc``.

    Args:
        doc: the report document ``screen_paths`` returned.
        paths: the files and folders that were screened (to find each film's file again).
        out: the output folder of that run.
        gsps: also write presentation states.
        gsps_min_score: boxes the GSPS draws (default: all; ``mammo screen`` overlays draw
            those at or above ``score_threshold``).
    """
    from screening.report import write_report

    sources = paths if isinstance(paths, dict) else film_sources(paths)
    written, failures = write_film_objects(doc, sources, Path(out) / SR_DIR, gsps=gsps, gsps_min_score=gsps_min_score)
    by_file = {w["file"]: w for w in written}
    for film in doc["films"]:
        entry = by_file.get(film["file"])
        if entry is not None:
            film["dicom_sr"] = f"{SR_DIR}/{entry['sr']}"
            if "gsps" in entry:
                film["dicom_gsps"] = f"{SR_DIR}/{entry['gsps']}"
    doc["failures"] = doc["failures"] + failures
    write_report(Path(out), doc)
    return doc
