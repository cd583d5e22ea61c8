"""Edges of a style clip, left out of the synthesis: its fades (``style_fade_db``), found where they are,
and the frames whose window reaches past a cut (``style_edge_frames``)."""
import numpy as np
import pytest

from audiotex import params as P
from audiotex.spectrogram import fade_bounds, log_spectrogram
from audiotex.synthesis import (SynthesisProblem, style_span, synthesize, synthesize_waveform, without_fades,
                                without_style_fades)

SR, N_FFT, HOP = 8000, 256, 64
FPS = SR / HOP


def faded_noise(seconds=4.0, fade_in=1.0, fade_out=0.0, depth_db=40.0, seed=0):
    """White noise whose level rises linearly in dB from ``-depth_db`` over ``fade_in`` s, and falls over
    the last ``fade_out`` s."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    gain_db = np.zeros(n)
    if fade_in:
        gain_db = np.where(t < fade_in, -depth_db * (1 - t / fade_in), gain_db)
    if fade_out:
        gain_db = np.where(t > seconds - fade_out, -depth_db * (t - (seconds - fade_out)) / fade_out, gain_db)
    y = np.random.default_rng(seed).standard_normal(n) * 0.1 * 10 ** (gain_db / 20)
    return log_spectrogram(y.astype(np.float32), N_FFT, HOP)


def test_a_fade_in_and_out_are_found_where_they_cross_the_threshold():
    spec = faded_noise(fade_in=1.0, fade_out=0.5)
    start, stop = fade_bounds(spec, 6.0, FPS)
    # the level is within 6 dB of the steady level from 1 - 6/40 s on, and until 4 - 0.5 + 0.5 * 6/40 s
    assert start / FPS == pytest.approx(1.0 - 6 / 40, abs=0.06)
    assert stop / FPS == pytest.approx(3.5 + 0.5 * 6 / 40, abs=0.06)
    trimmed = without_style_fades(spec, settings(style_fade_db=6.0), FPS)
    np.testing.assert_array_equal(trimmed, spec[:, start:stop])
    # a looser threshold keeps more of the fade
    assert fade_bounds(spec, 20.0, FPS)[0] < start


def test_steady_noise_a_sparse_sound_and_an_unset_threshold_keep_every_frame():
    steady = faded_noise(fade_in=0.0)
    assert without_style_fades(steady, settings(style_fade_db=3.0), FPS) is steady
    assert fade_bounds(faded_noise(), None, FPS) == (0, faded_noise().shape[1])
    # clicks over silence: the median level is the silence, so nothing at the edges lies below it
    y = np.zeros(4 * SR, dtype=np.float32)
    y[::SR // 3] = 1.0
    clicks = log_spectrogram(y + 1e-4 * np.random.default_rng(1).standard_normal(y.size).astype(np.float32),
                             N_FFT, HOP)
    start, stop = fade_bounds(clicks, 3.0, FPS)
    assert start <= 2 and stop >= clicks.shape[1] - 2


def test_at_least_the_frames_at_or_above_the_median_level_stay():
    # a 40 dB fade over three quarters of the clip: what goes is the fade's quiet part, never more than half
    spec = faded_noise(seconds=4.0, fade_in=3.0)
    start, stop = fade_bounds(spec, 3.0, FPS)
    assert 0 < start and 2 * (stop - start) >= spec.shape[1] and stop == spec.shape[1]


def settings(**kw):
    return P.stage_settings(P.resolve({"preset": "fast", "layers": "5x32", "sr": SR, "n_fft": N_FFT,
                                       "hop_length": HOP, "iterations": 3, "style_edge_frames": 0, **kw}),
                            "synthesize")


def test_synthesis_from_a_faded_style_equals_synthesis_from_its_trimmed_frames():
    style = faded_noise(seconds=3.0, fade_in=1.0)
    faded = settings(style_fade_db=6.0)
    assert without_fades(SynthesisProblem(style, None, 100, faded), FPS).style.shape[1] < style.shape[1]
    start, stop = fade_bounds(style, 6.0, FPS)
    trimmed = style[:, start:stop]
    a = synthesize(style, None, n_frames=100, settings=faded, lag_frames_per_second=FPS).spectrogram
    b = synthesize(np.ascontiguousarray(trimmed), None, n_frames=100, settings=settings(),
                   lag_frames_per_second=FPS).spectrogram
    np.testing.assert_array_equal(a, b)
    # and the fade is no longer there: without the key the output starts from the faded frames' levels
    c = synthesize(style, None, n_frames=100, settings=settings(), lag_frames_per_second=FPS).spectrogram
    assert not np.array_equal(a, c)


def test_waveform_refinement_uses_the_trimmed_style_too():
    style = faded_noise(seconds=2.0, fade_in=0.6)
    y0 = np.random.default_rng(2).standard_normal(SR).astype(np.float32) * 0.05
    kw = dict(n_fft=N_FFT, hop_length=HOP, iterations=2, lag_frames_per_second=FPS)
    a = synthesize_waveform(y0, style, None, settings=settings(style_fade_db=6.0), **kw)
    trimmed = np.ascontiguousarray(style[:, slice(*fade_bounds(style, 6.0, FPS))])
    b = synthesize_waveform(y0, trimmed, None, settings=settings(), **kw)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, synthesize_waveform(y0, style, None, settings=settings(), **kw))


def test_a_style_is_never_trimmed_below_the_largest_kernel():
    style = faded_noise(seconds=0.5, fade_in=0.3)  # 63 frames, about half of them fade
    wide = settings(layers="41x8", style_fade_db=3.0)
    start, stop = fade_bounds(style, 3.0, FPS)
    assert stop - start < 41
    assert without_fades(SynthesisProblem(style, None, 100, wide), FPS).style is style
    assert style_span(style, wide, FPS) == (0, style.shape[1])
    narrow = settings(layers="5x8", style_fade_db=3.0)
    assert without_fades(SynthesisProblem(style, None, 100, narrow), FPS).style.shape[1] < 41
    assert style_span(style, narrow, FPS) == fade_bounds(style, 3.0, FPS)


def cut_noise(seconds=1.0, seed=0):
    """Noise below 1 kHz cut mid-sound at both ends: the frames reaching past the ends hold a broadband click."""
    n = int(seconds * SR)
    y = np.random.default_rng(seed).standard_normal(n + 2 * N_FFT)
    spectrum = np.fft.rfft(y)
    spectrum[np.fft.rfftfreq(len(y), 1 / SR) > 1000] = 0
    return log_spectrogram(np.fft.irfft(spectrum, len(y))[N_FFT:N_FFT + n].astype(np.float32), N_FFT, HOP)


def test_the_frames_reaching_past_a_cut_are_left_out_of_the_style():
    style = cut_noise()
    high = log_spectrogram(np.zeros(SR, np.float32), N_FFT, HOP).shape[0] // 2  # bins over 2 kHz
    level = style[high:].mean(axis=0)
    # the click: the edge frames are far louder over 2 kHz than the steady frames between them
    assert min(level[0], level[-1]) > 100 * np.median(level)
    assert np.all(level[4:-4] < 10 * np.median(level))
    edges = settings(style_edge_frames=4)
    frames = style.shape[1]
    assert style_span(style, edges, FPS) == (4, frames - 4)
    np.testing.assert_array_equal(without_style_fades(style, edges, FPS), style[:, 4:-4])
    a = synthesize(style, None, n_frames=60, settings=edges, lag_frames_per_second=FPS).spectrogram
    b = synthesize(np.ascontiguousarray(style[:, 4:-4]), None, n_frames=60, settings=settings(),
                   lag_frames_per_second=FPS).spectrogram
    np.testing.assert_array_equal(a, b)
    # with a fade too, whichever leaves out more wins at each end
    faded = faded_noise(seconds=2.0, fade_in=0.5)
    start, stop = fade_bounds(faded, 6.0, FPS)
    assert start > 4 and stop == faded.shape[1]
    assert style_span(faded, settings(style_fade_db=6.0, style_edge_frames=4), FPS) == (start, stop - 4)


def test_a_short_style_keeps_its_edge_frames():
    style = cut_noise(seconds=0.12)  # 16 frames: leaving 8 out would leave half
    assert style.shape[1] == 16
    assert style_span(style, settings(style_edge_frames=4), FPS) == (0, 16)
    assert style_span(cut_noise(seconds=0.14), settings(style_edge_frames=4), FPS) == (4, 14)
