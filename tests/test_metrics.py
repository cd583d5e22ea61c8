"""Sanity checks of the quality metrics on real recordings (data/demo/) and synthetic signals."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import librosa
import numpy as np
import pytest

from audiotex import metrics as M
from audiotex import steps
from audiotex.audio import load_audio, write_audio
from audiotex.errors import AudiotexError

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
SR = 16000  # low rate keeps the tests quick; every clip is read at it


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    names = {"fire": "env_fire_furnace_minetest.ogg", "vinyl": "env_vinyl_hiss_sonicpi.flac",
             "speech": "sp_arctic_a0007_awb.wav", "water": "env_water_stream_minetest.ogg"}
    return {key: load_audio(DEMO / name, SR) for key, name in names.items()}


def shaped_noise(y: np.ndarray, seed: int = 0, n_fft: int = 1024) -> np.ndarray:
    """Stationary Gaussian noise with ``y``'s average magnitude spectrum and no envelope structure."""
    average = np.abs(librosa.stft(y, n_fft=n_fft)).mean(axis=1)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(len(y)))
    gain = np.interp(np.linspace(0, 1, len(spectrum)), np.linspace(0, 1, len(average)), average)
    return np.fft.irfft(spectrum * gain, len(y)).astype(np.float32)


def test_distance_to_itself_is_zero_and_symmetric(clips):
    fire = M.texture_statistics(clips["fire"], SR)
    speech = M.texture_statistics(clips["speech"], SR)
    assert M.texture_distance(fire, fire) == 0.0
    assert M.texture_distance(fire, speech) == pytest.approx(M.texture_distance(speech, fire))
    assert M.texture_distance(fire, speech) > 0.1


