"""Render one simulated video into a raw ACIVW folder: 128-channel audio, beamformed acoustic images, frames.

Per frame ``k`` (1-based, 12 per second) the folder receives, exactly as the DualCam recordings:

* ``audio/A_%06d.dc``: the 128 microphone signals of sensor samples ``(k−1)·1024 … k·1024 − 1``: propagated
  sources + diffuse noise + sensor noise, quantised to int32 with **full scale 2^23** (a 24-bit MEMS/ADC word
  sign-extended into 32 bits; values clipped to ±(2^23 − 1)), at the per-video recording level of the scene.
* ``MFCC_Image/Data_%d.mat``: ``Beamformer.images`` of exactly those int32 samples (as float), so re-imaging
  the stored audio reproduces the stored images; sensor orientation (the video rotated by 180°).
* ``video/I_%06d.bmp``: the frame at the middle of the audio frame, ``t = (k − 0.5) / 12`` s.

``ground_truth.csv`` (``frame,source_id,class,x,y,distance_m,on_screen,sounding,x0,y0,x1,y1``) has one row
per object (sound sources, then silent distractors) per frame, at the same instant ``t``: ``x, y`` are pixel
coordinates of the object's centre in the **640 × 480 reference camera** (``camera.json``), whatever
``frame_size`` the bmp files have (multiply by ``width / 640`` and ``height / 480`` for the stored frames);
``distance_m`` is the distance to the camera/array centre; ``on_screen`` is 1 when the centre projects
inside the reference frame; ``sounding`` is 1 for sound sources, 0 for distractors; ``x0, y0, x1, y1`` is
the box of the sprite as drawn, clipped to the frame (empty, x0 = x1, when nothing of it is visible;
always empty for the off-screen interferers, which are heard but never drawn). With ``--sounds`` or
``--objects`` the columns ``clip,clip_start_s`` follow, and with ``--objects`` the library object's name
(``object``; its box is the drawn picture's alpha box). It is written last, so its presence marks a complete
video.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from acoustic_ssl.data.layout import FRAMES_PER_SECOND, GROUND_TRUTH_FILE, SAMPLES_PER_FRAME, audio_frame_path
from acoustic_ssl.data.raw_writer import write_dc, write_frame, write_video_time
from acoustic_ssl.imaging.beamform import Beamformer
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
from acoustic_ssl.io_utils import write_text_atomic
from acoustic_ssl.simulate.library import draw_object
from acoustic_ssl.simulate.propagation import DiffuseNoise, PointSource
from acoustic_ssl.simulate.scene import FULL_SCALE, Scene, frame_times, object_boxes
from acoustic_ssl.simulate.sprites import (
    SUPERSAMPLE,
    Appearance,
    draw_sprite,
    finish_frame,
    make_background,
    sprite_tilt,
)

GROUND_TRUTH_HEADER = "frame,source_id,class,x,y,distance_m,on_screen,sounding,x0,y0,x1,y1"
CLIP_COLUMNS = ",clip,clip_start_s"  # appended with --sounds: the user clip of each source ("" = procedural)
OBJECT_COLUMN = ",object"  # appended after them with --objects: the library object's name
INT_MAX = int(FULL_SCALE) - 1
FRAMES_PER_CHUNK = 4  # audio frames rendered together
__all__ = ["GROUND_TRUTH_HEADER", "FrameRenderer", "frame_times", "ground_truth_rows", "render_video"]


def quantise(pressure: torch.Tensor) -> np.ndarray:
    """Round to int32 sample values (half to even), clipped to the 24-bit range: ``pressure`` (any strides)
    is overwritten, a C-ordered array of its shape returned."""
    pressure.round_().clamp_(-INT_MAX - 1, INT_MAX)
    return torch.empty(pressure.shape, dtype=torch.int32).copy_(pressure).numpy()


def microphone_frames(scene: Scene, mic_positions: np.ndarray) -> Iterator[np.ndarray]:
    """Yield the int32 (M, 1024) audio frames of the scene, in order, rendered ``FRAMES_PER_CHUNK`` at a time
    (fewer, larger products; the sensor noise is the same stream as drawn frame by frame)."""
    sources = [PointSource(s.signal, s.lead, s.trajectory, s.gain) for s in scene.sources]
    diffuse = DiffuseNoise(mic_positions, scene.noise_rng, scene.diffuse_tilt_db, std=scene.diffuse_std)
    sensor = torch.Generator().manual_seed(int(scene.noise_rng.integers(2**62)))  # 3x numpy's normals
    reverberation = None
    if scene.room is not None:
        from acoustic_ssl.simulate.room import Reverberation

        signals = [(s.signal, s.lead, s.trajectory, s.gain) for s in scene.sources]
        reverberation = Reverberation(scene.room, mic_positions, signals, scene.num_frames, scene.room_rng)
    num_mics = len(mic_positions)
    for first_frame in range(0, scene.num_frames, FRAMES_PER_CHUNK):
        count = min(FRAMES_PER_CHUNK, scene.num_frames - first_frame)
        first, n = first_frame * SAMPLES_PER_FRAME, count * SAMPLES_PER_FRAME
        pressure = sources[0].render(mic_positions, first, n)
        for source in sources[1:]:
            pressure += source.render(mic_positions, first, n)
        frames = pressure.reshape(num_mics, count, SAMPLES_PER_FRAME)
        for j in range(count):
            if reverberation is not None:
                frames[:, j] += reverberation.next_frame()
            frames[:, j] += diffuse.next_frame()
        noise = torch.randn((count, num_mics, SAMPLES_PER_FRAME), generator=sensor)
        samples = torch.from_numpy(frames).add_(noise.transpose(0, 1), alpha=scene.sensor_std)
        yield from quantise(samples.transpose(0, 1))  # frames first


def ground_truth_rows(scene: Scene, camera: PinholeCamera) -> list[str]:
    """CSV rows (no header) for every frame and object, in frame order then object id."""
    times = frame_times(scene.num_frames)
    per_object = []
    for obj in scene.objects:
        pixels, boxes, inside = object_boxes(
            obj.class_index, obj.trajectory, obj.facing, camera, times, obj.item
        )
        boxes = np.nan_to_num(boxes, nan=0.0)
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0.0, camera.width)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0.0, camera.height)
        if not obj.visible:
            boxes[:] = 0.0
        distance = np.linalg.norm(obj.trajectory.at(times), axis=-1)
        per_object.append((obj, pixels, distance, inside, boxes))
    rows = []
    for k in range(scene.num_frames):
        for obj, pixels, distance, inside, boxes in per_object:
            x0, y0, x1, y1 = boxes[k]
            rows.append(
                f"{k + 1},{obj.object_id},{obj.class_index},{pixels[k, 0]:.2f},{pixels[k, 1]:.2f},"
                f"{distance[k]:.3f},{int(inside[k])},{int(obj.sounding)},{x0:.2f},{y0:.2f},{x1:.2f},{y1:.2f}"
                + (f",{_csv_field(obj.clip)},{obj.clip_start_s:.3f}" if scene.uses_clips else "")
                + (f",{_csv_field(obj.item.name)}" if obj.item is not None else "")
            )
    return rows


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


class FrameRenderer:
    """Draws every visible object's sprite (farthest first) over the location background at each frame time.

    A ``frame_size`` other than 480 × 640 scales the reference-camera pixels by width/640 and height/480;
    the sprite scale uses the mean of the two factors (a non-4:3 frame is a stretched view).
    """

    def __init__(self, scene: Scene, camera: PinholeCamera, frame_size: tuple[int, int]) -> None:
        self.scene = scene
        self.camera = camera
        self.height, self.width = frame_size
        self.rng = scene.visual_rng
        if scene.site is None:  # library classes have no kind of place: any place
            kind = None if scene.uses_objects else scene.class_index
            background = make_background(kind, self.height, self.width, self.rng)
        else:
            site_rng = np.random.default_rng(scene.site.seed)
            background = make_background(None, self.height, self.width, site_rng)
        self.background = background.astype(np.uint8)
        self._canvas = Image.fromarray(self.background, mode="RGB").resize(
            (self.width * SUPERSAMPLE, self.height * SUPERSAMPLE), Image.Resampling.NEAREST
        )  # sprites are drawn on it, the frame is its box-filtered reduction
        self.objects = [obj for obj in scene.objects if obj.visible]
        looks = scene.looks_rng or self.rng
        self.appearances = [  # the class source's look comes from the visual stream, as without distractors
            Appearance.random(obj.class_index, self.rng if i == 0 else looks) if obj.item is None else None
            for i, obj in enumerate(self.objects)
        ]
        self.scale_x = self.width / camera.width
        self.scale_y = self.height / camera.height
        self._noise = torch.Generator().manual_seed(int(self.rng.integers(2**62)))  # the camera's noise
        self._times = frame_times(scene.num_frames)
        self._placed = self._place(self._times)  # every frame's placements at once (vectorised)

    def _place(self, times: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Per visible object at ``times``: depth z, centre x and y (frame pixels), pixels per metre, tilt."""
        placed = []
        for obj in self.objects:
            position = obj.trajectory.at(times)
            pixels, _ = self.camera.project(position)
            depth = position[:, 2]
            px_per_m = self.camera.focal_px * 0.5 * (self.scale_x + self.scale_y) / depth
            if obj.item is None:
                tilt = sprite_tilt(obj.class_index, obj.trajectory.velocity(times)[:, 0])
            else:  # pictures are drawn upright
                tilt = np.zeros(len(times))
            placed.append((depth, pixels[:, 0] * self.scale_x, pixels[:, 1] * self.scale_y, px_per_m, tilt))
        return placed

    def frame(self, index: int, time_s: float) -> np.ndarray:
        """BGR uint8 frame ``index`` (0-based) at ``time_s``."""
        if index < len(self._times) and time_s == self._times[index]:
            placed, column = self._placed, index
        else:
            placed, column = self._place(np.array([time_s])), 0
        canvas = self._canvas.copy()
        for i in sorted(range(len(self.objects)), key=lambda i: -placed[i][0][column]):
            depth, x, y, px_per_m, tilt = (values[column] for values in placed[i])
            if depth <= 0.1:
                continue
            obj = self.objects[i]
            if obj.item is not None:
                draw_object(canvas, obj.item, (x, y), px_per_m, obj.facing, SUPERSAMPLE)
                continue
            draw_sprite(
                canvas,
                obj.class_index,
                (x, y),
                px_per_m,
                self.appearances[i],  # type: ignore[arg-type]
                facing=obj.facing,
                tilt_rad=float(tilt),
                frame_index=index,
                rng=self.rng,
            )
        image = canvas.reduce(SUPERSAMPLE)  # the mean of each SUPERSAMPLE² block
        return finish_frame(np.asarray(image, dtype=np.float32), self.rng, self._noise)


