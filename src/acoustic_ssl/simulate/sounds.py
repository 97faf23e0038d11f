"""Synthetic but characteristic source signals for the 10 ACIVW classes, at the sensor rate (12 288 Hz).

Each class has a small physical recipe (harmonic stacks of rotating machines, impact trains, shaped noise)
whose parameters are drawn per video from the caller's generator, so two videos of a class sound alike but
not identical, and some classes deliberately overlap (drone/razor/drill are all harmonic stacks with different
fundamentals and jitter; hair dryer/hoover are both fan noise plus a whine; train/cart/fountain all mix
impulses with noise). A mono-audio classifier can learn them, but not trivially, especially once noise and
off-screen interferers are added by the scene.

All models return float64 with unit RMS over the clip: the scene sets the level. The signal is the sound
pressure the source would produce at 1 m (the scene applies 1/r spreading and propagation delays).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.fft
from scipy.signal import butter, fftconvolve, sosfilt

from acoustic_ssl.data.layout import NUM_CLASSES, SENSOR_SAMPLE_RATE

FS = float(SENSOR_SAMPLE_RATE)
NYQUIST = FS / 2.0
HARMONIC_BLOCK = 8192  # samples of a harmonic stack computed together (its passes stay in cache)


# ----------------------------------------------------------------------------------------------------------
# Building blocks


def _times(n: int) -> np.ndarray:
    return np.arange(n) / FS


def _smooth_random(n: int, rng: np.random.Generator, rate_hz: float) -> np.ndarray:
    """Zero-mean, unit-std random curve that varies on the time scale ``1/rate_hz`` (interpolated knots)."""
    n_knots = max(int(np.ceil(n / FS * rate_hz)) + 4, 4)
    knots = rng.standard_normal(n_knots)
    positions = np.linspace(0.0, n_knots - 3, n, endpoint=False)
    base = np.floor(positions).astype(int)
    frac = positions - base
    # Cubic B-spline blend of four knots: smooth (C2) without overshoot artefacts.
    w0 = (1 - frac) ** 3 / 6
    w1 = (3 * frac**3 - 6 * frac**2 + 4) / 6
    w2 = (-3 * frac**3 + 3 * frac**2 + 3 * frac + 1) / 6
    w3 = frac**3 / 6
    curve = w0 * knots[base] + w1 * knots[base + 1] + w2 * knots[base + 2] + w3 * knots[base + 3]
    return (curve - curve.mean()) / (curve.std() + 1e-12)


def _shaped_noise(
    n: int, rng: np.random.Generator, low_hz: float, high_hz: float, slope_db_per_octave: float = 0.0
) -> np.ndarray:
    """Gaussian noise band-limited to [low_hz, high_hz] with a spectral tilt, unit RMS (FFT shaping, over a
    fast FFT length and cut to ``n``: a length with a large prime factor costs ~10x)."""
    size = scipy.fft.next_fast_len(n, real=True)
    spectrum = scipy.fft.rfft(rng.standard_normal(size))
    freqs = np.fft.rfftfreq(size, 1.0 / FS)
    gain = np.zeros_like(freqs)
    band = (freqs >= low_hz) & (freqs <= min(high_hz, NYQUIST))
    gain[band] = (np.maximum(freqs[band], 1.0) / max(low_hz, 1.0)) ** (slope_db_per_octave / 6.0206)
    # Soft band edges (half an octave) so band limits do not ring.
    gain *= _soft_edge(freqs, low_hz, rising=True) * _soft_edge(freqs, high_hz, rising=False)
    noise = scipy.fft.irfft(spectrum * gain, size)[:n]
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _soft_edge(freqs: np.ndarray, edge_hz: float, *, rising: bool) -> np.ndarray:
    ratio = np.log2(np.maximum(freqs, 1e-3) / max(edge_hz, 1e-3))
    ramp = np.clip(ratio / 0.5 + 1.0 if rising else 1.0 - ratio / 0.5, 0.0, 1.0)
    return np.sin(0.5 * np.pi * ramp) ** 2


def _harmonics(
    f0: np.ndarray,
    amplitudes: np.ndarray,
    rng: np.random.Generator,
    max_hz: float = 0.95 * NYQUIST,
) -> np.ndarray:
    """Sum of harmonics k·f0(t), k = 1..len(amplitudes), random phases; partials above max_hz muted.

    The k-th harmonic is ``step**k`` (``step = e^{jφ(t)}``), by repeated products (cheaper than a sine per
    partial), computed ``HARMONIC_BLOCK`` samples at a time so that the partials' passes stay in cache."""
    low, high = float(f0.min()), float(f0.max())
    partials = []  # (k, amplitude · e^{j offset}) of the sounding partials, the offsets drawn in order
    for k, amp in enumerate(amplitudes, start=1):
        if amp == 0.0:
            continue
        if k * low >= max_hz:  # silent everywhere (the fade below is zero), as are the ones above
            break
        offset = rng.uniform(0, 2 * np.pi)
        partials.append((k, amp * np.cos(offset), amp * np.sin(offset)))
    phase = 2.0 * np.pi * np.cumsum(f0) / FS
    out = np.zeros_like(f0)
    for start in range(0, len(f0), HARMONIC_BLOCK):
        stop = min(start + HARMONIC_BLOCK, len(f0))
        step = np.exp(1j * phase[start:stop])
        partial, power = np.ones_like(step), 0
        term = np.empty(stop - start)
        for k, cos_amp, sin_amp in partials:
            for _ in range(k - power):
                partial *= step
            power = k
            np.multiply(partial.imag, cos_amp, out=term)  # Im(partial · amp e^{j offset})
            term += sin_amp * partial.real
            if k * high > max_hz - 200.0:  # fade partials out near the band limit
                term *= np.clip((max_hz - k * f0[start:stop]) / 200.0, 0.0, 1.0)
            out[start:stop] += term
    return out


