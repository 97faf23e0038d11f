"""Facts of the ACIVW raw layout and TFRecord schema, in one place so every stage agrees.

Raw: ``class_K/data_NNN/{audio/A_%06d.dc, MFCC_Image/Data_%d.mat, video/I_%06d.bmp, video_time.txt}``.
Records: ``class_K/data_NNN/Data_%03d.tfrecord``, one GZIP SequenceExample per second of video.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from acoustic_ssl.errors import DataError

CLASS_NAMES: tuple[str, ...] = (
    "train", "boat", "drone", "fountain", "drill",
    "razor", "hair dryer", "hoover", "shopping cart", "traffic",
)
NUM_CLASSES = len(CLASS_NAMES)
NUM_LOCATIONS = 61  # one-hot size of the original loader ("max videos per class")

FRAMES_PER_SECOND = 12
SAMPLES_PER_FRAME = 1024
NUM_MICS = 128
SENSOR_SAMPLE_RATE = FRAMES_PER_SECOND * SAMPLES_PER_FRAME  # 12 288 Hz
AUDIO_SAMPLE_RATE = 22050  # rate the loader resamples the mono track to

ACOUSTIC_SHAPE = (36, 48, 12)  # rows, cols, MFCC channels (sensor orientation, as stored)
RAW_VIDEO_SHAPE = (480, 640, 3)  # height, width, BGR
VIDEO_SHAPE = (224, 298, 3)  # after the converter's bicubic resize to shorter side 224
# Subtracted channel-by-channel from BGR data, as the original did (bug: named R, G, B).
VIDEO_MEAN_BGR_ORDER = (123.68, 116.78, 103.94)

# TFRecord feature-list keys and context keys, exactly as the original converter wrote them.
KEY_ACOUSTIC = "audio/image"
KEY_AUDIO = "audio/data"
KEY_VIDEO = "video/image"
KEY_CLASS = "classes"
KEY_LOCATION = "location"
# Context flag (int64 1) of records whose acoustic images a generator made (``acoustic-ssl synthesize``), not
# an array; absent from the original's records and from every converted or imported one.
KEY_SYNTHETIC = "audio_image/synthetic"


class Modality(StrEnum):
    """The sensor's three inputs, by name everywhere in the code.

    The original's numbers (0 acoustic images, 1 audio, 2 video) exist only at the command line
    (``--modalities 0 1 2``); ``Modality.from_number`` converts them there.
    """

    ACOUSTIC = "acoustic"
    AUDIO = "audio"
    VIDEO = "video"

    @classmethod
    def from_number(cls, number: int) -> Modality:
        """The modality of the original's number (0, 1 or 2)."""
        return tuple(cls)[number]

    @property
    def number(self) -> int:
        """The original's number of this modality."""
        return tuple(Modality).index(self)

    @property
    def record_key(self) -> str:
        """Feature-list key of the modality in a record."""
        return {"acoustic": KEY_ACOUSTIC, "audio": KEY_AUDIO, "video": KEY_VIDEO}[self.value]

    @property
    def batch_key(self) -> str:
        """Key of the dataset item (and batch) a network reads: the audio arrives as its spectrogram."""
        return "spectrogram" if self is Modality.AUDIO else self.value

    @property
    def has_frames(self) -> bool:
        """Whether a sample holds several frames ([B, F, ...]: acoustic images, video) or one array."""
        return self is not Modality.AUDIO


def parse_modalities(values: Iterable[str]) -> tuple[Modality, ...]:
    """Distinct modalities of ``values`` (names), in the original's order; unknown names are a DataError."""
    values = list(values)
    try:
        chosen = {Modality(v) for v in values}
    except ValueError:
        chosen = set()
    if not chosen:
        names = ", ".join(m.value for m in Modality)
        raise DataError(f"modalities must be a non-empty subset of {names}, got {values}")
    return tuple(m for m in Modality if m in chosen)

AUDIO_DIR, MFCC_DIR, VIDEO_DIR = "audio", "MFCC_Image", "video"
VIDEO_TIME_FILE = "video_time.txt"
CLASS_TIME_FILE = "class_time.txt"
GROUND_TRUTH_FILE = "ground_truth.csv"
IMPORT_INDEX_FILE = "videos.csv"  # the clip index of an import-video output (``data.video_import``)


# The frame file names the three writers below give, and only those, so every frame number has one name:
# ``%06d`` is six digits, zero-padded, and more only from frame 1 000 000 (a recording of 23 h at 12 frames
# per second), so ``A_1.dc`` or ``A_0000001.dc`` are not frames; ``%d`` has no padding.
AUDIO_FRAME_NAME = re.compile(r"^A_(\d{6}|[1-9]\d{6,})\.dc$")
MFCC_FRAME_NAME = re.compile(r"^Data_([1-9]\d*)\.mat$")
VIDEO_FRAME_NAME = re.compile(r"^I_(\d{6}|[1-9]\d{6,})\.bmp$")


def audio_frame_path(video_dir: Path, frame: int) -> Path:
    """Path of raw audio frame ``frame`` (1-based)."""
    return video_dir / AUDIO_DIR / f"A_{frame:06d}.dc"


def mfcc_frame_path(video_dir: Path, frame: int) -> Path:
    """Path of acoustic image ``frame`` (1-based, no zero padding, as the original)."""
    return video_dir / MFCC_DIR / f"Data_{frame}.mat"


def video_frame_path(video_dir: Path, frame: int) -> Path:
    """Path of video frame ``frame`` (1-based)."""
    return video_dir / VIDEO_DIR / f"I_{frame:06d}.bmp"


def record_name(second: int) -> str:
    """File name of the record holding second ``second`` (1-based) of a video."""
    return f"Data_{second:03d}.tfrecord"


def video_dir_name(class_index: int, location: int) -> Path:
    """Relative folder of a video: ``class_K/data_NNN``."""
    return Path(f"class_{class_index}") / f"data_{location:03d}"


VIDEO_ID_STRIDE = 1_000_000  # locations per class a video id can tell apart (imported datasets: any number)


def video_id(class_index: int, location: int) -> int:
    """A global integer id of a video: two samples share it iff same class and same location."""
    return class_index * VIDEO_ID_STRIDE + location


def split_video_id(vid: int) -> tuple[int, int]:
    """``(class, location)`` of a ``video_id``."""
    return divmod(int(vid), VIDEO_ID_STRIDE)
