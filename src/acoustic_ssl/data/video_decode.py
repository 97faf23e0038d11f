"""Decoding a clip with PyAV into the records' sampling: 12 fps BGR frames and 12 288 Hz mono audio.

* Video: output frame ``i`` shows the source frame on screen at ``start + i/12`` s (sample and hold: the last
  decoded frame whose timestamp is ≤ that time; the first frame before it). A still of an image + sound pair
  is every frame.
* Audio: channels averaged (FFmpeg's float samples, full scale ±1), resampled at the exact rational ratio with
  librosa's kaiser_best filter (``data.audio.resample``, as the loader's 12 288 -> 22 050 Hz step).

Files FFmpeg cannot open or decode, files without an audio (or video) track, truncated files (the audio ends
well before the duration the container declares: a Matroska or WebM file cut in the middle still opens and
decodes, only shorter) and audio holding NaN or infinite samples raise ``SkipClip``: a verdict on one clip
that the importer reports and counts, never a crash.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from acoustic_ssl.data.layout import FRAMES_PER_SECOND, SENSOR_SAMPLE_RATE
from acoustic_ssl.data.video_sources import Clip
from acoustic_ssl.errors import describe_non_finite

__all__ = ["SkipClip", "decode_audio", "open_media", "probe", "still_frames", "video_frames"]

# How much earlier than the container's declared duration the audio may end before the file counts as
# truncated: tracks of a whole file end within a frame or two of it (AAC padding, a last video frame).
TRUNCATION_TOLERANCE_S = 0.5


class SkipClip(Exception):
    """A clip that cannot be imported (``category`` counts it in the summary; the message says why)."""

    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category


def open_media(path: Path) -> Any:
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise SkipClip("undecodable", f"cannot open ({_ffmpeg_reason(exc)})") from exc


def _ffmpeg_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _origin(container: Any) -> float:
    """The file's time zero in seconds (its earliest stream start)."""
    return container.start_time / 1_000_000 if container.start_time is not None else 0.0


def _seek(container: Any, time_s: float) -> None:
    if time_s > 0:
        container.seek(int(time_s * 1_000_000), backward=True, any_frame=False)


def decode_audio(
    path: Path, start: float, seconds: float | None, need_video: bool = True
) -> tuple[np.ndarray, dict[str, Any]]:
    """Mono float64 samples at 12 288 Hz from ``start`` (up to ``seconds``), and the source's audio facts."""
    import av

    from acoustic_ssl.data.audio import resample

    with open_media(path) as container:
        if not container.streams.audio:
            raise SkipClip("no audio", "no audio track")
        if need_video and not container.streams.video:
            raise SkipClip("no video", "no video track")
        stream = container.streams.audio[0]
        begin = _origin(container) + start
        stop = begin + seconds + 1.0 if seconds is not None else math.inf
        _seek(container, begin)
        resampler = av.AudioResampler(format="fltp")
        chunks: list[np.ndarray] = []
        first_time = rate = channels = None
        try:
            for frame in container.decode(stream):
                if frame.time is not None and frame.time >= stop:
                    break
                if rate is None:
                    rate, channels = frame.sample_rate, len(frame.layout.channels)
                    first_time = frame.time if frame.time is not None else begin
                elif frame.sample_rate != rate:
                    change = f"{rate} -> {frame.sample_rate} Hz"
                    raise SkipClip("undecodable", f"audio sample rate changes ({change})")
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().astype(np.float64).mean(axis=0))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().astype(np.float64).mean(axis=0))
        except av.FFmpegError as exc:
            raise SkipClip("undecodable", f"audio decoding failed ({_ffmpeg_reason(exc)})") from exc
        if rate is None or not chunks:
            raise SkipClip("no audio", "the audio track holds no samples")
        native = np.concatenate(chunks)
        _check_complete(container, first_time + native.size / rate, begin, seconds)
    problem = describe_non_finite(native)
    if problem is not None:
        raise SkipClip("non-finite audio", f"the audio holds NaN or infinite samples: {problem}")
    offset = round((begin - first_time) * rate)
    native = native[offset:] if offset >= 0 else np.concatenate([np.zeros(-offset), native])
    if seconds is not None:
        native = native[: math.ceil((seconds + 1.0 / FRAMES_PER_SECOND) * rate)]
    g = math.gcd(SENSOR_SAMPLE_RATE, rate)
    up, down = SENSOR_SAMPLE_RATE // g, rate // g
    mono = resample(native, up, down) if native.size else native
    return mono, {"sample_rate": rate, "channels": channels}


