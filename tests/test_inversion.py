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


@pytest.mark.parametrize("n_fft, hop, frames", [(64, 16, 20), (48, 16, 5), (64, 16, 2), (256, 64, 1), (40, 16, 6)])
def test_circular_framing_by_rolls_is_framing_by_sample_index(n_fft, hop, frames):
    """Where the hop divides the FFT size, the circle is framed and overlap-added by rolling whole hops
    (deterministic on CUDA, where a gather's gradient and index_add_ are not); it must be exactly the
    framing by sample index (frame k: samples k * hop - n_fft // 2 + j, modulo the length), in value,
    gradient and inverse, also when a frame is longer than the loop (the last two cases wrap it)."""
    import torch
    from audiotex.inversion import _circular_frames, circular_istft, circular_stft

    generator = torch.Generator().manual_seed(0)
    window = torch.hann_window(n_fft, dtype=torch.float64)
    y = torch.randn(frames * hop, generator=generator, dtype=torch.float64, requires_grad=True)
    index = _circular_frames(frames, n_fft, hop, "cpu")
    by_index = torch.fft.rfft(y[index] * window, dim=1).T
    by_rolls = circular_stft(y, n_fft, hop, window)
    assert torch.allclose(by_rolls, by_index, atol=1e-12)
    weights = torch.randn(by_index.shape, generator=generator, dtype=torch.float64)
    grad_index, = torch.autograd.grad((by_index.abs() * weights).sum(), y)
    grad_rolls, = torch.autograd.grad((by_rolls.abs() * weights).sum(), y)
    assert torch.allclose(grad_rolls, grad_index, atol=1e-12)
    spec = torch.randn(by_index.shape, generator=generator, dtype=torch.complex128)
    overlap = torch.fft.irfft(spec.T, n=n_fft, dim=1) * window
    flat = index.reshape(-1)
    expected = torch.zeros(frames * hop, dtype=torch.float64).index_add_(0, flat, overlap.reshape(-1))
    expected /= torch.zeros(frames * hop, dtype=torch.float64).index_add_(0, flat, (window ** 2).repeat(frames))
    assert torch.allclose(circular_istft(spec, n_fft, hop, window), expected, atol=1e-12)


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


def test_looped_refinement_matches_the_frames_across_the_seam():
    """With loop, refinement sees the wrap-around frames as the loop plays them; the plain STFT saw half
    zero-padded edge frames there and pulled the seam away from its target while improving the rest."""
    import torch
    from audiotex.inversion import circular_stft, log_magnitude

    y = load_audio(DEMO / "env_water_stream_minetest.ogg", sr=16000, duration=2.0)
    window = torch.hann_window(N_FFT)
    frames = len(y) // HOP
    target = log_magnitude(circular_stft(torch.from_numpy(y[:frames * HOP]), N_FFT, HOP, window)).numpy()
    start = griffin_lim(np.expm1(target), N_FFT, HOP, 32, loop=True)

    def frame_errors(wave):
        got = log_magnitude(circular_stft(torch.from_numpy(wave), N_FFT, HOP, window)).numpy()
        return ((got - target) ** 2).mean(axis=0)

    refined = refine_waveform(start, target, N_FFT, HOP, iterations=100, loop=True)
    assert refined.size == start.size
    errors, start_errors = frame_errors(refined), frame_errors(start)
    assert np.median(errors) < 0.8 * np.median(start_errors)  # it did refine
    # the frames across the seam improve with the rest (the plain STFT made the first 26 times worse)
    for seam_frame in (0, -1):
        assert errors[seam_frame] < start_errors[seam_frame], (seam_frame, start_errors[seam_frame],
                                                               errors[seam_frame])


def seam_flux(y: np.ndarray, n_fft: int = 512, hop: int = 128) -> tuple[float, np.ndarray]:
    """Spectral flux across the seam of ``y`` played twice in a row, and the same measure everywhere else.

    Flux is the summed positive change of log1p|STFT| from one frame to the next; a click or a jump at the
    seam shows in any of the ``n_fft / hop + 1`` frames whose window holds the seam, so each position's
    measure is the largest flux over that many consecutive frames. Returns the seam's value and those of
    every other position of the doubled signal clear of the seam and of its zero-padded outer ends.
    """
    twice = np.concatenate([y, y])
    log_mag = np.log1p(np.abs(librosa.stft(twice, n_fft=n_fft, hop_length=hop, center=True)))
    flux = np.maximum(log_mag[:, 1:] - log_mag[:, :-1], 0).sum(axis=0)
    span = n_fft // hop + 1
    windowed = np.lib.stride_tricks.sliding_window_view(flux, span).max(axis=1)
    seam = len(y) // hop - span // 2 - 1  # the window of flux values whose frames hold the seam sample
    edge = span + 2
    others = np.r_[windowed[edge:seam - span], windowed[seam + span + 1:len(windowed) - edge]]
    return float(windowed[seam]), others


def test_seam_measure_hears_the_jump_of_an_unlooped_excerpt():
    """The measure can fail: a tonal excerpt cut anywhere and played twice jumps at the seam."""
    y = load_audio(DEMO / "mus_guitar_em9_sonicpi.flac", sr=16000, offset=0.3, duration=2.008)
    seam, others = seam_flux(y[:len(y) // 128 * 128])
    assert seam > np.percentile(others, 99) and seam > 5 * np.median(others)


@pytest.mark.parametrize("clip", ["mus_guitar_em9_sonicpi.flac", "env_water_stream_minetest.ogg"])
def test_looped_texture_stays_seamless_after_waveform_refinement(tmp_path, clip):
    """loop=true with the default preset (tiny), refined toward the spectrogram and toward the statistics:
    the loop played twice has no more flux at its seam than the 99th percentile of its own frames."""
    from audiotex import steps

    settings = {"preset": "default", "loop": True, "sr": 16000, "input_duration": 1.5, "duration": 1.5,
                "iterations": 3, "n_iter": 32}
    style, out = tmp_path / "style.npy", tmp_path / "out.npy"
    steps.spectrogram_file(DEMO / clip, style, settings)
    steps.synthesize_file(style, None, out, settings, device="cpu")
    for target in ("spectrogram", "statistics"):
        wav = tmp_path / f"{target}.wav"
        steps.invert_file(out, wav, {**settings, "refine_target": target, "refine_iterations": 10}, device="cpu")
        y = load_audio(wav, sr=16000)
        assert len(y) % 128 == 0  # a whole number of hops: the loop's length
        seam, others = seam_flux(y)
        assert seam <= np.percentile(others, 99), (target, seam, np.median(others), np.percentile(others, 99))
