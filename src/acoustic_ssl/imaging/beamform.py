"""Frequency-domain delay-and-sum beamforming of multichannel frames into acoustic images (36 × 48 by
default).

Model: far field, plane waves. A source in unit direction ``u`` (camera frame, see ``geometry``) reaches
microphone ``m`` at position ``p_m`` earlier than the origin by ``τ_m(u) = p_m · u / c``, so its spectrum
there is ``S(f) · exp(+2πj f τ_m)`` (numpy's FFT sign). Steering towards ``u`` undoes that delay and
averages::

    Y(f, u) = (1 / M) Σ_m exp(-2πj f τ_m(u)) · X_m(f),        P(f, u) = |Y(f, u)|²

with ``X_m`` the rFFT (``n_fft`` points, no scaling; 1024 by default) of microphone ``m``'s frame, multiplied
first by a periodic Hann window of the frame length unless ``window=None``. ``P`` is therefore ``|Σ w x|² /
M²`` (``M`` the microphones not dropped): a source of spectrum ``S`` seen from its own direction gives
``|S|²`` whatever the number of microphones. The bins of the setup's band are kept (by default ``0 … 511``:
the Nyquist bin is dropped, matching the 512 bins per pixel of the dataset); :meth:`Beamformer.images`
compresses them to 12 MFCC per pixel with :mod:`acoustic_ssl.imaging.mfcc`. Every parameter lives in one
:class:`~acoustic_ssl.imaging.setup.ImagingSetup`.

The steps are separate methods so that another backend (a GPU one) can reuse or replace each: steering
(:meth:`Beamformer.steering_chunk`), windowed spectra (:meth:`Beamformer.spectra`), beam power per chunk of
bins (:meth:`Beamformer.chunk_power`), and the mel/MFCC reduction (:meth:`Beamformer.mel_energies`,
:meth:`Beamformer.images`).

Speed. Per bin this is a matrix product ``W_f [D, M] @ X_f [M, F]`` (D directions, 1728 by default, F frames).
The steering is precomputed once as real float32 blocks ``A = cos φ`` and ``B = sin φ`` (φ = −2π f τ) and each
chunk of bins runs two real batched matmuls, ``P = A @ [U, V] = [AU, AV]`` and ``Q = B @ [V, U] = [BV, BU]``
(``X = U + jV``): ``Re Y = AU − BV`` and ``Im Y = AV + BU`` are halves of ``P − Q`` and ``P + Q``, and the
power is the sum of their squares. Two exact symmetries shrink the work when they hold (both do for the
default camera and spiral array):

* grid: with the principal point at the image centre and the array in the z = 0 plane, the direction
  ``d`` and its 180° mirror have opposite delays, so ``W_mirror = conj(W)``: the same two products with the
  sign of the B terms flipped give the mirror's ``Y``, and only half the directions are stored;
* array: if every microphone ``m`` has a partner ``m'`` at ``−p_m`` (point-symmetric array; the 8-arm spiral
  is), ``W_m' = conj(W_m)`` and the sum folds onto the M/2 pairs: ``Y = A (X_m + X_m') + j B (X_m − X_m')``,
  i.e. ``[U_a, V_a]`` are the real/imaginary parts of the pair sums and ``[U_b, V_b]`` of the pair
  differences (otherwise both are ``[Re X, Im X]``).

Together they divide the ~11 GFLOP per second of audio of the plain complex product by four and the steering
memory to 226 MB (453 MB without the array symmetry) for the default setup. ``cache_steering=False``
recomputes the steering per chunk instead (little memory, slower). :func:`direct_power` is the plain float64
implementation the fast path is tested against.

Devices. Every step is torch, so ``Beamformer(setup, device="cuda")`` holds the steering on the GPU and runs
the FFT, the per-bin products (all frames of a batch in one matmul per bin), the mel bank and the MFCC
there; only the frames go in and the 12 coefficients per cell come out. Only the work sizes differ
(``tuning``): small chunks that stay in a CPU's caches, or large products for an accelerator. On CUDA the
products are kept in full float32 even when training enabled TF32 (:func:`ieee_float32_matmul`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch

from acoustic_ssl.errors import DataError
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
from acoustic_ssl.imaging.mfcc import (
    MEL_FLOOR,
    N_MELS,
    N_MFCC,
    dct_matrix,
    lifter_weights,
    mel_energies_to_mfcc,
)
from acoustic_ssl.imaging.setup import SPEED_OF_SOUND, ImagingSetup

__all__ = ["SPEED_OF_SOUND", "Beamformer", "analysis_window", "direct_power", "point_symmetric_pairs"]

STEERING_CACHE_BYTES = 2**30  # steering larger than this is recomputed per chunk unless asked otherwise
CPU_FRAME_BATCH, DEVICE_FRAME_BATCH = 48, 256  # default frames per batch on the CPU and on accelerators
DEVICE_CHUNK_BYTES = 256 * 2**20  # matmul products per chunk of bins on an accelerator
STEERING_STEP = 32  # bins between exact steering phases (angle addition in between)
SQUARE_STEP = 2  # bins whose squares are formed and reduced together on the CPU (they stay in cache)
PAIR_TOLERANCE_M = 1e-9  # partners must mirror each other this closely (phase error < 1e-7 rad at 6 kHz)


def analysis_window(name: str | None, length: int) -> np.ndarray:
    """The per-frame window: periodic Hann (DFT-even) for ``"hann"``, all ones for ``None``."""
    if name is None:
        return np.ones(length)
    if name == "hann":
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)
    raise ValueError(f"unknown window {name!r}; use 'hann' or None")


def _check_frames(frames: np.ndarray | torch.Tensor, setup: ImagingSetup) -> np.ndarray | torch.Tensor:
    """Frames as (F, all microphones, frame_length) minus the dropped channels; arrays stay arrays and
    tensors stay tensors (on their device)."""
    array = frames if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.ndim == 2:
        array = array[None]
    expected = (setup.geometry.num_mics, setup.frame_length)
    if array.ndim != 3 or tuple(array.shape[1:]) != expected:
        raise DataError(f"frames must be (frames, {expected[0]}, {expected[1]}), got {tuple(array.shape)}")
    if not setup.drop_mics:
        return array
    if isinstance(array, torch.Tensor):
        return array[:, torch.from_numpy(setup.active_mics).to(array.device)]
    return array[:, setup.active_mics]


def direct_power(frames: np.ndarray, setup: ImagingSetup) -> np.ndarray:
    """Reference float64 delay-and-sum power (F, rows, cols, bins), one complex steering per bin.

    Parameters
    ----------
    frames : array_like, shape (F, M, frame_length) or (M, frame_length)
        Samples of every microphone of ``setup.geometry`` (dropped ones are ignored).
    setup : ImagingSetup

    Returns
    -------
    numpy.ndarray, float64, shape (F, rows, cols, setup.num_bins)
        ``|Y|²`` in squared sample units, stored orientation.

    Examples
    --------
    >>> from acoustic_ssl.imaging.geometry import ArrayGeometry
    >>> setup = ImagingSetup(ArrayGeometry.default(), rows=3, cols=4)
    >>> direct_power(np.zeros((128, 1024)), setup).shape
    (1, 3, 4, 512)
    """
    checked = _check_frames(frames, setup)
    if isinstance(checked, torch.Tensor):
        checked = checked.detach().cpu().numpy()
    frames = checked.astype(np.float64)
    first, stop = setup.bin_range
    windowed = frames * analysis_window(setup.window, setup.frame_length)
    spectra = np.fft.rfft(windowed, n=setup.n_fft, axis=-1)[..., first:stop]
    delays = setup.steering_delays()
    power = np.empty((len(frames), setup.rows * setup.cols, setup.num_bins))
    for j, freq in enumerate(setup.frequencies_hz):
        steering = np.exp(-2j * np.pi * freq * delays)  # (D, M)
        beam = np.einsum("dm,fm->fd", steering, spectra[:, :, j]) / setup.num_active_mics
        power[:, :, j] = beam.real**2 + beam.imag**2
    return power.reshape(len(frames), setup.rows, setup.cols, setup.num_bins)


def point_symmetric_pairs(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Indices ``(first, second)`` with ``p[second] = −p[first]`` pairing every microphone once, or None."""
    num_mics = len(positions)
    if num_mics % 2:
        return None
    distance = np.linalg.norm(positions[:, None, :] + positions[None, :, :], axis=-1)
    partner = distance.argmin(axis=1)
    if (distance[np.arange(num_mics), partner] > PAIR_TOLERANCE_M).any():
        return None
    if (partner == np.arange(num_mics)).any() or (partner[partner] != np.arange(num_mics)).any():
        return None
    first = np.flatnonzero(np.arange(num_mics) < partner)
    return first, partner[first]


