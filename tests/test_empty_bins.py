"""Bins a clip leaves empty stay empty: detection, the synthesized spectrogram's cap, the waveform filter."""
from pathlib import Path

import librosa
import numpy as np
import pytest

from audiotex import params as P
from audiotex import steps
from audiotex.audio import load_audio
from audiotex.inversion import silence_empty_bins
from audiotex.spectrogram import QUIET_FLOOR, empty_bin_ceiling, empty_bins, log_spectrogram
from audiotex.synthesis import synthesize, without_style_fades

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
SR, N_FFT, HOP = 22050, 512, 128
FREQS = librosa.fft_frequencies(sr=SR, n_fft=N_FFT)
ABOVE_8K, BELOW_7K = FREQS > 8200, FREQS < 7000


@pytest.fixture(scope="module")
def speech():
    """A 16 kHz recording read at 22.05 kHz: nothing above 8 kHz."""
    return load_audio(DEMO / "sp_arctic_a0009.wav", sr=SR, duration=1.5)


def band_db(y, band):
    """Median over frames of the band's mean STFT power, in dB."""
    power = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    return 10 * np.log10(np.median(power[band].mean(axis=0)) + 1e-300)


def test_a_16khz_recording_read_at_22khz_is_empty_above_8khz(speech):
    empty = empty_bins(log_spectrogram(speech, N_FFT, HOP))
    assert empty[ABOVE_8K].all() and not empty[BELOW_7K].any()
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    assert not empty_bins(log_spectrogram(noise, N_FFT, HOP)).any()


def test_negative_values_count_as_silence_and_the_floor_is_relative():
    rng = np.random.default_rng(1)
    spec = np.full((8, 100), 5.0)
    spec[6:] = rng.uniform(-0.5, 0.5, (2, 100)) * np.array([[0.0], [1.0]])  # one zero bin, one half negative
    spec[3] = np.log1p(np.expm1(5.0) * QUIET_FLOOR * 2)  # 74 dB down: quiet, not empty
    assert empty_bins(spec).tolist() == [False] * 6 + [True, True]
    # the same shape 20 dB louder or softer (in magnitude) gives the same answer
    louder = np.log1p(np.expm1(np.maximum(spec, 0)) * 10)
    assert empty_bins(louder).tolist() == empty_bins(spec).tolist()


def test_ceiling_only_where_every_input_is_empty():
    loud, silent = np.full((1, 50), 4.0), np.full((1, 50), 1e-5)
    style = np.concatenate([loud, silent, silent, loud])
    content = np.concatenate([loud, loud, silent * 3, silent])
    ceiling = empty_bin_ceiling([style, content])
    assert np.isinf(ceiling[[0, 1, 3]]).all()
    assert ceiling[2] == pytest.approx(3e-5)
    assert np.isfinite(empty_bin_ceiling([style])).tolist() == [False, True, True, False]


def test_ceiling_keeps_sparse_events_and_leaves_out_a_cut_clips_edges():
    frames = 200
    spec = np.full((3, frames), 1e-6)
    spec[0] = 4.0  # the loud bin the floor is relative to
    spec[1, 100:110] = 0.5  # attacks in 5% of the frames: empty by its median, yet it sounds
    spec[2, -3:] = 0.5  # only the last three frames: the broadband edge of a clip cut mid-sound
    assert empty_bins(spec).tolist() == [False, True, True]
    ceiling = empty_bin_ceiling([spec])
    assert ceiling[1] == pytest.approx(0.5)  # the events may come back at their level
    assert ceiling[2] == pytest.approx(1e-6)  # the edge does not lift the cap


def test_synthesis_caps_the_empty_bins_and_leaves_the_rest(speech):
    style = log_spectrogram(speech, N_FFT, HOP)
    base = {"preset": "fast", "sr": SR, "n_fft": N_FFT, "hop_length": HOP, "layers": "5x64,9x64", "iterations": 15}
    held, free = (synthesize(style, None, n_frames=120,
                             settings=P.stage_settings(P.resolve(base, {"hold_empty_bins": hold}), "synthesize")
                             ).spectrogram for hold in (True, False))
    # of the style's frames that the synthesis uses (without its edge frames)
    ceiling = empty_bin_ceiling([without_style_fades(style, P.resolve(base), SR / HOP)])
    empty = np.isfinite(ceiling)
    assert empty[ABOVE_8K].all()
    assert (held[empty] >= 0).all() and (held[empty] <= ceiling[empty, None]).all()
    # what the cap removes, above 8 kHz where the recording has nothing (just below, its sibilants set it)
    assert np.abs(free[ABOVE_8K]).max() > 10 * ceiling[ABOVE_8K].max()
    np.testing.assert_array_equal(held[~empty], free[~empty])


def test_waveform_filter_silences_noise_in_the_empty_bins_only(speech):
    target = log_spectrogram(speech, N_FFT, HOP)
    hiss = np.random.default_rng(2).standard_normal(len(speech)).astype(np.float32) * 1e-3 * speech.std()
    noisy = speech + hiss
    filtered = silence_empty_bins(noisy, target, N_FFT)
    assert filtered.dtype == np.float32 and filtered.shape == noisy.shape
    assert band_db(noisy, ABOVE_8K) - band_db(speech, ABOVE_8K) > 40  # the hiss is what is there
    assert band_db(noisy, ABOVE_8K) - band_db(filtered, ABOVE_8K) > 30
    assert abs(band_db(filtered, BELOW_7K) - band_db(noisy, BELOW_7K)) < 0.05
    # a target with no empty bin leaves the sound as it is
    assert silence_empty_bins(noisy, np.full_like(target, 2.0), N_FFT) is noisy


