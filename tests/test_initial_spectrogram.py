"""The starting point of the optimisation: init='shaped' is the spectrogram of a real sound."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiotex import params as P
from audiotex.inversion import griffin_lim, stft
from audiotex.metrics import spectral_convergence
from audiotex.synthesis import initial_spectrogram

N_FFT, HOP = 512, 128


def band_limited_style(seconds: float = 2.0, sr: int = 16000) -> np.ndarray:
    """log1p|STFT| of noise with nothing above a quarter of the band but a floor 40 dB down."""
    rng = np.random.default_rng(7)
    spectrum = np.fft.rfft(rng.standard_normal(int(seconds * sr)))
    gain = np.where(np.arange(len(spectrum)) < len(spectrum) // 4, 1.0, 0.01)
    y = torch.from_numpy(np.fft.irfft(spectrum * gain).astype(np.float32))
    return np.log1p(stft(y, N_FFT, HOP, torch.hann_window(N_FFT)).abs().numpy())


def inconsistency(log_magnitude: np.ndarray) -> float:
    """Spectral convergence Griffin-Lim reaches on a magnitude: ~0 when it is the STFT of some signal."""
    magnitude = np.expm1(np.maximum(log_magnitude, 0.0))
    y = griffin_lim(magnitude, N_FFT, HOP, n_iter=60, momentum=0.99)
    return spectral_convergence(magnitude, y, N_FFT, HOP)


def test_shaped_init_has_the_style_average_magnitude_per_bin():
    style = band_limited_style()
    x0 = initial_spectrogram(style, 300, "shaped", 1e-3, seed=0, hop_length=HOP)
    assert x0.shape == (style.shape[0], 300) and x0.dtype == np.float32 and x0.flags.c_contiguous
    np.testing.assert_allclose(np.expm1(x0).mean(axis=1), np.expm1(style).mean(axis=1), rtol=1e-3, atol=1e-9)
    assert not np.array_equal(x0, initial_spectrogram(style, 300, "shaped", 1e-3, seed=1, hop_length=HOP))


def test_shaped_init_is_a_consistent_spectrogram_and_independent_noise_is_not():
    # independent values per bin and frame are the STFT of no signal: Griffin-Lim cannot realise them and
    # leaks energy into the empty band of a band-limited style, in a pattern set by the seed alone
    style = band_limited_style()
    shaped = inconsistency(initial_spectrogram(style, 300, "shaped", 1e-3, seed=0, hop_length=HOP))
    independent = inconsistency(initial_spectrogram(style, 300, "spectrum", 1e-3, seed=0))
    assert shaped < 0.1 < independent


def test_unknown_init_is_refused_by_the_vocabulary():
    with pytest.raises(Exception, match="init"):
        P.validate({"init": "zeros"})


def test_level_loss_is_zero_for_the_style_and_sees_a_quiet_band_raised():
    import torch

    from audiotex import losses as L

    style = torch.from_numpy(band_limited_style())
    floor = float(torch.expm1(style.max())) * 1e-3
    target = L.bin_levels(style, floor)
    raised = style.clone()
    quiet = slice(style.shape[0] // 2, None)
    raised[quiet] = torch.log1p(torch.expm1(style[quiet]) * 10.0)  # the empty band 20 dB up
    assert float(L.level_loss(style, *target, floor)) == pytest.approx(0.0, abs=1e-10)
    # half the bins 20 dB (2.3 natural-log units) up: at most 2.3 ** 2 / 2, less where the floor counts
    raised_loss = float(L.level_loss(raised, *target, floor))
    assert 1.0 < raised_loss <= 2.3 ** 2 / 2 + 0.5
    # the same band raised 20 dB in one frame in ten (blips): the spread sees it more than the mean does
    blips = style.clone()
    blips[quiet, ::10] = torch.log1p(torch.expm1(style[quiet, ::10]) * 10.0)
    mean, std = L.bin_levels(blips, floor)
    mean_term, spread_term = float(((mean - target[0]) ** 2).mean()), float(((std - target[1]) ** 2).mean())
    assert 0.0 < mean_term < 0.05 and spread_term > 1.5 * mean_term

