"""One loader for labelled data: a mini-MIAS folder or a COCO set becomes a :class:`LabelledSet`.

Every command that reads labelled films (``mammo evaluate``, ``mammo classifier evaluate``,
``mammo classifier cv-report``) takes either ``--mias-dir DIR`` or ``--coco-json F --images DIR``
and calls :func:`load_labelled`; ``Film.image_path`` is relative to :attr:`LabelledSet.root`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converters.errors import InputError
from converters.records import Film


@dataclass(frozen=True)
class LabelledSet:
    """Labelled films and the folder their ``image_path`` is relative to."""

    films: tuple[Film, ...]
    root: Path
    source: str

    def __post_init__(self) -> None:
        if self.source not in ("mias", "coco"):
            raise ValueError(f"source must be 'mias' or 'coco', got {self.source!r}")
        object.__setattr__(self, "films", tuple(self.films))

    @property
    def where(self) -> str:
        """The source in words, for reports (no machine path)."""
        return f"{'mini-MIAS folder' if self.source == 'mias' else 'COCO set'} {self.root.name}"


def load_labelled(mias_dir: str | Path | None = None, coco_json: str | Path | None = None,
                  images: str | Path | None = None) -> LabelledSet:
    """Exactly one of ``mias_dir`` or ``coco_json`` (with ``images``)."""
    if (mias_dir is None) == (coco_json is None):
        raise InputError("give exactly one of --mias-dir DIR or --coco-json F --images DIR")
    if mias_dir is not None:
        from converters.mias import load_mias

        return LabelledSet(load_mias(mias_dir).films, Path(mias_dir), "mias")
    if images is None:
        raise InputError("--coco-json needs --images DIR (the folder its file_name entries are relative to)")
    from converters.cbis import load_coco_set

    return LabelledSet(load_coco_set(coco_json, images).films, Path(images), "coco")
