"""Griffin-Lim round trips and waveform refinement."""
from pathlib import Path

import librosa
import numpy as np
import pytest

from audiotex.audio import load_audio
from audiotex.inversion import griffin_lim, refine_waveform
from audiotex.metrics import spectral_convergence

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
N_FFT, HOP = 512, 128


@pytest.fixture(scope="module")
def speech_magnitude():
    y = load_audio(DEMO / "sp_arctic_a0009.wav", sr=16000, duration=1.5)
    return np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))


def test_round_trip_converges(speech_magnitude):
    few = spectral_convergence(speech_magnitude, griffin_lim(speech_magnitude, N_FFT, HOP, n_iter=2), N_FFT, HOP)
    many = spectral_convergence(speech_magnitude, griffin_lim(speech_magnitude, N_FFT, HOP, n_iter=64), N_FFT, HOP)
    assert many < few and many < 0.25, (few, many)


def test_fast_beats_plain_at_equal_iterations(speech_magnitude):
    fast = spectral_convergence(speech_magnitude, griffin_lim(speech_magnitude, N_FFT, HOP, 32, momentum=0.99), N_FFT, HOP)
    plain = spectral_convergence(speech_magnitude, griffin_lim(speech_magnitude, N_FFT, HOP, 32, momentum=0.0), N_FFT, HOP)
    assert fast < plain, (fast, plain)


def test_on_par_with_librosa(speech_magnitude):
    """Medians over seeds: one random initial phase alone varies the result by about 20%."""
    seeds = range(5)
    ours = np.median([spectral_convergence(speech_magnitude, griffin_lim(speech_magnitude, N_FFT, HOP, 100, seed=k),
                                           N_FFT, HOP) for k in seeds])
    theirs = np.median([spectral_convergence(speech_magnitude, librosa.griffinlim(
        speech_magnitude, n_iter=100, hop_length=HOP, n_fft=N_FFT, random_state=k), N_FFT, HOP) for k in seeds])
    assert ours < theirs * 1.1, (ours, theirs)


def test_seeded_and_zero_phase(speech_magnitude):
    a = griffin_lim(speech_magnitude, N_FFT, HOP, 4, seed=3)
    assert np.array_equal(a, griffin_lim(speech_magnitude, N_FFT, HOP, 4, seed=3))
    assert not np.allclose(a, griffin_lim(speech_magnitude, N_FFT, HOP, 4, seed=4))
    assert np.isfinite(griffin_lim(speech_magnitude, N_FFT, HOP, 4, init="zeros")).all()


def test_refinement_improves_the_match(speech_magnitude):
    y = griffin_lim(speech_magnitude, N_FFT, HOP, 8)
    refined = refine_waveform(y, np.log1p(speech_magnitude), N_FFT, HOP, iterations=40)
    before = spectral_convergence(speech_magnitude, y, N_FFT, HOP)
    after = spectral_convergence(speech_magnitude, refined, N_FFT, HOP)
    assert after < before, (before, after)


def test_circular_stft_round_trip():
    import torch
    from audiotex.inversion import circular_istft, circular_stft

    window = torch.hann_window(64)
    y = torch.randn(16 * 20)
    assert torch.allclose(circular_istft(circular_stft(y, 64, 16, window), 64, 16, window), y, atol=1e-5)


def test_loop_inversion_is_seamless():
    """Seen as a loop, the wrap-around frame of a loop=True inversion matches its target like any other
    frame; a plain inversion's wrap-around does not."""
    import torch
    from audiotex.inversion import circular_stft

    y = load_audio(DEMO / "env_fire_furnace_minetest.ogg", sr=16000, duration=2.0)
    window = torch.hann_window(N_FFT)
    frames = len(y) // HOP
    # the target is itself periodic: the magnitude of the clip seen as a loop
    target = circular_stft(torch.from_numpy(y[:frames * HOP]), N_FFT, HOP, window).abs().numpy()

    def frame_errors(wave):
        got = circular_stft(torch.from_numpy(wave), N_FFT, HOP, window).abs().numpy()
        return np.linalg.norm(got - target, axis=0) / np.linalg.norm(target, axis=0)

    looped = griffin_lim(target, N_FFT, HOP, 64, loop=True)
    assert looped.size == frames * HOP
    errors = frame_errors(looped)
    assert errors[0] < 2 * np.median(errors), (errors[0], np.median(errors))
    plain = griffin_lim(target, N_FFT, HOP, 64, length=frames * HOP)
    plain_errors = frame_errors(plain)
    assert plain_errors[0] > 2 * np.median(plain_errors), (plain_errors[0], np.median(plain_errors))


@pytest.mark.parametrize("n_fft,hop,samples", [(256, 64, 4096), (512, 128, 7001), (2048, 512, 22050)])
def test_torch_log_magnitude_is_the_spectrogram_of_the_files(n_fft, hop, samples):
    """The waveform optimisers' log1p|STFT| (torch) has the framing and values of log_spectrogram (librosa),
    the spectrograms they are compared with: same frames, same bins, same numbers."""
    import torch

    from audiotex.inversion import log_magnitude, stft
    from audiotex.spectrogram import log_spectrogram

    y = load_audio(DEMO / "env_water_stream_minetest.ogg", sr=22050, duration=1.0)[:samples]
    expected = log_spectrogram(y, n_fft, hop)
    got = log_magnitude(stft(torch.from_numpy(y), n_fft, hop, torch.hann_window(n_fft))).numpy()
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4
