"""The copy term: correlations of mean-removed patches at every shift, the honest level, the hinge."""
import numpy as np
import pytest
import torch

from audiotex import losses as L
from audiotex import params as P
from audiotex.synthesis import build_objective, synthesize


def noise(channels, frames, seed):
    return torch.rand(channels, frames, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("step", [1, 3])
def test_patch_correlations_equal_the_definition_written_out(step):
    spec, reference = noise(6, 40, 0), noise(6, 55, 1)
    window = 9
    got = L.patch_correlations(spec, L.patch_reference(reference, window), step)
    starts = range(0, 40 - window + 1, step)
    assert got.shape == (len(starts), 55 - window + 1)
    for q, t in enumerate(starts):
        a = spec[:, t:t + window] - spec[:, t:t + window].mean(dim=1, keepdim=True)
        for s in (0, 17, 55 - window):
            b = reference[:, s:s + window] - reference[:, s:s + window].mean(dim=1, keepdim=True)
            expected = (a * b).sum() / (a.norm() * b.norm())
            assert abs(float(got[q, s] - expected)) < 1e-5


def test_a_shifted_copy_correlates_one_and_an_offset_or_gain_does_not_matter():
    reference = noise(8, 120, 2)
    copy = 3.0 * reference[:, 31:81] + 5.0  # another level and depth, the same rises and falls
    best = L.patch_correlations(copy, L.patch_reference(reference, 20), 5).amax(dim=1)
    assert float(best.min()) > 0.999
    fresh = L.patch_correlations(noise(8, 50, 3), L.patch_reference(reference, 20), 5).amax(dim=1)
    assert float(fresh.max()) < 0.5


def test_honest_level_is_high_for_a_repeating_clip_and_low_for_noise():
    loop = noise(8, 30, 4).repeat(1, 8)  # 240 frames: the second half repeats the first exactly
    assert L.honest_copy_level(loop, 20, 5) > 0.999
    assert L.honest_copy_level(noise(8, 240, 5), 20, 5) < 0.5


def test_copy_loss_is_zero_below_the_honest_level_and_its_gradient_moves_a_copy_away():
    reference = noise(8, 200, 6)
    prepared = L.patch_reference(reference, 20)
    level = L.honest_copy_level(reference, 20, 5)
    assert float(L.copy_loss(noise(8, 80, 7), prepared, 1.0, 5)) == 0.0  # nothing correlates above 1
    copy = reference[:, 50:130].clone().requires_grad_(True)
    loss = L.copy_loss(copy, prepared, level, 5)
    assert float(loss.detach()) == pytest.approx((1.0 - level) ** 2, rel=1e-3)
    loss.backward()
    stepped = (copy - 0.5 * copy.grad / copy.grad.norm()).detach()
    assert float(L.copy_loss(stepped, prepared, level, 5)) < loss.item()


def test_copy_loss_fits_an_output_shorter_than_the_window():
    reference = noise(8, 200, 8)
    loss = L.copy_loss(reference[:, 10:25], L.patch_reference(reference, 40), 0.0, 5)
    assert float(loss) > 0.9  # a 15-frame copy, compared over 15 frames


def objective_settings(**kw):
    return P.stage_settings(P.resolve({"preset": "fast", "layers": "5x32", "sr": 8000, "n_fft": 256,
                                       "hop_length": 64, "diversity_window": 0.25, **kw}), "synthesize")


def test_the_objective_penalises_a_copy_of_the_style_and_not_a_fresh_draw():
    gen = np.random.default_rng(9)
    style = np.log1p(gen.gamma(1.0, 1.0, size=(129, 300))).astype(np.float32)
    objective = build_objective(style, None, 150, objective_settings(copy_weight=1.0), "cpu", 125.0)
    assert objective.term_names[-1] == "copy"
    copy_term = lambda x: float(objective(torch.tensor(x))[1][-1])
    fresh = np.log1p(gen.gamma(1.0, 1.0, size=(129, 150))).astype(np.float32)
    assert copy_term(style[:, 100:250]) > 0.5
    assert copy_term(fresh) < 0.01


def test_synthesis_with_the_copy_term_copies_less_than_without():
    gen = np.random.default_rng(10)
    # slow swells common to all bins: the scrambled start keeps them, and with them stretches of the style
    swell = np.convolve(gen.standard_normal(240), np.hanning(40), mode="valid")[:200]
    style = np.log1p(gen.gamma(1.0, 1.0, size=(129, 200)) * np.exp(swell / swell.std())).astype(np.float32)
    settings = objective_settings(copy_weight=0.0, iterations=15, init="phase_db", seed=0)
    plain = synthesize(style, None, n_frames=200, settings=settings).spectrogram
    penalised = synthesize(style, None, n_frames=200, settings={**settings, "copy_weight": 1e3}).spectrogram
    objective = build_objective(style, None, 200, {**settings, "copy_weight": 1.0}, "cpu", 125.0)
    copying = lambda x: float(objective(torch.tensor(x))[1][-1])
    assert copying(penalised) < 0.75 * copying(plain), (copying(plain), copying(penalised))
