"""Style transfer: starting from the content, and the content_weight knob trading content for style."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiotex import metrics as M
from audiotex import params as P
from audiotex.audio import load_audio
from audiotex.errors import AudiotexError
from audiotex.inversion import griffin_lim
from audiotex.spectrogram import log_spectrogram
from audiotex.synthesis import initial_spectrogram, synthesize

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
SR, N_FFT, HOP = 8000, 256, 64


@pytest.fixture(scope="module")
def pair() -> dict[str, np.ndarray]:
    content = load_audio(DEMO / "sp_arctic_a0009.wav", SR, duration=1.5)
    style = load_audio(DEMO / "env_fire_furnace_minetest.ogg", SR, duration=3.0)
    return {"content": content, "style": style,
            "content_spec": log_spectrogram(content, N_FFT, HOP), "style_spec": log_spectrogram(style, N_FFT, HOP)}


def test_init_content_starts_from_the_content_and_needs_one(pair):
    content, style = pair["content_spec"], pair["style_spec"]
    start = initial_spectrogram(style, content.shape[1] + 5, "content", 1e-3, 0, content)
    assert start.dtype == np.float32 and start.shape == (content.shape[0], content.shape[1] + 5)
    np.testing.assert_array_equal(start[:, :content.shape[1]], content)
    np.testing.assert_array_equal(start[:, content.shape[1]:], content[:, :5])  # tiled, as the content target
    with pytest.raises(AudiotexError, match="'content' needs a content clip"):
        initial_spectrogram(style, 10, "content", 1e-3, 0, None)


def _transfer(pair: dict[str, np.ndarray], content_weight: float, content_target: str = "features",
              iterations: int = 20) -> dict[str, float]:
    settings = P.resolve({"preset": "fast", "layers": "5x32", "iterations": iterations, "init": "content",
                          "content_weight": content_weight, "content_target": content_target}, kind="transfer")
    result = synthesize(pair["style_spec"], pair["content_spec"], n_frames=pair["content_spec"].shape[1],
                        settings=P.stage_settings(settings, "synthesize"), lag_frames_per_second=SR / HOP)
    y = griffin_lim(np.expm1(np.maximum(result.spectrogram, 0.0)), n_fft=N_FFT, hop_length=HOP, n_iter=32, seed=0)
    return M.transfer_metrics(y, pair["content"], pair["style"], SR)


# the envelope term needs more iterations before the style has moved the output far from the content
@pytest.mark.parametrize("content_target, weights, iterations", [("features", (0.0, 1.0, 100.0), 20),
                                                                ("envelopes", (0.0, 1.0, 10.0), 60)])
def test_content_weight_trades_content_for_style_monotonically(pair, content_target, weights, iterations):
    rows = [_transfer(pair, weight, content_target, iterations) for weight in weights]
    kept = [r["content_kept"] for r in rows]
    moved = [r["style_moved"] for r in rows]
    assert kept[0] < kept[1] < kept[2], kept
    assert moved[0] > moved[1] > moved[2], moved
    assert moved[0] > 0.2 and kept[2] > 0.65  # both ends do what they say
