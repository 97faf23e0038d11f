"""Rooms for the simulator: early reflections by the image-source method, a diffuse reverberant tail.

A :class:`Room` is a shoebox (width across the camera's view, depth along it, height, metres) with a
reverberation time RT60; the camera and the array sit at ``camera_m`` (room coordinates: x from the left wall,
depth from the wall behind the camera, height from the floor; default centred, 0.3 m in front of the back
wall, 1.4 m high). Camera-frame points (x right, y down, z forward) map to room coordinates by
``(cx + x, cz + z, ch − y)``.

The direct path of every source is rendered exactly as in free field
(:mod:`~acoustic_ssl.simulate.propagation`: emission times, Doppler, 1/r). :class:`Reverberation` adds what
the room adds, in two parts:

* **Early reflections**: the image-source method of pyroomacoustics (``ShoeBox``, wall energy absorption from
  Sabine's formula for the RT60, ``pyroomacoustics.inverse_sabine``) up to order ``EARLY_ORDER`` = 6, for
  every microphone, minus the direct path (pyroomacoustics' own direct-only response, so that both share its
  fractional-delay kernel), scaled to the simulator's 1/r convention. They are exact in direction and delay,
  and kept up to the mixing time ``t_mix``: the arrival of the first image of order 7.
  A moving source gets one response every ``KNOT_S`` = 0.5 s along its path, and successive responses are
  crossfaded linearly (a static source, moving less than 5 cm, gets one).
* **Late reverberation** from ``t_mix`` on: a diffuse field, ``TAIL_DIRECTIONS`` plane waves from directions
  spread over the sphere, each carrying the source signal convolved with its own exponentially decaying
  Gaussian noise (energy decay 60 dB per RT60, the level continuing the early reflections' energy just before
  ``t_mix``), steered to the microphones with exact phases (block-wise, as the diffuse noise). A full-order
  image-source computation would take about a minute per source and position for 128 microphones at RT60
  0.6 s; this tail has the same decay and the spatial coherence of a diffuse field.

Levels are unchanged: the scene sets the gain on the direct path (ground truth and SNR refer to it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from acoustic_ssl.data.layout import SAMPLES_PER_FRAME, SENSOR_SAMPLE_RATE
from acoustic_ssl.errors import ConfigError
from acoustic_ssl.simulate.propagation import (
    SPEED_OF_SOUND,
    Trajectory,
    _phasors,
    fibonacci_sphere,
    random_rotation,
)

FS = float(SENSOR_SAMPLE_RATE)
EARLY_ORDER = 6
KNOT_S = 0.5  # seconds between early responses of a moving source (a multiple of the 1024-sample frame)
STATIC_M = 0.05
TAIL_DIRECTIONS = 16
WALL_MARGIN_M = 0.25
FADE_S = 0.005
MATCH_WINDOW_S = 0.02


@dataclass(frozen=True)
class Room:
    """A shoebox room around the camera (see the module docstring)."""

    size_m: tuple[float, float, float]
    rt60_s: float
    camera_m: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        size = tuple(float(v) for v in self.size_m)
        if len(size) != 3 or not all(math.isfinite(v) and v >= 2 * WALL_MARGIN_M + 0.5 for v in size):
            raise ConfigError(f"room size must be width depth height of at least 1 m each, got {self.size_m}")
        if not 0.05 <= self.rt60_s <= 5.0:
            raise ConfigError(f"RT60 must be within 0.05..5 s, got {self.rt60_s}")
        object.__setattr__(self, "size_m", size)
        camera = self.camera_m or (size[0] / 2.0, 0.3, min(1.4, size[2] / 2.0))
        camera = tuple(float(v) for v in camera)
        if any(not 0.0 < c < s for c, s in zip(camera, size, strict=True)):
            raise ConfigError(f"camera position {camera} is outside the room {size}")
        object.__setattr__(self, "camera_m", camera)

    def to_room(self, points: np.ndarray) -> np.ndarray:
        """Room coordinates (..., 3) of camera-frame points (..., 3)."""
        points = np.asarray(points, dtype=np.float64)
        cx, cz, ch = self.camera_m
        return np.stack([cx + points[..., 0], cz + points[..., 2], ch - points[..., 1]], axis=-1)

    def contain(self, trajectory: Trajectory) -> Trajectory:
        """The path with every knot outside the room (less a 25 cm margin) pulled towards the camera along its
        line of sight, so it stays where the camera sees it; knots inside are unchanged."""
        offset = self.to_room(trajectory.positions) - np.asarray(self.camera_m)  # room axes, from the camera
        low = WALL_MARGIN_M - np.asarray(self.camera_m)
        high = np.asarray(self.size_m) - WALL_MARGIN_M - np.asarray(self.camera_m)
        with np.errstate(divide="ignore", invalid="ignore"):
            limits = np.where(offset > 0, high / offset, np.where(offset < 0, low / offset, np.inf))
        scale = np.minimum(1.0, limits.min(axis=-1))
        if (scale >= 1.0).all():
            return trajectory
        return Trajectory(trajectory.start_s, trajectory.step_s, trajectory.positions * scale[:, None])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Per-class rooms of the indoor classes (``simulate --room indoor``): a workshop, a bathroom, a bedroom and a
# living room; each contains the class's placement range (objects.py).
INDOOR_ROOMS: dict[int, Room] = {
    4: Room((5.0, 6.0, 3.0), 0.6),
    5: Room((2.6, 3.2, 2.5), 0.4),
    6: Room((3.2, 3.6, 2.5), 0.45),
    7: Room((5.0, 6.0, 2.7), 0.5),
}


def _pra_room(room: Room, max_order: int, mics: np.ndarray, source: np.ndarray) -> Any:
    import pyroomacoustics as pra

    pra.constants.set("c", SPEED_OF_SOUND)  # its default is the same 343 m/s; stated, not assumed
    absorption, _ = pra.inverse_sabine(room.rt60_s, list(room.size_m), c=SPEED_OF_SOUND)
    shoebox = pra.ShoeBox(
        list(room.size_m), fs=SENSOR_SAMPLE_RATE, materials=pra.Material(absorption), max_order=max_order
    )
    shoebox.add_source(list(source))
    shoebox.add_microphone_array(mics)
    return shoebox


def _stack(rirs: list[list[np.ndarray]], length: int) -> np.ndarray:
    out = np.zeros((len(rirs), length))
    for m, per_source in enumerate(rirs):
        rir = per_source[0][:length]
        out[m, : len(rir)] = rir
    return out


def early_reflections(room: Room, mic_positions: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, int]:
    """Reflections up to order ``EARLY_ORDER`` (M, L) of a camera-frame source position, as the pressure the
    source's unit signal (at 1 m) gives after ``n`` samples of *emission-to-reception* delay; and ``t_mix`` in
    samples."""
    import pyroomacoustics as pra

    mics = room.to_room(mic_positions).T  # (3, M)
    where = room.to_room(source)
    probe = _pra_room(room, EARLY_ORDER + 1, mics.mean(axis=1, keepdims=True), where)
    probe.image_source_model()
    images = probe.sources[0]
    distances = np.linalg.norm(images.images - mics.mean(axis=1, keepdims=True), axis=0)
    mix = int(distances[images.orders == EARLY_ORDER + 1].min() / SPEED_OF_SOUND * FS)
    full, direct = _pra_room(room, EARLY_ORDER, mics, where), _pra_room(room, 0, mics, where)
    full.compute_rir()
    direct.compute_rir()
    offset = pra.constants.get("frac_delay_length") // 2  # pyroomacoustics' global delay, in samples
    length = mix + offset
    reflections = _stack(full.rir, length) - _stack(direct.rir, length)
    # pyroomacoustics' direct path is 1/(4 pi r)-like; the simulator's is 1/r: scale by the direct energies.
    ranges = np.linalg.norm(mics - where[:, None], axis=0)
    amplitude = np.sqrt((_stack(direct.rir, length) ** 2).sum(axis=1))
    reflections *= (1.0 / ranges / amplitude)[:, None]
    reflections = reflections[:, offset:]
    fade = max(int(FADE_S * FS), 1)
    reflections[:, -fade:] *= np.linspace(1.0, 0.0, fade)
    return reflections, mix


class Reverberation:
    """What a room adds at every microphone for a scene's point sources, one 1024-sample frame at a time."""

    block = 2 * SAMPLES_PER_FRAME

    def __init__(
        self,
        room: Room,
        mic_positions: np.ndarray,
        sources: list[tuple[np.ndarray, int, Trajectory, float]],  # (signal, lead, trajectory, gain)
        num_frames: int,
        rng: np.random.Generator,
    ) -> None:
        self.room, self.mics = room, mic_positions
        self._early = [_EarlyPart(room, mic_positions, *source, num_frames) for source in sources]
        directions = fibonacci_sphere(TAIL_DIRECTIONS) @ random_rotation(rng).T
        lead = mic_positions @ directions.T / SPEED_OF_SOUND
        self._steering = _phasors(np.fft.rfftfreq(self.block, 1.0 / FS), lead)  # (K, M, D)
        length = num_frames * SAMPLES_PER_FRAME + self.block
        self._tail = np.zeros((TAIL_DIRECTIONS, length), dtype=np.float32)
        for (signal, lead_samples, _, gain), early in zip(sources, self._early, strict=True):
            self._tail += _tail_signals(early, signal, lead_samples, gain, length, room.rt60_s, rng)
        self._window = np.sin(np.pi * (np.arange(self.block) + 0.5) / self.block).astype(np.float32)
        self._carry = np.zeros((len(mic_positions), SAMPLES_PER_FRAME), dtype=np.float32)
        self._frame = 0

    def next_frame(self) -> np.ndarray:
        """Reflections and tail (M, 1024) of the next frame (the first call gives frame 0)."""
        k = self._frame
        self._frame += 1
        out = sum(early.frame(k) for early in self._early)
        # Tail: sine-windowed analysis of the directions' signals, per-mic phases, sine-windowed overlap-add.
        first = k * SAMPLES_PER_FRAME
        spectra = np.fft.rfft(self._tail[:, first : first + self.block] * self._window, axis=-1)  # (D, K)
        at_mics = np.matmul(self._steering, spectra.T.astype(np.complex64)[:, :, None])[:, :, 0]
        block = np.fft.irfft(at_mics.T, self.block, axis=-1) * self._window
        frame = self._carry + block[:, :SAMPLES_PER_FRAME]
        self._carry = block[:, SAMPLES_PER_FRAME:]
        return out + frame


