"""Feature banks, loss terms and the optimisation loop."""
from pathlib import Path

import numpy as np
import pytest
import torch

from audiotex import losses as L
from audiotex import params as P
from audiotex import steps
from audiotex.banks import bank_features, make_bank, parse_layers
from audiotex.errors import AudiotexError
from audiotex.spectrogram import load_spectrogram
from audiotex.synthesis import synthesize

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
# Style term only, unless a test turns another on: the tests below measure what each term does.
# The whole style, edge frames included (test_fades covers leaving them out): a 2 s cut's edge frames
# alone make up half the first style loss, so trimming them would change what these tests measure.
TINY = {"preset": "fast", "layers": "5x64,9x64/2", "iterations": 25, "sr": 8000, "n_fft": 256,
        "band_weight": 0.0, "moment_weight": 0.0, "style_edge_frames": 0}


@pytest.fixture(scope="module")
def fire_spec(tmp_path_factory):
    out = tmp_path_factory.mktemp("spec") / "fire.npy"
    steps.spectrogram_file(DEMO / "env_fire_furnace_minetest.ogg", out, {**TINY, "input_duration": 2.0})
    return load_spectrogram(out)[0]


def tiny_settings(**kw):
    return P.stage_settings(P.resolve(TINY, kw), "synthesize")


def test_parse_layers():
    layers = parse_layers("11x4096, 3x16/2")
    assert [(l.width, l.filters, l.pool) for l in layers] == [(11, 4096, 1), (3, 16, 2)]
    with pytest.raises(AudiotexError, match="layers"):
        parse_layers("11x0")


@pytest.mark.parametrize("text", ["11x4096", " 3 x 16 / 2 ,5x8", "63x256/2,3x256", "11x4096,", "11*4096",
                                  "11x", "x16", "3x16/", "3x16/2/2", "", "3x16;5x8", "-3x16"])
def test_schema_pattern_and_parser_accept_the_same_layer_specs(text):
    """One grammar: what the schemas let through is exactly what parse_layers reads."""
    import re

    try:
        parse_layers(text)
        parsed = True
    except AudiotexError:
        parsed = False
    assert bool(re.match(P.LAYERS_PATTERN, text)) == parsed


def test_bank_is_seeded_and_has_the_seed_std():
    layers = parse_layers("11x512")
    a, b, c = make_bank(1025, layers, 1), make_bank(1025, layers, 1), make_bank(1025, layers, 2)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    expected = np.sqrt(2) * np.sqrt(2 / ((1025 + 512) * 11))
    assert float(a[0].std()) == pytest.approx(expected, rel=0.02)


def test_features_shapes_pool_and_circular():
    layers = parse_layers("5x8,3x4/2")
    kernels = make_bank(10, layers, 0)
    x = torch.rand(10, 40)
    f = bank_features(x, kernels, layers)
    assert f[0].shape == (8, 36) and f[1].shape == (4, 18)
    fc = bank_features(x, kernels, layers, circular=True)
    assert fc[0].shape == (8, 40) and fc[1].shape == (4, 20)
    assert all((t >= 0).all() for t in f)  # ReLU


def test_a_loops_pooled_layer_sees_every_frame_and_wraps_at_the_seam():
    """With an odd number of frames, pooling by 2 dropped a loop's last frame: no gradient reached it, and
    the pooled layer joined frame n-2 to frame 0. It now pools across the seam."""
    layers = parse_layers("3x8/2")
    kernels = make_bank(6, layers, 0)
    x = torch.rand(6, 31, generator=torch.Generator().manual_seed(0), requires_grad=True)
    features = bank_features(x, kernels, layers, circular=True)[0]
    assert features.shape == (8, 16)  # ceil(31 / 2) pooled frames, all kept by the circular convolution
    features.sum().backward()
    assert float(x.grad[:, -1].abs().sum()) > 0.0
    # an even count pools as before: rolling the loop by two frames rolls its pooled features by one
    even = torch.rand(6, 30, generator=torch.Generator().manual_seed(1))
    once = bank_features(even, kernels, layers, circular=True)[0]
    rolled = bank_features(torch.roll(even, 2, dims=1), kernels, layers, circular=True)[0]
    assert torch.allclose(torch.roll(once, 1, dims=1), rolled, atol=1e-6)