def test_waveform_filter_does_not_judge_a_cut_clips_edge_frames(speech):
    target = log_spectrogram(speech, N_FFT, HOP)
    target[ABOVE_8K, -3:] = 0.5  # the broadband click of a clip cut mid-sound, in 3 of its 260 frames
    hiss = np.random.default_rng(5).standard_normal(len(speech)).astype(np.float32) * 1e-3 * speech.std()
    noisy = speech + hiss
    assert band_db(noisy, ABOVE_8K) - band_db(silence_empty_bins(noisy, target, N_FFT), ABOVE_8K) > 30
    # judged over every frame, the click makes the bins sound in more than 1% of them
    assert abs(band_db(noisy, ABOVE_8K) - band_db(silence_empty_bins(noisy, target, N_FFT, edge_frames=0),
                                                  ABOVE_8K)) < 0.1


def test_waveform_filter_spares_a_bin_with_sparse_events(speech):
    # bursts above 8 kHz in 10% of the frames: the bins' median lies below the floor, but they are not empty
    rng = np.random.default_rng(4)
    bursts = np.zeros_like(speech)
    for start in rng.choice(len(speech) - 600, 6, replace=False):
        bursts[start:start + 600] = rng.standard_normal(600) * 0.05
    hats = librosa.stft(bursts, n_fft=N_FFT, hop_length=HOP)
    hats[~ABOVE_8K] = 0
    y = speech + librosa.istft(hats, hop_length=HOP, length=len(speech))
    target = log_spectrogram(y, N_FFT, HOP)
    assert empty_bins(target)[ABOVE_8K].all() and not empty_bins(target, percentile=99)[ABOVE_8K].any()
    power = lambda z: (np.abs(librosa.stft(z, n_fft=N_FFT, hop_length=HOP)[ABOVE_8K]) ** 2).mean()
    hissing = y + rng.standard_normal(len(y)).astype(np.float32) * 1e-3 * speech.std()
    filtered = silence_empty_bins(hissing, target, N_FFT)
    assert abs(10 * np.log10(power(filtered) / power(hissing))) < 0.1


def test_waveform_filter_of_a_loop_wraps_around(speech):
    frames = len(speech) // HOP
    period = speech[:frames * HOP] + np.random.default_rng(3).standard_normal(frames * HOP).astype(np.float32) * 1e-4
    target = log_spectrogram(speech[:frames * HOP], N_FFT, HOP)[:, :frames]
    looped = silence_empty_bins(period, target, N_FFT, loop=True)
    assert band_db(period, ABOVE_8K) - band_db(looped, ABOVE_8K) > 20
    # a linear filter of a periodic signal: filtering two periods and keeping the second equals one period's
    twice = silence_empty_bins(np.tile(period, 2), np.tile(target, 2), N_FFT, loop=True)
    np.testing.assert_allclose(twice[len(period):], looped, atol=1e-4 * np.abs(period).max())


def test_a_texture_of_a_band_limited_recording_stays_band_limited(tmp_path, speech):
    steps.write_audio(tmp_path / "speech.wav", speech, SR)
    settings = {"preset": "fast", "sr": SR, "n_fft": N_FFT, "hop_length": HOP, "layers": "5x64,9x64",
                "iterations": 15, "n_iter": 16}
    steps.spectrogram_file(tmp_path / "speech.wav", tmp_path / "speech.npy", settings)
    recording = band_db(load_audio(tmp_path / "speech.wav", SR), ABOVE_8K)  # 16-bit rounding noise only
    levels = {}
    for hold in (False, True):
        s = {**settings, "hold_empty_bins": hold}
        steps.synthesize_file(tmp_path / "speech.npy", None, tmp_path / f"{hold}.npy", s, device="cpu")
        steps.invert_file(tmp_path / f"{hold}.npy", tmp_path / f"{hold}.wav", s, device="cpu")
        y = load_audio(tmp_path / f"{hold}.wav", SR)
        levels[hold] = band_db(y, ABOVE_8K), band_db(y, BELOW_7K)
    assert levels[False][0] - recording > 10, (levels, recording)  # what holding the empty bins prevents
    assert levels[True][0] - recording < 2, (levels, recording)
    assert abs(levels[False][1] - levels[True][1]) < 0.1, levels


def test_griffin_lim_of_a_band_limited_file_has_the_file_s_own_rounding_noise_there(tmp_path, speech):
    # what an empty band holds in a 16-bit file is rounding noise, and writing the output adds its own: the
    # filter must leave nothing for it to add to
    steps.write_audio(tmp_path / "speech.wav", speech, SR)
    settings = {"sr": SR, "n_fft": N_FFT, "hop_length": HOP, "n_iter": 16}
    steps.spectrogram_file(tmp_path / "speech.wav", tmp_path / "speech.npy", settings)
    recording = band_db(load_audio(tmp_path / "speech.wav", SR), ABOVE_8K)
    over = {}
    for hold in (False, True):
        steps.invert_file(tmp_path / "speech.npy", tmp_path / f"{hold}.wav", {**settings, "hold_empty_bins": hold},
                          device="cpu")
        over[hold] = band_db(load_audio(tmp_path / f"{hold}.wav", SR), ABOVE_8K) - recording
    assert over[False] > 2.5 and abs(over[True]) < 0.5, over
