"""Everything that defines an acoustic image, in one frozen object: array, camera, grid, framing, band,
medium.

:class:`ImagingSetup` plays the part of Acoular's ``SteeringVector(mics, grid, env)`` plus the framing: the
beamformer (:class:`~acoustic_ssl.imaging.beamform.Beamformer`), its float64 reference
(:func:`~acoustic_ssl.imaging.beamform.direct_power`), the recording readers and the output files all take
one, and ``to_dict`` is what is stored beside the images. The defaults are the ACIVW sensor's: 128-microphone
array, 640 × 480 camera, 36 × 48 grid, 12 288 Hz, 1024-sample frames without overlap, a 1024-point FFT, bins
0 … 511 and mel bands from 0 to 6400 Hz.

Frequencies. The FFT bins kept are those from ``f_min_hz`` to ``f_max_hz`` and below the Nyquist frequency
(the Nyquist bin itself is dropped, as the dataset's 512 bins are bins 0 … 511). The 24 mel bands of the MFCC
recipe span ``f_min_hz`` … ``f_max_hz`` at every sample rate, so a band means the same frequencies whatever
the recording's rate; when the Nyquist frequency is lower than ``f_max_hz`` the bands above it are empty
(their energy is the recipe's floor, 1e-3) — :attr:`ImagingSetup.band_note` says so, and ``f_max_hz`` set to
the Nyquist frequency spreads all 24 bands below it instead.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from acoustic_ssl.errors import ConfigError
from acoustic_ssl.imaging.geometry import GRID_COLS, GRID_ROWS, ArrayGeometry, PinholeCamera, kept_mics
from acoustic_ssl.imaging.mfcc import (
    F_MAX_HZ,
    F_MIN_HZ,
    MEL_FLOOR,
    N_MELS,
    SENSOR_SAMPLE_RATE,
    mel_filterbank,
)

SPEED_OF_SOUND = 343.0  # m/s in air at 20 °C
FRAME_LENGTH = 1024  # samples per acoustic image at the sensor rate: 12 images per second
WINDOWS = ("hann", None)


@dataclass(frozen=True)
class ImagingSetup:
    """The parameters of delay-and-sum acoustic imaging (the ACIVW sensor's by default).

    Parameters
    ----------
    geometry : ArrayGeometry
        Every microphone of the recording, channel ``m`` at ``geometry.positions[m]`` (m).
    camera : PinholeCamera
        The camera whose image the grid tiles (intrinsics in pixels).
    rows, cols : int
        Grid of directions: cell centres tiling the camera image (see
        :func:`~acoustic_ssl.imaging.geometry.grid_for_stride` for a grid given by a pixel stride).
    sample_rate : float
        Hz, the recording's (it is never resampled).
    frame_length : int
        Samples per frame, i.e. per acoustic image.
    hop : int, optional
        Samples between frame starts (default ``frame_length``: no overlap).
    n_fft : int, optional
        FFT size, at least ``frame_length`` (frames are zero-padded); default ``frame_length``.
    f_min_hz, f_max_hz : float
        Band kept (Hz): FFT bins and mel bands (module docstring).
    speed_of_sound : float
        m/s, used for the steering delays.
    window : {"hann", None}
        Analysis window of each frame (periodic Hann) or none.
    drop_mics : tuple of int
        0-based channels left out of the beam sums (broken microphones); recordings still hold them.

    Examples
    --------
    >>> setup = ImagingSetup(ArrayGeometry.default())
    >>> setup.n_fft, setup.hop, setup.num_bins, float(setup.frequencies_hz[1])  # Hz
    (1024, 1024, 512, 12.0)
    >>> wideband = ImagingSetup(ArrayGeometry.default(), sample_rate=48000, frame_length=2048, hop=1024,
    ...                         rows=18, cols=24, drop_mics=(79, 105))
    >>> wideband.num_bins, wideband.num_active_mics, round(wideband.frames_per_second, 3)
    (274, 126, 46.875)
    """

    geometry: ArrayGeometry
    camera: PinholeCamera = field(default_factory=PinholeCamera)
    rows: int = GRID_ROWS
    cols: int = GRID_COLS
    sample_rate: float = float(SENSOR_SAMPLE_RATE)
    frame_length: int = FRAME_LENGTH
    hop: int | None = None
    n_fft: int | None = None
    f_min_hz: float = F_MIN_HZ
    f_max_hz: float = F_MAX_HZ
    speed_of_sound: float = SPEED_OF_SOUND
    window: str | None = "hann"
    drop_mics: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        set_("sample_rate", float(self.sample_rate))
        set_("hop", self.frame_length if self.hop is None else self.hop)
        set_("n_fft", self.frame_length if self.n_fft is None else self.n_fft)
        set_("drop_mics", tuple(sorted({int(m) for m in self.drop_mics})))
        checks = [
            (
                self.rows >= 1 and self.cols >= 1,
                f"grid must have at least 1x1 cells, got {self.rows}x{self.cols}",
            ),
            (
                math.isfinite(self.sample_rate) and self.sample_rate > 0,
                f"sample rate must be positive, got {self.sample_rate}",
            ),
            (self.frame_length >= 16, f"frame length must be at least 16 samples, got {self.frame_length}"),
            (self.hop >= 1, f"hop must be at least 1 sample, got {self.hop}"),
            (
                self.n_fft >= self.frame_length,
                f"FFT size {self.n_fft} is smaller than the frame length {self.frame_length}",
            ),
            (
                0.0 <= self.f_min_hz < self.f_max_hz,
                f"frequency range must satisfy 0 <= fmin < fmax, got {self.f_min_hz}..{self.f_max_hz} Hz",
            ),
            (
                self.f_min_hz < self.nyquist_hz,
                f"fmin {self.f_min_hz:g} Hz is at or above the Nyquist frequency {self.nyquist_hz:g} Hz",
            ),
            (self.speed_of_sound > 0, f"speed of sound must be positive, got {self.speed_of_sound}"),
            (self.window in WINDOWS, f"unknown window {self.window!r}; use 'hann' or None"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.bin_range[0] >= self.bin_range[1]:
            raise ConfigError(
                f"no FFT bin lies in {self.f_min_hz:g}..{self.f_max_hz:g} Hz "
                f"(bin spacing {self.sample_rate / self.n_fft:g} Hz)"
            )
        try:
            kept_mics(self.geometry.num_mics, self.drop_mics)
        except Exception as exc:
            raise ConfigError(f"drop_mics: {exc}") from exc

    # -- microphones ---------------------------------------------------------------------------------------
    @functools.cached_property
    def active_mics(self) -> np.ndarray:
        """0-based channels that enter the beam sums."""
        return kept_mics(self.geometry.num_mics, self.drop_mics)

    @property
    def num_active_mics(self) -> int:
        return len(self.active_mics)

    @functools.cached_property
    def active_geometry(self) -> ArrayGeometry:
        """The array without the dropped microphones."""
        return self.geometry if not self.drop_mics else self.geometry.select(self.active_mics)

    # -- frequencies -----------------------------------------------------------------------------------------
    @property
    def nyquist_hz(self) -> float:
        return self.sample_rate / 2.0

    @functools.cached_property
    def bin_range(self) -> tuple[int, int]:
        """``[first, stop)`` FFT bins within ``f_min_hz … f_max_hz`` and below the Nyquist frequency."""
        spacing = self.sample_rate / self.n_fft
        first = math.ceil(self.f_min_hz / spacing - 1e-9)
        stop = min(math.floor(self.f_max_hz / spacing + 1e-9) + 1, self.n_fft // 2)
        return first, max(first, stop)

    @property
    def num_bins(self) -> int:
        return self.bin_range[1] - self.bin_range[0]

    @functools.cached_property
    def frequencies_hz(self) -> np.ndarray:
        """Centre frequency (Hz) of each kept bin."""
        first, stop = self.bin_range
        return np.arange(first, stop) * (self.sample_rate / self.n_fft)

    @functools.cached_property
    def mel_bank(self) -> np.ndarray:
        """The 24 triangular mel filters over the kept bins, float64 (24, num_bins), read-only."""
        first, stop = self.bin_range
        bank = mel_filterbank(self.sample_rate, self.n_fft, stop, self.f_min_hz, self.f_max_hz)[:, first:]
        bank = np.ascontiguousarray(bank)
        bank.setflags(write=False)
        return bank

    @property
    def empty_mel_bands(self) -> int:
        """Mel bands with no kept bin (above the Nyquist frequency, or narrower than a bin)."""
        return int((~self.mel_bank.any(axis=1)).sum())

    @property
    def band_note(self) -> str:
        """One line on the mel bands actually covered, for the command's output and the stored parameters."""
        note = f"mel bands {self.f_min_hz:g}-{self.f_max_hz:g} Hz over {self.num_bins} FFT bins"
        if self.f_max_hz > self.nyquist_hz:
            note += (
                f"; the Nyquist frequency is {self.nyquist_hz:g} Hz, so the bands cover "
                f"{self.f_min_hz:g}-{self.nyquist_hz:g} Hz"
            )
        if self.empty_mel_bands:
            note += (
                f"; {self.empty_mel_bands} of {N_MELS} bands hold no bin and stay at the floor {MEL_FLOOR:g}"
                f" (set fmax to {self.nyquist_hz:g} Hz to spread them below Nyquist)"
            )
        return note

    # -- directions and time ---------------------------------------------------------------------------------
    @functools.cached_property
    def directions(self) -> np.ndarray:
        """Unit vectors (rows, cols, 3) of the cell centres, stored orientation (the video rotated by
        180°)."""
        return self.camera.grid_directions(self.rows, self.cols)

    def steering_delays(self) -> np.ndarray:
        """Lead times ``τ[d, m] = p_m · u_d / c`` (s), float64 (rows·cols, active mics)."""
        return self.directions.reshape(-1, 3) @ self.active_geometry.positions.T / self.speed_of_sound

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop

    def num_frames(self, num_samples: int) -> int:
        """Whole frames in ``num_samples`` samples (a trailing partial frame is dropped)."""
        return 0 if num_samples < self.frame_length else 1 + (num_samples - self.frame_length) // self.hop

    def frame_times_s(self, count: int) -> np.ndarray:
        """Centre time (s) of frames ``0 … count-1`` from the start of the recording."""
        return (np.arange(count) * self.hop + self.frame_length / 2.0) / self.sample_rate

    @property
    def is_sensor_default(self) -> bool:
        """True when the images have the ACIVW layout (36 × 48 cells, 1024-sample frames at 12 288 Hz)."""
        return (self.rows, self.cols, self.frame_length, self.hop, self.sample_rate) == (
            GRID_ROWS,
            GRID_COLS,
            FRAME_LENGTH,
            FRAME_LENGTH,
            float(SENSOR_SAMPLE_RATE),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters, stored beside the images (positions included, so the file is complete)."""
        return {
            "sample_rate_hz": self.sample_rate,
            "frame_length": self.frame_length,
            "hop": self.hop,
            "n_fft": self.n_fft,
            "window": self.window,
            "grid": [self.rows, self.cols],
            "orientation": "stored: cell (0, 0) looks at the lower right of the video (rotated 180 deg)",
            "f_min_hz": self.f_min_hz,
            "f_max_hz": self.f_max_hz,
            "bins": list(self.bin_range),
            "bin_spacing_hz": self.sample_rate / self.n_fft,
            "mel_bands": self.band_note,
            "speed_of_sound_mps": self.speed_of_sound,
            "camera": {
                "width": self.camera.width,
                "height": self.camera.height,
                "fx": self.camera.focal_px,
                "fy": self.camera.focal_y_px,
                "cx": self.camera.principal_point[0],
                "cy": self.camera.principal_point[1],
            },
            "num_mics": self.geometry.num_mics,
            "dropped_mics": list(self.drop_mics),
            "mic_positions_m": self.geometry.positions.tolist(),
            "frame_times": "frame k (0-based) covers samples k*hop ... k*hop+frame_length-1",
        }
