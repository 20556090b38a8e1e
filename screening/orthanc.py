"""Screen a study held in Orthanc and push the findings back, over Orthanc's REST API.

:class:`OrthancClient` is a small client on the standard library (``urllib``): upload
instances, find a study by its Study Instance UID, list and download its instances.
:func:`screen_orthanc_study` pulls a study's mammograms, screens them with the normal
pipeline (:func:`screening.run.screen_paths`), writes one DICOM SR (and optionally one
GSPS) per film (:mod:`screening.dicom_sr`) and stores them in the same Orthanc, where they
join the study of their image.

Only images are screened: instances whose SOP class is one of :data:`SCREENED_SOP_CLASSES`
(mammography, digital X-ray, computed radiography, secondary capture). Others, such as the
SRs and presentation states of an earlier run, are listed as skipped in the report.

Example::

    from screening.orthanc import screen_orthanc_study
    doc = screen_orthanc_study("http://127.0.0.1:8042", "1.2.3.4", screener, "mammo-orthanc")
"""

from __future__ import annotations

import json
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from converters.errors import InputError

SCREENED_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.1.2": "Digital Mammography X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.2.1": "Digital Mammography X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.1": "Computed Radiography Image Storage",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
}


class OrthancClient:
    """Orthanc's REST API (no authentication; ``http`` or ``https``).

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:8042``.
        timeout_s: seconds to wait for one request.
    """

    def __init__(self, url: str, timeout_s: float = 60.0):
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InputError(f"--orthanc must be an http(s) URL such as http://127.0.0.1:8042, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> bytes:
        """Raw bytes of one request; HTTP and connection errors become one InputError."""
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 - http(s) checked above
                return resp.read()
        except urllib.error.HTTPError as err:
            detail = err.read()[:300].decode("utf-8", "replace")
            raise InputError(f"Orthanc answered {err.code} {err.reason} to {method} {path}: {' '.join(detail.split())}",
                             self.url) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise InputError(f"cannot reach Orthanc ({reason}); is it running and is the URL right?", self.url) from None

    def get_json(self, path: str):
        return json.loads(self.request("GET", path))

    def post_json(self, path: str, body) -> object:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return json.loads(self.request("POST", path, data, "application/json"))

    def system(self) -> dict:
        """``/system``: name and version of the server (answers once it is up)."""
        return self.get_json("/system")

    def upload(self, dicom_bytes: bytes) -> dict:
        """Store one DICOM file; Orthanc's answer (``ID``, ``ParentStudy``, ``Status``...)."""
        answer = json.loads(self.request("POST", "/instances", dicom_bytes, "application/dicom"))
        if not isinstance(answer, dict) or answer.get("Status") not in ("Success", "AlreadyStored"):
            raise InputError(f"Orthanc did not store the instance: {answer}", self.url)
        return answer

    def upload_file(self, path: str | Path) -> dict:
        return self.upload(Path(path).read_bytes())

    def find_study(self, study_uid: str) -> str:
        """Orthanc's id of the study with this Study Instance UID (InputError if it holds none)."""
        if not re.fullmatch(r"[0-9.]{1,64}", study_uid or ""):
            raise InputError(f"--study must be a Study Instance UID (digits and dots), got {study_uid!r}")
        hits = self.post_json("/tools/lookup", study_uid.encode())
        ids = [h["ID"] for h in hits if h.get("Type") == "Study"]
        if not ids:
            raise InputError(f"Orthanc holds no study with Study Instance UID {study_uid}", self.url)
        return ids[0]

    def study_instances(self, study_uid: str) -> list[dict]:
        """The study's instances: ``{"ID", "SOPInstanceUID", "SOPClassUID", "SeriesInstanceUID"}`` each."""
        study_id = self.find_study(study_uid)
        out, series_uids = [], {}
        for inst in self.get_json(f"/studies/{study_id}/instances"):
            tags = inst.get("MainDicomTags", {})
            sop_class = self.request("GET", f"/instances/{inst['ID']}/metadata/SopClassUid").decode().strip()
            if inst["ParentSeries"] not in series_uids:
                tags_s = self.get_json(f"/series/{inst['ParentSeries']}")["MainDicomTags"]
                series_uids[inst["ParentSeries"]] = tags_s.get("SeriesInstanceUID", "")
            series = series_uids[inst["ParentSeries"]]
            out.append({"ID": inst["ID"], "SOPInstanceUID": tags.get("SOPInstanceUID", ""), "SOPClassUID": sop_class,
                        "SeriesInstanceUID": series})
        return out

    def download(self, instance_id: str) -> bytes:
        """The instance's DICOM file as stored."""
        return self.request("GET", f"/instances/{instance_id}/file")


def _safe_name(uid: str, fallback: str) -> str:
    return uid if re.fullmatch(r"[0-9.]{1,64}", uid or "") else fallback


def screen_orthanc_study(url: str, study_uid: str, screener, out: str | Path, gsps: bool = False, push: bool = True,
                         progress: bool = True, overwrite: bool = False, client: OrthancClient | None = None) -> dict:
    """Pull a study's images from Orthanc, screen them, write SRs and push them back.

    Args:
        url: Orthanc's base URL (``http://127.0.0.1:8042``).
        study_uid: Study Instance UID of the study to screen.
        screener: a loaded :class:`screening.pipeline.Screener` (its config is the run's).
        out: output folder: ``report.json``, ``report.csv``, ``overlays/`` as for a folder of
            films (films are named ``SOPInstanceUID.dcm``), and ``dicom-sr/`` with the SRs.
        gsps: also write and push a Grayscale Softcopy Presentation State per film.
        push: store the SRs (and GSPS) in Orthanc.
        progress: show a progress bar.
        overwrite: write into a non-empty folder mammo did not write.
        client: an :class:`OrthancClient` (default: one for ``url``).

    Returns:
        the report document, with an ``"orthanc"`` entry: the server, the study, the
        instances screened and skipped, and the Orthanc ids of what was pushed.
    """
    from screening.dicom_sr import add_dicom_outputs
    from screening.report import write_report
    from screening.run import screen_paths

    client = client or OrthancClient(url)
    instances = client.study_instances(study_uid)
    images = [i for i in instances if i["SOPClassUID"] in SCREENED_SOP_CLASSES]
    skipped = [{"sop_instance_uid": i["SOPInstanceUID"], "sop_class_uid": i["SOPClassUID"]}
               for i in instances if i["SOPClassUID"] not in SCREENED_SOP_CLASSES]
    if not images:
        raise InputError(f"study {study_uid} holds no images to screen ({len(instances)} instances, none of SOP class "
                         f"{', '.join(sorted(SCREENED_SOP_CLASSES.values()))})", url)
    with tempfile.TemporaryDirectory(prefix="mammo-orthanc-") as tmp:
        films = Path(tmp) / "films"
        films.mkdir()
        for k, inst in enumerate(images):  # a private temporary folder: no partial file outlives the run
            (films / f"{_safe_name(inst['SOPInstanceUID'], f'instance-{k + 1}')}.dcm").write_bytes(client.download(inst["ID"]))
        doc = screen_paths([films], out, screener.config, screener=screener, progress=progress, overwrite=overwrite)
        add_dicom_outputs(doc, [films], out, gsps=gsps, gsps_min_score=screener.config.score_threshold)
    pushed = []
    for film in doc["films"] if push else []:
        done = {"file": film["file"]}
        for key, kind in (("dicom_sr", "sr"), ("dicom_gsps", "gsps")):
            if key in film:
                done[kind] = client.upload_file(Path(out) / film[key])["ID"]
        if len(done) > 1:
            pushed.append(done)
    doc["orthanc"] = {"url": client.url, "study_instance_uid": study_uid, "screened": len(images),
                      "skipped": skipped, "pushed": pushed}
    write_report(Path(out), doc)
    return doc
