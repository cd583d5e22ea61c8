"""The band-limited benchmark's measures, on signals where the answer is known."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bandlimited  # noqa: E402

SR = 22050


def noise_clip(seed: int, seconds: float = 2.0) -> np.ndarray:
    return bandlimited.band_limited(np.random.default_rng(seed).standard_normal(int(SR * seconds)), SR, 5500.0,
                                    40.0, seed=seed)


def high_blips(y: np.ndarray, times: list[float], level: float = 0.05) -> np.ndarray:
    """``y`` with 10 ms bursts of white noise (short vertical lines across every band) at ``times`` (s)."""
    out = y.copy()
    n = int(0.01 * SR)
    rng = np.random.default_rng(7)
    for t in times:
        start = int(t * SR)
        out[start:start + n] += level * rng.standard_normal(n) * np.hanning(n)
    return out


def test_band_limited_leaves_only_the_floor_above_the_cutoff():
    y = noise_clip(0)
    above = bandlimited.out_of_band_db(y, SR, 6000.0)
    below = bandlimited.out_of_band_db(y, SR, 0.0)[1:116]  # bins under 5 kHz, DC left out
    # a white floor 40 dB under a signal that fills about half the bins: about 43 dB under them per bin
    assert 38.0 < np.median(below) - np.median(above) < 48.0


def test_a_signal_against_itself_has_no_excess():
    y = noise_clip(1)
    measures, frames = bandlimited.out_of_band(y, y, SR, 6000.0)
    assert abs(measures["median_excess_db"]) < 0.5
    assert abs(measures["worst_line_db"]) < 1e-9
    assert measures["blip_fraction"] == 0.0
    assert frames.shape == (1 + (len(y) - 512) // 128,)


def test_a_tone_above_the_cutoff_is_a_line_and_bursts_are_blips():
    y = noise_clip(2)
    t = np.arange(len(y)) / SR
    line, _ = bandlimited.out_of_band(y + 0.01 * np.sin(2 * np.pi * 9000.0 * t), y, SR, 6000.0)
    assert line["worst_line_db"] > 20.0 and line["blip_fraction"] < 0.05
    blips, _ = bandlimited.out_of_band(high_blips(y, [0.3, 0.9, 1.5]), y, SR, 6000.0)
    assert blips["worst_frame_db"] > 10.0 and 0.0 < blips["blip_fraction"] < 0.1
    assert blips["worst_line_db"] < 3.0  # short bursts move no bin's median


def test_seeded_correlation_tells_blips_at_the_same_times_from_independent_ones():
    times = [0.2, 0.7, 1.1, 1.6]
    same = {name: bandlimited.out_of_band(high_blips(noise_clip(k), times), noise_clip(k), SR, 6000.0)[1]
            for k, name in enumerate(["a", "b"])}
    assert min(bandlimited.seeded_correlations(same).values()) > 0.8
    apart = {"a": same["a"], "c": bandlimited.out_of_band(high_blips(noise_clip(3), [0.45, 0.95, 1.35]),
                                                          noise_clip(3), SR, 6000.0)[1]}
    assert max(bandlimited.seeded_correlations(apart).values()) < 0.3
    assert np.isnan(bandlimited.seeded_correlations({"alone": same["a"]})["alone"])