def test_statistics_have_documented_shapes_and_are_level_invariant(clips):
    stats = M.texture_statistics(clips["vinyl"], SR, n_bands=24)
    assert stats["mean"].shape == stats["kurtosis"].shape == (24,)
    assert stats["correlation"].shape == (24 * 23 // 2,)
    assert stats["modulation"].shape == (24, len(M.MODULATION_EDGES) - 1)
    quieter = M.texture_statistics(clips["vinyl"] * 0.05, SR, n_bands=24)
    assert M.texture_distance(stats, quieter) < 1e-6


def test_halves_of_a_recording_are_closer_than_different_sounds(clips):
    first, second = M.halves(clips["fire"], SR)
    halves_distance = M.texture_distance(M.texture_statistics(first, SR), M.texture_statistics(second, SR))
    assert halves_distance == pytest.approx(M.reference_distance(clips["fire"], SR))
    for other in ("speech", "water"):
        cross = M.texture_distance(M.texture_statistics(first, SR), M.texture_statistics(clips[other], SR))
        assert halves_distance < 0.6 * cross, other


@pytest.mark.parametrize("name", ["fire", "vinyl"])
def test_noise_without_envelope_structure_is_farther_than_own_halves(clips, name):
    first, second = M.halves(clips[name], SR)
    noise = shaped_noise(second)
    style = M.texture_statistics(first, SR)
    to_noise = M.texture_distance(style, M.texture_statistics(noise, SR))
    assert to_noise > 2 * M.reference_distance(clips[name], SR)
    # the noise matches the average spectrum, so the difference must come from the envelope statistics
    groups = M.group_distances(style, M.texture_statistics(noise, SR))
    assert groups["kurtosis"] > groups["mean"]


def test_modulation_power_peaks_in_the_band_of_an_amplitude_modulation():
    rng = np.random.default_rng(1)
    t = np.arange(4 * SR) / SR
    tremolo = (1.0 + 0.9 * np.sin(2 * np.pi * 6.0 * t)) * rng.standard_normal(t.size)  # 6 Hz: 4-8 Hz band
    modulation = M.texture_statistics(tremolo.astype(np.float32), SR)["modulation"]
    assert np.all((modulation >= 0) & (modulation <= 1))
    assert np.mean(np.argmax(modulation, axis=1) == 3) > 0.9


def test_normalised_distance_is_about_one_for_real_audio_and_larger_for_noise(clips):
    fire = clips["fire"]
    first, second = M.halves(fire, SR)
    # the held-out half itself, as an "output": its ratio is 1 by construction
    ratio, reference = M.normalised_texture_distance(second, fire, SR)
    assert ratio == pytest.approx(1.0) and reference == pytest.approx(M.reference_distance(fire, SR))
    longer = np.concatenate([second, second[::-1]])  # longer outputs are cut into half-length excerpts
    assert M.normalised_texture_distance(longer, fire, SR)[0] < 1.5
    assert M.normalised_texture_distance(shaped_noise(fire), fire, SR)[0] > 2.0
    assert M.normalised_texture_distance(fire, fire[: int(3.5 * SR)], SR) is None


def test_short_recordings_have_no_reference(clips):
    short = clips["fire"][: int(3.5 * SR)]
    assert M.reference_distance(short, SR) is None
    assert M.copy_score_reference(short, SR) is None
    assert M.copy_score_reference(clips["fire"], SR) is not None


def test_copy_score_detects_a_shifted_excerpt_but_not_fresh_noise(clips):
    style = clips["fire"]
    start = int(1.3 * SR)
    copied = style[start:start + 3 * SR]
    assert M.copy_score(copied, style, SR) > 0.95
    fresh = shaped_noise(copied, seed=3)
    assert M.copy_score(fresh, style, SR) < 0.5
    reference = M.copy_score_reference(style, SR)
    assert reference < 0.8


def test_all_metrics_are_finite_even_for_a_pure_tone():
    t = np.arange(2 * SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)  # most mel bands are empty
    stats = M.texture_statistics(tone, SR)
    assert all(np.all(np.isfinite(v)) for v in stats.values())
    noise = np.random.default_rng(0).standard_normal(t.size).astype(np.float32)
    assert np.isfinite(M.texture_distance(stats, M.texture_statistics(noise, SR)))
    assert np.isfinite(M.copy_score(tone, noise, SR))
    assert np.isfinite(M.content_distance(tone, noise, SR))


def test_content_distance_is_zero_for_the_content_and_large_for_unrelated_sound(clips):
    speech = clips["speech"]
    assert M.content_distance(speech, speech, SR) == pytest.approx(0.0, abs=1e-9)
    assert M.content_distance(0.1 * speech, speech, SR) == pytest.approx(0.0, abs=1e-6)  # level is no content
    # same average spectrum, none of the speech's time-frequency shape
    assert M.content_distance(shaped_noise(speech), speech, SR) > 0.3
    assert M.content_distance(clips["fire"][:speech.size], speech, SR) > 0.3


def _fake_result(tmp_path: Path, output: np.ndarray) -> tuple[Path, Path, Path]:
    """The files the synthesize and invert stages leave for one row."""
    audio = tmp_path / "out.wav"
    write_audio(audio, output, SR)
    npy = tmp_path / "out.npy"
    np.save(npy, np.zeros((257, 10), dtype=np.float32))
    npy.with_suffix(".json").write_text(json.dumps({
        "sr": SR, "n_fft": 512, "hop_length": 128, "wall_seconds": 12.5,
        "final_losses": {"iteration": 40, "loss": 3.5, "style": 3.0, "content": 0.5}}))
    inversion = tmp_path / "out.inversion.json"
    inversion.write_text(json.dumps({"spectral_convergence": 0.25, "wall_seconds": 1.5, "device": "cpu"}))
    return audio, npy, inversion


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_metrics_file_writes_one_row_with_the_expected_columns(tmp_path, clips):
    style_path, content_path = tmp_path / "style.wav", tmp_path / "content.wav"
    write_audio(style_path, clips["fire"], SR)
    write_audio(content_path, clips["speech"], SR)
    audio, npy, inversion = _fake_result(tmp_path, shaped_noise(clips["fire"][: 4 * SR]))

    steps.metrics_file("tex", audio, style_path, None, npy, inversion, tmp_path / "tex.tsv")
    steps.metrics_file("tr", audio, style_path, content_path, npy, inversion, tmp_path / "tr.tsv")
    (texture,) = _read(tmp_path / "tex.tsv")
    (transfer,) = _read(tmp_path / "tr.tsv")
    assert list(texture) == list(M.METRIC_COLUMNS)
    assert texture["id"] == "tex"
    assert float(texture["spectral_convergence"]) == 0.25
    assert float(texture["style_loss"]) == 3.0 and float(texture["content_loss"]) == 0.5
    assert float(texture["texture_distance_reference"]) == pytest.approx(
        M.reference_distance(load_audio(style_path, SR), SR), rel=1e-4)
    assert float(texture["texture_distance_norm"]) > 1.5  # structureless noise is no fire
    assert float(texture["copy_score"]) < 0.5
    assert texture["content_distance"] == ""
    # the output is noise shaped like the fire: unrelated to the speech it was supposedly made from
    assert float(transfer["content_distance"]) == pytest.approx(
        M.content_distance(load_audio(audio, SR), load_audio(content_path, SR), SR), rel=1e-4)
    assert float(transfer["content_distance"]) > 0.3
    numeric = [c for c in M.METRIC_COLUMNS if c not in ("id", "content_distance", *M.TRANSFER_COLUMNS)]
    assert all(np.isfinite(float(texture[c])) for c in numeric)
    assert all(texture[c] == "" for c in M.TRANSFER_COLUMNS)
    assert all(np.isfinite(float(transfer[c])) for c in M.TRANSFER_COLUMNS)

    n = steps.collect_metrics([tmp_path / "tex.tsv", tmp_path / "tr.tsv"], tmp_path / "all.tsv")
    assert n == 2
    assert [row["id"] for row in _read(tmp_path / "all.tsv")] == ["tex", "tr"]


def test_metrics_file_names_missing_inputs(tmp_path, clips):
    style_path = tmp_path / "style.wav"
    write_audio(style_path, clips["fire"], SR)
    audio, npy, _ = _fake_result(tmp_path, clips["fire"][: 2 * SR])
    with pytest.raises(AudiotexError, match="missing.json"):
        steps.metrics_file("x", audio, style_path, None, npy, tmp_path / "missing.json", tmp_path / "x.tsv")
    assert not (tmp_path / "x.tsv").exists()
    with pytest.raises(AudiotexError, match="nope.tsv"):
        steps.collect_metrics([tmp_path / "nope.tsv"], tmp_path / "all.tsv")


# --------------------------------------------------------------------------------------------------------
# Style transfer metrics


def test_content_is_kept_fully_by_itself_and_not_by_white_noise(clips):
    speech = clips["speech"]
    kept, envelopes, onsets = M.content_kept(speech, speech, SR)
    assert kept == pytest.approx(1.0, abs=1e-6)
    assert envelopes == pytest.approx(1.0, abs=1e-6) and onsets == pytest.approx(1.0, abs=1e-6)
    noise = np.random.default_rng(3).standard_normal(len(speech)).astype(np.float32) * 0.1
    assert abs(M.content_kept(noise, speech, SR)[0]) < 0.15


def test_a_time_shifted_copy_keeps_less_content_than_an_aligned_one(clips):
    speech = clips["speech"]
    aligned = M.content_kept(speech * 0.5, speech, SR)[0]
    shifted = M.content_kept(np.roll(speech, int(0.25 * SR)), speech, SR)[0]
    assert aligned == pytest.approx(1.0, abs=1e-3)  # level does not matter
    assert shifted < aligned - 0.4


def test_moved_toward_the_style_is_one_at_the_style_and_zero_at_the_content(clips):
    speech, fire = clips["speech"], clips["fire"]
    assert M.style_moved(fire, speech, fire, SR) == pytest.approx(1.0)
    assert M.style_moved(speech, speech, fire, SR) == pytest.approx(0.0)
    # half-way mixtures lie in between
    mixture = speech / np.std(speech) + fire[: len(speech)] / np.std(fire)
    assert 0.0 < M.style_moved(mixture, speech, fire, SR) < 1.0
    # a content that is already the style has nowhere to move: no score, rather than one of millions
    assert M.style_moved(speech, fire, fire, SR) is None


def test_a_band_removed_from_the_output_is_a_hole(clips):
    speech, fire = clips["speech"], clips["fire"][: len(clips["speech"])]
    assert M.hole_depth(fire, speech, fire, SR) <= 0.0  # the style itself: no band below both inputs
    spectrum = librosa.stft(fire, n_fft=2048)
    freqs = librosa.fft_frequencies(sr=SR, n_fft=2048)
    spectrum[(freqs > 1000) & (freqs < 1600)] = 0.0
    notched = librosa.istft(spectrum, n_fft=2048, length=len(fire))
    assert M.hole_depth(notched, speech, fire, SR) > M.HOLE_DB
    row = M.transfer_metrics(notched, speech, fire, SR)
    assert list(row) == list(M.TRANSFER_COLUMNS)
    assert row["hole_db"] == pytest.approx(M.hole_depth(notched, speech, fire, SR))
