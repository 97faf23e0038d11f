#!/usr/bin/env python3
"""Plant plausible one-line bugs in the package, one at a time, and count those the tests catch.

Each mutation replaces one exact fragment of one line of ``src/acoustic_ssl`` (the fragment must occur
exactly once in its file) in a temporary copy of the repository, then runs the tests that cover that code
(``-x``: it stops at the first failure); a mutation is *caught* when they fail or run past ``--timeout``.
Before any mutation the same test sets run on the unmutated copy and must pass, so a caught mutation is
the mutation's doing. Not part of CI: about half an hour for all on 2 cores (a caught mutation stops early).

    .venv/bin/python scripts/mutation_check.py                  # every mutation
    .venv/bin/python scripts/mutation_check.py --only R1 K1     # some of them
    .venv/bin/python scripts/mutation_check.py --list           # what would be planted

Prints one line per mutation, and as its last line one JSON object: ``mutations`` (count), ``caught``,
``caught_fraction``, ``survived`` (ids) and ``seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORED = (".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", "demo_out", "build")

# Test sets, most specific first (``-x`` stops at the first failure: early files make caught mutations fast).
OBJECTIVES = ("tests/training/test_objectives.py", "tests/training/test_losses.py")
TRAINER = (
    "tests/training/test_trainers.py",
    "tests/training/test_resume.py",
    "tests/training/test_checkpoint.py",
    "tests/training/test_new_model.py",
)
EXTRACT = ("tests/evaluation/test_extract.py",)
NEW_OBJECTIVE = ("tests/training/test_new_objective.py",)
METRICS = (
    "tests/evaluation/test_compute_metrics.py",
    "tests/evaluation/test_knn.py",
    "tests/evaluation/test_retrieval.py",
    "tests/evaluation/test_localization.py",
    "tests/evaluation/test_evaluate_report.py",
    "tests/test_demo_report.py",
)
HEAR = ("tests/evaluation/test_hear.py",)
SCENES = ("tests/evaluation/test_scenes.py",)
DEMO = ("tests/test_demo_report.py", "tests/test_demo.py")
DATA = ("tests/data/test_data_dataset.py", "tests/data/test_data_raw.py")
BOXES = ("tests/evaluation/test_boxes.py",)
MODELS = ("tests/models",)
# issue 22: the code added last (evidence, boxes, videos, arrays, rooms, clips, scenes, HEAR, checkpoints)
STATISTICS = ("tests/evaluation/test_statistics.py",)
EVALUATE = ("tests/evaluation/test_evaluate_report.py",)
LOCALIZATION = ("tests/evaluation/test_localization.py",)
KNN = ("tests/evaluation/test_knn.py",)
CHECKPOINT = ("tests/training/test_checkpoint.py",)
AUDIO = ("tests/data/test_audio.py",)
VIDEO = ("tests/data/test_video_import.py",)
RECORDINGS = ("tests/imaging/test_recordings.py",)
GEOMETRY = ("tests/imaging/test_geometry.py",)
ROOM = ("tests/simulate/test_room.py",)
CLIPS = ("tests/simulate/test_clips.py",)
SCENE = ("tests/simulate/test_scene.py",)


@dataclass(frozen=True)
class Mutation:
    id: str
    path: str  # under src/acoustic_ssl
    what: str  # the bug, in words
    old: str  # the fragment replaced (exactly once in the file)
    new: str
    tests: tuple[str, ...]  # run in this order


M = Mutation
# fmt: off
MUTATIONS: tuple[Mutation, ...] = (
    # objectives: positives, weights, schedules (training/objectives/), frame pooling (models/base.py)
    M("O1", "training/objectives/base.py", "self-supervised positives: same class, not same video",
      'same_video_mask(gather(batch["video_id"]))',
      'same_video_mask(gather(batch["label"]))',
      OBJECTIVES + TRAINER),
    M("O2", "training/objectives/triplet.py", "transfer objective swaps α and 1 − α",
      'gather(out["acoustic"]), self.alpha,',
      'gather(out["acoustic"]), 1.0 - self.alpha,',
      OBJECTIVES + TRAINER),
    M("O3", "training/objectives/triplet.py", "self-supervised loss never switches to batch-hard",
      "losses.triplet_loss(d, same, self.margin, epoch, self.hard_from_epoch)",
      "losses.triplet_loss(d, same, self.margin, 0, self.hard_from_epoch)",
      OBJECTIVES + TRAINER),
    M("O4", "training/objectives/triplet.py", "validation with batch-hard, not batch-all",
      '"loss": losses.triplet_batch_all(d, same, self.margin),',
      '"loss": losses.triplet_batch_hard(d, same, self.margin),',
      OBJECTIVES + TRAINER),
    M("O5", "training/objectives/triplet.py", "transfer target: max over positions, not the sum",
      "lambda fmap: fmap.sum(dim=(2, 3))",
      "lambda fmap: fmap.amax(dim=(2, 3))",
      OBJECTIVES + TRAINER + EXTRACT),
    M("O6", "training/objectives/triplet.py", "transfer validates with batch-hard",
      "self._terms(out, batch, epoch=0, grad=False)",
      "self._terms(out, batch, epoch=self.hard_from_epoch, grad=False)",
      OBJECTIVES + TRAINER),
    M("O7", "training/objectives/classification.py", "distillation swaps λ and 1 − λ",
      'out["teacher"], self.lambda_, self.temperature',
      'out["teacher"], 1.0 - self.lambda_, self.temperature',
      OBJECTIVES + TRAINER),
    M("O8", "training/objectives/classification.py", "distillation averages teacher logits before softmax",
      '"teacher": frames["logits"],',
      '"teacher": frames["logits"].mean(dim=1, keepdim=True),',
      OBJECTIVES + TRAINER),
    M("O9", "training/objectives/classification.py", "distillation teacher feature of the first frame only",
      '"acoustic": frames["features"].mean(dim=1),',
      '"acoustic": frames["features"][:, 0],',
      OBJECTIVES + TRAINER),
    M("O10", "training/objectives/classification.py", "supervised accuracy from the argmin",
      'accuracy = (out["logits"].argmax(1) == batch["label"])',
      'accuracy = (out["logits"].argmin(1) == batch["label"])',
      OBJECTIVES + TRAINER),
    M("O11", "training/objectives/classification.py", "distillation temperature ignored",
      'out["teacher"], self.lambda_, self.temperature, self.teacher_average',
      'out["teacher"], self.lambda_, 1.0, self.teacher_average',
      OBJECTIVES + TRAINER),
    M("O12", "training/objectives/classification.py", "distillation teacher_average ignored",
      'out["teacher"], self.lambda_, self.temperature, self.teacher_average',
      'out["teacher"], self.lambda_, self.temperature, "softmax"',
      OBJECTIVES + TRAINER),
    M("O13", "training/objectives/base.py", "a teacher vector reused without checking the sample's input",
      "keys = zip(*identity, flat.sum(1).tolist(), flat[:, ::7].sum(1).tolist(), strict=True)",
      "keys = zip(*identity, strict=True)",
      OBJECTIVES),
    # the contrastive objectives and the checkpoint handle (training/objectives/contrastive.py, losses.py,
    # trained.py, config.py)
    M("N1", "training/objectives/contrastive.py", "contrastive score: mean over cells, not the max",
      'return torch.einsum("id,jdp->ijp", a, v.flatten(2)).amax(dim=2)',
      'return torch.einsum("id,jdp->ijp", a, v.flatten(2)).mean(dim=2)',
      OBJECTIVES + TRAINER),
    M("N2", "training/losses.py", "InfoNCE in one direction only (audio anchors), counted twice",
      "return info_nce(logits, same) + info_nce(logits.T, same.T)",
      "return 2 * info_nce(logits, same)",
      OBJECTIVES + TRAINER),
    M("N3", "training/losses.py", "InfoNCE temperature ignored",
      "logits = similarity.float() / temperature",
      "logits = similarity.float()",
      OBJECTIVES + TRAINER),
    M("N4", "training/losses.py", "multi-positive InfoNCE averaged over all positives of the batch",
      "return -((log_p * pos).sum(dim=1) / pos.sum(dim=1)).mean()",
      "return -((log_p * pos).sum(dim=1) / pos.sum()).mean()",
      OBJECTIVES + TRAINER),
    M("N5", "training/objectives/contrastive.py", "video cells normalised along the wrong axis",
      "return l2n(a), l2n(v, dim=1)",
      "return l2n(a), l2n(v, dim=-1)",
      OBJECTIVES + TRAINER),
    M("N6", "training/objectives/contrastive.py", "contrastive transfer swaps α and 1 − α",
      "loss = (1.0 - self.alpha) * l_av + self.alpha * l_aa",
      "loss = self.alpha * l_av + (1.0 - self.alpha) * l_aa",
      OBJECTIVES + TRAINER),
    M("N7", "training/objectives/contrastive.py", "contrastive audio feature not normalised",
      "return l2n(audio_vector(audio))",
      "return audio_vector(audio)",
      OBJECTIVES + NEW_OBJECTIVE + EXTRACT),
    M("N8", "training/objectives/contrastive.py", "acoustic energy target not z-scored over the cells",
      "z = (log_pooled - log_pooled.mean(dim=1, keepdim=True)) / spread",
      "z = log_pooled - log_pooled.mean(dim=1, keepdim=True)",
      OBJECTIVES),
    M("N9", "training/trained.py", "a checkpoint's objective heads left at their initialisation",
      "    load_heads(objective.heads, tensors, source)\n",
      "\n",
      NEW_OBJECTIVE),
    M("N10", "training/config.py", "an unknown [loss] key silently dropped",
      "        if key not in known:\n            takes",
      "        if key not in known:\n            continue\n            takes",
      NEW_OBJECTIVE),
    M("N11", "training/run.py", "the objective's heads never saved with the checkpoint",
      "            heads=self.objective.heads,\n",
      "",
      NEW_OBJECTIVE + TRAINER),
    M("B1", "models/base.py", "temporal pooling keeps the first frame only",
      "{key: value.mean(dim=1) for key, value in self.per_frame(x).items()}",
      "{key: value[:, 0] for key, value in self.per_frame(x).items()}",
      OBJECTIVES + EXTRACT + TRAINER),
    M("B2", "models/base.py", "temporal pooling by max, not mean",
      "{key: value.mean(dim=1) for key, value in self.per_frame(x).items()}",
      "{key: value.amax(dim=1) for key, value in self.per_frame(x).items()}",
      OBJECTIVES + EXTRACT + TRAINER),
    M("B3", "models/base.py", "frames regrouped into the wrong samples",
      "value.reshape(b, f, *value.shape[1:]).float()",
      "value.reshape(f, b, *value.shape[1:]).transpose(0, 1).float()",
      OBJECTIVES + EXTRACT + TRAINER),
    # attention maps (models/attention.py)
    M("A1", "models/attention.py", "HearNet audio map tiled without ReLU",
      "return torch.relu(a)[:, :, None, None]",
      "return a[:, :, None, None]",
      OBJECTIVES + EXTRACT + METRICS),
    M("A2", "models/attention.py", "localisation map mirrored left-right (model side)",
      "(audio_map.float() * video_map.float().square()).sum(dim=1)",
      "(audio_map.float() * video_map.float().square()).sum(dim=1).flip(-1)",
      EXTRACT + METRICS),
    M("A3", "models/attention.py", "localisation map without the squared video map",
      "(audio_map.float() * video_map.float().square()).sum(dim=1)",
      "(audio_map.float() * video_map.float()).sum(dim=1)",
      EXTRACT + METRICS),
    # losses (tested primitives; the objectives must still reach them)
    M("L1", "training/losses.py", "transfer loss swaps α and 1 − α",
      "TransferLoss((1.0 - alpha) * l_av + alpha * l_aa,",
      "TransferLoss(alpha * l_av + (1.0 - alpha) * l_aa,",
      OBJECTIVES + TRAINER),
    M("L2", "training/losses.py", "distillation loss swaps λ and 1 − λ",
      "return (1.0 - lam) * hard + lam * soft",
      "return lam * hard + (1.0 - lam) * soft",
      OBJECTIVES + TRAINER),
    M("L3", "training/losses.py", "batch-hard one epoch late",
      "if epoch >= hard_from_epoch:",
      "if epoch > hard_from_epoch:",
      OBJECTIVES + TRAINER),
    # the trainer (training/run.py)
    M("R1", "training/objectives/base.py", "the best checkpoint is the worst epoch",
      'valid["accuracy"] > best["accuracy"]:',
      'valid["accuracy"] < best["accuracy"]:',
      TRAINER),
    M("R2", "training/objectives/base.py", "accuracy ties not broken by the lower loss",
      'and valid["loss"] <= best["loss"]',
      'and True',
      TRAINER),
    M("R3", "training/run.py", "every epoch becomes the best",
      'improved = reset or self.objective.is_improvement(valid, pos.best)',
      'improved = True',
      TRAINER),
    M("R4", "training/run.py", "the trainer never passes the epoch (no batch-hard)",
      "self.objective.loss(out, batch, self.pos.epoch)",
      "self.objective.loss(out, batch, 0)",
      TRAINER),
    M("R5", "training/run.py", "no optimizer step",
      "        self.optimizer.step()",
      "        self.optimizer.zero_grad()",
      TRAINER),
    M("R6", "training/run.py", "validation batches not weighted by their size",
      "sums[k] = sums.get(k, 0.0) + float(v) * n",
      "sums[k] = sums.get(k, 0.0) + float(v)",
      TRAINER),
    M("R7", "training/run.py", "validation in training mode",
      "        self.objective.eval()\n",
      "        self.objective.train()\n",
      TRAINER),
    M("R8", "training/run.py", "epoch metrics not weighted by batch size",
      "pos.sums[k] = pos.sums.get(k, 0.0) + v * samples",
      "pos.sums[k] = pos.sums.get(k, 0.0) + v",
      TRAINER),
    M("R9", "training/run.py", "epoch metrics divided by the step count",
      "v / max(pos.samples, 1) for k, v in pos.sums.items()",
      "v / max(pos.step, 1) for k, v in pos.sums.items()",
      TRAINER),
    M("R10", "training/run.py", "the seed is ignored",
      "seed_everything(cfg.experiment.seed)",
      "seed_everything(0)",
      TRAINER),
    M("R11", "training/run.py", "the learning rate is ignored",
      "            lr=o.lr,",
      "            lr=1e-3,",
      TRAINER),
    M("R12", "training/run.py", "no weight decay",
      'decay_parameter_groups(self.objective, o.weight_decay)',
      'decay_parameter_groups(self.objective, 0.0)',
      TRAINER),
    M("R13", "training/run.py", "a mid-epoch resume repeats the batches already done",
      "self.sampler.start = self.pos.batch_in_epoch * self.local_batch",
      "self.sampler.start = 0",
      TRAINER),
    M("R14", "training/run.py", "resume does not restore the Adam state",
      "restore_optimizer(self.optimizer, tensors, info, source=path)",
      "(self.optimizer, tensors, info, path)",
      TRAINER),
    M("R15", "training/run.py", "validation on the training list",
      '_dataset(cfg, cfg.data.valid_list, "inference"',
      '_dataset(cfg, cfg.data.train_list, "inference"',
      TRAINER),
    M("R16", "training/run.py", "training feeds spectrograms without z-scoring",
      "self.normalization = _normalization(cfg)",
      "self.normalization = None",
      TRAINER),
    # checkpoints (training/checkpoint.py)
    M("C1", "training/checkpoint.py", "stored statistics read swapped",
      'check_stats(mean, std, f"{source}{SUFFIX_TENSORS}")',
      'check_stats(std, mean, f"{source}{SUFFIX_TENSORS}")',
      TRAINER + EXTRACT + HEAR),
    M("C2", "training/checkpoint.py", "a checkpoint's run statistics ignored",
      "return load_stats(legacy)",
      "return None",
      EXTRACT + HEAR + TRAINER),
    M("C3", "training/checkpoint.py", "checkpoints store the statistics under swapped names",
      "zip((STATS_MEAN, STATS_STD), spectrogram_stats, strict=True)",
      "zip((STATS_STD, STATS_MEAN), spectrogram_stats, strict=True)",
      TRAINER + EXTRACT + HEAR),
    # feature extraction (evaluation/extract.py)
    M("E1", "training/objectives/base.py", "localisation map mirrored left-right (extraction)",
      'feats["attention_map"] = self.localization_map(audio, video)',
      'feats["attention_map"] = self.localization_map(audio, video).flip(-1)',
      EXTRACT + METRICS),
    M("E2", "training/objectives/base.py", "joint feature without the audio",
      'feats["joint"] = feats["video"] + feats["audio"]',
      'feats["joint"] = feats["video"]',
      EXTRACT),
    M("E3", "training/objectives/base.py", "acoustic feature not normalised",
      'feats["acoustic"] = l2n(out["acoustic"])',
      'feats["acoustic"] = out["acoustic"]',
      EXTRACT),
    M("E4", "evaluation/extract.py", "thumbnails left in BGR",
      "return small.flip(1).clamp(0, 255)",
      "return small.clamp(0, 255)",
      EXTRACT + METRICS),
    M("E5", "evaluation/extract.py", "thumbnails without the loader's mean",
      "bgr = video[:, 0] + mean",
      "bgr = video[:, 0]",
      EXTRACT),
    M("E6", "imaging/mfcc.py", "energy map of the first acoustic frame only",
      "mean = array.mean(axis=1, dtype=np.float64)",
      "mean = array[:, 0].astype(np.float64)",
      EXTRACT + METRICS),
    M("E7", "evaluation/extract.py", "extraction feeds spectrograms without z-scoring",
      '"normalize": trained.normalization if Modality.AUDIO in modalities else None,',
      '"normalize": None,',
      EXTRACT + HEAR),
    M("E8", "evaluation/extract.py", "extraction ignores the run's number of frames",
      '"nr_frames": nr_frames or data.nr_frames,',
      '"nr_frames": nr_frames or 2,',
      EXTRACT),
    M("E9", "training/objectives/triplet.py", "video feature with the maps swapped",
      'return video_vector(as_audio_map(audio), video)',
      'return video_vector(video, as_audio_map(audio))',
      EXTRACT),
    M("E10", "training/objectives/triplet.py", "audio feature without the ReLU of the audio map",
      'return audio_vector(as_audio_map(audio))',
      'return l2n(audio)',
      EXTRACT),
    M("E11", "evaluation/extract.py", "frames used recorded for 2 frames whatever the run's",
      'sample_frame_numbers(int(s), sample_length, nr_frames)',
      'sample_frame_numbers(int(s), sample_length, 2)',
      EXTRACT + METRICS),
    # metrics (evaluation/evaluate.py, knn.py, retrieval.py, localization.py, boxes.py)
    M("V1", "evaluation/evaluate.py", "headline 'audio kNN' reports the joint feature",
      'for k in ("audio", "features", "acoustic") if k in knn',
      'for k in ("joint", "audio", "features", "acoustic") if k in knn',
      METRICS),
    M("V2", "evaluation/evaluate.py", "k chosen on the test split, scored on validation",
      'val[key], val["labels"], test[key], test["labels"])',
      'test[key], test["labels"], val[key], val["labels"])',
      METRICS),
    M("V3", "training/objectives/triplet.py", "retrieval with audio and video maps swapped",
      'return attention_distance(audio, video)',
      'return attention_distance(video, audio)',
      METRICS),
    M("V4", "evaluation/evaluate.py", "video→audio retrieval ranks in the audio→video direction",
      '("video_to_audio", distances.T)',
      '("video_to_audio", distances)',
      METRICS),
    M("V5", "evaluation/evaluate.py", "the run's test list used for validation",
      '"validation": data.valid_list,',
      '"validation": data.test_list,',
      METRICS),
    M("V6", "evaluation/evaluate.py", "localisation maps mirrored before scoring",
      "maps = {name: test[key] for name, key in map_keys if key in test}",
      "maps = {name: test[key][..., ::-1] for name, key in map_keys if key in test}",
      METRICS),
    M("V7", "evaluation/evaluate.py", "ground truth of the sample's first frame only",
      "for f in frames for r in cache[vid].get(int(f), [])]",
      "for f in frames[:1] for r in cache[vid].get(int(f), [])]",
      METRICS + DEMO),
    M("V8", "evaluation/evaluate.py", "headline localisation from the energy map",
      'for k in ("attention", "generated", "energy") if k in loc',
      'for k in ("energy", "generated", "attention") if k in loc',
      METRICS),
    M("K1", "evaluation/knn.py", "kNN reports the test accuracy at the largest k",
      'accuracy=result[f"test_accuracy@{best_k}"]',
      'accuracy=result[f"test_accuracy@{kmax}"]',
      METRICS),
    M("K2", "evaluation/knn.py", "validation ties go to the largest k",
      "if val_acc > best_val:",
      "if val_acc >= best_val:",
      METRICS),
    M("K3", "evaluation/knn.py", "k chosen on the test split",
      "if val_acc > best_val:",
      "if test_acc > best_val:",
      METRICS),
    M("K4", "evaluation/knn.py", "linear probe reports the validation accuracy",
      '{"accuracy": _accuracy(clf.predict(xte), test_labels)',
      '{"accuracy": _accuracy(clf.predict(xva), val_labels)',
      METRICS),
    M("Q1", "evaluation/retrieval.py", "recall@k counts k + 1 items",
      "first_hit < min(k, order.shape[1])",
      "first_hit <= min(k, order.shape[1])",
      METRICS),
    M("Q2", "evaluation/retrieval.py", "retrieval ranks the farthest first",
      'return np.argsort(d, axis=1, kind="stable")',
      'return np.argsort(-d, axis=1, kind="stable")',
      METRICS),
    M("Q3", "evaluation/retrieval.py", "tiled retrieval without the ReLU",
      "a = np.maximum(np.asarray(audio_embeddings, dtype=np.float64), 0.0)",
      "a = np.asarray(audio_embeddings, dtype=np.float64)",
      METRICS),
    M("Q4", "evaluation/retrieval.py", "confusion rows not divided by k",
      "per_class = np.bincount(q, minlength=num_classes).astype(np.float64) * k",
      "per_class = np.bincount(q, minlength=num_classes).astype(np.float64)",
      METRICS),
    M("P1", "evaluation/localization.py", "upsampled maps mirrored left-right",
      "@ heat @ _interp_matrix(size[1], heat.shape[1], align_corners).T",
      "@ heat[:, ::-1] @ _interp_matrix(size[1], heat.shape[1], align_corners).T",
      METRICS),
    M("P2", "evaluation/localization.py", "overlay draws the map mirrored",
      'extent=(0, w, h, 0), cmap="jet"',
      'extent=(w, 0, h, 0), cmap="jet"',
      METRICS),
    M("P3", "evaluation/localization.py", "ground-truth boxes twice too large",
      "/ r.distance_m / 2.0",
      "/ r.distance_m",
      METRICS + DEMO),
    M("X1", "evaluation/boxes.py", "pixel boxes scaled with width and height swapped",
      "np.array([GRID / width, GRID / height, GRID / width, GRID / height])",
      "np.array([GRID / height, GRID / width, GRID / height, GRID / width])",
      BOXES),
    M("X2", "evaluation/boxes.py", "Flickr consensus map without the two-annotator halving",
      "return np.minimum(total / 2.0, 1.0)",
      "return np.minimum(total, 1.0)",
      BOXES),
    M("X3", "evaluation/boxes.py", "prediction thresholded at the lower quartile, not the median",
      "threshold = np.sort(up, axis=None)[up.size // 2]",
      "threshold = np.sort(up, axis=None)[up.size // 4]",
      BOXES),
    # the HEAR module (evaluation/hear.py)
    M("H1", "evaluation/hear.py", "HEAR spectrograms not z-scored",
      'spec = self.normalization(spec)',
      'spec = spec',
      HEAR),
    M("H2", "data/stats.py", "HEAR spectrograms centred but not scaled",
      'return (spectrogram - self.mean.to(device)) / self.std.to(device)',
      'return spectrogram - self.mean.to(device)',
      HEAR),
    M("H3", "evaluation/hear.py", "HEAR windows not peak-normalised",
      "scaled = torch.where(peak > 0,",
      "scaled = windows if True else torch.where(peak > 0,",
      HEAR),
    M("H4", "training/objectives/base.py", "HEAR, kNN and scenes read the raw embedding, not the feature",
      'return self.audio_feature(out["embedding"]) if "embedding" in out else out["features"]',
      'return out["embedding"] if "embedding" in out else out["features"]',
      HEAR),
    M("H5", "evaluation/hear.py", "HEAR ignores the checkpoint's statistics",
      'return HearModel(trained.objective, trained.normalization)',
      'return HearModel(trained.objective)',
      HEAR),
    M("H6", "evaluation/hear.py", "scene embedding of the first window only",
      "return embeddings.mean(dim=1)",
      "return embeddings[:, 0]",
      HEAR),
    # scene transfer (evaluation/scenes.py)
    M("S1", "evaluation/scenes.py", "crops get other clips' labels",
      "return np.repeat([c.label for c in clips], CROPS_PER_CLIP)",
      "return np.tile([c.label for c in clips], CROPS_PER_CLIP)",
      SCENES),
    M("S2", "evaluation/scenes.py", "k chosen on the test crops (original protocol)",
      "val_x, val_y = features(folder.valid), labels(folder.valid)",
      "val_x, val_y = features(folder.test), labels(folder.test)",
      SCENES),
    M("S3", "evaluation/scenes.py", "scene statistics always mis-scaled",
      "crop_statistics(train_spec, len(train_clips), original_stats)",
      "crop_statistics(train_spec, len(train_clips), True)",
      SCENES),
    M("S4", "evaluation/scenes.py", "crops not z-scored",
      "x = normalization(torch.as_tensor(spectrograms[lo : lo + batch_size], dtype=torch.float32))",
      "x = torch.as_tensor(spectrograms[lo : lo + batch_size], dtype=torch.float32)",
      SCENES),
    # the demo (demo/summary.py, demo/layout.py)
    M("D1", "demo/summary.py", "sample std instead of population std",
      "return float(np.mean(present)), float(np.std(present))",
      "return float(np.mean(present)), float(np.std(present, ddof=1))",
      DEMO),
    M("D2", "demo/summary.py", "median over seeds instead of the mean",
      "return float(np.mean(present)), float(np.std(present))",
      "return float(np.median(present)), float(np.std(present))",
      DEMO),
    M("D3", "demo/summary.py", "localisation columns swapped",
      '"audio_video": "selfsup_video",\n    "acoustic_video": "selfsup_acoustic",',
      '"audio_video": "selfsup_acoustic",\n    "acoustic_video": "selfsup_video",',
      DEMO),
    M("D4", "evaluation/metrics_file.py", "demo reports video→audio recall",
      'audio_to_video = _table(_table(data.get("retrieval")).get("audio_to_video"))',
      'audio_to_video = _table(_table(data.get("retrieval")).get("video_to_audio"))',
      DEMO),
    M("D5", "evaluation/evaluate.py", "chance level as the share of the frame outside the sounding boxes",
      "shares = [float(m.mean()) if m is not None",
      "shares = [float(1 - m.mean()) if m is not None",
      METRICS),
    M("D6", "demo/summary.py", "energy baseline of the wrong row",
      'Metric("localization_energy_accuracy", BASELINE_ROWS, "energy_hit"),',
      'Metric("localization_energy_accuracy", ("selfsup_video",), "energy_hit"),',
      DEMO),
    M("D7", "demo/layout.py", "the 'random init' row evaluates the trained model",
      '("random", "selfsup_video", "random"),',
      '("random", "selfsup_video", None),',
      DEMO),
    M("D8", "demo/summary.py", "random-init localisation read from the trained video row",
      'Metric("localization_random_init_accuracy", "random", "attention_hit"),',
      'Metric("localization_random_init_accuracy", "selfsup_video", "attention_hit"),',
      DEMO),
    M("D9", "demo/summary.py", "acoustic localisation compared with the audio+video model's random init",
      '("random_acoustic", "attention_hit"),\n    ),',
      '("random", "attention_hit"),\n    ),',
      DEMO),
    M("D10", "demo/summary.py", "intervals from single clips, not whole videos",
      "return bootstrap_ci(values, self.clips.videos, self.clips.labels, statistic=statistic).as_list()",
      "return bootstrap_ci(values, None, self.clips.labels, statistic=statistic).as_list()",
      DEMO),
    M("D11", "demo/summary.py", "comparison not paired: second side's clips shuffled",
      "a, b = self.array(*first, seeds), self.array(*second, seeds)",
      "a, b = self.array(*first, seeds), self.array(*second, seeds)[:, ::-1]",
      DEMO),
    M("D12", "demo/render.py", "timings.json counts the report's CPU from its action, not its stage's start",
      "start_cpu = float(begun.get(STARTED_CPU_KEY, cpu_seconds()))",
      "start_cpu = cpu_seconds()",
      ("tests/test_demo.py",)),
    M("D13", "demo/stages.py", "an interrupted stage resumes only if its start marker is exactly the attempt",
      "same_attempt = {key: begun.get(key) for key in attempt} == attempt",
      "same_attempt = begun == attempt",
      ("tests/test_demo.py",)),
    # data glue that training and evaluation rely on (data/dataset.py)
    M("G1", "data/dataset.py", "video frames mirrored by the loader",
      "np.ascontiguousarray(centred.transpose(0, 3, 1, 2))",
      "np.ascontiguousarray(centred[:, :, ::-1].transpose(0, 3, 1, 2))",
      DATA),
    M("G2", "data/dataset.py", "acoustic images flipped vertically only",
      "rotated = images[:, ::-1, ::-1, :]",
      "rotated = images[:, ::-1, :, :]",
      DATA + METRICS),
    # --- issue 22: values, not shapes, in the code added last. The first five are the issue's examples.
    M("Z1", "evaluation/evaluate.py", "per-sample outcomes carry the labels as bootstrap clusters",
      '"video_ids": test["video_ids"].tolist() if "video_ids" in test else None,',
      '"video_ids": test["labels"].tolist() if "video_ids" in test else None,',
      EVALUATE),
    M("Z2", "data/video_decode.py", "audio offset inside the first frame after the seek ignored",
      "offset = round((begin - first_time) * rate)",
      "offset = 0",
      VIDEO),
    M("Z3", "imaging/sources.py", "HDF5 time data scaled as 24-bit sensor words",
      "return _hdf5_recording(path, 1.0 if scale is None else scale)",
      "return _hdf5_recording(path, SENSOR_FULL_SCALE if scale is None else scale)",
      RECORDINGS),
    M("Z4", "imaging/setup.py", "mel bank with fmin > 0 applied to bins shifted by fmin",
      "f_min_hz, self.f_max_hz)[:, first:]",
      "f_min_hz, self.f_max_hz)[:, : stop - first]",
      RECORDINGS),
    M("Z5", "evaluation/statistics.py", "an interval touching zero from below is a loss",
      "if self.high < 0:",
      "if self.high <= 0:",
      STATISTICS),
    # statistics (evaluation/statistics.py)
    M("T1", "evaluation/statistics.py", "one seed drawn per replicate instead of the mean of n draws",
      "replicates.append(per_seed[seed_draws, np.arange(n_boot)[:, None]].mean(axis=1))",
      "replicates.append(per_seed[seed_draws[:, 0], np.arange(n_boot)])",
      STATISTICS),
    M("T2", "evaluation/statistics.py", "an interval touching zero from above is a gain",
      "if self.low > 0:",
      "if self.low >= 0:",
      STATISTICS),
    # benchmark boxes (evaluation/boxes.py)
    M("X4", "evaluation/boxes.py", "Flickr coordinates rounded, not truncated",
      "return [int(GRID * v / FLICKR_IMAGE) for v in values]",
      "return [round(GRID * v / FLICKR_IMAGE) for v in values]",
      BOXES),
    M("X5", "evaluation/boxes.py", "CSV frame times not made relative to the imported window's start",
      "frame = round((annotation.frame_time - start) * FRAMES_PER_SECOND)",
      "frame = round(annotation.frame_time * FRAMES_PER_SECOND)",
      BOXES),
    M("X6", "evaluation/boxes.py", "annotated frame counted from the clip, not from its 2-s window",
      "frame - first * FRAMES_PER_SECOND,",
      "frame,",
      BOXES),
    M("X7", "evaluation/boxes.py", "window chosen by whole seconds, not the nearest centre",
      "first = min(max(round(frame / FRAMES_PER_SECOND - 1.0), 0), seconds - 2)",
      "first = min(max(frame // FRAMES_PER_SECOND - 1, 0), seconds - 2)",
      BOXES),
    M("X8", "evaluation/boxes.py", "a frame just past the clip's end is scored",
      "if not 0 <= frame < seconds * FRAMES_PER_SECOND:",
      "if not 0 <= frame <= seconds * FRAMES_PER_SECOND:",
      BOXES),
    M("X9", "evaluation/statistics.py", "bootstrap interval at 90 %, not 95 % (the box benchmarks' too)",
      "tail = (1.0 - level) / 2.0",
      "tail = (1.0 - level)",
      BOXES + STATISTICS),
    # localisation against simulated ground truth (evaluation/localization.py)
    M("P4", "evaluation/localization.py", "box masks exclude pixels centred on the right/bottom edge",
      "((cx >= x0) & (cx <= x1))[None, :]",
      "((cx >= x0) & (cx < x1))[None, :]",
      LOCALIZATION),
    M("P5", "evaluation/localization.py", "a box of zero width (or height) counts as visible",
      "return self.box[2] > self.box[0] and self.box[3] > self.box[1]",
      "return self.box[2] > self.box[0] or self.box[3] > self.box[1]",
      LOCALIZATION),
    M("P6", "evaluation/localization.py", "any-object baseline points at each object's last frame",
      "for r in sorted(rows, key=lambda r: r.frame):",
      "for r in sorted(rows, key=lambda r: r.frame, reverse=True):",
      LOCALIZATION),
    M("G4", "data/dataset.py", "the sample cache ignores its byte budget",
      "if self._cached_bytes + size <= self.cache_bytes:",
      "if self.cache_bytes >= 0:",
      DATA),
    M("G5", "data/audio.py", "the waveform memo keyed by the track's shape, not its samples",
      "digest = hashlib.blake2b(np.ascontiguousarray(samples).data, digest_size=20)",
      "digest = hashlib.blake2b(b'', digest_size=20)",
      ("tests/data/test_audio.py",)),
    M("G6", "data/audio.py", "the waveform memo never drops a waveform",
      "while self.held > self.limit:",
      "while self.held > self.limit and False:",
      ("tests/data/test_audio.py",)),
    M("G7", "data/packed.py", "pack reads its chunks with the first record's chunk offset lost",
      "for start in range(1, len(paths), chunk):",
      "for start in range(0, len(paths) - 1, chunk):",
      DATA),
    M("G3", "data/dataset.py", "frames picked (and scored) rounded from the linspace, not floored",
      "return np.floor(np.linspace(0, FRAMES_PER_SECOND * sample_length - 1, nr_frames)).astype(np.int64)",
      "return np.round(np.linspace(0, FRAMES_PER_SECOND * sample_length - 1, nr_frames)).astype(np.int64)",
      LOCALIZATION),
    M("P8", "evaluation/localization.py", "binarisation keeps pixels equal to the mean",
      "return heat > heat.mean()",
      "return heat >= heat.mean()",
      LOCALIZATION),
    M("P9", "evaluation/localization.py", "top-fraction binarisation truncates the pixel count",
      "n_keep = max(1, round(fraction * heat.size))",
      "n_keep = max(1, int(fraction * heat.size))",
      LOCALIZATION),
    # kNN and run aggregation (evaluation/knn.py)
    M("K5", "evaluation/knn.py", "trimmed mean needs more than three runs",
      "if drop_extremes and array.size >= 3:",
      "if drop_extremes and array.size > 3:",
      KNN),
    M("K6", "evaluation/knn.py", "k equal to the training-set size skipped",
      "usable = sorted(k for k in ks if k <= len(train))",
      "usable = sorted(k for k in ks if k < len(train))",
      KNN),
    # HEAR (evaluation/hear.py)
    M("H7", "evaluation/hear.py", "every sound of a batch embedded from the first sound's audio",
      "model.embed_windows(padded[s][idx])",
      "model.embed_windows(padded[0][idx])",
      HEAR),
    M("H8", "data/stats.py", "zero-std bins divided by zero",
      "torch.from_numpy(np.where(std > 0, std, 1.0).astype(np.float32))[:, None],",
      "torch.from_numpy(std.astype(np.float32))[:, None],",
      HEAR),
    # checkpoints (training/checkpoint.py)
    M("C4", "training/checkpoint.py", "explicit statistics lose to the stored ones",
      "    if stats_dir is not None:\n        return load_stats(stats_dir)",
      "    if stats_dir is not None and STATS_MEAN not in tensors:\n        return load_stats(stats_dir)",
      CHECKPOINT),
    # the resampler and spectrogram front end (data/audio.py)
    M("U1", "data/audio.py", "sensor audio normalised by its positive peak, not its largest magnitude",
      "peak = float(np.max(np.abs(waveform))) if waveform.size else 0.0",
      "peak = float(np.max(waveform)) if waveform.size else 0.0",
      AUDIO),
    M("U2", "data/audio.py", "a waveform of exactly one frame gives no spectrogram frame",
      "return 0 if num_samples < FRAME_LENGTH else",
      "return 0 if num_samples <= FRAME_LENGTH else",
      AUDIO),
    # import-video (data/video_decode.py, data/video_import.py)
    M("I1", "data/video_decode.py", "stereo sources imported from the first channel only",
      "resample(frame):\n" + " " * 20 + "chunks.append(out.to_ndarray().astype(np.float64).mean(axis=0))",
      "resample(frame):\n" + " " * 20 + "chunks.append(out.to_ndarray().astype(np.float64)[0])",
      VIDEO),
    M("I2", "data/video_import.py", "every record holds the first second's audio",
      "KEY_AUDIO: ints[written],",
      "KEY_AUDIO: ints[0],",
      VIDEO),
    M("I3", "data/video_import.py", "validation carved as VAL of all, not VAL / (TRAIN + VAL)",
      "val_share = fractions[1] / (fractions[0] + fractions[1]) if",
      "val_share = fractions[1] if",
      VIDEO),
    # arrays: recordings, imaging setup, geometry (imaging/sources.py, setup.py, geometry.py)
    M("W3", "imaging/sources.py", "float audio files read unscaled, not as 24-bit words",
      "return _audio_recording(path, SENSOR_FULL_SCALE if scale is None else scale)",
      "return _audio_recording(path, 1.0 if scale is None else scale)",
      RECORDINGS),
    M("W4", "imaging/sources.py", ".dc reads ignore the offset inside their first file",
      "offset = start - first * SAMPLES_PER_FRAME",
      "offset = 0",
      RECORDINGS),
    M("W5", "imaging/sources.py", "frame batches start at frame_length, not hop, steps",
      "start = first * hop",
      "start = first * length",
      RECORDINGS),
    M("W6", "imaging/setup.py", "the Nyquist bin is kept",
      "+ 1, self.n_fft // 2)",
      "+ 1, self.n_fft // 2 + 1)",
      RECORDINGS),
    M("W7", "imaging/setup.py", "frame times at the frame start, not its centre",
      "(np.arange(count) * self.hop + self.frame_length / 2.0) / self.sample_rate",
      "np.arange(count) * self.hop / self.sample_rate",
      RECORDINGS),
    M("W8", "imaging/setup.py", "a recording of exactly one frame has none",
      "return 0 if num_samples < self.frame_length else",
      "return 0 if num_samples <= self.frame_length else",
      RECORDINGS),
    M("W9", "imaging/setup.py", "a bin exactly at fmax left out",
      "stop = min(math.floor(self.f_max_hz / spacing + 1e-9) + 1,",
      "stop = min(math.floor(self.f_max_hz / spacing + 1e-9),",
      RECORDINGS),
    M("W10", "imaging/geometry.py", "spiral radii linear, not equal-area",
      "radii = radius_m * np.sqrt((n + 0.5) / mics_per_arm)",
      "radii = radius_m * (n + 0.5) / mics_per_arm",
      GEOMETRY),
    # rooms, clips, scenes (simulate/room.py, clips.py, scene.py)
    M("M1", "simulate/room.py", "room height adds the camera-frame y, which points down",
      "ch - points[..., 1]",
      "ch + points[..., 1]",
      ROOM),
    M("M2", "simulate/room.py", "reverberant tail decays at the amplitude rate (RT60 doubled)",
      "decay = 13.8155 / (rt60 * FS)",
      "decay = 6.9078 / (rt60 * FS)",
      ROOM),
    M("M3", "simulate/scene.py", "overlap measured against the first box, not the smaller",
      "smaller = np.minimum(area_a, area_b)",
      "smaller = area_a",
      SCENE),
    M("M4", "simulate/scene.py", "an overlap of exactly the limit refused",
      "return bool(np.any(shared > limit * np.maximum(smaller, 1e-9)))",
      "return bool(np.any(shared >= limit * np.maximum(smaller, 1e-9)))",
      SCENE),
    M("M5", "simulate/scene.py", "box x clipped to the frame height",
      "clipped[..., 0::2] = np.clip(clipped[..., 0::2], 0.0, camera.width)",
      "clipped[..., 0::2] = np.clip(clipped[..., 0::2], 0.0, camera.height)",
      SCENE),
    M("M6", "simulate/scene.py", "each interferer gets the whole interferer share",
      "power = interferer_share * noise_power / count",
      "power = interferer_share * noise_power",
      SCENE),
    M("M7", "simulate/scene.py", "a passing object faces against its motion",
      "facing = 1.0 if stop > start else -1.0",
      "facing = 1.0 if stop < start else -1.0",
      SCENE),
    M("M8", "simulate/clips.py", "stereo clips mixed to the left channel",
      "mono = data.mean(axis=1)",
      "mono = data[:, 0]",
      CLIPS),
    M("M9", "simulate/clips.py", "the signal starts at the clip's beginning, whatever start is recorded",
      "signal = clip[start : start + n_samples]",
      "signal = clip[:n_samples]",
      CLIPS),
    M("M10", "simulate/clips.py", "loop crossfade reversed (a click at the seam)",
      "loop[:fade] = ramp * clip[:fade] + (1.0 - ramp) * clip[len(clip) - fade :]",
      "loop[:fade] = (1.0 - ramp) * clip[:fade] + ramp * clip[len(clip) - fade :]",
      CLIPS),
    M("M11", "simulate/clips.py", "class folder '10' accepted",
      "return int(text) if int(text) < NUM_CLASSES else None",
      "return int(text) if int(text) <= NUM_CLASSES else None",
      CLIPS),
)
# fmt: on
ISSUE_EXAMPLES = ("O1", "O2", "R1", "K1", "H1", "E1", "Z1", "Z2", "Z3", "Z4", "Z5")


def copy_repository(target: Path) -> None:
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    """('pass' | 'fail' | 'timeout', seconds, first failing test or last output line) of pytest there."""
    env = {**os.environ, "PYTHONPATH": str(copy / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *dict.fromkeys(tests)]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started, f"no result within {timeout:.0f} s"
    seconds = time.monotonic() - started
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    failed = [line.split(" - ")[0] for line in lines if line.startswith(("FAILED ", "ERROR "))]
    detail = failed[0] if failed else (lines[-1] if lines else "")
    return ("pass" if done.returncode == 0 else "fail"), seconds, detail


def check_applicable(mutations: tuple[Mutation, ...]) -> None:
    for m in mutations:
        text = (ROOT / "src" / "acoustic_ssl" / m.path).read_text(encoding="utf-8")
        count = text.count(m.old)
        if count != 1:
            sys.exit(f"mutation {m.id}: {m.path} holds its fragment {count} times (must be once): {m.old!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutations")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per test run (default 600)")
    args = parser.parse_args()
    mutations = MUTATIONS
    if args.only:
        unknown = set(args.only) - {m.id for m in MUTATIONS}
        if unknown:
            parser.error(f"unknown mutation ids: {', '.join(sorted(unknown))}")
        mutations = tuple(m for m in MUTATIONS if m.id in args.only)
    check_applicable(mutations)
    if args.list:
        for m in mutations:
            print(f"{m.id:4} {m.path}: {m.what}")
        return 0

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutation_check_") as folder:
        copy = Path(folder) / "repo"
        copy_repository(copy)
        imported = subprocess.run(
            [sys.executable, "-c", "import acoustic_ssl; print(acoustic_ssl.__file__)"],
            env={**os.environ, "PYTHONPATH": str(copy / "src")}, capture_output=True, text=True, check=True,
        ).stdout.strip()
        if not Path(imported).is_relative_to(copy):
            sys.exit(f"the tests would import {imported}, not the copy's package: is PYTHONPATH overridden?")
        every_test = tuple(dict.fromkeys(t for m in mutations for t in m.tests))
        status, seconds, last = run_tests(copy, every_test, args.timeout)  # the unmutated copy must pass
        if status != "pass":
            sys.exit(f"the unmutated tests fail ({status}, {seconds:.0f} s): {last}")
        print(f"baseline: {len(every_test)} test files pass unmutated ({seconds:.0f} s)", flush=True)
        survived: list[str] = []
        for i, m in enumerate(mutations, start=1):
            source = copy / "src" / "acoustic_ssl" / m.path
            original = source.read_text(encoding="utf-8")
            source.write_text(original.replace(m.old, m.new, 1), encoding="utf-8")
            try:
                status, seconds, last = run_tests(copy, m.tests, args.timeout)
            finally:
                source.write_text(original, encoding="utf-8")
            caught = status != "pass"
            if not caught:
                survived.append(m.id)
            verdict = "caught  " if caught else "SURVIVED"
            example = " (issue example)" if m.id in ISSUE_EXAMPLES else ""
            by = f": {last}" if caught else ""
            print(
                f"[{i}/{len(mutations)}] {verdict} {m.id:4} {m.what}{example} [{seconds:.0f} s]{by}",
                flush=True,
            )
    total = len(mutations)
    caught = total - len(survived)
    print(f"caught {caught} of {total} mutations; survived: {', '.join(survived) or 'none'}")
    summary = {
        "mutations": total,
        "caught": caught,
        "caught_fraction": round(caught / total, 3),
        "survived": survived,
        "seconds": round(time.monotonic() - started),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
