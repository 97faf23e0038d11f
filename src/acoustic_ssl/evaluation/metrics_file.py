"""``metrics.json``: its one writer and its one reader, so that ``evaluate`` and the two reports that read it
(``acoustic-ssl report`` and the demo's) cannot drift apart on a key.

``evaluate`` writes through :func:`write_metrics` (``evaluate --boxes`` adds ``localization_boxes`` through
:func:`add_block`), which refuses a summary key or a localisation map the reader does not know; ``report``
and the demo read through :func:`read_metrics`, which gives a :class:`Metrics`: the headline numbers
(:class:`Summary`), audio→video recall at every rank held, the localisation scores per map and baseline
(:class:`LocalizationScores`), and every test sample's outcome under one name per score
(:attr:`Metrics.outcomes`, what the bootstrap resamples). The sections of the file as written (``knn``,
``linear_probe``, the objectives' test modes, ``retrieval``, ``localization``, ``summary``) stay available as
:attr:`Metrics.sections` for the report's tables.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_ssl.errors import DataError
from acoustic_ssl.io_utils import write_json_atomic

METRICS_FILE = "metrics.json"
# localisation maps scored for pointing, cIoU and AUC (a generator's images' energy among them); the baselines
# that ignore the map, for pointing only
LOCALIZATION_MAPS = ("attention", "generated", "energy", "attention_mismatched")
LOCALIZATION_BASELINES = ("any_object", "largest_object", "chance")
TEST_MODES = ("classifier", "triplet", "contrastive")  # the objectives' test-mode blocks (``test_metrics``)
SECTIONS = ("knn", "linear_probe", *TEST_MODES, "retrieval", "localization", "summary")


def clean_json(value: Any) -> Any:
    """Floats, arrays and nested containers as JSON-safe values (NaN/inf → None)."""
    if isinstance(value, Mapping):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean_json(value.tolist())
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _number(value: Any) -> float | None:
    """A finite number as float, anything else (absent, None, text, a table) as None."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _table(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Summary:
    """The headline numbers (``summary`` in metrics.json), None where the checkpoint has no such score.

    ``audio_knn_accuracy`` is the kNN accuracy of ``audio_knn_feature`` (the audio feature, else the
    supervised ``features`` or the ``acoustic`` one); ``joint_knn_accuracy`` that of audio + video;
    ``classifier_accuracy``, ``triplet_test_accuracy``, ``contrastive_test_accuracy`` the objectives' test
    modes; ``localization_accuracy`` the pointing accuracy of ``localization_map`` (attention, else the
    generated images' energy, else the true images').
    """

    audio_knn_accuracy: float | None = None
    audio_knn_feature: str | None = None
    joint_knn_accuracy: float | None = None
    classifier_accuracy: float | None = None
    triplet_test_accuracy: float | None = None
    contrastive_test_accuracy: float | None = None
    retrieval_recall_at_1: float | None = None
    localization_accuracy: float | None = None
    localization_map: str | None = None

    @classmethod
    def from_json(cls, block: Mapping[str, Any]) -> Summary:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{
            name: (str(value) if isinstance(value, str) else None) if name.endswith(("_feature", "_map"))
            else _number(value)
            for name, value in block.items() if name in names
        })


@dataclass(frozen=True)
class LocalizationScores:
    """One localisation block: pointing accuracy, and for maps (not baselines) mean cIoU and AUC."""

    pointing_accuracy: float | None = None
    ciou_mean: float | None = None
    auc: float | None = None

    @classmethod
    def from_json(cls, block: Mapping[str, Any]) -> LocalizationScores:
        return cls(_number(block.get("pointing_accuracy")), _number(block.get("ciou_mean")),
                   _number(block.get("auc")))


def _outcomes(metrics: Mapping[str, Any]) -> dict[str, list[float | None]]:
    """Per test sample, the outcome behind each score, by name: ``knn`` (the headline audio kNN feature's),
    ``joint_knn``, ``classifier``, ``recall@k``, ``<map>_hit`` and ``attention_ciou``, ``<baseline>_hit``."""
    per_sample = _table(metrics.get("per_sample"))
    knn = _table(per_sample.get("knn_correct"))
    feature = _table(metrics.get("summary")).get("audio_knn_feature")
    out: dict[str, list[float | None]] = {}
    if feature in knn:
        out["knn"] = knn[feature]
    if "joint" in knn:
        out["joint_knn"] = knn["joint"]
    if "classifier_correct" in per_sample:
        out["classifier"] = per_sample["classifier_correct"]
    for key, hits in per_sample.items():
        if key.startswith("retrieval_hit@"):
            out[f"recall@{key.removeprefix('retrieval_hit@')}"] = hits
    localization = _table(per_sample.get("localization"))
    for name in LOCALIZATION_MAPS:
        if name in localization:
            out[f"{name}_hit"] = localization[name]["hit"]
            if name == "attention":
                out["attention_ciou"] = localization[name]["ciou"]
    for name in LOCALIZATION_BASELINES:
        if name in localization:
            out[f"{name}_hit"] = localization[name]["hit"]
    return out