class _EarlyPart:
    """Early reflections of one source, crossfaded between knots every ``KNOT_S`` along its path."""

    def __init__(
        self,
        room: Room,
        mics: np.ndarray,
        signal: np.ndarray,
        lead: int,
        trajectory: Trajectory,
        gain: float,
        num_frames: int,
    ) -> None:
        step = round(KNOT_S * FS / SAMPLES_PER_FRAME)  # frames between knots
        knot_frames = np.arange(0, num_frames + step, step)
        times = knot_frames * SAMPLES_PER_FRAME / FS
        # where each knot's sound was emitted (the array centre's emission time, two fixed-point steps)
        emitted = times - np.linalg.norm(trajectory.at(times), axis=-1) / SPEED_OF_SOUND
        emitted = times - np.linalg.norm(trajectory.at(emitted), axis=-1) / SPEED_OF_SOUND
        positions = trajectory.at(emitted)
        self.static = bool(np.linalg.norm(positions - positions[0], axis=-1).max() < STATIC_M)
        self.step, self.knot_positions = step, positions[:1] if self.static else positions
        self.room, self.mics = room, mics
        self.first_response, self.mix = early_reflections(room, mics, self.knot_positions[0])
        self.length = self.first_response.shape[1]
        # zeros before the signal, so that the first frames can read length - 1 samples into the past
        self.signal = np.concatenate([np.zeros(self.length), np.asarray(signal, dtype=np.float64)])
        self.lead, self.gain = lead + self.length, gain
        self.n_fft = 1 << (SAMPLES_PER_FRAME + self.length - 1).bit_length()
        self._spectra = {0: np.fft.rfft(self.first_response, self.n_fft, axis=-1)}

    def _spectrum(self, knot: int) -> np.ndarray:
        if knot not in self._spectra:
            self._spectra = {k: v for k, v in self._spectra.items() if k >= knot - 1}
            response, _ = early_reflections(self.room, self.mics, self.knot_positions[knot])
            response = response[:, : self.length]  # the mixing time is the first knot's
            self._spectra[knot] = np.fft.rfft(response, self.n_fft, axis=-1)
        return self._spectra[knot]

    def frame(self, k: int) -> np.ndarray:
        first = k * SAMPLES_PER_FRAME + self.lead  # signal index of the frame's first sample
        start = first - self.length + 1
        chunk = self.signal[start : first + SAMPLES_PER_FRAME]
        chunk_spectrum = np.fft.rfft(chunk, self.n_fft)

        def filtered(knot: int) -> np.ndarray:
            out = np.fft.irfft(self._spectrum(knot) * chunk_spectrum, self.n_fft, axis=-1)
            return out[:, self.length - 1 : self.length - 1 + SAMPLES_PER_FRAME]

        if self.static:
            return self.gain * filtered(0)
        knot, within = divmod(k, self.step)
        weight = (within + (np.arange(SAMPLES_PER_FRAME) + 0.5) / SAMPLES_PER_FRAME) / self.step
        return self.gain * ((1.0 - weight) * filtered(knot) + weight * filtered(knot + 1))