def _decaying_partials(
    rng: np.random.Generator, freqs_hz: np.ndarray, decay_s: float, length_s: float
) -> np.ndarray:
    """An impact response: a few decaying sinusoids (metal / water resonances), unit peak."""
    t = _times(int(length_s * FS))
    out = np.zeros_like(t)
    for f in freqs_hz:
        tau = decay_s * rng.uniform(0.6, 1.4)
        out += (
            rng.uniform(0.3, 1.0) * np.exp(-t / tau) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        )
    return out / (np.abs(out).max() + 1e-12)


def _impulse_train(n: int, times_s: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    train = np.zeros(n)
    idx = np.round(times_s * FS).astype(int)
    keep = (idx >= 0) & (idx < n)
    np.add.at(train, idx[keep], amplitudes[keep])
    return train


def _poisson_times(rng: np.random.Generator, rate_hz: np.ndarray | float, duration_s: float) -> np.ndarray:
    """Event times of a Poisson process (constant rate)."""
    count = rng.poisson(float(rate_hz) * duration_s)
    return np.sort(rng.uniform(0.0, duration_s, count))


def _bandpass(x: np.ndarray, low_hz: float, high_hz: float, order: int = 2) -> np.ndarray:
    sos = butter(
        order, [low_hz / NYQUIST, min(high_hz, 0.98 * NYQUIST) / NYQUIST], btype="band", output="sos"
    )
    return sosfilt(sos, x)


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _segments(
    rng: np.random.Generator, n: int, on_s: tuple[float, float], off_s: tuple[float, float], ramp_s: float
) -> np.ndarray:
    """An on/off envelope (trigger presses) with smooth ramps; starts on so short clips are not silent."""
    env = np.zeros(n)
    t, on = 0.0, True
    duration = n / FS
    while t < duration:
        length = rng.uniform(*(on_s if on else off_s))
        if on:
            a, b = int(t * FS), min(int((t + length) * FS), n)
            env[a:b] = 1.0
        t += length
        on = not on
    ramp = max(int(ramp_s * FS), 1)
    kernel = np.hanning(2 * ramp + 1)
    return fftconvolve(env, kernel / kernel.sum(), mode="same")  # as np.convolve (1e-16), ~10x faster


# ----------------------------------------------------------------------------------------------------------
# Class models (each: (n_samples, rng) -> unit-RMS float64)


def train(n: int, rng: np.random.Generator) -> np.ndarray:
    """Rail clatter (bogie wheel pairs hitting rail joints) + low rumble + wheel squeal / optional horn."""
    duration = n / FS
    speed = rng.uniform(6.0, 25.0)  # m/s
    car_length = rng.uniform(14.0, 26.0)
    axle_gap = rng.uniform(2.0, 3.0)
    joint_offset = rng.uniform(0.0, car_length / speed)
    car_starts = np.arange(-1.0, duration + 1.0, car_length / speed) + joint_offset
    # Each car end has a bogie with two axles; each axle hits the joint: "clack-clack ... clack-clack".
    hits = np.concatenate(
        [car_starts + d / speed for d in (0.0, axle_gap, car_length - 2 * axle_gap, car_length - axle_gap)]
    )
    hits = hits + rng.normal(0.0, 0.004, hits.shape)
    clack = _decaying_partials(rng, rng.uniform(600, 3200, rng.integers(3, 6)), rng.uniform(0.015, 0.05), 0.2)
    clatter = fftconvolve(_impulse_train(n, hits, rng.uniform(0.6, 1.0, hits.shape)), clack)[:n]
    rumble = _shaped_noise(n, rng, 20.0, rng.uniform(250.0, 500.0), slope_db_per_octave=-4.0)
    rumble *= 1.0 + 0.3 * _smooth_random(n, rng, rate_hz=speed / car_length * 2)
    swish = _shaped_noise(n, rng, 300.0, 4000.0, slope_db_per_octave=-3.0)
    out = 1.0 * rumble + rng.uniform(0.8, 2.0) * _unit_rms(clatter) + rng.uniform(0.2, 0.5) * swish
    if rng.random() < 0.35:  # horn: a sustained two- or three-note chord
        t = _times(n)
        start = rng.uniform(0.0, max(duration - 1.0, 0.0))
        gate = ((t >= start) & (t < start + rng.uniform(0.8, 2.5))).astype(float)
        gate = fftconvolve(gate, np.hanning(301) / np.hanning(301).sum(), mode="same")
        notes = rng.uniform(280.0, 700.0) * np.array([1.0, 1.26, 1.5][: rng.integers(2, 4)])
        horn = sum(_harmonics(np.full(n, f), 1.0 / np.arange(1, 9), rng) for f in notes)
        out += rng.uniform(1.0, 2.5) * gate * _unit_rms(horn)
    return _unit_rms(out)


def boat(n: int, rng: np.random.Generator) -> np.ndarray:
    """Low engine harmonics with slow AM (swell), mechanical noise pulsing at the firing rate, wash, slaps."""
    duration = n / FS
    f0 = rng.uniform(12.0, 45.0) * (1.0 + 0.02 * _smooth_random(n, rng, 0.3))
    amps = np.exp(-np.arange(60) / rng.uniform(6.0, 18.0)) * rng.uniform(0.5, 1.0, 60)
    engine = _harmonics(f0, amps, rng, max_hz=rng.uniform(900.0, 2000.0))
    engine *= 1.0 + rng.uniform(0.2, 0.6) * np.sin(
        2 * np.pi * rng.uniform(0.3, 2.5) * _times(n) + rng.uniform(0, 6.3)
    )
    wash = _shaped_noise(
        n, rng, rng.uniform(60.0, 150.0), rng.uniform(2000.0, 4500.0), slope_db_per_octave=-2.5
    )
    wash *= 1.0 + 0.5 * _smooth_random(n, rng, 0.8)
    slap_times = _poisson_times(rng, rng.uniform(0.5, 3.0), duration)
    slaps = _impulse_train(n, slap_times, rng.uniform(0.3, 1.0, slap_times.shape))
    slap_sound = _bandpass(rng.standard_normal(int(0.08 * FS)), 150.0, 1500.0) * np.exp(
        -np.arange(int(0.08 * FS)) / (0.02 * FS)
    )
    # Mechanical/exhaust noise of the engine: broadband, pulsing with the firing rate.
    firing = 1.0 + 0.5 * np.sin(2 * np.pi * np.cumsum(f0) / FS)
    mechanical = firing * _shaped_noise(n, rng, 400.0, NYQUIST, slope_db_per_octave=-3.0)
    out = (
        _unit_rms(engine)
        + rng.uniform(0.4, 1.0) * wash
        + rng.uniform(0.5, 0.9) * mechanical
        + 0.5 * _unit_rms(fftconvolve(slaps, slap_sound)[:n] + 1e-9)
    )
    return _unit_rms(out)


def drone(n: int, rng: np.random.Generator) -> np.ndarray:
    """Blade-pass harmonics of 4 rotors (fundamental 100-250 Hz, jitter and beating) + hiss."""
    base = rng.uniform(100.0, 250.0)
    amps = (1.0 / np.arange(1, 61) ** rng.uniform(0.6, 1.2)) * rng.uniform(0.5, 1.0, 60)
    out = np.zeros(n)
    manoeuvre = _smooth_random(n, rng, 0.5)  # throttle changes shared by the rotors
    for _ in range(4):
        jitter = rng.uniform(0.01, 0.04)
        f0 = base * rng.uniform(0.97, 1.03) * (1.0 + jitter * manoeuvre + 0.005 * _smooth_random(n, rng, 4.0))
        out += _harmonics(f0, amps, rng)
    hiss = _shaped_noise(n, rng, 300.0, NYQUIST, slope_db_per_octave=-2.0)
    return _unit_rms(_unit_rms(out) + rng.uniform(0.15, 0.5) * hiss)


def fountain(n: int, rng: np.random.Generator) -> np.ndarray:
    """Broadband splashing (filtered noise with slow fluctuations) + random droplet transients."""
    duration = n / FS
    splash = _shaped_noise(
        n, rng, rng.uniform(150.0, 400.0), NYQUIST, slope_db_per_octave=rng.uniform(-3.0, 0.0)
    )
    splash *= 1.0 + 0.25 * _smooth_random(n, rng, 3.0)
    droplets = np.zeros(n)
    for _ in range(6):  # a bank of droplet "bloops": short rising-pitch decaying tones
        length = int(rng.uniform(0.004, 0.02) * FS)
        t = _times(length)
        f_start = rng.uniform(500.0, 3500.0)
        f = f_start * (1.0 + rng.uniform(0.5, 2.0) * t / t[-1])
        kernel = np.exp(-t / (t[-1] / 3)) * np.sin(2 * np.pi * np.cumsum(f) / FS)
        events = _poisson_times(rng, rng.uniform(20.0, 80.0), duration)
        droplets += fftconvolve(_impulse_train(n, events, rng.exponential(1.0, events.shape)), kernel)[:n]
    return _unit_rms(splash + rng.uniform(0.4, 1.0) * _unit_rms(droplets + 1e-9))


def drill(n: int, rng: np.random.Generator) -> np.ndarray:
    """High motor/gear harmonics switched by the trigger (spin-up/down ramps) + mechanical noise when on."""
    trigger = _segments(rng, n, on_s=(0.6, 3.0), off_s=(0.15, 1.0), ramp_s=rng.uniform(0.05, 0.2))
    f_motor = rng.uniform(280.0, 700.0)
    f0 = f_motor * (0.35 + 0.65 * trigger) * (1.0 + 0.01 * _smooth_random(n, rng, 3.0))
    amps = rng.uniform(0.2, 1.0, 14) / np.arange(1, 15) ** 0.5
    gear_ratio = rng.uniform(2.5, 5.0)
    motor = _harmonics(f0, amps, rng) + 0.6 * _harmonics(f0 * gear_ratio, np.array([1.0, 0.4]), rng)
    noise = _shaped_noise(n, rng, 500.0, NYQUIST, slope_db_per_octave=-1.0)
    out = trigger * (_unit_rms(motor) + rng.uniform(0.2, 0.6) * noise)
    if rng.random() < 0.4:  # hammer action: rattling impacts at a few tens of Hz
        rate = rng.uniform(20.0, 50.0)
        hits = np.arange(0.0, n / FS, 1.0 / rate)
        knock = _decaying_partials(rng, rng.uniform(800, 3000, 3), 0.004, 0.03)
        out += trigger * 0.8 * _unit_rms(fftconvolve(_impulse_train(n, hits, np.ones_like(hits)), knock)[:n])
    return _unit_rms(out + 0.02 * rng.standard_normal(n))


def razor(n: int, rng: np.random.Generator) -> np.ndarray:
    """Electric-shaver buzz: 50-120 Hz fundamental through a hard nonlinearity (strong high partials)."""
    f0 = rng.uniform(50.0, 120.0) * (1.0 + 0.004 * _smooth_random(n, rng, 2.0))
    phase = 2 * np.pi * np.cumsum(f0) / FS
    drive = rng.uniform(2.0, 8.0)
    buzz = np.tanh(drive * (np.sin(phase) + rng.uniform(0.1, 0.5) * np.sin(2 * phase + rng.uniform(0, 6.3))))
    buzz = np.diff(buzz, prepend=buzz[0])  # blade clicks: emphasise high partials
    buzz = _bandpass(buzz, 40.0, NYQUIST * 0.97)
    contact = 1.0 + rng.uniform(0.1, 0.5) * _smooth_random(n, rng, 1.5)  # skin contact changes the load
    hiss = _shaped_noise(n, rng, 1000.0, NYQUIST)
    return _unit_rms(contact * _unit_rms(buzz) + rng.uniform(0.1, 0.4) * hiss)


def hair_dryer(n: int, rng: np.random.Generator) -> np.ndarray:
    """Broadband fan noise (hump around 0.5-2 kHz) + motor whine with a couple of harmonics."""
    centre = rng.uniform(500.0, 2000.0)
    fan = _shaped_noise(n, rng, centre / 4, centre * 4, slope_db_per_octave=-2.0)
    fan += 0.5 * _shaped_noise(n, rng, 80.0, NYQUIST, slope_db_per_octave=-3.0)
    f_motor = rng.uniform(180.0, 500.0) * (1.0 + 0.003 * _smooth_random(n, rng, 1.0))
    whine = _harmonics(f_motor, np.array([1.0, 0.5, 0.3, 0.2]), rng)
    blade = _harmonics(f_motor * rng.integers(5, 9), np.array([1.0, 0.3]), rng)
    return _unit_rms(
        _unit_rms(fan) + rng.uniform(0.1, 0.4) * _unit_rms(whine) + rng.uniform(0.05, 0.3) * blade
    )


def hoover(n: int, rng: np.random.Generator) -> np.ndarray:
    """Vacuum cleaner: high tonal motor whine (blade pass 1.5-5 kHz) + bright broadband airflow."""
    rotor = rng.uniform(300.0, 600.0) * (1.0 + 0.004 * _smooth_random(n, rng, 0.7))
    blades = rng.integers(5, 10)
    whine = _harmonics(rotor, np.array([0.3, 0.15]), rng)
    whine += _harmonics(rotor * blades, np.array([1.0, 0.3]), rng)
    airflow = _shaped_noise(
        n, rng, rng.uniform(200.0, 600.0), NYQUIST, slope_db_per_octave=rng.uniform(-1.0, 2.0)
    )
    airflow *= 1.0 + 0.15 * _smooth_random(n, rng, 0.5)  # suction changes as the nozzle moves
    return _unit_rms(rng.uniform(0.3, 0.9) * _unit_rms(whine) + airflow)


def shopping_cart(n: int, rng: np.random.Generator) -> np.ndarray:
    """Rolling noise of small wheels + random metallic rattle clicks, clustered at the wheel rotation rate."""
    duration = n / FS
    wheel_hz = rng.uniform(2.0, 6.0)
    rolling = _shaped_noise(n, rng, 40.0, rng.uniform(1500.0, 3500.0), slope_db_per_octave=-2.5)
    rolling *= 1.0 + 0.4 * np.sin(2 * np.pi * wheel_hz * _times(n)) * rng.uniform(0.3, 1.0)
    rattle = np.zeros(n)
    rate = rng.uniform(8.0, 40.0)
    for _ in range(4):  # a few loose parts, each with its own ring
        click = _decaying_partials(rng, rng.uniform(1000, 5000, 3), rng.uniform(0.003, 0.012), 0.05)
        events = _poisson_times(rng, rate / 4 * 2, duration)
        # Thin events by the wheel phase: rattles cluster when the wheel flat spot hits the floor.
        keep = rng.random(events.shape) < 0.5 * (1 + np.cos(2 * np.pi * wheel_hz * events))
        events = events[keep]
        rattle += fftconvolve(_impulse_train(n, events, rng.uniform(0.3, 1.0, events.shape)), click)[:n]
    bump_times = _poisson_times(rng, rng.uniform(0.2, 1.0), duration)
    bumps = _impulse_train(n, bump_times, rng.uniform(0.5, 1.0, bump_times.shape))
    thud = _bandpass(rng.standard_normal(int(0.05 * FS)), 60.0, 600.0) * np.exp(
        -np.arange(int(0.05 * FS)) / 150
    )
    out = (
        _unit_rms(rolling)
        + rng.uniform(0.6, 1.5) * _unit_rms(rattle + 1e-9)
        + 0.5 * _unit_rms(fftconvolve(bumps, thud)[:n] + 1e-9)
    )
    return _unit_rms(out)


def traffic(n: int, rng: np.random.Generator) -> np.ndarray:
    """Passing vehicles: engine harmonics + tyre noise, Doppler sweeps and pass-by envelopes, over rumble."""
    duration = n / FS
    t = _times(n)
    c = 343.0
    out = 0.3 * _shaped_noise(n, rng, 25.0, 800.0, slope_db_per_octave=-4.0)
    out += 0.3 * _shaped_noise(n, rng, 200.0, NYQUIST, slope_db_per_octave=-2.0)  # tyre/air hiss of the flow
    pass_times = np.sort(rng.uniform(-2.0, duration + 2.0, max(rng.poisson(1.2 * duration + 2), 2)))
    half_window = int(4.0 * FS)  # a vehicle is synthesised only within ±4 s of its closest approach
    for t0 in pass_times:
        speed = rng.uniform(8.0, 25.0) * rng.choice([-1.0, 1.0])
        closest = rng.uniform(3.0, 15.0)
        centre = int(t0 * FS)
        a, b = max(centre - half_window, 0), min(centre + half_window, n)
        if b - a < 16:
            continue
        x = speed * (t[a:b] - t0)
        dist = np.sqrt(x**2 + closest**2)
        doppler = c / (c + speed * x / dist)  # approaching (x < 0): higher pitch
        f_engine = rng.uniform(25.0, 70.0) * doppler
        engine = _harmonics(f_engine, np.exp(-np.arange(30) / 5.0), rng, max_hz=1500.0)
        tyre = _shaped_noise(b - a, rng, 300.0, 5000.0, slope_db_per_octave=-1.5)
        vehicle = rng.uniform(0.3, 1.0) * _unit_rms(engine) + tyre
        # Fade the window edges that fall inside the clip (the pass-by envelope is already ~-15 dB there).
        index = np.arange(b - a)
        fade = np.ones(b - a)
        if a > 0:
            fade = np.minimum(fade, index / (0.5 * FS))
        if b < n:
            fade = np.minimum(fade, index[::-1] / (0.5 * FS))
        out[a:b] += rng.uniform(0.5, 1.5) * vehicle * (closest / dist) * 2.0 * fade
    return _unit_rms(out)


CLASS_SOUNDS: dict[int, Callable[[int, np.random.Generator], np.ndarray]] = {
    0: train,
    1: boat,
    2: drone,
    3: fountain,
    4: drill,
    5: razor,
    6: hair_dryer,
    7: hoover,
    8: shopping_cart,
    9: traffic,
}
assert len(CLASS_SOUNDS) == NUM_CLASSES


def synthesize(class_index: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS source signal (pressure at 1 m) of ``n_samples`` at 12 288 Hz for class ``class_index``.

    A mild random "recording colour" (spectral tilt of ±2 dB/octave) is applied per call so classes overlap a
    little more, as real recordings of one class do.
    """
    if class_index not in CLASS_SOUNDS:
        raise ValueError(f"class index must be 0..{NUM_CLASSES - 1}, got {class_index}")
    signal = CLASS_SOUNDS[class_index](n_samples, rng)
    tilt = rng.uniform(-2.0, 2.0)
    spectrum = scipy.fft.rfft(signal)
    freqs = np.maximum(np.fft.rfftfreq(n_samples, 1.0 / FS), 50.0)
    signal = scipy.fft.irfft(spectrum * (freqs / 1000.0) ** (tilt / 6.0206), n_samples)
    return _unit_rms(signal)


def log_mel_means(signal: np.ndarray, n_fft: int = 1024) -> np.ndarray:
    """Time-averaged log mel energies (24 bands, 0-6400 Hz as the acoustic images) of a mono signal.

    A compact spectral profile used to check that the class sound models are distinguishable (tests and
    ``benchmarks/simulate_report.py``); frames of ``n_fft`` samples, Hann window, no overlap.
    """
    from acoustic_ssl.imaging.mfcc import mel_filterbank

    frames = np.asarray(signal, dtype=np.float64)[: len(signal) // n_fft * n_fft].reshape(-1, n_fft)
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=-1)[:, : n_fft // 2]) ** 2
    mel = power @ mel_filterbank(FS, n_fft, n_fft // 2).T
    return np.log(mel + 1e-10 * (mel.max() + 1e-30)).mean(axis=0)