@dataclass(frozen=True)
class Metrics:
    """A metrics.json as the readers see it (:func:`read_metrics`, or :meth:`from_json` on its contents).

    ``recall``: audio→video recall@k by k; ``localization``: by map or baseline name; ``labels`` and
    ``video_ids``: the scored test clips (None without per-sample outcomes), whose videos the bootstrap
    resamples; ``outcomes``: see :func:`_outcomes`; ``sections``: the file's sections as written.
    """

    summary: Summary
    recall: Mapping[int, float | None] = field(default_factory=dict)
    localization: Mapping[str, LocalizationScores] = field(default_factory=dict)
    labels: list[int] | None = None
    video_ids: list[int] | None = None
    outcomes: Mapping[str, list[float | None]] = field(default_factory=dict)
    sections: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Metrics:
        """The typed view of a metrics.json's contents (missing parts: empty, None)."""
        audio_to_video = _table(_table(data.get("retrieval")).get("audio_to_video"))
        recall = {
            int(key.removeprefix("recall@")): _number(value)
            for key, value in audio_to_video.items() if key.startswith("recall@")
        }
        localization = {
            name: LocalizationScores.from_json(block)
            for name, block in _table(data.get("localization")).items() if isinstance(block, Mapping)
        }
        per_sample = _table(data.get("per_sample"))
        return cls(
            summary=Summary.from_json(_table(data.get("summary"))),
            recall=recall,
            localization=localization,
            labels=per_sample.get("labels"),
            video_ids=per_sample.get("video_ids"),
            outcomes=_outcomes(data),
            sections={name: data[name] for name in SECTIONS if name in data},
        )

    def localization_scores(self, name: str) -> LocalizationScores:
        """The block of a map or baseline; all None where this evaluation has none."""
        return self.localization.get(name, LocalizationScores())

    def confusion(self, k: int) -> list[list[float]] | None:
        """The audio→video retrieval confusion matrix at top-k, if written."""
        audio_to_video = _table(_table(self.sections.get("retrieval")).get("audio_to_video"))
        return _table(audio_to_video.get("confusion")).get(str(k))


def write_metrics(out_dir: str | Path, metrics: Mapping[str, Any]) -> Path:
    """``out_dir/metrics.json`` from ``evaluate``'s metrics (NaN as null). A summary key or a localisation
    map the reader does not know is refused, so that a renamed number cannot vanish from the reports
    unnoticed."""
    data = clean_json(metrics)
    names = {f.name for f in dataclasses.fields(Summary)}
    maps = {*LOCALIZATION_MAPS, *LOCALIZATION_BASELINES}
    unknown = {
        "summary": set(_table(data.get("summary"))) - names,
        "localization": set(_table(data.get("localization"))) - maps,
        "per_sample.localization": set(_table(_table(data.get("per_sample")).get("localization"))) - maps,
    }
    for where, keys in unknown.items():
        if keys:
            raise ValueError(f"metrics {where} keys unknown to evaluation.metrics_file: {sorted(keys)}")
    path = Path(out_dir) / METRICS_FILE
    write_json_atomic(path, data)
    return path


def _load(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read metrics ({exc})") from exc
    if not isinstance(data, Mapping):
        raise DataError(f"{path}: not a metrics.json (a JSON object is expected)")
    return data


def read_metrics(path: str | Path) -> Metrics:
    """The :class:`Metrics` of a metrics.json file; an unreadable one is a DataError naming it."""
    return Metrics.from_json(_load(Path(path)))


def add_block(out_dir: str | Path, key: str, block: Mapping[str, Any]) -> Path | None:
    """Add (or replace) one top-level block of an existing ``out_dir/metrics.json``; None when there is none
    (``evaluate --boxes --only-boxes`` writes no metrics.json)."""
    path = Path(out_dir) / METRICS_FILE
    if not path.is_file():
        return None
    return write_metrics(out_dir, {**_load(path), key: block})
