"""Quality metrics of synthesized audio: inversion fidelity, texture statistics, copying."""
from __future__ import annotations

import librosa
import numpy as np


def spectral_convergence(magnitude: np.ndarray, y: np.ndarray, n_fft: int, hop_length: int) -> float:
    """``||S - |STFT(y)|||_F / ||S||_F``: how well waveform ``y`` realises the target magnitude ``S``.

    Args:
        magnitude: target linear magnitude, shape ``(1 + n_fft // 2, frames)``.
        y: the waveform.
        n_fft, hop_length: the STFT that produced ``magnitude`` (Hann window, centred frames).

    Returns:
        0 for a perfect match; about 1 for unrelated signals. Frames are compared up to the shorter of the two.
    """
    realised = np.abs(librosa.stft(np.asarray(y, dtype=np.float32), n_fft=n_fft, hop_length=hop_length,
                                   window="hann", center=True))
    frames = min(realised.shape[1], magnitude.shape[1])
    target = magnitude[:, :frames]
    return float(np.linalg.norm(target - realised[:, :frames]) / max(np.linalg.norm(target), 1e-12))
