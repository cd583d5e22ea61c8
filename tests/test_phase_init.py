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


def pattern_alignment(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per modulation frequency, how closely ``x``'s complex pattern across bins is ``reference``'s up to one
    common phase: ``|<x_k, r_k>| / (|x_k| |r_k|)``, 1 for the same pattern rotated."""
    a, b = (np.fft.rfft(v - v.mean(axis=1, keepdims=True), axis=1)[:, 1:] for v in (x, reference))
    return np.abs((a * np.conj(b)).sum(axis=0)) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))


def test_neighbour_phases_keep_each_bins_modulation_spectrum_but_not_its_pattern_across_bins():
    spec = smooth_field(bins=32, frames=512) + 6.0  # far from 0: nothing is clipped
    shared = phase_randomized(spec, spec.shape[1], np.random.default_rng(0)).astype(np.float64)
    drawn = phase_randomized(spec, spec.shape[1], np.random.default_rng(0), neighbours=8).astype(np.float64)
    assert drawn.min() > 0
    np.testing.assert_allclose(drawn.mean(axis=1), spec.mean(axis=1), atol=1e-4)
    spectra = [np.abs(np.fft.rfft(v - v.mean(axis=1, keepdims=True), axis=1)) for v in (drawn, spec)]
    np.testing.assert_allclose(spectra[0], spectra[1], rtol=1e-3, atol=1e-3)
    # the phase scramble keeps every modulation frequency's pattern across bins exactly (one common
    # rotation): its output is the style through one all-pass filter; the neighbours' patterns are others
    assert np.median(pattern_alignment(shared, spec)) > 0.999
    assert np.median(pattern_alignment(drawn, spec)) < 0.6
    # ... which still hold the bins' common swing: bins rise and fall together about as much as in the style
    def mean_correlation(v: np.ndarray) -> float:
        c = np.corrcoef(v)
        return float(c[np.triu_indices_from(c, 1)].mean())
    assert abs(mean_correlation(drawn) - mean_correlation(spec)) < 0.15
    again = initial_spectrogram(spec, 700, "phase", 1e-3, seed=2, init_neighbours=8)
    np.testing.assert_array_equal(again, initial_spectrogram(spec, 700, "phase", 1e-3, seed=2, init_neighbours=8))
    assert again.shape == (32, 700)


def test_a_loops_start_wraps_around_without_a_jump():
    """loop=true: one circular draw, so the last frame leads into the first like any two neighbours; the
    joined draws of a plain start jump there (here one frame longer than the style)."""
    rng = np.random.default_rng(7)
    # every bin slow (a 16-frame moving average): neighbouring frames are close, unrelated frames are not
    slow = np.stack([np.convolve(rng.standard_normal(315), np.ones(16) / 4.0, mode="valid")[:300]
                     for _ in range(16)])
    spec = 4.0 + slow
    n_frames = spec.shape[1] + 1

    def seam_over_steps(field: np.ndarray) -> float:
        steps = np.abs(np.diff(field, axis=1)).mean(axis=0)
        return float(np.abs(field[:, 0] - field[:, -1]).mean() / np.median(steps))

    for init in ("phase", "phase_db"):
        for neighbours in (0, 8):
            looped = [initial_spectrogram(spec, n_frames, init, 1e-3, seed=s, init_neighbours=neighbours, loop=True)
                      for s in range(6)]
            plain = [initial_spectrogram(spec, n_frames, init, 1e-3, seed=s, init_neighbours=neighbours)
                     for s in range(6)]
            assert all(v.shape == (spec.shape[0], n_frames) for v in looped)
            assert np.median([seam_over_steps(v) for v in looped]) < 1.5, (init, neighbours)
            assert np.median([seam_over_steps(v) for v in plain]) > 2.0, (init, neighbours)
    # a loop longer than the style is still one draw, with the style's level per bin
    long = phase_randomized(spec, 2 * spec.shape[1] + 7, np.random.default_rng(1), circular=True)
    np.testing.assert_allclose(long.mean(axis=1), spec.mean(axis=1), atol=1e-4)
    assert np.median(long.std(axis=1) / spec.std(axis=1)) > 0.8


def test_slow_modulations_get_independent_phases_in_every_bin():
    """independent_period: the slowest modulations (period of a fifth of the clip or longer: indices 1-5)
    lose their pattern across bins, the rest keep it exactly; every bin keeps its modulation spectrum."""
    spec = smooth_field(bins=32, frames=500) + 6.0
    for neighbours in (0, 8):
        out = phase_randomized(spec, spec.shape[1], np.random.default_rng(1), neighbours=neighbours,
                               independent_period=100.0).astype(np.float64)
        spectra = [np.abs(np.fft.rfft(v - v.mean(axis=1, keepdims=True), axis=1)) for v in (out, spec)]
        np.testing.assert_allclose(spectra[0], spectra[1], rtol=1e-3, atol=1e-3)
        alignment = pattern_alignment(out, spec)  # index 0 here is modulation index 1
        assert alignment[:5].max() < 0.7, neighbours
        if not neighbours:
            assert alignment[5:].min() > 0.999
    # nothing changes without it: the same draws as before
    np.testing.assert_array_equal(phase_randomized(spec, 500, np.random.default_rng(2)),
                                  phase_randomized(spec, 500, np.random.default_rng(2), independent_period=0.0))


def test_start_copy_score_is_high_for_a_shifted_copy_and_low_for_independent_noise():
    from audiotex.synthesis import start_copy_score

    spec = np.log1p(np.exp(smooth_field(bins=64, frames=600)))
    other = np.log1p(np.exp(4.0 + np.random.default_rng(11).standard_normal((64, 600))))
    assert start_copy_score(spec, spec, 100) > 0.99
    assert start_copy_score(spec[:, 137:437], spec, 100) > 0.99  # every window sits somewhere in the style
    assert start_copy_score(other, spec, 100) < 0.3


def test_more_candidates_keep_the_start_that_copies_least():
    from audiotex.synthesis import _db, rank_matched, start_copy_score

    spec = np.log1p(np.exp(smooth_field(bins=64, frames=300)))
    # draw k of N reads its own generator, so draw 0 is what one candidate gives
    first = initial_spectrogram(spec, 300, "phase_db", 1e-3, seed=2, init_neighbours=4)
    picked = initial_spectrogram(spec, 300, "phase_db", 1e-3, seed=2, init_neighbours=4, candidates=6,
                                 copy_window=60, n_bands=16)
    picked_score = start_copy_score(picked, spec, 60, 16)
    assert picked_score <= start_copy_score(first, spec, 60, 16)
    # the pick is one of the draws (the same starts, only chosen), and the least copying of them
    again = initial_spectrogram(spec, 300, "phase_db", 1e-3, seed=2, init_neighbours=4, candidates=6,
                                copy_window=60, n_bands=16)
    np.testing.assert_array_equal(picked, again)
    for k in range(1, 6):
        draw = rank_matched(phase_randomized(_db(spec), 300, np.random.default_rng([2, k]), 4), spec)
        assert picked_score <= start_copy_score(draw, spec, 60, 16) + 1e-7
    # noise starts have nothing to choose from
    noise = initial_spectrogram(spec, 300, "noise", 1e-3, seed=2)
    np.testing.assert_array_equal(noise, initial_spectrogram(spec, 300, "noise", 1e-3, seed=2, candidates=6))
