"""Config loading: every preset validates; bad keys, values and overrides fail naming the key and the file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from acoustic_ssl import presets
from acoustic_ssl.errors import ConfigError
from acoustic_ssl.training.config import SECTIONS, load_config, parse_override

EXPERIMENTS = (
    "selfsup_audio_video",
    "selfsup_acoustic_video",
    "transfer",
    "distillation",
    "supervised_hearnet",
    "supervised_dualcamnet",
    "supervised_resnet18",
    "contrastive_audio_video",
    "contrastive_acoustic_video",
    "contrastive_transfer",
    "generate",
)


def test_one_packaged_preset_per_experiment() -> None:
    assert sorted(presets.names("train")) == sorted(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.parametrize("variant", [None, "tiny"])
def test_every_preset_and_variant_loads(name: str, variant: str | None) -> None:
    cfg = load_config(name, variant=variant)
    assert cfg.experiment.name == (f"tiny_{name}" if variant else name)
    assert Path(cfg.data.train_list).is_absolute()
    text = presets.find("train", name).read_text()
    assert "--set data.train_list" in text  # the header documents the override
    if variant:
        assert cfg.experiment.epochs == 3 and not cfg.runtime.bf16 and cfg.data.batch_size == 16


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_presets_hold_only_deltas_over_the_defaults(name: str) -> None:
    raw = tomllib.loads(presets.find("train", name).read_text())
    for section, cls in SECTIONS.items():
        defaults = cls()
        for key, value in raw.get(section, {}).items():
            if key != "kind":  # the kind names the experiment even where it is the default
                assert getattr(defaults, key) != value, f"{name}: {section}.{key} restates the default"
    taken = load_config(name).objective.hyperparameters()  # [loss]: the objective's own defaults
    for key, value in raw.get("loss", {}).items():
        if key != "teacher_checkpoint":
            assert taken[key][2] != value, f"{name}: loss.{key} restates the objective's default"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_reproduction_presets_are_float32_and_the_fast_variant_says_it_is_not(name: str) -> None:
    for variant in (None, "tiny"):
        cfg = load_config(name, variant=variant)
        assert not cfg.runtime.bf16 and not cfg.runtime.tf32, variant
    fast = load_config(name, variant="fast")
    assert fast.runtime.bf16 and fast.runtime.tf32
    text = presets.find("train", name).read_text()
    assert "Not float32" in text.split("fast = ")[0].splitlines()[-1]  # the line above the variant
    assert "float32" in text.split("[experiment]")[0].lower()  # and the header


def test_transfer_is_taught_by_the_15th_epoch_as_the_original() -> None:
    teacher = load_config("transfer").loss.teacher_checkpoint
    assert teacher.endswith("selfsup_acoustic_video/checkpoints/epoch_15")
    assert load_config("transfer", variant="tiny").loss.teacher_checkpoint.endswith("checkpoints/epoch_3")


def test_an_audio_network_without_spectrogram_statistics_is_a_config_error() -> None:
    for name in ("selfsup_audio_video", "transfer", "distillation", "supervised_hearnet"):
        message = r"\+ --set: data\.stats_dir: is required: models\.\w+ \(hearnet\) reads spectrograms.*stats"
        with pytest.raises(ConfigError, match=message):
            load_config(name, ["data.stats_dir="])
    assert load_config("selfsup_acoustic_video", ["data.stats_dir="]).data.stats_dir == ""
    assert load_config("supervised_resnet18", ["data.stats_dir="]).modalities == ("video",)


def test_init_keys_are_checked() -> None:
    cfg = load_config("supervised_hearnet", ["models.model.init_from=runs/a/checkpoints/last"])
    assert Path(cfg.models["model"].init_from).is_absolute() and not cfg.models["model"].init_head
    assert cfg.to_dict()["models"]["model"]["init_from"] == cfg.models["model"].init_from
    assert "init_from" not in load_config("supervised_hearnet").to_dict()["models"]["model"]
    with pytest.raises(ConfigError, match=r"models\.model\.init_head: expected true or false"):
        load_config("supervised_hearnet", ["models.model.init_from=x", "models.model.init_head=yes"])
    with pytest.raises(ConfigError, match=r"models\.model\.init_from: init_role / init_head need"):
        load_config("supervised_hearnet", ["models.model.init_role=audio"])


def test_original_hyperparameters() -> None:
    cfg = load_config("selfsup_audio_video")
    assert (cfg.data.batch_size, cfg.optim.lr, cfg.experiment.epochs, cfg.loss.margin) == (64, 1e-5, 20, 0.2)
    assert cfg.modalities == ("audio", "video") and cfg.data.nr_frames == 2
    assert load_config("selfsup_acoustic_video").modalities == ("acoustic", "video")
    transfer = load_config("transfer")
    assert transfer.loss.alpha == 0.5 and transfer.modalities == ("acoustic", "audio", "video")
    sup = load_config("supervised_resnet18")
    assert (sup.data.batch_size, sup.optim.lr, sup.experiment.epochs) == (32, 1e-3, 100)
    dist = load_config("distillation")
    assert (dist.loss.lambda_, dist.loss.temperature, dist.modalities) == (0.5, 1.0, ("acoustic", "audio"))


def test_a_preset_file_path_still_works_and_unknown_names_fail(tmp_path: Path) -> None:
    copy = tmp_path / "mine.toml"
    copy.write_text(presets.find("train", "transfer").read_text())
    assert load_config(copy).experiment.kind == "transfer"
    with pytest.raises(ConfigError, match=r"no packaged train preset named 'trasnfer'.*transfer"):
        load_config("trasnfer")
    with pytest.raises(ConfigError, match=r"transfer.toml: no variant 'huge' \(variants: fast, tiny\)"):
        load_config("transfer", variant="huge")


def test_overrides_are_toml_literals_or_strings(tmp_path: Path) -> None:
    cfg = load_config(
        "transfer",
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
    tiny = load_config("selfsup_audio_video", ["models.video.width=8"], variant="tiny")
    assert tiny.models["video"].kwargs["width"] == 8  # --set applies after the variant


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("loss.alpah=0.3", "unknown key 'loss.alpah'"),
        ("loss.alpha=1.5", "loss.alpha: must be in [0, 1]"),
        ("data.batch_size=2.5", "data.batch_size: expected an integer"),
        ("runtime.bf16=1", "runtime.bf16: expected true or false"),
        ("experiment.kind=magic", "experiment.kind: expected one of"),
        ("models.video.widht=8", "models.video.widht: unknown argument of resnet18"),
        ("models.audio.name=resnet18", "models.audio.name: kind 'transfer' needs a network reading audio"),
        ("loss.teacher_checkpoint=", "loss.teacher_checkpoint: kind 'transfer' needs a checkpoint"),
        ("data.total_length=3", "data.total_length: must be a multiple"),
        ("bogus.key=1", "unknown section 'bogus'"),
        ("loss", "expected KEY=VALUE"),
    ],
)
def test_bad_overrides_name_the_key_and_file(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config("transfer", [override])
    assert message in str(err.value)
    if "=" in override:
        assert "transfer.toml" in str(err.value)


def test_bad_file_key_and_roles(tmp_path: Path) -> None:
    text = presets.find("train", "supervised_hearnet").read_text()
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
        load_config("supervised_hearnet", ["data.sample_length=1", "data.total_length=1"])