def _check_complete(container: Any, audio_end: float, begin: float, seconds: float | None) -> None:
    """``SkipClip`` when the audio ends well before the window or the declared duration, whichever is first
    (a truncated file); containers that declare no duration (live streams) are not checked."""
    if container.duration is None:
        return
    declared_end = _origin(container) + container.duration / 1_000_000
    wanted_end = min(declared_end, begin + seconds) if seconds is not None else declared_end
    if audio_end < wanted_end - TRUNCATION_TOLERANCE_S:
        raise SkipClip(
            "truncated",
            f"truncated: the audio ends at {audio_end - _origin(container):.2f} s but the file declares "
            f"{container.duration / 1_000_000:.2f} s",
        )


def probe(clip: Clip) -> dict[str, Any]:
    """Frame size, frame rate, sample rate and channels from the files' headers (empty if unreadable)."""
    try:
        with open_media(clip.source) as container:
            video = container.streams.video[0]
            rate = video.average_rate or video.guessed_rate
            info = {"width": video.codec_context.width, "height": video.codec_context.height,
                    "fps": "" if clip.audio is not None or not rate else round(float(rate), 3)}
        with open_media(clip.audio or clip.source) as container:
            audio = container.streams.audio[0]
            info.update(sample_rate=audio.codec_context.sample_rate, channels=audio.codec_context.channels)
        return info
    except (SkipClip, IndexError, AttributeError):
        return {}


def still_frames(path: Path, count: int, info: dict[str, Any]) -> Iterator[np.ndarray]:
    """The image at ``path`` (BGR), ``count`` times: the video of an image + sound pair."""
    import av

    with open_media(path) as container:
        try:
            frame = next(container.decode(video=0), None)
        except av.FFmpegError as exc:
            raise SkipClip("undecodable", f"image decoding failed ({_ffmpeg_reason(exc)})") from exc
        if frame is None:
            raise SkipClip("undecodable", "the image holds no picture")
        info.update(width=frame.width, height=frame.height, fps="")
        still = frame.to_ndarray(format="bgr24")
    for _ in range(count):
        yield still


def video_frames(path: Path, start: float, count: int, info: dict[str, Any]) -> Iterator[np.ndarray]:
    """Up to ``count`` BGR frames at 12 fps from ``start`` (sample and hold), at the source resolution.

    Output frame ``i`` is the last decoded frame with timestamp ≤ ``start + i/12`` (the first frame when none
    is yet); after the last frame, frames are emitted while it is on screen (its frame period) plus 1/12 s.
    Only emitted frames are converted to BGR.
    """
    import av

    eps = 1e-6
    with open_media(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        period = 1.0 / float(rate) if rate else 1.0 / 30
        info.update(width=stream.codec_context.width, height=stream.codec_context.height,
                    fps=round(float(rate), 3) if rate else "")
        begin = _origin(container) + start
        _seek(container, begin)

        def due(i: int) -> float:
            return begin + i / FRAMES_PER_SECOND

        emitted, held, held_time = 0, None, begin
        held_bgr: np.ndarray | None = None
        try:
            for frame in container.decode(stream):
                time = frame.time if frame.time is not None else held_time + period
                while held is not None and emitted < count and due(emitted) + eps < time:
                    if held_bgr is None:
                        held_bgr = held.to_ndarray(format="bgr24")
                    yield held_bgr
                    emitted += 1
                if emitted >= count:
                    return
                held, held_time, held_bgr = frame, time, None
        except av.FFmpegError as exc:
            raise SkipClip("undecodable", f"video decoding failed ({_ffmpeg_reason(exc)})") from exc
        end = held_time + period + 1.0 / FRAMES_PER_SECOND
        while held is not None and emitted < count and due(emitted) + eps < end:
            if held_bgr is None:
                held_bgr = held.to_ndarray(format="bgr24")
            yield held_bgr
            emitted += 1