class Beamformer:
    """Fast float32 delay-and-sum acoustic imaging for one :class:`~acoustic_ssl.imaging.setup.ImagingSetup`,
    on the CPU or on any torch device.

    Parameters
    ----------
    setup : ImagingSetup or ArrayGeometry
        Every imaging parameter; an :class:`ArrayGeometry` alone means the ACIVW defaults for that array.
    cache_steering : bool, optional
        Precompute the steering once (fast; 226 MB for the default setup, see :attr:`steering_bytes`), or
        recompute it per chunk of bins (little memory, slower); by default cached up to 1 GiB.
    frame_batch : int, optional
        Frames transformed together (memory grows linearly with it); default 48 on the CPU, 256 on an
        accelerator (whose kernels want large products).
    device : str or torch.device
        Where the steering is cached and every step runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...;
        :func:`acoustic_ssl.device.pick_device` turns ``auto`` into one). NumPy frames are copied there and
        the results copied back as NumPy arrays; tensors stay on the device: frames given as a tensor give
        tensors on ``device``.
    tuning : {"cpu", "accelerator"}, optional
        Work sizes for a CPU's caches (48 frames, 16 bins per product, NumPy's transposes) or for an
        accelerator's large kernels (256 frames, products of up to 256 MiB); by default the device's. The
        results are the same either way (``"accelerator"`` on the CPU is how the GPU code is tested).

    Examples
    --------
    A plane wave from the direction of video pixel (400, 150) peaks in the stored cell of that pixel:

    >>> import numpy as np
    >>> from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
    >>> setup = ImagingSetup(ArrayGeometry.default(), rows=9, cols=12)
    >>> direction = setup.camera.pixel_rays(400.0, 150.0)
    >>> lead = setup.geometry.positions @ direction / setup.speed_of_sound  # s, per microphone
    >>> t = np.arange(1024) / setup.sample_rate
    >>> frames = np.cos(2 * np.pi * 3000.0 * (t[None, :] + lead[:, None]))  # (128, 1024): 3 kHz tone
    >>> beamformer = Beamformer(setup)
    >>> power = beamformer.power(frames)  # (1, rows, cols, bins), squared sample units
    >>> power.shape, float(setup.frequencies_hz[250])
    ((1, 9, 12, 512), 3000.0)
    >>> peak = np.unravel_index(power[0, :, :, 250].argmax(), (9, 12))
    >>> [int(i) for i in peak] == [int(i) for i in setup.camera.pixel_to_cell(400.0, 150.0, 9, 12)]
    True
    >>> beamformer.images(frames).shape  # 12 MFCC per cell, as the dataset's Data_%d.mat
    (1, 9, 12, 12)
    >>> import torch
    >>> beamformer.images(torch.from_numpy(frames)).dtype  # tensors in, tensors out (on the device)
    torch.float32
    """

    def __init__(
        self,
        setup: ImagingSetup | ArrayGeometry,
        cache_steering: bool | None = None,
        frame_batch: int | None = None,
        device: str | torch.device = "cpu",
        tuning: str | None = None,
    ) -> None:
        if isinstance(setup, ArrayGeometry):
            setup = ImagingSetup(setup)
        self.setup = setup
        self.device = torch.device(device)
        self.tuning = tuning or ("cpu" if self.device.type == "cpu" else "accelerator")
        if self.tuning not in ("cpu", "accelerator"):
            raise ValueError(f"unknown tuning {tuning!r}; use 'cpu' or 'accelerator'")
        on_cpu = self.tuning == "cpu"
        self.frame_batch = frame_batch or (CPU_FRAME_BATCH if on_cpu else DEVICE_FRAME_BATCH)
        self.n_bins = setup.num_bins
        self._first_bin = setup.bin_range[0]
        scaled_window = analysis_window(setup.window, setup.frame_length) / setup.num_active_mics  # the 1/M
        self._window = torch.from_numpy(scaled_window.astype(np.float32)).to(self.device)
        self._mel_bank = torch.from_numpy(setup.mel_bank.astype(np.float32)).to(self.device)
        self._dct = torch.from_numpy(np.array(dct_matrix())).to(self.device)  # float64 (12, 24)
        self._lifter = torch.from_numpy(np.array(lifter_weights())).to(self.device)[:, None]

        delays = setup.steering_delays()
        num_dirs = len(delays)
        self.symmetric = num_dirs % 2 == 0 and np.allclose(
            delays[::-1], -delays, rtol=0.0, atol=1e-9 * max(np.abs(delays).max(), 1e-12)
        )
        self.mic_pairs = point_symmetric_pairs(setup.active_geometry.positions)
        self._pairs: list[torch.Tensor | slice] | None = None
        if self.mic_pairs is not None:  # the spiral's pairs are runs of microphones: sliced, not copied
            self._pairs = [_index(i, self.device) for i in self.mic_pairs]
        kept_delays = delays[: num_dirs // 2] if self.symmetric else delays
        if self.mic_pairs is not None:
            kept_delays = kept_delays[:, self.mic_pairs[0]]
        self._kept_delays = torch.from_numpy(np.ascontiguousarray(kept_delays)).to(self.device)  # (D', M')
        self._steering: torch.Tensor | None = None
        self._rotations: torch.Tensor | None = None  # cos, sin of −2π j Δf τ, j < STEERING_STEP (on demand)
        if cache_steering is None:
            cache_steering = 2 * self.n_bins * self._kept_delays.numel() * 4 <= STEERING_CACHE_BYTES
        if cache_steering:
            self._steering = torch.empty(2, self.n_bins, *self._kept_delays.shape, device=self.device)
            self.steering_chunk(0, self.n_bins, out=self._steering)
            self._rotations = None  # only needed to build the cache

    # Shorthands for the setup's most used fields.
    @property
    def geometry(self) -> ArrayGeometry:
        return self.setup.geometry

    @property
    def camera(self) -> PinholeCamera:
        return self.setup.camera

    @property
    def rows(self) -> int:
        return self.setup.rows

    @property
    def cols(self) -> int:
        return self.setup.cols

    @property
    def sample_rate(self) -> float:
        return self.setup.sample_rate

    def _bin_chunk(self, num_frames: int) -> int:
        """Bins per pair of matmuls. On the CPU 16 (~2 MB per work tensor of :meth:`_squared_chunks` for
        12 frames keeps the elementwise passes in cache); elsewhere as many as fit ``DEVICE_CHUNK_BYTES`` of
        products (few, large kernels)."""
        if self.tuning == "cpu":
            return 16
        per_bin = 2 * len(self._kept_delays) * 2 * num_frames * 4
        return max(1, min(self.n_bins, DEVICE_CHUNK_BYTES // per_bin))

    def _filters_touching(self, start: int, stop: int) -> tuple[int, int]:
        """Row range [low, high) of the mel filters with weight on bins [start, stop) (may be empty)."""
        rows = np.flatnonzero(self.setup.mel_bank[:, start:stop].any(axis=1))
        return (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, 0)

    @property
    def steering_bytes(self) -> int:
        """Memory held by the precomputed steering matrices on :attr:`device` (0 with
        ``cache_steering=False``)."""
        return 0 if self._steering is None else self._steering.numel() * self._steering.element_size()

    def steering_chunk(self, start: int, stop: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """Real steering [2, stop-start, D', M'] float32 of kept bins ``start … stop-1``: ``cos φ`` then ``sin
        φ``, φ = −2π f τ.

        Every ``STEERING_STEP``-th kept bin gets exact phases (:meth:`_phases`); the bins after it add the
        rotation ``−2π j Δf τ`` (``Δf`` the bin spacing, ``j < STEERING_STEP``, exact the same way) by angle
        addition, ``cos(a + r) = cos a cos r − sin a sin r`` and ``sin(a + r) = sin a cos r + cos a sin r``:
        four products per element instead of a sine and a cosine, error ~3e-7 rad. The anchors are fixed
        bins, so every chunking gives the same values."""
        if out is None:
            out = torch.empty(2, stop - start, *self._kept_delays.shape, device=self.device)
        if self._rotations is None:
            steps = torch.arange(STEERING_STEP, dtype=torch.float64, device=self.device)
            self._rotations = self._phases(steps)
        for anchor in range(start - start % STEERING_STEP, stop, STEERING_STEP):
            first, last = max(anchor, start), min(anchor + STEERING_STEP, stop)
            base = self._phases(torch.tensor([float(self._first_bin + anchor)], device=self.device))[:, 0]
            cos_r, sin_r = self._rotations[:, first - anchor : last - anchor]
            cos_out, sin_out = out[0, first - start : last - start], out[1, first - start : last - start]
            torch.mul(cos_r, base[0], out=cos_out).addcmul_(sin_r, base[1], value=-1.0)
            torch.mul(cos_r, base[1], out=sin_out).addcmul_(sin_r, base[0])
        return out

    def _phases(self, bins: torch.Tensor) -> torch.Tensor:
        """``cos φ`` and ``sin φ`` [2, len(bins), D', M'] float32 of φ = −2π f τ at (float64) FFT bin numbers
        ``bins``: ``f τ`` is formed in float64 and reduced modulo one cycle before the float32 sin/cos, so the
        phase error stays ~1e-7 rad although ``2π f τ`` reaches ~40 rad at the top bins."""
        freqs = bins.to(torch.float64) * (self.setup.sample_rate / self.setup.n_fft)
        cycles = (freqs[:, None, None] * self._kept_delays[None]).frac_()
        phase = cycles.to(torch.float32).mul_(-2.0 * math.pi)
        return torch.stack([torch.cos(phase), torch.sin(phase)])

    def _signal(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Frames (F, active mics, frame_length) as float32 on :attr:`device` (NumPy input is narrowed to
        32 bits before the copy, so no more than 4 bytes per sample cross the bus)."""
        if isinstance(frames, torch.Tensor):
            return frames.to(self.device, torch.float32)
        array = np.asarray(frames)
        if array.dtype.itemsize > 4 or array.dtype.kind not in "fi":
            array = array.astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device).to(torch.float32)

    def spectra(self, frames: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-hand sides ``[U_a, V_a]`` and ``[V_b, U_b]``, each [bins, M', 2F] float32 on the device
        (see the module docstring), of frames (F, active mics, frame_length): spectra ``X / M`` per bin,
        folded onto mic pairs when the array is point-symmetric (the FFT is linear, so the pair sums and
        differences are formed on the samples, and windowed after)."""
        signal = self._signal(frames)
        if self._pairs is None:
            folded = (signal * self._window)[:, None]  # (F, 1, M, N), window / M folded in
        else:
            first, second = signal[:, self._pairs[0]], signal[:, self._pairs[1]]
            folded = torch.empty(len(signal), 2, *first.shape[1:], device=self.device)  # (F, 2, M/2, N)
            torch.add(first, second, out=folded[:, 0])
            torch.sub(first, second, out=folded[:, 1])
            folded.mul_(self._window)
        n_fft = self.setup.n_fft
        spectrum = torch.fft.rfft(folded, n=None if n_fft == self.setup.frame_length else n_fft, dim=-1)
        spectrum = torch.view_as_real(spectrum[..., self._first_bin : self._first_bin + self.n_bins])
        if self.tuning == "cpu":  # (K, G, M', 2, F); numpy's strided copy beats torch's here
            bins_first = torch.from_numpy(np.ascontiguousarray(spectrum.numpy().transpose(3, 1, 2, 4, 0)))
        else:
            bins_first = spectrum.permute(3, 1, 2, 4, 0).contiguous()
        swapped = bins_first[:, -1].flip(2)  # [V_b, U_b]: the products' halves line up (_squared_chunks)
        return bins_first[:, 0].flatten(2), swapped.flatten(2)

    def _squared_chunks(
        self, spectra: tuple[torch.Tensor, torch.Tensor]
    ) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
        """Yield ``(start, stop, s², d²)`` per chunk of kept bins, each [stop-start, D', 2F] (first F columns
        from real parts, last F from imaginary parts): ``s = P + Q`` and ``d = P − Q`` of the products ``P = A
        @ [U_a, V_a] = [AU_a, AV_a]`` and ``Q = B @ [V_b, U_b] = [BV_b, BU_b]``.

        As ``Re Y = AU_a − BV_b`` and ``Im Y = AV_a + BU_b``, the kept directions' power is ``d_re² +
        s_im²``; their mirrors (conjugate steering: the B terms change sign) have ``s_re² + d_im²``. On the
        CPU the squares come ``SQUARE_STEP`` bins at a time after each chunk's products, so that the caller
        reduces them while they are in cache. The tensors are reused from one chunk to the next."""
        rhs_a, rhs_b = spectra
        chunk = self._bin_chunk(rhs_a.shape[2] // 2)
        step = SQUARE_STEP if self.tuning == "cpu" else chunk
        shape = (chunk, len(self._kept_delays), rhs_a.shape[2])
        p, q = torch.empty(shape, device=self.device), torch.empty(shape, device=self.device)
        total = torch.empty(min(step, chunk), *shape[1:], device=self.device)
        for start in range(0, self.n_bins, chunk):
            stop = min(start + chunk, self.n_bins)
            if self._steering is not None:
                steering = self._steering[:, start:stop]
            else:
                steering = self.steering_chunk(start, stop)
            torch.matmul(steering[0], rhs_a[start:stop], out=p[: stop - start])
            torch.matmul(steering[1], rhs_b[start:stop], out=q[: stop - start])
            for first in range(start, stop, step):  # a few bins at a time, used while in cache
                last = min(first + step, stop)
                p_part, q_part = p[first - start : last - start], q[first - start : last - start]
                s = torch.add(p_part, q_part, out=total[: last - first])
                yield first, last, s.square_(), p_part.sub_(q_part).square_()

    def chunk_power(
        self, spectra: tuple[torch.Tensor, torch.Tensor]
    ) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor | None]]:
        """Yield ``(start, stop, P, P_mirror)`` per chunk of kept bins, each [stop-start, D', F]: the power of
        the kept directions and, on a symmetric grid, of their 180° mirrors (else None); from
        :meth:`_squared_chunks`."""
        for start, stop, total, difference in self._squared_chunks(spectra):
            frames = total.shape[2] // 2
            power = difference[..., :frames] + total[..., frames:]
            mirror = total[..., :frames] + difference[..., frames:] if self.symmetric else None
            yield start, stop, power, mirror

    def _batches(self, frames: np.ndarray | torch.Tensor) -> list[np.ndarray | torch.Tensor]:
        array = _check_frames(frames, self.setup)
        return [array[i : i + self.frame_batch] for i in range(0, len(array), self.frame_batch)]

    def _power_tensor(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Power float32 (F, rows·cols, bins) on the device."""
        batches = self._batches(frames)
        count = sum(len(b) for b in batches)
        out = torch.empty(count, self.rows * self.cols, self.n_bins, device=self.device)
        kept = len(self._kept_delays)
        first = 0
        with ieee_float32_matmul(self.device):
            for batch in batches:
                bins_first = out[first : first + len(batch)].permute(2, 1, 0)  # (K, D, F) view
                first += len(batch)
                for start, stop, power, mirror in self.chunk_power(self.spectra(batch)):
                    bins_first[start:stop, :kept] = power
                    if mirror is not None:
                        bins_first[start:stop, kept:] = mirror.flip(1)
        return out

    def _band_energies(self, batch: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Mel energies float32 (24, rows·cols, F), bands first, on the device of one batch of frames: the
        filterbank applied to ``s²`` and ``d²`` (:meth:`_squared_chunks`) chunk by chunk, only the filters
        overlapping the chunk, and the halves combined once at the end."""
        count, kept = len(batch), len(self._kept_delays)
        mel = torch.zeros(2, N_MELS, kept, 2 * count, device=self.device)  # of s², of d²
        for start, stop, total, difference in self._squared_chunks(self.spectra(batch)):
            low, high = self._filters_touching(start, stop)
            if low == high:  # no band over these bins
                continue
            bank = self._mel_bank[low:high, start:stop]
            mel[0, low:high].view(high - low, -1).addmm_(bank, total.view(stop - start, -1))
            mel[1, low:high].view(high - low, -1).addmm_(bank, difference.view(stop - start, -1))
        total, difference = mel
        power = difference[..., :count] + total[..., count:]
        if self.symmetric:
            mirror = total[..., :count] + difference[..., count:]
            power = torch.cat([power, mirror.flip(1)], dim=1)
        return power

    def _mel_tensor(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Mel energies float64 (F, rows, cols, 24) on the device."""
        with ieee_float32_matmul(self.device):
            outputs = [
                self._band_energies(batch).to(torch.float64).view(N_MELS, self.rows, self.cols, -1)
                for batch in self._batches(frames)
            ]
        if not outputs:
            return torch.zeros(0, self.rows, self.cols, N_MELS, dtype=torch.float64, device=self.device)
        return torch.cat(outputs, dim=3).permute(3, 1, 2, 0)

    def power(self, frames: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Beamformed power float32 (F, rows, cols, bins) of frames (F, M, frame_length) (or (M,
        frame_length)), in squared sample units, stored orientation (a tensor on the device for tensor
        frames)."""
        power = self._power_tensor(frames).view(-1, self.rows, self.cols, self.n_bins)
        return power if isinstance(frames, torch.Tensor) else power.cpu().numpy()

    def mel_energies(self, frames: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Mel-band energies float64 (F, rows, cols, 24) of the beamformed power, without materialising it:
        the filterbank is applied per chunk of bins, only to the few filters overlapping the chunk."""
        mel = self._mel_tensor(frames)
        return mel if isinstance(frames, torch.Tensor) else mel.cpu().numpy()

    def power_to_mfcc(self, power: np.ndarray) -> np.ndarray:
        """MFCC float32 (..., 12) of beamformed power (..., bins) of this setup (the reference recipe)."""
        mel = np.asarray(power).astype(np.float64, copy=False) @ self.setup.mel_bank.T
        return mel_energies_to_mfcc(mel).astype(np.float32)

    def images(self, frames: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """MFCC acoustic images float32 (F, rows, cols, 12), stored orientation, as in ``Data_%d.mat`` (the
        MFCC is taken on the device; a tensor there for tensor frames)."""
        with ieee_float32_matmul(self.device):
            batches = [self._mfcc(self._band_energies(batch)) for batch in self._batches(frames)]
        images = torch.cat(batches) if batches else torch.zeros(0, self.rows, self.cols, N_MFCC)
        return images if isinstance(frames, torch.Tensor) else images.cpu().numpy()

    def _mfcc(self, mel: torch.Tensor) -> torch.Tensor:
        """MFCC float32 (F, rows, cols, 12) of bands-first mel energies (24, rows·cols, F): the recipe of
        :func:`~acoustic_ssl.imaging.mfcc.mel_energies_to_mfcc` (float64 floor, log, DCT, lifter) with the
        DCT applied on the left, so the 24 bands are never transposed."""
        log_mel = mel.to(torch.float64).clamp_(min=MEL_FLOOR).log_().view(N_MELS, -1)
        mfcc = (self._dct @ log_mel).mul_(self._lifter).to(torch.float32)  # (12, rows·cols·F)
        return mfcc.view(N_MFCC, self.rows, self.cols, -1).permute(3, 1, 2, 0).contiguous()


def _index(indices: np.ndarray, device: torch.device) -> torch.Tensor | slice:
    """A slice for a run of consecutive indices (a view, no copy), else the indices on ``device``."""
    if len(indices) and (np.diff(indices) == 1).all():
        return slice(int(indices[0]), int(indices[-1]) + 1)
    return torch.from_numpy(indices).to(device)


@contextlib.contextmanager
def ieee_float32_matmul(device: torch.device) -> Iterator[None]:
    """Full float32 matrix products on CUDA within the block: training enables TF32 (10-bit mantissa,
    ~1e-3 relative error), which the 1e-4 precision of the images cannot afford."""
    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
