"""The real-vs-synthetic two-sample test (audiotex.metrics.two_sample_*) on signals whose answer is known."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiotex import metrics as M
from audiotex.audio import load_audio

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
SR = 16000


def white(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(seconds * SR)).astype(np.float32)


def test_a_signal_against_itself_is_chance():
    noise = white(4.0, 0)
    assert M.two_sample_accuracy(noise, noise, SR) == pytest.approx(0.5)


def test_two_excerpts_of_the_same_stationary_noise_are_not_told_apart():
    # one 4 s pair scores 0.35-0.65 (overlapping windows: few independent ones); the mean is chance
    accuracies = []
    for seed in range(4):
        noise = white(8.0, seed)
        accuracies.append(M.two_sample_accuracy(noise[: 4 * SR], noise[4 * SR:], SR))
    assert 0.4 <= np.mean(accuracies) <= 0.6
    assert max(accuracies) < 0.75


def test_white_noise_and_a_sine_are_told_apart():
    t = np.arange(4 * SR) / SR
    sine = np.sin(2 * np.pi * 440.0 * t).astype(np.float32)
    assert M.two_sample_accuracy(white(4.0, 2), sine, SR) >= 0.98


def test_a_level_change_is_not_a_difference_but_a_spectral_tilt_is():
    noise = white(8.0, 3)
    first, second = noise[: 4 * SR], noise[4 * SR:]
    assert M.two_sample_accuracy(first, 0.1 * second, SR) <= 0.65
    tilted = np.cumsum(second).astype(np.float32)  # brown noise: the same noise, another spectrum
    assert M.two_sample_accuracy(first, tilted, SR) >= 0.95


def test_different_recordings_are_told_apart_and_a_shifted_copy_is_not():
    # a copy shifted by less than a window: its windows are near copies of the other's, which the
    # contiguous folds (and the gap left around each test fold) keep out of the training set
    fire = load_audio(DEMO / "env_fire_furnace_minetest.ogg", SR)
    water = load_audio(DEMO / "env_water_stream_minetest.ogg", SR)
    n = min(len(fire), len(water), 5 * SR)
    assert M.two_sample_accuracy(fire[:n], water[:n], SR) >= 0.95
    assert M.two_sample_accuracy(fire[:n], np.roll(fire[:n], int(0.1 * SR)), SR) <= 0.65


def test_it_is_deterministic_and_the_floor_compares_halves():
    fire = load_audio(DEMO / "env_fire_furnace_minetest.ogg", SR)
    first, second = M.halves(fire, SR)
    assert M.two_sample_floor(fire, SR) == M.two_sample_accuracy(first, second, SR)
    assert M.two_sample_floor(fire, SR) == M.two_sample_floor(fire, SR)
    assert M.two_sample_floor(fire[: 3 * SR], SR) is None  # halves under 2 s


def test_floor_cuts_start_with_the_floor_and_cut_the_recording_later():
    fire = load_audio(DEMO / "env_fire_furnace_minetest.ogg", SR)
    floors = M.two_sample_floor_cuts(fire, SR, (0.0, 0.25, 0.5))
    assert len(floors) == 3 and floors[0] == M.two_sample_floor(fire, SR)
    assert floors[2] == M.two_sample_floor(fire[SR // 2:], SR)
    # halves that differ (fire, then water) stay told apart wherever they are cut; stationary noise does not
    water = load_audio(DEMO / "env_water_stream_minetest.ogg", SR)
    n = 4 * SR
    assert min(M.two_sample_floor_cuts(np.concatenate([fire[:n], water[:n]]), SR)) >= 0.9
    assert 0.3 <= np.median(M.two_sample_floor_cuts(white(8.0, 6), SR)) <= 0.7
    assert M.two_sample_floor_cuts(fire[: 5 * SR], SR, (0.0, 1.5)) is None  # halves under 2 s at the last cut
    with pytest.raises(ValueError, match="at least 0"):
        M.two_sample_floor_cuts(fire, SR, (-0.1,))


def test_too_short_signals_are_refused():
    with pytest.raises(ValueError, match="too short"):
        M.two_sample_accuracy(white(0.5, 4), white(4.0, 5), SR)


def test_the_shortest_testable_signal_leaves_every_fold_something_to_train_on():
    """Patches overlapping a test fold are left out of training: below the minimum a middle fold trained on
    one signal only, and the classifier stopped with 'needs samples of at least 2 classes'."""
    need = M.two_sample_min_patches()
    noise, long = white(2.0, 7), white(4.0, 6)
    counts = {n: len(M.two_sample_patches(noise[:n], SR)) for n in range(int(0.8 * SR), int(2.0 * SR), 80)}
    shortest_ok = min(n for n, count in counts.items() if count >= need)
    longest_bad = max(n for n, count in counts.items() if count < need)
    assert 0.0 <= M.two_sample_accuracy(noise[:shortest_ok], long, SR) <= 1.0
    with pytest.raises(ValueError, match="too short"):
        M.two_sample_accuracy(noise[:longest_bad], long, SR)
    # an output that short is scored without the test (an empty cell), not a crashed metrics row
    style = load_audio(DEMO / "env_fire_furnace_minetest.ogg", SR)[: 5 * SR]
    short = M.audio_metrics(style[: longest_bad], style, SR)
    assert short["two_sample_accuracy"] is None and short["two_sample_floor"] is not None
    assert M.audio_metrics(style[: shortest_ok], style, SR)["two_sample_accuracy"] is not None


def test_contiguous_folds_cover_everything_in_order():
    blocks = M.contiguous_folds(23, 5)
    assert np.array_equal(np.concatenate(blocks), np.arange(23))
    assert all(np.all(np.diff(b) == 1) for b in blocks)


def test_texture_rows_show_the_test_and_its_floor_transfer_rows_do_not():
    fire = load_audio(DEMO / "env_fire_furnace_minetest.ogg", SR)
    style, output = fire[: 4 * SR], fire[4 * SR: 8 * SR]
    texture = M.audio_metrics(output, style, SR)
    assert texture["two_sample_accuracy"] == M.two_sample_accuracy(output, style, SR)
    assert texture["two_sample_floor"] == M.two_sample_floor(style, SR)
    transfer = M.audio_metrics(output, style, SR, content=output)
    assert transfer["two_sample_accuracy"] is None and transfer["two_sample_floor"] is None
