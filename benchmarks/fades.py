"""Swells and their patterns: does a texture repeat one slow swell of its style?

For a style clip and any number of other clips (outputs, the held-out half; e.g. from
``benchmarks/quality.py --keep-audio DIR``), prints one row per clip:

* level_spread_db: standard deviation of the level over 0.1 s blocks (a fade, or an output that swells,
  spreads far more than a steady sound);
* level_range_db: loudest minus quietest 0.1 s block;
* pattern_within: the slow envelopes (log-mel, smoothed over 0.25 s, each band's mean over the window
  removed) of every 1 s window (every 0.25 s) have a first principal pattern across bands; this is the mean
  |cosine| between those patterns of different windows of the clip (1: every window swells the same way);
* pattern_vs_style: for each window, its pattern's best |cosine| with any window's pattern of the style,
  averaged (1: every swell is one of the style's).

The README's paragraph on water's fades quotes these figures. Example:
    python benchmarks/quality.py --clips env_water --presets default --seeds 0,1 --no-baseline \\
        --rhythm-clips none --keep-audio /tmp/water --out /tmp/water.tsv
    python benchmarks/fades.py --style /tmp/water/env_water_stream_minetest.style.wav /tmp/water/*.wav
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SR = 22050


def block_levels(y: np.ndarray, sr: int, seconds: float = 0.1) -> np.ndarray:
    """Level (dB) of each ``seconds`` block of ``y``."""
    size = max(1, int(sr * seconds))
    blocks = y[: len(y) // size * size].reshape(-1, size)
    return 10.0 * np.log10(np.mean(blocks.astype(np.float64) ** 2, axis=1) + 1e-12)


def slow_patterns(y: np.ndarray, sr: int, window: float = 1.0, smooth: float = 0.25) -> np.ndarray:
    """First principal pattern across log-mel bands of the slow envelopes in each ``window`` (every quarter
    window), as unit rows ``(windows, bands)``."""
    from audiotex.metrics import log_mel_spectrogram

    spec = log_mel_spectrogram(y, sr)  # frames every 10 ms
    width = max(1, int(round(smooth * 100)))
    kernel = np.ones(width) / width
    padded = np.pad(spec, ((0, 0), (width // 2, width - 1 - width // 2)), mode="edge")
    slow = np.stack([np.convolve(band, kernel, mode="valid") for band in padded])
    frames = int(round(window * 100))
    patterns = []
    for start in range(0, slow.shape[1] - frames + 1, max(1, frames // 4)):
        part = slow[:, start:start + frames]
        u, _, _ = np.linalg.svd(part - part.mean(axis=1, keepdims=True), full_matrices=False)
        patterns.append(u[:, 0])
    return np.array(patterns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", type=Path, required=True, help="the style clip")
    parser.add_argument("clips", type=Path, nargs="*", help="clips to compare with it")
    args = parser.parse_args(argv)
    from audiotex.audio import load_audio

    style_patterns = slow_patterns(load_audio(args.style, SR), SR)
    print("clip\tlevel_spread_db\tlevel_range_db\tpattern_within\tpattern_vs_style")
    for clip in [args.style, *[c for c in args.clips if c != args.style]]:
        y = load_audio(clip, SR)
        levels, patterns = block_levels(y, SR), slow_patterns(y, SR)
        cosines = np.abs(patterns @ patterns.T)[np.triu_indices(len(patterns), 1)]
        within = float(cosines.mean()) if cosines.size else float("nan")
        versus = float(np.abs(patterns @ style_patterns.T).max(axis=1).mean())
        print(f"{clip.name}\t{levels.std():.2f}\t{np.ptp(levels):.1f}\t{within:.2f}\t{versus:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
