"""Texture statistics in dB: the dB envelope term and the start scrambled in dB.

A water stream's quiet moments are quiet in every band at once: a broadband gain that swings by tens of dB.
``log1p`` values of quiet bins are nearly linear in the magnitude, so statistics over them hardly see those
dips; the terms and the start tested here work on log magnitudes instead.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiotex import losses as L
from audiotex import params as P
from audiotex.synthesis import Objective, initial_spectrogram, rank_matched


def gained_noise(bins: int = 64, frames: int = 600, seed: int = 1, swing_db: float = 15.0) -> np.ndarray:
    """``log1p`` of Rayleigh noise under one slow broadband gain swinging by about +-``swing_db``."""
    rng = np.random.default_rng(seed)
    slow = np.convolve(rng.standard_normal(frames + 39), np.ones(40) / np.sqrt(40), mode="valid")[:frames]
    gain_db = swing_db * slow / slow.std()
    noise = np.abs(rng.standard_normal((bins, frames)) + 1j * rng.standard_normal((bins, frames)))
    return np.log1p(0.5 * noise * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def db_band_correlation(spec: np.ndarray, bands: torch.Tensor) -> float:
    """Mean correlation across bands of the bands' log magnitudes (80 dB floor)."""
    x = torch.from_numpy(np.ascontiguousarray(spec))
    floor = float(torch.expm1(x.max())) * 1e-4
    corr = L.envelope_correlation(L.compressed_envelopes(x, bands, 0.0, floor))
    upper = torch.triu_indices(corr.shape[0], corr.shape[0], 1)
    return float(corr[upper[0], upper[1]].mean())


def test_log_envelopes_see_a_broadband_dip_that_log1p_averages_hardly_do():
    spec = torch.from_numpy(gained_noise(frames=200, swing_db=0.0))  # every band far above the floor
    bands = L.band_matrix(spec.shape[0], 8)
    dipped = torch.log1p(torch.expm1(spec) * torch.where(torch.arange(200) < 100, 1.0, 0.1))  # -20 dB
    floor = float(torch.expm1(spec.max())) * 1e-4
    log_drop = (L.compressed_envelopes(spec, bands, 0.0, floor) - L.compressed_envelopes(dipped, bands, 0.0, floor))
    # 20 dB is ln(10) = 2.30 in natural-log magnitude, in every band and frame of the second half
    np.testing.assert_allclose(log_drop[:, 100:].numpy(), np.log(10.0), atol=0.05)
    np.testing.assert_allclose(log_drop[:, :100].numpy(), 0.0, atol=1e-6)
    compressed = L.compressed_envelopes(dipped, bands, 0.3, floor) / L.compressed_envelopes(spec, bands, 0.3, floor)
    np.testing.assert_allclose(compressed[:, 100:].numpy(), 0.1 ** 0.3, rtol=0.02)


def test_envelope_correlation_of_known_envelopes():
    t = torch.linspace(0, 6.28, 300)
    envelopes = torch.stack([torch.sin(t), 2 * torch.sin(t) + 5, -torch.sin(t), torch.cos(3 * t)])
    corr = L.envelope_correlation(envelopes)
    np.testing.assert_allclose(torch.diagonal(corr).numpy(), 1.0, atol=1e-4)
    assert float(corr[0, 1]) == pytest.approx(1.0, abs=1e-4)  # level and depth do not count
    assert float(corr[0, 2]) == pytest.approx(-1.0, abs=1e-4)
    assert abs(float(corr[0, 3])) < 0.05
    assert float(L.correlation_loss(envelopes, corr)) == pytest.approx(0.0, abs=1e-10)