def test_gram_is_independent_of_length():
    """A signal looped twice has the same Gram as once (circular features): outputs may be any length."""
    layers = parse_layers("5x16")
    kernels = make_bank(12, layers, 0)
    x = torch.rand(12, 30)
    once = L.gram(bank_features(x, kernels, layers, circular=True)[0])
    twice = L.gram(bank_features(torch.cat([x, x], 1), kernels, layers, circular=True)[0])
    assert torch.allclose(once, twice, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(once, L.gram(bank_features(torch.rand(12, 30), kernels, layers, True)[0]))


def test_autocorrelation_matches_direct_sum():
    f = torch.rand(3, 50)
    ac = L.autocorrelation(f, 7)
    for lag in (1, 4, 7):
        direct = (f[:, :-lag] * f[:, lag:]).sum(1) / (50 - lag)
        assert torch.allclose(ac[:, lag - 1], direct, atol=1e-5)


def test_diversity_sees_copies_at_any_shift():
    rng = torch.Generator().manual_seed(0)
    ref = torch.rand(20, 200, generator=rng)
    shifted_copy = ref[:, 37:137].clone()
    fresh = torch.rand(20, 100, generator=rng)
    assert float(L.diversity_loss(shifted_copy, ref, 20)) > 0.99
    assert float(L.diversity_loss(fresh, ref, 20)) < 0.5


@pytest.mark.parametrize("frames,reference_frames,window", [(120, 90, 17), (40, 200, 40), (30, 30, 1)])
def test_shift_similarity_equals_the_identity_convolution(frames, reference_frames, window):
    """The running-sum form gives the w x w identity convolution's values (its definition, written out)."""
    gen = torch.Generator().manual_seed(frames)
    spec, reference = torch.rand(16, frames, generator=gen), torch.rand(16, reference_frames, generator=gen)
    centre = reference.mean(dim=1, keepdim=True)

    def unit(x):
        x = x - centre
        return x / (x.norm(dim=0, keepdim=True) + 1e-8)

    frame_sim = unit(spec).T @ unit(reference)
    eye = torch.eye(window)[None, None] / window
    expected = torch.nn.functional.conv2d(frame_sim[None, None], eye)[0, 0]
    got = L.shift_similarity(spec, reference, window)
    assert got.shape == expected.shape == (frames - window + 1, reference_frames - window + 1)
    assert float((got - expected).abs().max()) < 1e-6
    prepared = L.shift_similarity(spec, L.frame_reference(reference), window)
    assert torch.equal(prepared, got)


def test_diversity_gradient_equals_the_identity_convolution_gradient():
    gen = torch.Generator().manual_seed(1)
    spec, reference = torch.rand(8, 50, generator=gen), torch.rand(8, 60, generator=gen)
    ref = L.frame_reference(reference)

    def by_convolution(x):
        sim = L.unit_frames(x, ref.centre).T @ ref.units
        sim = torch.nn.functional.conv2d(sim[None, None], torch.eye(9)[None, None] / 9)[0, 0]
        return (torch.logsumexp(20.0 * sim, dim=1) / 20.0).mean()

    a, b = spec.clone().requires_grad_(True), spec.clone().requires_grad_(True)
    L.diversity_loss(a, ref, 9).backward()
    by_convolution(b).backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-6, rtol=1e-4)


def test_texture_lowers_style_loss_by_orders_of_magnitude(fire_spec):
    result = synthesize(fire_spec, None, n_frames=fire_spec.shape[1], settings=tiny_settings())
    first, last = result.losses[0]["style"], result.losses[-1]["style"]
    assert last < first / 100, (first, last)
    assert result.spectrogram.shape == fire_spec.shape


def test_output_may_be_longer_than_the_style(fire_spec):
    n = int(fire_spec.shape[1] * 2.5)
    result = synthesize(fire_spec, None, n_frames=n, settings=tiny_settings())
    assert result.spectrogram.shape == (fire_spec.shape[0], n)
    assert result.losses[-1]["style"] < result.losses[0]["style"] / 100


