"""``mammo convert``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def convert_command(
    out: Annotated[Path, typer.Option("--out", help="Output folder (coco/, yolo/, splits.json).")],
    mias_dir: Annotated[Path | None, typer.Option("--mias-dir", help="Folder with Info.txt and mdbNNN.pgm/.png films.")] = None,
    coco_json: Annotated[Path | None, typer.Option("--coco-json", help="A COCO detection file (instead of --mias-dir).")] = None,
    images: Annotated[Path | None, typer.Option("--images", help="Image folder of --coco-json.")] = None,
    categories: Annotated[str | None, typer.Option(help="Category scheme: lesion | severity | class.", show_default="lesion")] = None,
    film_size: Annotated[int | None, typer.Option(help="Film size in pixels the MIAS coordinates refer to (square).", show_default="1024")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the patient-level split.", show_default="0")] = None,
    val_frac: Annotated[float | None, typer.Option(help="Fraction of patients for validation.", show_default="0.1")] = None,
    test_frac: Annotated[float | None, typer.Option(help="Fraction of patients for test.", show_default="0.2")] = None,
    preprocess: Annotated[bool | None, typer.Option("--preprocess/--no-preprocess", help="Segment, mirror and crop the breast for the YOLO images.", show_default="preprocess")] = None,
    imgsz: Annotated[int | None, typer.Option(help="Longer side of the YOLO images, pixels.", show_default="640")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML with ConvertConfig keys (flags override it).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty --out folder that mammo did not write (its coco/ and yolo/ are replaced).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Convert mini-MIAS labels (or a COCO set) to COCO (boxes + circle masks), a YOLO dataset and patient splits.

    Example:
        mammo convert --mias-dir data/sample --out work/sample-converted
    """
    from converters.config import load_config
    from converters.convert import CONVERT_OUTPUTS, ConvertConfig, convert, load_mias_set, print_summary
    from converters.errors import InputError
    from converters.output_dir import check_output_dir
    from converters.preprocess import PreprocessConfig

    check_output_dir(out, overwrite, CONVERT_OUTPUTS, signature="convert.yaml")
    if (mias_dir is None) == (coco_json is None):
        raise InputError("give exactly one of --mias-dir DIR or --coco-json F --images DIR")
    cfg = load_config(
        ConvertConfig,
        config,
        {"categories": categories, "film_size": film_size, "seed": seed, "val_frac": val_frac, "test_frac": test_frac, "preprocess": preprocess},
    )
    if imgsz is not None:
        try:
            cfg.preprocessing = PreprocessConfig(**{**cfg.preprocessing.__dict__, "imgsz": imgsz})
        except ValueError as err:
            raise InputError(f"--imgsz: {err}") from None
    if mias_dir is not None:
        source = load_mias_set(mias_dir, cfg.film_size)
    else:
        from converters.cbis import load_coco_set

        if images is None:
            raise InputError("--coco-json needs --images DIR (the folder its file_name entries are relative to)")
        source = load_coco_set(coco_json, images)  # its join report is a summary, printed even with --quiet
    summary = convert(source, out, cfg, progress=not quiet, overwrite=overwrite)
    print_summary(summary)
    typer.echo(f"wrote {out}/coco, {out}/yolo/dataset.yaml, {out}/splits.json")