def _tail_signals(
    early: _EarlyPart,
    signal: np.ndarray,
    lead: int,
    gain: float,
    length: int,
    rt60: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """(D, length) float32: the source signal through each direction's decaying noise response, sensor
    time."""
    reflections, mix = early.first_response, early.mix
    window = max(int(MATCH_WINDOW_S * FS), 1)
    matched = float((reflections[:, max(mix - window, 0) : mix] ** 2).sum(axis=1).mean()) / window
    decay = 13.8155 / (rt60 * FS)  # energy decay rate per sample: 60 dB per RT60
    count = math.ceil(rt60 * FS * 1.1)
    n = np.arange(count)
    energy = matched * np.exp(-decay * (n + window / 2.0))  # per-sample energy, continuing the early part
    fade = np.minimum(1.0, (n + 1) / max(int(FADE_S * FS), 1))
    responses = rng.standard_normal((TAIL_DIRECTIONS, count)) * (np.sqrt(energy / TAIL_DIRECTIONS) * fade)
    # sensor sample j hears signal index j + lead - (mix + n): convolve the signal, then shift by mix - lead.
    size = 1 << (len(signal) + count - 1).bit_length()
    wet = np.fft.irfft(np.fft.rfft(responses, size) * np.fft.rfft(gain * signal, size), size)
    out = np.zeros((TAIL_DIRECTIONS, length), dtype=np.float32)
    shift = mix - lead  # wet[i] is heard at sensor sample i + shift
    first_out, first_wet = max(shift, 0), max(-shift, 0)
    count_copied = min(length - first_out, wet.shape[1] - first_wet)
    out[:, first_out : first_out + count_copied] = wet[:, first_wet : first_wet + count_copied]
    return out


def estimate_rt60(
    signal: np.ndarray, fs: float = FS, top_db: float = -5.0, bottom_db: float = -25.0
) -> float:
    """RT60 (s) of a decay (the signal after its source stopped), by Schroeder backward integration and a
    straight-line fit between ``top_db`` and ``bottom_db`` (T20 extrapolated to 60 dB)."""
    energy = np.asarray(signal, dtype=np.float64) ** 2
    if energy.ndim > 1:
        energy = energy.mean(axis=0)
    schroeder = np.cumsum(energy[::-1])[::-1]
    level = 10.0 * np.log10(schroeder / schroeder[0] + 1e-30)
    fit = (level <= top_db) & (level >= bottom_db)
    if fit.sum() < 8:
        raise ValueError("decay too short or too noisy to estimate RT60")
    slope = np.polyfit(np.flatnonzero(fit) / fs, level[fit], 1)[0]  # dB per second
    return -60.0 / slope
