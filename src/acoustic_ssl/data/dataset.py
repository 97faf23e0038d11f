"""``ACIVWDataset``: the original ``ActionsDataLoader`` sampling and preprocessing as a PyTorch map dataset.

A list holds records of consecutive seconds, videos complete and in order. Records are grouped into blocks
of ``total_length`` seconds. Training draws ``number_of_crops`` random ``sample_length``-second windows per
block (offsets seeded by seed, epoch and item, so DataLoader workers agree); inference takes the
consecutive non-overlapping windows of every block. Shuffling the samples is the sampler's job.

Where the arithmetic runs. By default every item is finished in the loader (spectrogram, float video minus the
means, flipped acoustic images). With ``device_preprocessing=True`` an item carries what the records hold,
barely touched — ``frames`` (uint8 BGR [nr, H, W, 3]), ``waveform`` (the 22 050 Hz track [22 050·L]) and
``acoustic_stored`` ([12L, 36, 48, 12], stored orientation) — and :meth:`ACIVWDataset.finish` turns a batch of
them, already on the GPU, into the same ``video``, ``spectrogram`` and ``acoustic``: a quarter of the bytes
through the worker queues, collation, pinned memory and the bus for the video, no STFT or float conversion on
the loader's cores, and video batches that come out in channels-last memory for free.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from acoustic_ssl.data.audio import sensor_audio_to_waveform, waveform_to_spectrogram
from acoustic_ssl.data.layout import (
    FRAMES_PER_SECOND,
    KEY_ACOUSTIC,
    KEY_AUDIO,
    KEY_CLASS,
    KEY_LOCATION,
    KEY_VIDEO,
    VIDEO_MEAN_BGR_ORDER,
    VIDEO_SHAPE,
    Modality,
    parse_modalities,
    video_id,
)
from acoustic_ssl.data.lists import read_list
from acoustic_ssl.data.packed import PackedRecords, RecordFiles, is_packed_dir
from acoustic_ssl.errors import DataError

__all__ = [
    "ACIVWDataset",
    "pick_frames",
    "sample_frame_numbers",
    "sensor_audio_to_waveform",
    "waveform_to_spectrogram",
]

def pick_frames(sample_length: int, nr_frames: int) -> np.ndarray:
    """Frames kept per sample: floor(linspace(0, 12·L − 1, nr_frames)) (0 and 23 for L = 2, 2 frames).

    The one rule for which frames a sample's video network sees: the loader picks them, and feature
    extraction records them (``sample_frame_numbers``) for localisation against per-frame ground truth."""
    return np.floor(np.linspace(0, FRAMES_PER_SECOND * sample_length - 1, nr_frames)).astype(np.int64)


def sample_frame_numbers(start: int, sample_length: int, nr_frames: int) -> list[int]:
    """1-based video frame numbers (``I_%06d.bmp``) of the frames ``pick_frames`` keeps for the sample that
    starts at second ``start`` of its video."""
    return [int(start * FRAMES_PER_SECOND + i + 1) for i in pick_frames(sample_length, nr_frames)]


RecordSpec = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def open_source(spec: RecordSpec) -> RecordFiles | PackedRecords:
    """Records of a packed folder, of a list file, or of an explicit sequence of record paths."""
    if isinstance(spec, (str, os.PathLike)):
        return PackedRecords(spec) if is_packed_dir(spec) else RecordFiles(read_list(spec))
    return RecordFiles([Path(p) for p in spec])


class ACIVWDataset(Dataset):
    """Samples of ``sample_length`` seconds from a record list, a list of record paths or a packed folder.

    Items are dicts of tensors: ``acoustic`` [12L,12,36,48] (flipped up-down and left-right),
    ``spectrogram`` [257,T] (passed through ``normalize``, e.g. ``stats.load_normalization(stats_dir)``),
    ``video`` [nr_frames,3,H,W] (BGR minus the original means), ``label``, ``location``, ``video_id``,
    ``start``. ``modalities`` are names (``Modality``); absent modalities are absent keys.

    ``cache_bytes``: finished items kept in memory, up to that many bytes, and returned again when the same
    sample recurs (every epoch when training crops are fixed, as with ``total_length == sample_length``): on a
    small CPU the resampling and STFT of the audio cost as much as a training step. A sample's item depends
    only on its records, so a cached item is the item. The cache lives in the process that reads: with
    DataLoader workers, each keeps its own for one epoch.
    """

    def __init__(
        self,
        list_file_or_paths: RecordSpec,
        *,
        mode: str = "training",
        total_length: int = 2,
        sample_length: int = 2,
        number_of_crops: int = 1,
        modalities: Iterable[str] = tuple(Modality),
        nr_frames: int = 2,
        normalize: Callable[[torch.Tensor], torch.Tensor] | None = None,
        video_size: tuple[int, int] | None = None,
        seed: int = 0,
        device_preprocessing: bool = False,
        cache_bytes: int = 0,
    ) -> None:
        if mode not in ("training", "inference"):
            raise DataError(f"mode must be 'training' or 'inference', got {mode!r}")
        if sample_length < 1 or total_length < 1 or total_length % sample_length:
            raise DataError(
                f"total_length ({total_length}) must be a positive multiple of "
                f"sample_length ({sample_length})"
            )
        if number_of_crops < 1:
            raise DataError(f"number_of_crops must be >= 1, got {number_of_crops}")
        chosen = parse_modalities(modalities)
        if Modality.VIDEO in chosen and not 1 <= nr_frames <= FRAMES_PER_SECOND * sample_length:
            raise DataError(f"nr_frames must be in 1..{FRAMES_PER_SECOND * sample_length}, got {nr_frames}")
        self.mode = mode
        self.total_length = total_length
        self.sample_length = sample_length
        self.number_of_crops = number_of_crops
        self.modalities = chosen
        self.nr_frames = nr_frames
        self.video_size = tuple(video_size) if video_size is not None else None
        self.seed = seed
        self.epoch = 0
        self.source = open_source(list_file_or_paths)
        if len(self.source) % total_length:
            name = list_file_or_paths if isinstance(list_file_or_paths, (str, os.PathLike)) else "record list"
            raise DataError(
                f"{name}: {len(self.source)} records is not a multiple of total_length={total_length} "
                "(lists must hold whole blocks; see `acoustic-ssl lists`)"
            )
        self.num_blocks = len(self.source) // total_length
        self.frame_indices = pick_frames(sample_length, nr_frames)
        self.keys = tuple(m.record_key for m in chosen)
        self.normalize = normalize
        self.device_preprocessing = device_preprocessing
        self.cache_bytes = cache_bytes
        self._cache: dict[int, dict[str, torch.Tensor]] = {}
        self._cached_bytes = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the training crops of ``epoch`` (call before creating the epoch's DataLoader iterator)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if self.mode == "training":
            return self.num_blocks * self.number_of_crops
        return self.num_blocks * (self.total_length // self.sample_length)

    def first_record(self, index: int) -> int:
        """Index (in the list) of the first record of sample ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        if self.mode == "inference":
            return index * self.sample_length
        block = index // self.number_of_crops
        span = self.total_length - self.sample_length + 1
        offset = 0 if span == 1 else int(np.random.default_rng([self.seed, self.epoch, index]).integers(span))
        return block * self.total_length + offset

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        first = self.first_record(index)
        cached = self._cache.get(first)
        if cached is not None:
            return dict(cached)
        item = self._load(first)
        size = sum(value.element_size() * value.nelement() for value in item.values())
        if self._cached_bytes + size <= self.cache_bytes:
            self._cache[first] = item
            self._cached_bytes += size
            return dict(item)
        return item

    def _load(self, first: int) -> dict[str, torch.Tensor]:
        """The finished item of the sample whose first record is ``first``."""
        records = [self.source.read(first + k, self.keys) for k in range(self.sample_length)]
        head = records[0]
        for k, record in enumerate(records[1:], start=1):
            if (record[KEY_CLASS], record[KEY_LOCATION], record["second"]) != (
                head[KEY_CLASS],
                head[KEY_LOCATION],
                head["second"] + k,
            ):
                raise DataError(
                    f"{self.source.describe(first + k)}: not the next second of "
                    f"{self.source.describe(first)}; a sample must be consecutive seconds of one video"
                )
        item: dict[str, torch.Tensor] = {
            "label": torch.tensor(head[KEY_CLASS], dtype=torch.int64),
            "location": torch.tensor(head[KEY_LOCATION], dtype=torch.int64),
            "video_id": torch.tensor(video_id(head[KEY_CLASS], head[KEY_LOCATION]), dtype=torch.int64),
            "start": torch.tensor(head["second"], dtype=torch.int64),
        }
        deferred = self.device_preprocessing
        if KEY_ACOUSTIC in self.keys:
            images = np.concatenate([r[KEY_ACOUSTIC] for r in records]).astype(np.float32, copy=False)
            if deferred:  # [12L, 36, 48, 12] as stored
                item["acoustic_stored"] = torch.from_numpy(images)
            else:
                rotated = images[:, ::-1, ::-1, :].transpose(0, 3, 1, 2)  # flip rows and cols, channels first
                item["acoustic"] = torch.from_numpy(np.ascontiguousarray(rotated))
        if KEY_AUDIO in self.keys:
            sensor = np.concatenate([r[KEY_AUDIO] for r in records])  # [12L, 1024]
            waveform = sensor_audio_to_waveform(sensor)
            if deferred:
                item["waveform"] = torch.from_numpy(waveform)
            else:
                item["spectrogram"] = self._spectrogram(waveform)
        if KEY_VIDEO in self.keys:
            per_record = FRAMES_PER_SECOND
            frames = np.stack(
                [records[i // per_record][KEY_VIDEO][i % per_record] for i in self.frame_indices]
            )  # [nr, H, W, 3] uint8 BGR
            if deferred:
                item["frames"] = torch.from_numpy(frames)
            else:
                # numpy, not torch: these small element-wise ops are several times faster there on CPU workers
                centred = frames.astype(np.float32) - np.asarray(VIDEO_MEAN_BGR_ORDER, dtype=np.float32)
                channels_first = np.ascontiguousarray(centred.transpose(0, 3, 1, 2))
                item["video"] = self._resize(torch.from_numpy(channels_first))
        return item

    def _spectrogram(self, waveform: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Magnitude STFT [..., 257, T] of 22 050 Hz waveform(s), normalised, on the waveform's device."""
        spectrogram = waveform_to_spectrogram(waveform)
        return spectrogram if self.normalize is None else self.normalize(spectrogram)

    def _resize(self, video: torch.Tensor) -> torch.Tensor:
        """Video [..., 3, H, W] at ``video_size`` (bilinear, antialiased), on the video's device."""
        size = self.video_size
        if size is None and min(video.shape[-2:]) == VIDEO_SHAPE[0]:
            # converter-sized frames of another aspect ratio (imported videos: shorter side 224, e.g. 224x398)
            # are squashed to the native 224x298, so batches stack and the map covers the whole frame
            size = VIDEO_SHAPE[:2]
        if size is None or tuple(video.shape[-2:]) == size:
            return video
        lead = video.shape[:-3]
        flat = video.reshape(-1, *video.shape[-3:])
        resized = torch.nn.functional.interpolate(
            flat, size=size, mode="bilinear", align_corners=False, antialias=True
        )
        return resized.reshape(*lead, *resized.shape[-3:])

    def finish(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A collated batch of ``device_preprocessing`` items (on any device) as the loader would have
        finished it: ``video``, ``spectrogram`` and ``acoustic`` in place of ``frames``, ``waveform`` and
        ``acoustic_stored``; other batches unchanged."""
        out = dict(batch)
        if "frames" in out:  # uint8 [B, nr, H, W, 3] BGR -> float [B, nr, 3, H, W], channels-last strides
            mean = torch.tensor(VIDEO_MEAN_BGR_ORDER, dtype=torch.float32, device=out["frames"].device)
            out["video"] = self._resize((out.pop("frames").to(torch.float32) - mean).movedim(-1, -3))
        if "waveform" in out:
            out["spectrogram"] = self._spectrogram(out.pop("waveform"))
        if "acoustic_stored" in out:  # flip rows and cols, channels first
            out["acoustic"] = out.pop("acoustic_stored").flip(-3, -2).movedim(-1, -3).contiguous()
        return out

