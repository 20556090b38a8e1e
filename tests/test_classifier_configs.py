"""Every shipped classifier config loads (unknown keys would raise) and keeps the paper's defaults."""

from pathlib import Path

import pytest

from classifier.config import ClassifierConfig
from converters.config import load_config
from converters.errors import InputError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", ["bcdcnn", "bcdcnn_paper", "bcdcnn_short", "bcdcnn_paper_short", "resnet18_crops"])
def test_config_loads(name):
    cfg = load_config(ClassifierConfig, CONFIGS / f"{name}.yaml")
    assert cfg.arch in ("bcdcnn", "resnet18")
    assert cfg.leaky == (cfg.protocol == "paper")


def test_default_is_the_paper_recipe():
    cfg = load_config(ClassifierConfig, CONFIGS / "bcdcnn.yaml")
    assert (cfg.lr, cfg.steps, cfg.protocol, cfg.input_px) == (0.003, 20000, "patient", 48)
    assert cfg == ClassifierConfig()  # the YAML restates the dataclass defaults


def test_unknown_key_raises(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stepz: 10\n")
    with pytest.raises(InputError, match="steps"):
        load_config(ClassifierConfig, bad)