def render_video(
    video_dir: Path,
    scene: Scene,
    geometry: ArrayGeometry,
    camera: PinholeCamera,
    beamformer: Beamformer | None,
    frame_size: tuple[int, int],
) -> None:
    """Write all files of one video; without a beamformer only audio and ground truth are written.

    Frames are written in place, not through temporaries: ``ground_truth.csv``, written last and atomically,
    marks the video complete, and an incomplete one is simulated again from its first frame."""
    video_dir = Path(video_dir)
    renderer = FrameRenderer(scene, camera, frame_size) if beamformer is not None else None
    times = frame_times(scene.num_frames)
    block: list[np.ndarray] = []
    for k, audio in enumerate(microphone_frames(scene, geometry.positions)):
        if renderer is None:
            write_dc(audio_frame_path(video_dir, k + 1), audio, atomic=False)
            continue
        block.append(audio)
        if len(block) == beamformer.frame_batch or k == scene.num_frames - 1:  # batches amortise the steering
            images = beamformer.images(np.stack(block))  # int32, made float32 there (exact: 24-bit samples)
            first = k + 1 - len(block)
            for j, (frame_audio, image) in enumerate(zip(block, images, strict=True)):
                index = first + j
                bgr = renderer.frame(index, times[index])
                write_frame(video_dir, index + 1, frame_audio, image, bgr, atomic=False)
            block = []
    write_video_time(video_dir, math.floor(scene.num_frames / FRAMES_PER_SECOND))
    rows = ground_truth_rows(scene, camera)
    header = GROUND_TRUTH_HEADER + (CLIP_COLUMNS if scene.uses_clips else "") + (
        OBJECT_COLUMN if scene.uses_objects else ""
    )
    write_text_atomic(video_dir / GROUND_TRUTH_FILE, "\n".join([header, *rows]) + "\n")
