"""Free-field sound propagation to the microphones: moving point sources and a diffuse noise field.

Point sources (:class:`PointSource`). Microphone ``m`` at position ``p_m`` receives at time ``t``

    x_m(t) = g · s(t − D_m(t)) / r_m,      D_m(t) = r_m / c,      r_m = |q(t − D_m(t)) − p_m|,

with ``s`` the source signal (pressure at 1 m), ``g`` its gain, ``q(τ)`` the source path and c = 343 m/s:
spherical spreading 1/r and the exact retarded (emission) time, so Doppler shifts and the direction the array
hears (where the source was when it emitted) come out of the physics. The emission time is solved by two
fixed-point iterations for a reference point, then a first-order correction with the source velocity for
each microphone (error below 0.01 sample for sources slower than 30 m/s).

The 128 signals are rendered in two steps, so that the per-sample work is done once, not per microphone:

1. **Centre signal.** ``c(t) = s(t − D_0(t))`` at the centroid of the array, on a grid of half samples.
   ``D_0`` is solved every ``DISTANCE_STEP`` = 8 samples and interpolated linearly (``step=1`` solves every
   sample; the path is smooth on that scale: below 0.002 sample more for the simulator's motions). The source
   signal is upsampled 8× once per clip by zero-padding its spectrum (ideal sinc interpolation of the signal
   as one period; the period is padded to a fast FFT length with its own periodic continuation) and read at
   the emission times with 4-point cubic Lagrange interpolation: below −90 dB up to 6.1 kHz. This step
   carries the Doppler shift, whatever the speed.
2. **Residual delays.** Microphone ``m`` hears the centre signal ``e_m`` samples later,

       x_m(t) = (g / r_m) · c(t − e_m),      e_m = (D_m − D_0) / (1 − dD_0/dt)

   (``t − e_m`` is the instant at which the centre heard what ``m`` hears at ``t``; the division is the
   Doppler compression of the centre signal, first order, error < 1e-4 sample). ``e_m`` is within the
   array's aperture (±9 samples for the default array) and changes slowly, so it is solved at knots every
   ``RESIDUAL_STEP`` = 64 samples. At a knot the delay is a fractional-delay FIR on the half-sample grid of
   ``c``: a Kaiser-windowed sinc (``FIR_TAPS`` = 16 taps, β = 12; −110 dB up to 6.1 kHz, the half-sample
   grid leaving a wide transition band), looked up in a table of ``FIR_TABLE`` fractions and interpolated
   linearly between them. Between knots ``k`` and ``k+1`` the output crossfades linearly, ``x = (1 − α) F_k
   c + α F_{k+1} c``; with ``T_k`` the Toeplitz matrix of ``c`` over the block (rows: the taps' offsets,
   columns: the block's samples) that is one matrix product per block,

       X_k [M, H] = [F_k  F_{k+1}] [M, 2R] @ [T_k (1 − α);  T_k α] [2R, H],

   ``R`` the rows spanned by all microphones' taps. The crossfade approximates the delay's linear motion
   between knots: for the fastest motions of the simulator (a train passing at 20 m/s, 11 m away, whose
   residual delays move 0.08 sample per knot) every microphone's every frame stays within −53 dB of
   per-sample interpolation (relative to the clip's RMS), −74 dB over the clip
   (``tests/simulate/test_fast_path.py`` holds that per-sample renderer). The products run at BLAS speed:
   ~3× less time than interpolating every microphone's samples.

Diffuse noise (:class:`DiffuseNoise`): ``DIFFUSE_DIRECTIONS`` independent plane waves arriving from directions
spread uniformly over the sphere (Fibonacci lattice, randomly rotated per video), each with a pink-ish
spectrum, summed with their exact per-microphone phase shifts. It is generated block-wise in the frequency
domain, twelve blocks at a time: a block is one period of ``1024 + DIFFUSE_OVERLAP`` samples (so a delay is
an exact circular shift, its wrap-around inside the overlap), the frame's 1024 samples plus an overlap that
crossfades into the next block with sine and cosine tapers (squares summing to one: the variance stays
constant). The result has the low-frequency coherence and high-frequency incoherence of a diffuse field, and
no dominant direction. Uncorrelated sensor self-noise is added by the scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import torch

from acoustic_ssl.data.layout import SAMPLES_PER_FRAME, SENSOR_SAMPLE_RATE

SPEED_OF_SOUND = 343.0  # m/s, the value the beamformer steers with
OVERSAMPLE = 8
DIFFUSE_DIRECTIONS = 16
DISTANCE_STEP = 8  # samples between exact solutions of the centre's emission time (linear in between)
RESIDUAL_STEP = 64  # samples between the knots of the per-microphone residual delays (crossfaded between)
FIR_TAPS, FIR_BETA, FIR_TABLE = 16, 12.0, 512  # fractional-delay filters on the half-sample grid
PERIODIC_PAD = 2048  # periodic continuation of a source signal on each side before its upsampling
FRAMES_PER_BATCH = 12  # diffuse-noise blocks drawn together
DIFFUSE_OVERLAP = 128  # samples over which successive diffuse-noise blocks crossfade
BIN_GROUP = 16  # diffuse-noise bins multiplied and transposed together
PHASOR_STEP = 32  # bins between exactly computed steering phasors (angle addition in between)
FS = float(SENSOR_SAMPLE_RATE)


@dataclass(frozen=True)
class Trajectory:
    """Source positions (K, 3) in the camera frame (m) at uniformly spaced knot times; linear in between."""

    start_s: float
    step_s: float
    positions: np.ndarray

    def at(self, t: np.ndarray) -> np.ndarray:
        """Positions (..., 3) at times ``t`` (s); clamped to the first/last knot outside the covered span."""
        u = np.clip(
            (np.asarray(t, dtype=np.float64) - self.start_s) / self.step_s, 0.0, len(self.positions) - 1.0
        )
        i = np.minimum(np.floor(u).astype(np.int64), len(self.positions) - 2)
        frac = (u - i)[..., None]
        return self.positions[i] * (1.0 - frac) + self.positions[i + 1] * frac

    def velocity(self, t: np.ndarray) -> np.ndarray:
        """Velocities (..., 3) in m/s (piecewise constant between knots)."""
        u = np.clip(
            (np.asarray(t, dtype=np.float64) - self.start_s) / self.step_s, 0.0, len(self.positions) - 1.0
        )
        i = np.minimum(np.floor(u).astype(np.int64), len(self.positions) - 2)
        return (self.positions[i + 1] - self.positions[i]) / self.step_s


def _fractional_delay_table() -> np.ndarray:
    """Kaiser-windowed sinc taps float32 (FIR_TABLE + 1, FIR_TAPS) for fractions ``μ = j / FIR_TABLE`` of
    a sample: tap ``i`` weighs sample ``i − FIR_TAPS/2 + 1`` to read the signal at ``μ``."""
    fraction = np.arange(FIR_TABLE + 1) / FIR_TABLE
    offset = np.arange(FIR_TAPS)[None, :] - (FIR_TAPS // 2 - 1) - fraction[:, None]
    window = np.i0(FIR_BETA * np.sqrt(np.clip(1.0 - (offset / (FIR_TAPS / 2)) ** 2, 0.0, None)))
    return (np.sinc(offset) * window / np.i0(FIR_BETA)).astype(np.float32)


_FIR = _fractional_delay_table()
_FIR_SLOPE = _FIR[1:] - _FIR[:-1]  # from one table entry to the next


def _lagrange(upsampled: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``upsampled`` read at fractional indices ``position`` (float64) by 4-point cubic Lagrange
    interpolation (taps at offsets −1, 0, 1, 2; np.take is faster than fancy indexing)."""
    floor = np.floor(position)
    mu = (position - floor).astype(np.float32)
    i = floor.astype(np.int64) - 1
    if i.min() < 0 or i.max() + 3 >= len(upsampled):
        raise ValueError("source signal too short for the requested samples and distances")
    taps = [np.take(upsampled, i + k) for k in range(4)]
    above, below, below2 = mu + 1.0, mu - 1.0, mu - 2.0  # products shared between the four weights
    low, high = below * below2, above * mu
    return (
        taps[0] * (-mu * low / 6.0)
        + taps[1] * (above * low / 2.0)
        + taps[2] * (-high * below2 / 2.0)
        + taps[3] * (high * below / 6.0)
    )


