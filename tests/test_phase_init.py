"""The phase-randomised start: a texture begins with the style's slow, broadband fluctuations."""
from __future__ import annotations

import numpy as np

from audiotex.synthesis import initial_spectrogram, phase_randomized


def smooth_field(bins: int = 24, frames: int = 400, seed: int = 3) -> np.ndarray:
    """A positive spectrogram-like field whose bins fluctuate together and slowly (a moving average)."""
    rng = np.random.default_rng(seed)
    common = np.convolve(rng.standard_normal(frames + 15), np.ones(16) / 4.0, mode="valid")[:frames]
    own = rng.standard_normal((bins, frames)) * 0.3
    return (4.0 + np.linspace(0.5, 1.5, bins)[:, None] * common + own).astype(np.float64)


def cross_spectra(x: np.ndarray) -> np.ndarray:
    """Every pair of bins' cross-spectrum over time, ``(bins, bins, frequencies)``."""
    f = np.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)
    return f[:, None, :] * np.conj(f[None, :, :])


def test_phase_randomized_keeps_means_and_cross_spectra_but_not_the_order():
    spec = smooth_field()
    out = phase_randomized(spec, spec.shape[1], np.random.default_rng(0)).astype(np.float64)
    assert out.shape == spec.shape and out.min() > 0  # the field stays positive: nothing clipped
    np.testing.assert_allclose(out.mean(axis=1), spec.mean(axis=1), atol=1e-4)
    np.testing.assert_allclose(cross_spectra(out), cross_spectra(spec), rtol=1e-3, atol=1e-2)
    # not the input at any circular shift: the events happen elsewhere
    centred = [a - a.mean(axis=1, keepdims=True) for a in (spec, out)]
    best = max(float((centred[0] * np.roll(centred[1], k, axis=1)).sum())
               / float(np.sqrt((centred[0] ** 2).sum() * (centred[1] ** 2).sum())) for k in range(spec.shape[1]))
    assert best < 0.6


def test_phase_randomized_is_seeded_and_fills_longer_outputs():
    spec = smooth_field(frames=100)
    a = initial_spectrogram(spec, 250, "phase", 1e-3, seed=5)
    b = initial_spectrogram(spec, 250, "phase", 1e-3, seed=5)
    c = initial_spectrogram(spec, 250, "phase", 1e-3, seed=6)
    assert a.shape == (spec.shape[0], 250) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # each 100-frame draw is a different one, not the first repeated
    assert not np.allclose(a[:, :100], a[:, 100:200])
