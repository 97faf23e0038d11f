"""Config loading: every preset validates; bad keys, values and overrides fail naming the key and the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acoustic_ssl.errors import ConfigError
from acoustic_ssl.training.config import load_config, parse_override

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRESETS = sorted(CONFIGS.glob("*.toml"))


def test_presets_exist_for_every_family() -> None:
    names = {p.stem for p in PRESETS}
    for family in (
        "selfsup_audio_video",
        "selfsup_acoustic_video",
        "transfer",
        "distillation",
        "supervised_hearnet",
        "supervised_dualcamnet",
        "supervised_resnet18",
    ):
        assert family in names and f"tiny_{family}" in names


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_every_preset_loads(preset: Path) -> None:
    cfg = load_config(preset)
    assert cfg.experiment.name == preset.stem
    assert Path(cfg.data.train_list).is_absolute()
    assert "--set data.train_list" in preset.read_text()  # the header documents the override


def test_original_hyperparameters() -> None:
    cfg = load_config(CONFIGS / "selfsup_audio_video.toml")
    assert (cfg.data.batch_size, cfg.optim.lr, cfg.experiment.epochs, cfg.loss.margin) == (64, 1e-5, 20, 0.2)
    assert cfg.modalities == (1, 2) and cfg.data.nr_frames == 2
    assert load_config(CONFIGS / "selfsup_acoustic_video.toml").modalities == (0, 2)
    transfer = load_config(CONFIGS / "transfer.toml")
    assert transfer.loss.alpha == 0.5 and transfer.modalities == (0, 1, 2)
    sup = load_config(CONFIGS / "supervised_resnet18.toml")
    assert (sup.data.batch_size, sup.optim.lr, sup.experiment.epochs) == (32, 1e-3, 100)
    dist = load_config(CONFIGS / "distillation.toml")
    assert (dist.loss.lambda_, dist.loss.temperature, dist.modalities) == (0.5, 1.0, (0, 1))


def test_overrides_are_toml_literals_or_strings(tmp_path: Path) -> None:
    cfg = load_config(
        CONFIGS / "transfer.toml",
        [
            "loss.alpha=0.1",
            "data.video_size=[112,149]",
            "runtime.bf16=false",
            f"data.train_list={tmp_path}/a b.txt",
        ],
    )
    assert cfg.loss.alpha == 0.1 and cfg.data.video_size == [112, 149] and cfg.runtime.bf16 is False
    assert cfg.data.train_list == str(tmp_path / "a b.txt")
    assert parse_override("optim.lr=1e-4") == (["optim", "lr"], 1e-4)
    assert (
        load_config(CONFIGS / "tiny_selfsup_audio_video.toml", ["models.video.width=8"])
        .models["video"]
        .kwargs["width"]
        == 8
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("loss.alpah=0.3", "unknown key 'loss.alpah'"),
        ("loss.alpha=1.5", "loss.alpha: must be in [0, 1]"),
        ("data.batch_size=2.5", "data.batch_size: expected an integer"),
        ("runtime.bf16=1", "runtime.bf16: expected true or false"),
        ("experiment.kind=magic", "experiment.kind: expected one of"),
        ("models.video.widht=8", "models.video.widht: unknown argument of resnet18"),
        ("models.audio.name=resnet18", "models.audio.name: kind 'transfer' needs hearnet"),
        ("loss.teacher_checkpoint=", "loss.teacher_checkpoint: kind 'transfer' needs a checkpoint"),
        ("data.total_length=3", "data.total_length: must be a multiple"),
        ("bogus.key=1", "unknown section 'bogus'"),
        ("loss", "expected KEY=VALUE"),
    ],
)
def test_bad_overrides_name_the_key_and_file(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(CONFIGS / "transfer.toml", [override])
    assert message in str(err.value)
    if "=" in override:
        assert "transfer.toml" in str(err.value)


def test_bad_file_key_and_roles(tmp_path: Path) -> None:
    text = (CONFIGS / "tiny_supervised_hearnet.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("[optim]", "[optim]\nmomentum = 0.9"))
    with pytest.raises(ConfigError, match=r"bad.toml: unknown key 'optim.momentum'"):
        load_config(bad)
    bad.write_text(re.sub(r"num_classes = .*\n", "", text))
    with pytest.raises(ConfigError, match=r"models.model.num_classes: a classifier needs"):
        load_config(bad)
    bad.write_text(text.replace("[models.model]", "[models.video]"))
    with pytest.raises(ConfigError, match=r"kind 'supervised' needs roles \['model'\]"):
        load_config(bad)
    bad.write_text("[experiment\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")


def test_hearnet_needs_two_second_samples() -> None:
    with pytest.raises(ConfigError, match=r"data\.sample_length: HearNet needs"):
        load_config(CONFIGS / "supervised_hearnet.toml", ["data.sample_length=1", "data.total_length=1"])