def test_same_seed_same_result_other_seed_other_result(fire_spec):
    s = tiny_settings(iterations=5)
    a = synthesize(fire_spec, None, n_frames=60, settings=s).spectrogram
    b = synthesize(fire_spec, None, n_frames=60, settings=s).spectrogram
    c = synthesize(fire_spec, None, n_frames=60, settings={**s, "seed": 1}).spectrogram
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_every_loss_term_and_switch_runs(fire_spec):
    s = tiny_settings(iterations=4, autocorr_weight=1.0, diversity_weight=1.0, spectrum_weight=1.0,
                      band_weight=1.0, moment_weight=1.0, loss="smooth_l1", gram_norm="elements", loop=True)
    result = synthesize(fire_spec, fire_spec[:, :50], n_frames=70, settings=s)
    first, last = result.losses[0], result.losses[-1]
    terms = {"style", "content", "autocorr", "diversity", "spectrum", "bands", "moments"}
    assert terms <= last.keys()
    assert all(np.isfinite(last[name]) and last[name] > 0 for name in terms), last
    assert last["loss"] < 0.8 * first["loss"], (first, last)
    # the two terms furthest from their targets at the start must be pulled toward them
    assert last["bands"] < 0.8 * first["bands"] and last["moments"] < 0.5 * first["moments"], (first, last)


def test_adam_with_normalized_gradients_lowers_the_style_loss_tenfold(fire_spec):
    adam = synthesize(fire_spec, None, n_frames=50, settings=tiny_settings(iterations=30, optimizer="adam",
                                                                           normalize_gradients=True))
    first, last = adam.losses[0]["style"], adam.losses[-1]["style"]
    assert last < first / 10, (first, last)


def test_divergence_stops_with_a_clear_error(fire_spec):
    with pytest.raises(AudiotexError, match="diverged"):
        synthesize(fire_spec, None, n_frames=50,
                   settings=tiny_settings(optimizer="adam", learning_rate=1e6, iterations=3))


def test_too_short_for_the_db_terms_lags(fire_spec):
    """The dB term compares autocovariances out to 16 frames: a style or output of 16 frames or fewer is
    refused by name (it used to crash, or stop as 'diverged' on NaN)."""
    s = tiny_settings(layers="5x8", db_weight=10.0, iterations=2)
    with pytest.raises(AudiotexError, match=r"style clip of 16 frames is too short: the dB term.*17 frames"):
        synthesize(fire_spec[:, :16], None, n_frames=50, settings=s)
    with pytest.raises(AudiotexError, match=r"output of 16 frames is too short: the dB term"):
        synthesize(fire_spec, None, n_frames=16, settings=s)
    result = synthesize(fire_spec[:, :17], None, n_frames=17, settings=s)
    assert np.isfinite(result.spectrogram).all() and result.iterations == 2
    # without the dB term the kernel alone decides
    assert synthesize(fire_spec[:, :16], None, n_frames=16, settings={**s, "db_weight": 0.0}).iterations == 2


def test_too_short_for_the_kernel(fire_spec):
    with pytest.raises(AudiotexError, match="too short: the largest kernel"):
        synthesize(fire_spec[:, :10], None, n_frames=50, settings=tiny_settings(layers="11x8/2"))
    with pytest.raises(AudiotexError, match="ask for a longer duration"):
        synthesize(fire_spec, None, n_frames=5, settings=tiny_settings())
    # a transfer is as long as its content unless told otherwise: the content is what to lengthen
    with pytest.raises(AudiotexError, match="the content clip, and so the output, is 5 frames long.*longer content"):
        synthesize(fire_spec, fire_spec[:, :5], n_frames=5, settings=tiny_settings(duration=None))
    with pytest.raises(AudiotexError, match="ask for a longer duration"):
        synthesize(fire_spec, fire_spec[:, :5], n_frames=5, settings=tiny_settings(duration=0.01))


class Stop(Exception):
    pass


def _interrupted_run(spec, settings, checkpoint, checkpoint_every, stop_at):
    """Run a synthesis that is killed (an exception from its progress callback) at iteration ``stop_at``."""
    def die(iteration, terms):
        if iteration == stop_at:
            raise Stop

    with pytest.raises(Stop):
        synthesize(spec, None, n_frames=60, settings=settings, checkpoint=checkpoint,
                   checkpoint_every=checkpoint_every, progress=die)