class PointSource:
    """A source signal on a trajectory, rendered frame by frame at every microphone (see module docstring).

    ``signal[j]`` is the source output at time ``(j − lead) / fs``: ``lead`` samples before t = 0 let the
    first frames hear sound emitted before the recording started (sound from 15 m away takes 44 ms to arrive).
    """

    def __init__(self, signal: np.ndarray, lead: int, trajectory: Trajectory, gain: float = 1.0) -> None:
        # The spectrum's zero-padding interpolates the signal as one period of a periodic one. An FFT length
        # with a large prime factor is ~20x slower, so the period is padded to a fast length with what the
        # periodic signal has there: its start after its end, its end before its start (the seam between
        # them, PERIODIC_PAD samples from the signal, rings below -65 dB of it).
        signal = np.asarray(signal, dtype=np.float32)  # float32 throughout: it is stored so
        n = scipy.fft.next_fast_len(len(signal) + 2 * PERIODIC_PAD, real=True)
        tail = n - len(signal) - PERIODIC_PAD
        after, before = np.resize(signal, PERIODIC_PAD), np.resize(signal[::-1], tail)[::-1]
        spectrum = scipy.fft.rfft(np.concatenate([signal, after, before])) * OVERSAMPLE
        if n % 2 == 0:  # the Nyquist bin stands for ±fs/2 both: half of it on each side of the wider band
            spectrum[-1] /= 2.0
        padded = np.zeros(n * OVERSAMPLE // 2 + 1, dtype=np.complex64)
        padded[: len(spectrum)] = spectrum
        self._upsampled = scipy.fft.irfft(padded, n * OVERSAMPLE)
        self.lead = lead
        self.trajectory = trajectory
        self.gain = gain

    def distances(self, mic_positions: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """Propagation distance (M, len(samples)) in metres of the sound each microphone hears at
        ``samples``."""
        t = samples / FS
        centre_time = t - np.linalg.norm(self.trajectory.at(t), axis=-1) / SPEED_OF_SOUND
        for _ in range(2):
            centre_time = t - np.linalg.norm(self.trajectory.at(centre_time), axis=-1) / SPEED_OF_SOUND
        position = self.trajectory.at(centre_time)  # (n, 3) where the source was when it emitted
        velocity = self.trajectory.velocity(centre_time)
        centre_sq = np.einsum("nk,nk->n", position, position)
        mic_sq = np.einsum("mk,mk->m", mic_positions, mic_positions)
        range0 = np.sqrt(
            np.maximum(centre_sq[None, :] - 2.0 * (mic_positions @ position.T) + mic_sq[:, None], 0.0)
        )
        # Mic m hears the source at its own emission time, earlier/later than the centre by `shift`; to first
        # order the range then changes by (unit offset · velocity) · shift.
        shift = (np.sqrt(centre_sq)[None, :] - range0) / SPEED_OF_SOUND  # (M, n) seconds
        radial = (np.einsum("nk,nk->n", position, velocity)[None, :] - mic_positions @ velocity.T) / range0
        return range0 + radial * shift

    def render(
        self,
        mic_positions: np.ndarray,
        first_sample: int,
        n: int = SAMPLES_PER_FRAME,
        step: int = DISTANCE_STEP,
    ) -> np.ndarray:
        """Pressure float32 (M, n) at the microphones for sensor samples ``first_sample … first_sample + n −
        1``."""
        hop, num_mics, to_samples = RESIDUAL_STEP, len(mic_positions), FS / SPEED_OF_SOUND
        blocks = -(-n // hop)
        knots = np.arange(blocks + 1) * hop  # frame-relative sample indices
        delays = self.distances(mic_positions, first_sample + knots) * to_samples  # D_m (M, blocks + 1)
        # D_0 every `step` samples (whole multiples of it: the same grid whatever frames a call renders), as
        # far beyond the knots as the FIR taps of the farthest residual reach.
        reach = int(np.ceil(np.abs(delays - delays.mean(axis=0)).max())) + FIR_TAPS // 2 + 8
        lowest = (first_sample - reach - step) // step * step - first_sample
        fine = np.arange(lowest, knots[-1] + reach + 2 * step, step)
        centre = mic_positions.mean(axis=0, keepdims=True)
        centre_fine = self.distances(centre, first_sample + fine)[0] * to_samples
        # e_m = (D_m − D_0) / (1 − dD_0/dt), D_0 and its slope as the centre signal's interpolation has them.
        slope = np.interp(knots, fine[:-1] + step / 2.0, np.diff(centre_fine) / step)
        residual = (delays - np.interp(knots, fine, centre_fine)) / (1.0 - slope)
        left, low = _crossfaded_filters(-2.0 * residual, self.gain / (delays / to_samples))
        span = left.shape[2] // 2
        # The centre signal c on the half samples 2·first + low …: everything the blocks' Toeplitz rows read.
        half = (low + np.arange(2 * blocks * hop + span - 1)) / 2.0  # frame-relative times
        if half[0] < fine[0] or half[-1] > fine[-1]:
            raise AssertionError("the emission-time grid does not cover the residual delays")
        emitted = (half - np.interp(half, fine, centre_fine)) * OVERSAMPLE
        signal = _lagrange(self._upsampled, emitted + (first_sample + self.lead) * OVERSAMPLE)
        signal = np.ascontiguousarray(signal, dtype=np.float32)
        # T_k (row r, column j: c at half sample 2(k·hop + j) + low + r), times 1 − α and α.
        size = signal.itemsize
        toeplitz = np.lib.stride_tricks.as_strided(
            signal, (blocks, span, hop), (2 * hop * size, size, 2 * size), writeable=False
        )
        alpha = np.arange(hop, dtype=np.float32) / hop
        right = np.empty((blocks, 2 * span, hop), dtype=np.float32)
        np.multiply(toeplitz, 1.0 - alpha, out=right[:, :span])
        np.multiply(toeplitz, alpha, out=right[:, span:])
        out = np.empty((num_mics, blocks * hop), dtype=np.float32)
        np.matmul(left, right, out=out.reshape(num_mics, blocks, hop).transpose(1, 0, 2))
        return out[:, :n]


def _crossfaded_filters(read: np.ndarray, gain: np.ndarray) -> tuple[np.ndarray, int]:
    """The left factors ``[F_k  F_{k+1}]`` float32 (knots − 1, M, 2R) of every block and the row offset
    ``low`` of their first column, for read offsets ``read`` (M, knots) in half samples and gains (M, knots).

    Microphone ``m`` reads the centre signal at half sample ``2t + read = 2t + a + μ`` (``a`` integer, ``0 <=
    μ < 1``): its taps sit on rows ``a − FIR_TAPS/2 + 1 … a + FIR_TAPS/2`` relative to ``2t``; the ``R`` rows
    from ``low`` hold every microphone's taps at every knot of the call.
    """
    whole = np.floor(read.T)  # (knots, M) from here on
    fraction = (read.T - whole) * FIR_TABLE
    entry = np.minimum(fraction.astype(np.int64), FIR_TABLE - 1)
    taps = _FIR[entry]  # (knots, M, FIR_TAPS), linear between table entries, times the gain
    taps += _FIR_SLOPE[entry] * (fraction - entry).astype(np.float32)[..., None]
    taps *= gain.T.astype(np.float32)[..., None]
    offset = whole.astype(np.int64)
    lowest = int(offset.min())
    offset -= lowest
    span = int(offset.max()) + FIR_TAPS
    knots, num_mics = offset.shape
    left = np.zeros((knots - 1, num_mics, 2 * span), dtype=np.float32)
    # windows[k, m, o] is left[k, m, o : o + FIR_TAPS]: each microphone's taps go in at its offset, knot k's
    # into block k's first half (F_k) and block k − 1's second half (F_{k+1} of that block).
    shape, strides = (*left.shape[:2], 2 * span - FIR_TAPS + 1, FIR_TAPS), (*left.strides, left.strides[-1])
    windows = np.lib.stride_tricks.as_strided(left, shape, strides)
    block, mic = np.arange(knots - 1)[:, None], np.arange(num_mics)
    windows[block, mic, offset[:-1]] = taps[:-1]
    windows[block, mic, offset[1:] + span] = taps[1:]
    return left, lowest - (FIR_TAPS // 2 - 1)


def _phasors(bins: int, spacing_hz: float, lead: np.ndarray) -> np.ndarray:
    """``exp(2πj f_k τ)`` complex64 (bins, M, D) at ``f_k = k · spacing_hz``: exact phases (float64, reduced
    modulo a cycle) at every ``PHASOR_STEP``-th bin and for the rotations by ``j · spacing_hz``, ``j <
    PHASOR_STEP``; a bin in between is the product of its anchor and its rotation (error ~1e-7 rad, a fifth
    of the time of a sine and a cosine per element)."""

    def exact(steps: np.ndarray) -> np.ndarray:
        phase = 2.0 * np.pi * np.modf(steps[:, None, None] * (spacing_hz * lead)[None])[0]
        return (np.cos(phase) + 1j * np.sin(phase)).astype(np.complex64)

    anchors = exact(np.arange(0, bins, PHASOR_STEP, dtype=np.float64))
    rotations = exact(np.arange(PHASOR_STEP, dtype=np.float64))
    return (anchors[:, None] * rotations[None]).reshape(-1, *lead.shape)[:bins]


def fibonacci_sphere(count: int) -> np.ndarray:
    """``count`` unit vectors spread evenly over the sphere."""
    k = np.arange(count) + 0.5
    z = 1.0 - 2.0 * k / count
    phi = np.pi * (1.0 + 5**0.5) * k
    radius = np.sqrt(1.0 - z**2)
    return np.stack([radius * np.cos(phi), radius * np.sin(phi), z], axis=1)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation matrix (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


class DiffuseNoise:
    """Spatially diffuse noise at the microphones, standard deviation ``std`` per microphone (scaled in the
    spectra: no pass over the frames), one frame at a time."""

    block = SAMPLES_PER_FRAME + DIFFUSE_OVERLAP

    def __init__(
        self,
        mic_positions: np.ndarray,
        rng: np.random.Generator,
        tilt_db_per_octave: float = -3.0,
        std: float = 1.0,
    ) -> None:
        directions = fibonacci_sphere(DIFFUSE_DIRECTIONS) @ random_rotation(rng).T
        self._white = torch.Generator().manual_seed(int(rng.integers(2**62)))  # torch: half NumPy's cost
        freqs = np.fft.rfftfreq(self.block, 1.0 / FS)
        lead = mic_positions @ directions.T / SPEED_OF_SOUND  # (M, D): how much earlier than the origin
        self._steering = _phasors(len(freqs), freqs[1], lead)  # (K, M, D)
        shape = (np.maximum(freqs, 100.0) / 100.0) ** (tilt_db_per_octave / 6.0206)
        shape[freqs < 20.0] = 0.0
        # Parseval: normalise so that the sum of the plane waves has variance std² in the time domain.
        power = (shape[0] ** 2 + 2.0 * np.sum(shape[1:-1] ** 2) + shape[-1] ** 2) / self.block
        self._shape = (shape * (std / np.sqrt(power * DIFFUSE_DIRECTIONS))).astype(np.float32)
        taper = (np.arange(DIFFUSE_OVERLAP) + 0.5) * (np.pi / 2.0 / DIFFUSE_OVERLAP)
        self._window = np.ones(self.block, dtype=np.float32)
        self._window[:DIFFUSE_OVERLAP], self._window[SAMPLES_PER_FRAME:] = np.sin(taper), np.cos(taper)
        self._queue: list[np.ndarray] = []
        self._carry = self._new_blocks(1)[0, :, SAMPLES_PER_FRAME:]

    def _new_blocks(self, count: int) -> np.ndarray:
        """``count`` tapered blocks (count, M, block), drawn together: one product per bin, the bins in
        groups whose transpose to blocks-first stays in cache, then one inverse FFT of contiguous rows."""
        white = torch.randn((count, DIFFUSE_DIRECTIONS, self.block), generator=self._white).numpy()
        spectra = (scipy.fft.rfft(white, axis=-1) * self._shape).transpose(2, 1, 0)  # (K, D, count) complex64
        bins, num_mics = self._steering.shape[:2]
        at_mics = np.empty((count, num_mics, bins), dtype=np.complex64)
        for start in range(0, bins, BIN_GROUP):
            product = np.matmul(self._steering[start : start + BIN_GROUP], spectra[start : start + BIN_GROUP])
            at_mics[:, :, start : start + BIN_GROUP] = product.transpose(2, 1, 0)
        blocks = scipy.fft.irfft(at_mics, self.block, axis=-1)
        blocks *= self._window
        return blocks

    def next_frame(self) -> np.ndarray:
        """The next (M, 1024) frame of diffuse noise: a block's first 1024 samples, the previous block's
        overlap added to their start."""
        if not self._queue:
            self._queue = list(self._new_blocks(FRAMES_PER_BATCH))[::-1]
        block = self._queue.pop()
        frame = block[:, :SAMPLES_PER_FRAME].copy()
        frame[:, :DIFFUSE_OVERLAP] += self._carry
        self._carry = block[:, SAMPLES_PER_FRAME:]
        return frame