def test_db_statistics_see_persistence_that_mean_and_covariance_do_not():
    spec = torch.from_numpy(gained_noise())
    bands = L.band_matrix(spec.shape[0], 12)
    floor = float(torch.expm1(spec.max())) * 1e-4
    lags = (1, 2, 4, 8, 16)
    target = L.envelope_statistics(L.compressed_envelopes(spec, bands, 0.0, floor), lags)
    # the same frames in another order: every band's mean and every pair's covariance stay exactly as they
    # were, but the slow swings become fast ones
    shuffled = spec[:, torch.randperm(spec.shape[1], generator=torch.Generator().manual_seed(0))]
    envelopes = L.compressed_envelopes(shuffled, bands, 0.0, floor)
    mean, covariance, lagged = L.envelope_statistics(envelopes, lags)
    np.testing.assert_allclose(mean.numpy(), target[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(covariance.numpy(), target[1].numpy(), atol=1e-4)
    assert float(L.envelope_statistics_loss(L.compressed_envelopes(spec, bands, 0.0, floor), lags, *target)) \
        == pytest.approx(0.0, abs=1e-10)
    assert float(L.envelope_statistics_loss(envelopes, lags, *target)) > 0.1
    # lag 1 of a swing over ~40 frames keeps most of its variance; of shuffled frames, almost none
    assert float((lagged[:, 0] / torch.diagonal(covariance)).mean()) < 0.2
    assert float((target[2][:, 0] / torch.diagonal(target[1])).mean()) > 0.8


def test_db_term_of_a_batch_equals_each_row_alone():
    settings = P.stage_settings(P.resolve({"preset": "fast", "db_weight": 1.0, "correlation_weight": 1.0}),
                                "synthesize")
    styles = [torch.from_numpy(gained_noise(frames=frames, seed=seed)) for frames, seed in ((300, 1), (260, 2))]
    outputs = torch.stack([styles[0][:, :200], styles[1][:, 30:230]]) * 1.1
    batched = Objective(styles, None, 200, settings, 125.0)
    _, terms = batched(outputs)
    for name in ("db", "correlation"):
        column = batched.term_names.index(name)
        for row, style in enumerate(styles):
            _, single = Objective(style, None, 200, settings, 125.0)(outputs[row])
            assert float(terms[row, column]) == pytest.approx(float(single[column]), rel=1e-5)
            assert float(terms[row, column]) > 0


def test_rank_matched_takes_the_order_of_one_and_the_levels_of_the_other():
    rng = np.random.default_rng(0)
    spec = rng.gamma(2.0, size=(5, 50))
    field = rng.standard_normal((5, 50))
    out = rank_matched(field, spec)
    np.testing.assert_allclose(np.sort(out, axis=1), np.sort(spec, axis=1).astype(np.float32))
    np.testing.assert_array_equal(np.argsort(out, axis=1), np.argsort(field, axis=1))
    longer = rank_matched(rng.standard_normal((5, 120)), spec)
    assert longer.shape == (5, 120)
    assert longer.min() >= spec.min() - 1e-6 and longer.max() <= spec.max() + 1e-6


def test_phase_db_start_keeps_each_bins_levels_and_the_broadband_dips():
    spec = gained_noise()
    bands = L.band_matrix(spec.shape[0], 12)
    db_start = initial_spectrogram(spec, spec.shape[1], "phase_db", 1e-3, seed=4)
    log1p_start = initial_spectrogram(spec, spec.shape[1], "phase", 1e-3, seed=4)
    # every bin has exactly the style's values, in another order
    np.testing.assert_allclose(np.sort(db_start, axis=1), np.sort(spec, axis=1), atol=1e-6)
    assert not np.allclose(db_start, spec)
    real, scrambled_db, scrambled_log1p = (db_band_correlation(x, bands) for x in (spec, db_start, log1p_start))
    # the dips shared by every band survive the scramble in dB, much less the one in log1p values
    assert abs(scrambled_db - real) < 0.1
    assert real - scrambled_log1p > 2 * abs(scrambled_db - real)
    np.testing.assert_array_equal(db_start, initial_spectrogram(spec, spec.shape[1], "phase_db", 1e-3, seed=4))