@pytest.mark.parametrize("optimizer,atol", [({}, 1e-5), ({"optimizer": "adam", "learning_rate": 0.05}, 1e-6)],
                         ids=["lbfgs", "adam"])
def test_checkpoint_resume_equals_uninterrupted_run(fire_spec, tmp_path, optimizer, atol):
    """The optimiser's state (L-BFGS history, Adam's moment estimates) travels in the checkpoint: a resumed
    run continues exactly."""
    s = tiny_settings(iterations=12, **optimizer)
    reference = synthesize(fire_spec, None, n_frames=60, settings=s)
    ckpt = tmp_path / "run.pt"
    _interrupted_run(fire_spec, s, ckpt, checkpoint_every=5, stop_at=8)
    assert ckpt.exists()
    resumed = synthesize(fire_spec, None, n_frames=60, settings=s, checkpoint=ckpt, checkpoint_every=5)
    assert resumed.resumed_from == 5
    assert [r["iteration"] for r in resumed.losses] == list(range(1, 13))
    assert np.allclose(resumed.spectrogram, reference.spectrogram, rtol=0, atol=atol)
    assert [r["loss"] for r in resumed.losses[5:]] == pytest.approx([r["loss"] for r in reference.losses[5:]],
                                                                    rel=1e-5)
    # the iterations after the checkpoint did change the result: the equality above is not trivial
    assert not np.allclose(reference.spectrogram, synthesize(fire_spec, None, n_frames=60,
                                                              settings={**s, "iterations": 5}).spectrogram)


def test_changed_settings_discard_the_checkpoint(fire_spec, tmp_path):
    s = tiny_settings(iterations=6)
    ckpt = tmp_path / "run.pt"
    _interrupted_run(fire_spec, s, ckpt, checkpoint_every=3, stop_at=4)
    again = synthesize(fire_spec, None, n_frames=60, settings={**s, "style_weight": 2.0}, checkpoint=ckpt,
                       checkpoint_every=3)
    assert again.resumed_from is None


def test_band_statistics_term():
    bands = L.band_matrix(257, 32)
    assert bands.shape[1] == 257 and 16 <= bands.shape[0] <= 32
    assert torch.allclose(bands.sum(1), torch.ones(bands.shape[0]))
    assert float(bands[:, 0].sum()) == 0.0  # DC is left out
    steady = torch.ones(257, 40) * torch.linspace(0, 2, 257)[:, None]
    mean, cov = L.band_covariance(steady, bands)
    assert torch.allclose(cov, torch.zeros_like(cov), atol=1e-6)
    pumping = steady * (1 + 0.5 * torch.sin(torch.arange(40.0)))[None, :]  # all bands up and down together
    _, cov_p = L.band_covariance(pumping, bands)
    corr = cov_p / torch.sqrt(torch.outer(cov_p.diag(), cov_p.diag()))
    assert float(corr[5, -5]) > 0.99
    assert float(L.band_loss(pumping, bands, mean, cov)) > float(L.band_loss(steady, bands, mean, cov)) == 0.0


def _band_distances(spec, style, n_bands):
    """Band-statistics and band-moments distances of ``spec`` from ``style``, over the loss's own bands."""
    bands = L.band_matrix(style.shape[0], n_bands)
    x, target = torch.from_numpy(spec), torch.from_numpy(style)
    return (float(L.band_loss(x, bands, *L.band_covariance(target, bands))),
            float(L.moment_loss(x, bands, *L.band_moments(target, bands))))


# measured on the bands the loss optimises (key bands, 48 by default), not some other banding
@pytest.mark.parametrize("weight_key,weight,distance_index,factor", [("band_weight", 100.0, 0, 100),
                                                                     ("moment_weight", 1.0, 1, 10)],
                         ids=["bands_a_hundredfold", "moments_tenfold"])
