"""content_target=envelopes: a content term on each band's log-power envelope, blind to level and depth."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiotex import losses as L
from audiotex import params as P
from audiotex.synthesis import build_objective

BINS, FRAMES = 65, 120


def _log1p_spec(magnitude: torch.Tensor) -> torch.Tensor:
    return torch.log1p(magnitude)


@pytest.fixture()
def magnitude() -> torch.Tensor:
    """A magnitude spectrogram with its own rise and fall in every band: bursts at random times."""
    g = torch.Generator().manual_seed(0)
    times = torch.arange(FRAMES, dtype=torch.float64)
    bins = torch.arange(BINS, dtype=torch.float64)[:, None]
    bursts = torch.zeros(BINS, FRAMES, dtype=torch.float64)
    for _ in range(12):
        t0, f0 = float(torch.randint(0, FRAMES, (1,), generator=g)), float(torch.randint(1, BINS, (1,), generator=g))
        bursts += torch.exp(-0.5 * ((times - t0) / 3.0) ** 2) * torch.exp(-0.5 * ((bins - f0) / 8.0) ** 2)
    return 0.01 + 5.0 * bursts


def _envelope_objective(content: np.ndarray, **overrides):
    """The transfer objective of a tiny ``fast`` bank with the envelope content term (weight 10, plus
    ``overrides``) for ``content`` against a fixed random style."""
    style = np.abs(np.random.default_rng(0).normal(size=(BINS, 90))).astype(np.float32)
    settings = P.stage_settings(P.resolve({"preset": "fast", "layers": "5x16", "content_weight": 10.0,
                                           "content_target": "envelopes", **overrides}, kind="transfer"),
                                "synthesize")
    return build_objective(style, content, FRAMES, settings, torch.device("cpu"), 100.0)


def _shape_loss(spec: torch.Tensor, content: torch.Tensor, window: int = 1) -> float:
    bands = L.band_matrix(BINS, 16).to(spec.dtype)
    power = L.band_power(content, bands)
    floor = float(power.max()) * 1e-8
    target = L.standardize(L.band_log_power(content, bands, floor, window))
    weights = L.content_band_weights(power)
    return float(L.envelope_shape_loss(L.band_log_power(spec, bands, floor, window), target, weights))


def test_shape_loss_is_zero_for_the_content_and_blind_to_gain_and_depth(magnitude):
    content = _log1p_spec(magnitude)
    assert _shape_loss(content, content) < 1e-6
    # 10x the power in every bin: the same envelope shapes
    assert _shape_loss(_log1p_spec(magnitude * np.sqrt(10.0)), content) < 1e-3
    # every bin's power squared (twice the depth in dB): nearly the same (a band sums several bins' powers,
    # so squaring is not exactly a doubling of its level), against > 0.5 for a shifted copy below
    assert _shape_loss(_log1p_spec(magnitude ** 2), content) < 0.05


def test_shape_loss_sees_a_shift_and_a_reversal(magnitude):
    content = _log1p_spec(magnitude)
    shifted = _log1p_spec(torch.roll(magnitude, 15, dims=1))
    reversed_ = _log1p_spec(torch.flip(magnitude, dims=(1,)))
    # 2 (1 - r): 0 for the same shape, 2 for unrelated shapes
    assert _shape_loss(shifted, content) > 0.5
    assert _shape_loss(reversed_, content) > 0.5


def test_the_window_leaves_fast_changes_to_the_style(magnitude):
    content = _log1p_spec(magnitude)
    g = torch.Generator().manual_seed(1)
    # grain: every bin's level flutters frame to frame (log-normal, about 6 dB)
    grainy = _log1p_spec(magnitude * torch.exp(0.7 * torch.randn(BINS, FRAMES, generator=g, dtype=torch.float64)))
    plain, windowed = _shape_loss(grainy, content, 1), _shape_loss(grainy, content, 9)
    assert windowed < 0.5 * plain, (plain, windowed)


def test_band_log_power_averages_power_over_the_window():
    power = torch.tensor([[1.0, 3.0, 5.0, 7.0]], dtype=torch.float64)
    spec = torch.log1p(power.sqrt())
    out = L.band_log_power(spec, torch.eye(1, dtype=torch.float64), 0.0, window=2)
    np.testing.assert_allclose(out.numpy(), np.log([[2.0, 4.0, 6.0]]), rtol=1e-6)


def test_bands_far_below_the_content_s_loudest_carry_no_weight():
    magnitude = torch.ones(BINS, FRAMES, dtype=torch.float64)
    magnitude[BINS // 2:] = 1e-4  # 80 dB down
    bands = L.band_matrix(BINS, 16).to(torch.float64)
    weights = L.content_band_weights(L.band_power(torch.log1p(magnitude), bands))
    loud = (bands[:, :BINS // 2].sum(dim=1) == 1.0)
    quiet = (bands[:, BINS // 2:].sum(dim=1) == 1.0)
    assert float(weights.sum()) == pytest.approx(1.0)
    assert torch.all(weights[quiet] == 0) and torch.all(weights[loud] > 0)


def test_objective_reports_the_envelope_term_and_its_gradient_flows(magnitude):
    content = _log1p_spec(magnitude).numpy().astype(np.float32)
    objective = _envelope_objective(content)
    x = torch.from_numpy(np.roll(content, 20, axis=1)).requires_grad_()
    total, terms = objective(x)
    total.backward()
    assert "content" in objective.term_names
    assert float(terms.detach()[objective.term_names.index("content")]) > 0.1
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
    _, at_content = objective(torch.from_numpy(content))
    assert float(at_content[objective.term_names.index("content")]) < 1e-4


def test_content_top_db_leaves_bands_that_far_below_the_loudest_to_the_style():
    """A content whose upper half is 35 dB down: held at content_top_db 40, left free at 30."""
    magnitude = torch.ones(BINS, FRAMES, dtype=torch.float64)
    magnitude[BINS // 2:] = 10 ** (-35 / 20)
    content = torch.log1p(magnitude).numpy().astype(np.float32)
    quiet_weights = []
    for top_db in (40.0, 30.0):
        objective = _envelope_objective(content, content_top_db=top_db)
        weights = objective.content_band_weights[0]
        quiet = objective.content_bands[:, BINS // 2:].sum(dim=1) == 1.0
        assert float(weights.sum()) == pytest.approx(1.0) and bool(quiet.any()) and bool((~quiet).any())
        assert torch.all(weights[~quiet] > 0)
        quiet_weights.append(weights[quiet])
    assert torch.all(quiet_weights[0] > 0) and torch.all(quiet_weights[1] == 0)


def test_content_onset_weight_scales_the_onset_part_of_the_content_term(magnitude):
    content = _log1p_spec(magnitude).numpy().astype(np.float32)
    shifted = torch.from_numpy(np.roll(content, 20, axis=1))
    content_terms = []
    for onset_weight in (0.0, 3.0, 10.0):
        objective = _envelope_objective(content, content_onset_weight=onset_weight)
        content_terms.append(float(objective(shifted)[1][objective.term_names.index("content")]))
    envelopes_only, three, ten = content_terms
    onset_part = (ten - envelopes_only) / 10.0
    assert envelopes_only > 0.1 and onset_part > 0.1  # a shifted copy is off in both
    assert (three - envelopes_only) / 3.0 == pytest.approx(onset_part, rel=1e-4)


def test_content_bands_sets_how_finely_the_content_term_tells_partials_apart():
    """Two partials in one coarse band, one rising while the other falls: an output with the two swapped has
    the same coarse band power, so only finer content bands see it (the style's bands stay as they are)."""
    ramp = torch.linspace(0.0, 1.0, FRAMES, dtype=torch.float64)
    magnitude = torch.full((BINS, FRAMES), 1e-3, dtype=torch.float64)
    magnitude[44], magnitude[56] = 0.1 + ramp, 1.1 - ramp
    swapped = magnitude.clone()
    swapped[44], swapped[56] = magnitude[56], magnitude[44]
    content = torch.log1p(magnitude).numpy().astype(np.float32)
    style_bands = L.band_matrix(BINS, P.resolve({"preset": "fast"}, kind="transfer")["bands"]).shape[0]
    content_terms = {}
    for n_bands in (8, 64):
        objective = _envelope_objective(content, content_bands=n_bands)
        assert objective.bands.shape[0] == style_bands  # the style's bands stay at the preset's ``bands``
        terms = objective(torch.log1p(swapped).float())[1]
        content_terms[n_bands] = float(terms[objective.term_names.index("content")])
    assert content_terms[8] < 0.05 and content_terms[64] > 1.0, content_terms


def test_content_pause_db_leaves_the_content_s_pauses_to_the_style(magnitude):
    """A content with a pause 100 dB down: an output that follows it where it sounds and goes on at a steady
    level through the pause, as a style would, meets the content term with content_pause_db; without it,
    the term asks for the hole."""
    pause = slice(40, 80)
    with_pause = magnitude.clone()
    with_pause[:, pause] = 1e-5
    filled = with_pause.clone()
    g = torch.Generator().manual_seed(2)
    filled[:, pause] = 1.0 + 0.3 * torch.rand(BINS, 40, generator=g, dtype=torch.float64)
    content = torch.log1p(with_pause).numpy().astype(np.float32)
    output = torch.log1p(filled).float()
    content_terms = {}
    for pause_db in (None, 30.0):
        # one-frame envelopes and no onset part: the envelope term alone, frame by frame
        objective = _envelope_objective(content, content_pause_db=pause_db, content_window=0.01,
                                        content_onset_weight=0.0)
        content_terms[pause_db] = float(objective(output)[1][objective.term_names.index("content")])
        if pause_db is not None:
            held = objective.held_frames[0]
            assert held.shape == (FRAMES,) and torch.all(held[pause] == 0)
            assert float(held[int(torch.argmax(with_pause.sum(dim=0)))]) == 1.0
    assert content_terms[30.0] < 1e-3 and content_terms[None] > 0.5, content_terms


def test_content_pause_db_changes_nothing_where_the_content_never_pauses(magnitude):
    steady = (1.0 + magnitude).numpy().astype(np.float32)  # never more than a few dB below its loudest
    output = torch.from_numpy(np.roll(np.log1p(steady), 20, axis=1))
    content = np.log1p(steady)
    terms = [float(o(output)[1][o.term_names.index("content")])
             for o in (_envelope_objective(content), _envelope_objective(content, content_pause_db=30.0))]
    assert terms[0] > 0.1 and terms[1] == pytest.approx(terms[0], rel=1e-5)
