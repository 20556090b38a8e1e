"""Make ultralytics run with no network: call :func:`ultralytics_offline` before importing it.

ultralytics reads ``YOLO_CONFIG_DIR`` once, when it is first imported, writes a
``settings.json`` there, and on every train/val looks for ``Arial.ttf`` and
``Arial.Unicode.ttf`` in ``$YOLO_CONFIG_DIR/Ultralytics/`` before asking GitHub for them.
This module sets the environment (``YOLO_OFFLINE=1``, ``YOLO_AUTOINSTALL=0``,
``YOLO_CONFIG_DIR``) and copies matplotlib's bundled DejaVuSans.ttf under both font
names, so nothing is downloaded. Nothing here runs at import time: the functions that
need ultralytics call :func:`import_ultralytics` inside their body.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def default_config_dir() -> Path:
    """Project-chosen ultralytics config folder: ``$MAMMO_CACHE_DIR`` or ``~/.cache/mammoscreen``."""
    base = os.environ.get("MAMMO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "mammoscreen"
    )
    return Path(base) / "ultralytics"


def _dejavu_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def install_fonts(folder: Path) -> None:
    """Copy DejaVuSans.ttf to ``folder`` as every font name ultralytics asks for."""
    folder.mkdir(parents=True, exist_ok=True)
    src = _dejavu_path()
    for name in FONT_NAMES:
        dst = folder / name
        if not dst.exists():
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)


def ultralytics_offline(config_dir: str | Path | None = None) -> Path:
    """Set ultralytics' offline environment and fonts; return its settings folder.

    Call before the first ``import ultralytics``. If ultralytics was already imported
    (its settings folder is then fixed), the fonts are also copied into that folder.

    Args:
        config_dir: value for ``YOLO_CONFIG_DIR``; default :func:`default_config_dir`.
    """
    config_dir = Path(config_dir) if config_dir is not None else default_config_dir()
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "True")
    if "ultralytics" not in sys.modules:
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    install_fonts(config_dir / "Ultralytics")
    settings_dir = config_dir / "Ultralytics"
    if "ultralytics.utils" in sys.modules:
        settings_dir = Path(sys.modules["ultralytics.utils"].USER_CONFIG_DIR)
        install_fonts(settings_dir)
    return settings_dir


def import_ultralytics(config_dir: str | Path | None = None):
    """Prepare the offline environment, then import and return the ``ultralytics`` module."""
    ultralytics_offline(config_dir)
    import ultralytics

    # Settings may have been written by a previous online run: keep this process offline.
    from ultralytics.utils import SETTINGS

    if SETTINGS.get("sync", False):
        SETTINGS.update({"sync": False})
    _unpatch_pil_open()
    return ultralytics


def _unpatch_pil_open() -> None:
    """Give ``PIL.Image.open`` back its own behaviour.

    ultralytics replaces it process-wide with a wrapper that, on a file PIL cannot
    identify, tries to install the HEIF plugin (``pi-heif``) and warns on stderr; films
    are never HEIF, and a corrupt film must fail with this project's one-line error.
    """
    import PIL.Image
    from ultralytics.utils import patches

    original = getattr(patches, "_image_open", None)
    if original is not None and PIL.Image.open is not original:
        PIL.Image.open = original