def test_band_term_lowers_its_distance(fire_spec, weight_key, weight, distance_index, factor):
    s = tiny_settings(iterations=15)
    plain = synthesize(fire_spec, None, n_frames=60, settings=s)
    weighted = synthesize(fire_spec, None, n_frames=60, settings={**s, weight_key: weight})
    plain_distance = _band_distances(plain.spectrogram, fire_spec, s["bands"])[distance_index]
    weighted_distance = _band_distances(weighted.spectrogram, fire_spec, s["bands"])[distance_index]
    assert weighted_distance < plain_distance / factor, (plain_distance, weighted_distance)


def test_waveform_refinement_matches_statistics_better_than_griffin_lim(fire_spec):
    from audiotex.inversion import griffin_lim
    from audiotex.synthesis import Objective, synthesize_waveform

    s = tiny_settings(iterations=15)
    spec = synthesize(fire_spec, None, n_frames=60, settings=s).spectrogram
    y0 = griffin_lim(np.expm1(np.maximum(spec, 0)), 256, 64, n_iter=16)
    y1 = synthesize_waveform(y0, fire_spec, None, n_fft=256, hop_length=64, settings=s, iterations=15)

    def loss_of(y):
        mag = torch.stft(torch.from_numpy(y), 256, 64, window=torch.hann_window(256), center=True,
                         pad_mode="constant", return_complex=True).abs()
        spec_y = torch.log1p(mag)
        return float(Objective(torch.from_numpy(fire_spec), None, spec_y.shape[1], s, 31.25)(spec_y)[0])

    assert y1.shape == y0.shape and np.isfinite(y1).all()
    assert loss_of(y1) < loss_of(y0) / 2, (loss_of(y0), loss_of(y1))


