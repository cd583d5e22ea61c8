"""The level loss: quiet bands of a band-limited style stay as quiet, and as steady, as the style's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiotex import params as P
from audiotex.inversion import stft

N_FFT, HOP = 512, 128


def band_limited_style(seconds: float = 2.0, sr: int = 16000) -> np.ndarray:
    """log1p|STFT| of noise with nothing above a quarter of the band but a floor 40 dB down."""
    rng = np.random.default_rng(7)
    spectrum = np.fft.rfft(rng.standard_normal(int(seconds * sr)))
    gain = np.where(np.arange(len(spectrum)) < len(spectrum) // 4, 1.0, 0.01)
    y = torch.from_numpy(np.fft.irfft(spectrum * gain).astype(np.float32))
    return np.log1p(stft(y, N_FFT, HOP, torch.hann_window(N_FFT)).abs().numpy())


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



def test_level_term_of_a_batch_equals_each_row_alone():
    from audiotex.synthesis import Objective

    settings = P.stage_settings(P.resolve({"preset": "fast", "level_weight": 1.0}), "synthesize")
    styles = [torch.from_numpy(band_limited_style(seconds)) for seconds in (2.0, 1.5)]
    outputs = torch.stack([styles[0][:, :100], styles[1][:, 20:120]]) * 1.1
    batched = Objective(styles, None, 100, settings, 125.0)
    total, terms = batched(outputs)
    level = batched.term_names.index("level")
    for row, style in enumerate(styles):
        single_total, single_terms = Objective(style, None, 100, settings, 125.0)(outputs[row])
        assert float(terms[row, level]) == pytest.approx(float(single_terms[level]), rel=1e-5)
        assert float(terms[row, level]) > 0
