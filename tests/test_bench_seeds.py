"""The quality benchmark's seed handling: every setting once per seed, summarised per clip over the seeds."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import quality  # noqa: E402


def test_per_seed_names_and_overrides_each_seed():
    runs = [("default", {"seed": 0, "n_fft": 512}), ("ulyanov", {"seed": 0, "n_fft": 2048})]
    expanded = quality.per_seed(runs, [1, 2])
    assert [name for name, _ in expanded] == ["default@seed1", "default@seed2", "ulyanov@seed1", "ulyanov@seed2"]
    assert [s["seed"] for _, s in expanded] == [1, 2, 1, 2]
    assert expanded[3][1]["n_fft"] == 2048
    assert quality.per_seed(runs, []) is runs


def test_seed_list_rejects_words():
    assert quality.seed_list("0, 1,2") == [0, 1, 2]
    with pytest.raises(Exception, match="integers"):
        quality.seed_list("1,x")


def row(clip, preset, excess, distance=0.5, copy=0.3, reference=0.2):
    return {"clip": clip, "preset": preset, "two_sample_excess": excess, "texture_distance_norm": distance,
            "copy_score": copy, "copy_score_reference": reference}


def test_seed_summary_takes_each_clips_median_over_seeds_before_the_clips():
    rows = [row("a", "d@seed0", 0.0), row("a", "d@seed1", 0.3), row("a", "d@seed2", 0.1, distance=1.3),
            row("b", "d@seed0", 0.2), row("b", "d@seed1", 0.4), row("b", "d@seed2", 0.5, copy=0.9),
            row("a", "gl:d@seed0", 0.9), row("a", "other", 0.9)]
    (line,) = quality.seed_summary(rows)
    # per-clip medians: a 0.1, b 0.4 -> median 0.25, max 0.4; one lucky seed (a@seed0, 0.0) does not count
    assert line.startswith("d over 3 seeds (per-clip medians, 2 clips)")
    assert "excess median 0.250 max 0.400" in line
    assert "dist_norm max 0.500" in line  # a's 1.3 is one seed of three: its median is 0.5
    assert "copy over real median +0.100 max +0.100" in line


def test_steady_span_leaves_out_a_fade_in_and_keeps_a_steady_file_whole(tmp_path):
    import numpy as np
    import soundfile as sf

    sr = 8000
    t = np.arange(4 * sr) / sr
    noise = np.random.default_rng(0).standard_normal(t.size) * 0.1
    faded = noise * 10 ** (np.minimum(0.0, -40.0 * (1 - t)) / 20)  # 40 dB fade-in over the first second
    sf.write(tmp_path / "faded.wav", faded, sr)
    sf.write(tmp_path / "steady.wav", noise, sr)
    begin, length = quality.steady_span(tmp_path / "faded.wav", sr, 3.0)
    assert begin == pytest.approx(1.0 - 3 / 40, abs=0.06) and begin + length == pytest.approx(4.0, abs=0.02)
    assert quality.steady_span(tmp_path / "faded.wav", sr, None) == (0.0, pytest.approx(4.0))
    assert quality.steady_span(tmp_path / "steady.wav", sr, 3.0) == (0.0, pytest.approx(4.0))


def test_copy_references_show_a_fade_in_style_matched_only_by_the_reversed_fade_out():
    import numpy as np

    sr = 8000
    t = np.arange(3 * sr) / sr
    rng = np.random.default_rng(0)
    fade_in = 10 ** (np.minimum(0.0, -30.0 * (1.5 - t) / 1.5) / 20)  # 30 dB up over the first 1.5 s
    style = rng.standard_normal(t.size) * fade_in
    heldout = rng.standard_normal(t.size) * fade_in[::-1]  # the recording goes on and fades out
    forward, backward = quality.copy_references(heldout, style, sr)
    # the fade-out matches nothing in a fade-in; played backwards it is one
    assert forward < 0.2 and backward > 0.4
    assert "copy_score_reference_reversed" in quality.COLUMNS  # written to the TSV, not only summarised
    steady = rng.standard_normal(t.size)
    assert all(abs(r) < 0.2 for r in quality.copy_references(steady, rng.standard_normal(t.size), sr))


def test_floor_cuts_cut_the_joined_halves_later_and_the_summary_shows_their_range():
    import numpy as np

    sr = 8000
    rng = np.random.default_rng(1)
    style, heldout = rng.standard_normal(3 * sr), rng.standard_normal(3 * sr)
    from audiotex import metrics as M

    floors = quality.floor_cuts(style, heldout, sr, (0.0, 0.2))
    assert floors[0] == M.two_sample_accuracy(style, heldout, sr)  # no cut: the bench's own floor
    joined = np.concatenate([style, heldout])[int(0.2 * sr):]
    assert floors[1] == M.two_sample_accuracy(*M.halves(joined, sr, 0.0), sr)
    assert {"two_sample_floor_min", "two_sample_floor_max"} <= set(quality.COLUMNS)
    floor, lowest, highest = quality.floors(style, heldout, sr)
    every = [floor, *quality.floor_cuts(style, heldout, sr)]
    assert (floor, lowest, highest) == (floors[0], min(every), max(every))
    # the same halves again (every setting and seed of a clip): not recomputed; other halves are
    computed = len(quality._FLOORS)
    assert quality.floors(style.copy(), heldout.copy(), sr) == (floor, lowest, highest)
    assert len(quality._FLOORS) == computed
    quality.floors(heldout, style, sr)
    assert len(quality._FLOORS) == computed + 1
    rows = [{"clip": "fire", "two_sample_floor": 0.38, "two_sample_floor_min": 0.38, "two_sample_floor_max": 0.52},
            {"clip": "water", "two_sample_floor": 0.46, "two_sample_floor_min": 0.33, "two_sample_floor_max": 0.46}]
    assert quality.floor_summary(rows) == ["two-sample floor (over cuts 0-0.4 s later): fire 0.38 (0.38-0.52), "
                                           "water 0.46 (0.33-0.46)"]
    assert quality.floor_summary([{"clip": "x", "two_sample_floor_min": None}]) == []
    # halves decoded at two rates (fast at 16 kHz beside default at 22.05 kHz) have a floor each
    two_rates = [{**rows[0], "sr": 16000, "two_sample_floor": 0.72}, {**rows[0], "sr": 22050}]
    assert quality.floor_summary(two_rates) == ["two-sample floor (over cuts 0-0.4 s later): fire at 16000 Hz "
                                                "0.72 (0.38-0.52), fire at 22050 Hz 0.38 (0.38-0.52)"]
    assert {"hold_empty_bins", "loop"} <= set(quality.INVERSION_KEYS)  # what invert_file reads