def test_band_moments_tell_sparse_from_gaussian():
    bands = L.band_matrix(64, 8)
    gen = torch.Generator().manual_seed(0)
    gaussian = 2 + 0.3 * torch.randn(64, 2000, generator=gen)
    clicks = 2 + 3.0 * (torch.rand(1, 2000, generator=gen) > 0.98).float() + 0.05 * torch.randn(64, 2000, generator=gen)
    g_skew, g_logk = L.band_moments(gaussian, bands)
    c_skew, c_logk = L.band_moments(clicks, bands)
    assert float(g_skew.abs().max()) < 0.3 and float(g_logk.mean()) == pytest.approx(np.log(3), abs=0.2)
    assert float(c_skew.min()) > 3 and float(c_logk.min()) > np.log(10)
    assert float(L.moment_loss(gaussian, bands, c_skew, c_logk)) > 1.0
    assert float(L.moment_loss(clicks, bands, c_skew, c_logk)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("n_frames", [18, 30, 60])
def test_rhythm_term_with_a_pooled_layer_stays_finite(fire_spec, n_frames):
    """The lag cap must follow each layer's feature length, pooled layers included (issue 11, item 1)."""
    s = tiny_settings(layers="5x16,9x16/2", autocorr_weight=1.0, iterations=3)
    result = synthesize(fire_spec, None, n_frames=n_frames, settings=s)
    assert all(np.isfinite(row["autocorr"]) and np.isfinite(row["loss"]) for row in result.losses)
    assert result.losses[-1]["autocorr"] > 0.0


def test_an_empty_band_in_the_style_keeps_the_moment_term_finite(fire_spec):
    """A constant band envelope has kurtosis 0: its log was -inf, the moment term infinite, and the first
    step NaN ('diverged at iteration 1')."""
    style = fire_spec.copy()
    style[80:] = 0.0  # nothing above a cutoff, exactly
    skew, log_kurtosis = L.envelope_moments(torch.zeros(3, 50))
    assert torch.isfinite(skew).all() and torch.isfinite(log_kurtosis).all()
    result = synthesize(style, None, n_frames=60, settings=tiny_settings(iterations=3))
    assert all(np.isfinite(row["loss"]) for row in result.losses) and result.iterations == 3


def test_autocorrelation_of_a_single_frame_is_finite():
    ac = L.autocorrelation(torch.rand(3, 1), 1)
    assert ac.shape == (3, 1) and torch.isfinite(ac).all()


def test_float64_input_gives_the_float32_result(fire_spec):
    """A float64 array (numpy's default) used to raise a raw 'expected scalar type Double' RuntimeError."""
    from audiotex.synthesis import synthesize_waveform

    s = tiny_settings(iterations=3, content_weight=1.0)
    single = synthesize(fire_spec, fire_spec, n_frames=50, settings=s).spectrogram
    double = synthesize(fire_spec.astype(np.float64), fire_spec.astype(np.float64), n_frames=50, settings=s)
    assert double.spectrogram.dtype == np.float32
    assert np.allclose(double.spectrogram, single, atol=1e-5)
    y0 = np.random.default_rng(0).standard_normal(3200).astype(np.float32) * 0.1
    wave32 = synthesize_waveform(y0, fire_spec, None, n_fft=256, hop_length=64, settings=s, iterations=2)
    wave64 = synthesize_waveform(y0.astype(np.float64), fire_spec.astype(np.float64), None, n_fft=256,
                                 hop_length=64, settings=s, iterations=2)
    assert wave64.dtype == np.float32 and np.allclose(wave64, wave32, atol=1e-5)


@pytest.fixture(scope="module")
def speech_spec(tmp_path_factory):
    out = tmp_path_factory.mktemp("spec") / "speech.npy"
    steps.spectrogram_file(DEMO / "sp_arctic_a0009.wav", out, {**TINY, "input_duration": 1.0})
    return load_spectrogram(out)[0]


def _waveform_objective(y, style, content, settings):
    """The objective of the waveform's own log1p|STFT| (n_fft 256, hop 64, 8 kHz), total and terms."""
    from audiotex.synthesis import Objective

    from audiotex.inversion import log_magnitude, stft

    spec = log_magnitude(stft(torch.from_numpy(y), 256, 64, torch.hann_window(256)))
    content_t = None if content is None else torch.from_numpy(content[:, :spec.shape[1]])
    objective = Objective(torch.from_numpy(style), content_t, spec.shape[1], settings, 125.0)
    total, terms = objective(spec)
    return float(total), dict(zip(objective.term_names, terms.tolist()))


@pytest.fixture(scope="module")
def speech_griffin_lim(speech_spec):
    from audiotex.inversion import griffin_lim

    return griffin_lim(np.expm1(speech_spec), 256, 64, n_iter=16)


def test_waveform_optimisation_with_adam_lowers_the_loss_fivefold(fire_spec, speech_griffin_lim):
    from audiotex.synthesis import synthesize_waveform

    s = tiny_settings(optimizer="adam")
    y1 = synthesize_waveform(speech_griffin_lim, fire_spec, None, n_fft=256, hop_length=64, settings=s,
                             iterations=30)
    before, after = _waveform_objective(speech_griffin_lim, fire_spec, None, s)[0], \
        _waveform_objective(y1, fire_spec, None, s)[0]
    assert after < before / 5, (before, after)


def test_waveform_optimisation_with_adam_takes_steps_the_size_of_the_waveform(fire_spec):
    """Adam's step is a fraction of the waveform's RMS: an absolute step (the spectrogram's 0.05) on a quiet
    waveform made the loss it minimises 100x worse in 5 iterations."""
    from audiotex.inversion import griffin_lim
    from audiotex.synthesis import synthesize_waveform

    s = tiny_settings(optimizer="adam")
    fire_griffin_lim = griffin_lim(np.expm1(fire_spec), 256, 64, n_iter=16)
    for gain in (0.1, 1.0, 10.0):
        y0 = (fire_griffin_lim * gain).astype(np.float32)
        y1 = synthesize_waveform(y0, fire_spec, None, n_fft=256, hop_length=64, settings=s, iterations=5)
        before, after = _waveform_objective(y0, fire_spec, None, s)[0], _waveform_objective(y1, fire_spec, None, s)[0]
        assert after < before, (gain, before, after)


def test_waveform_optimisation_keeps_the_content_when_asked(fire_spec, speech_spec, speech_griffin_lim):
    from audiotex.synthesis import synthesize_waveform

    with_content = tiny_settings(content_weight=1.0)
    kept = synthesize_waveform(speech_griffin_lim, fire_spec, speech_spec, n_fft=256, hop_length=64,
                               settings=with_content, iterations=10)
    dropped = synthesize_waveform(speech_griffin_lim, fire_spec, speech_spec, n_fft=256, hop_length=64,
                                  settings=tiny_settings(content_weight=0.0), iterations=10)
    kept_terms = _waveform_objective(kept, fire_spec, speech_spec, with_content)[1]
    dropped_terms = _waveform_objective(dropped, fire_spec, speech_spec, with_content)[1]
    assert kept_terms["content"] < dropped_terms["content"] / 5, (kept_terms, dropped_terms)


def test_waveform_optimisation_divergence_is_a_clear_error(fire_spec, speech_griffin_lim):
    from audiotex.synthesis import synthesize_waveform

    with pytest.raises(AudiotexError, match="waveform optimisation diverged"):
        synthesize_waveform(speech_griffin_lim, fire_spec, None, n_fft=256, hop_length=64,
                            settings=tiny_settings(optimizer="adam", learning_rate=1e30), iterations=3)


def test_default_preset_end_to_end_refines_toward_the_statistics(tmp_path):
    """The default preset's path, tiny: synthesis, Griffin-Lim, then the waveform optimised against the
    statistics named by the synthesis sidecar (steps._refine_to_statistics) lowers the objective."""
    from audiotex.audio import load_audio
    from audiotex.spectrogram import log_spectrogram
    from audiotex.synthesis import Objective

    tiny = {"preset": "default", "sr": 16000, "input_duration": 1.2, "duration": 1.0, "iterations": 2,
            "n_iter": 8}
    style, out = tmp_path / "style.npy", tmp_path / "out.npy"
    steps.spectrogram_file(DEMO / "env_water_stream_minetest.ogg", style, tiny)
    meta = steps.synthesize_file(style, None, out, tiny, device="cpu")
    assert meta["settings"]["layers"] == P.PRESETS["default"]["layers"]
    plain, refined = tmp_path / "plain.wav", tmp_path / "refined.wav"
    steps.invert_file(out, plain, {**tiny, "refine_iterations": 0}, device="cpu")
    # 32 iterations: the dB and compressed-envelope terms of the default make the first steps short
    steps.invert_file(out, refined, {**tiny, "refine_iterations": 32}, device="cpu")
    style_spec = torch.from_numpy(load_spectrogram(style)[0])
    settings = P.stage_settings(P.resolve(tiny), "synthesize")

    def loss_of(wav):
        spec = torch.from_numpy(log_spectrogram(load_audio(wav, sr=16000), 512, 128))
        return float(Objective(style_spec, None, spec.shape[1], settings, 125.0)(spec)[0])

    assert loss_of(refined) < loss_of(plain) * 0.8, (loss_of(plain), loss_of(refined))


@pytest.mark.parametrize("refine_copy_weight, expected", [(None, 1000.0), (0.0, 0.0), (5.0, 5.0)])
def test_refine_copy_weight_sets_the_copy_term_of_the_waveform_refinement_alone(tmp_path, monkeypatch,
                                                                                refine_copy_weight, expected):
    """The refinement matches the synthesis's own objective, but its copy term's weight is refine_copy_weight
    when set (the sidecar's copy_weight when empty); the synthesis's other terms are left as they were."""
    from audiotex import synthesis

    tiny = {"preset": "default", "sr": 16000, "input_duration": 1.2, "duration": 1.0, "iterations": 1,
            "n_iter": 2, "copy_weight": 1000.0}
    style, out = tmp_path / "style.npy", tmp_path / "out.npy"
    steps.spectrogram_file(DEMO / "env_water_stream_minetest.ogg", style, tiny)
    steps.synthesize_file(style, None, out, tiny, device="cpu")
    seen = []

    def recording(y0, style, content, *, settings, **kwargs):
        seen.append(dict(settings))
        return y0

    monkeypatch.setattr(synthesis, "synthesize_waveform", recording)
    steps.invert_file(out, tmp_path / "out.wav", {**tiny, "refine_iterations": 3,
                                                  "refine_copy_weight": refine_copy_weight}, device="cpu")
    assert [s["copy_weight"] for s in seen] == [expected]
    assert seen[0]["db_weight"] == P.PRESETS["default"]["db_weight"]
