"""Log-magnitude spectrograms (``log1p|STFT|``) and their ``.npy`` + JSON sidecar files."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import librosa
import numpy as np

from .errors import AudiotexError
from .files import atomic_output


#: Levels are followed down to this fraction of a clip's loudest magnitude (80 dB below it); a bin whose median
#: lies below it is empty (:func:`empty_bins`).
QUIET_FLOOR = 1e-4

#: Frames at each end of a spectrogram whose window reaches past the clip's ends (``n_fft / hop_length`` with
#: the default hop of ``n_fft / 4``). A clip cut mid-sound steps to the zero padding there, a broadband click
#: that is how the clip was cut, not the sound.
EDGE_FRAMES = 4


def hop_for(n_fft: int, hop_length: int | None) -> int:
    """The hop actually used: ``hop_length``, or ``n_fft // 4`` when it is ``None``."""
    return int(hop_length) if hop_length else n_fft // 4


def log_spectrogram(y: np.ndarray, n_fft: int = 2048, hop_length: int | None = None) -> np.ndarray:
    """``log1p(|STFT(y)|)`` with a Hann window, centred frames; shape ``(1 + n_fft // 2, frames)``, float32."""
    if y.size < n_fft // 2 + 1:
        raise AudiotexError(f"signal of {y.size} samples is shorter than half the FFT size ({n_fft})")
    stft = librosa.stft(y, n_fft=n_fft, hop_length=hop_for(n_fft, hop_length), window="hann", center=True)
    return np.log1p(np.abs(stft)).astype(np.float32)


def empty_bins(spec: np.ndarray, floor: float = QUIET_FLOOR, percentile: float = 50.0) -> np.ndarray:
    """Bins a clip leaves empty: those where the ``percentile``-th percentile of the magnitude over time is at
    most ``floor`` times the clip's loudest magnitude (80 dB below it by default).

    A recording made at 16 kHz and read at 22.05 kHz has nothing above 8 kHz; a synthetic guitar has nothing
    above 4 kHz. Every level term of the objective stops at ``floor``, so below it nothing holds those bins.
    With the median (50) a bin of rare faint clicks still counts as empty; with 99 a bin counts only if it
    stays below the floor in all but 1% of the frames.

    Args:
        spec: ``log1p`` magnitudes ``(bins, frames)`` (negative values, which a synthesis can leave, count as 0).

    Returns:
        Boolean ``(bins,)``.
    """
    magnitude = np.expm1(np.maximum(np.asarray(spec, dtype=np.float64), 0.0))
    return np.percentile(magnitude, percentile, axis=-1) <= floor * magnitude.max()


def empty_bin_ceiling(specs: list[np.ndarray], floor: float = QUIET_FLOOR, percentile: float = 99.0,
                      edge_frames: int = EDGE_FRAMES) -> np.ndarray:
    """The most a synthesized spectrogram may hold in each bin that every one of ``specs`` (the style, and
    the content of a transfer) leaves empty (:func:`empty_bins`): the largest of their ``percentile``-th
    percentiles of ``log1p`` values over time there, ``edge_frames`` at each end left out; ``inf`` in every
    other bin.

    Not their median: a bin that is empty by its median may still carry sparse events, the upper partials
    of a mallet's or a plucked string's attack, and a cap at the median took those away (a marimba loop's
    texture was told from the recording with accuracy 1.00, at 0.48 with the 99th percentile; floor 0.45).
    The edges are left out (:func:`interior`) because a clip cut mid-sound has a broadband step there: in a
    1.5 s speech clip it would set the cap of every empty bin.
    """
    empty = np.logical_and.reduce([empty_bins(s, floor) for s in specs])
    loudest = np.max([np.percentile(np.maximum(interior(s, edge_frames), 0.0), percentile, axis=-1)
                      for s in specs], axis=0)
    return np.where(empty, loudest, np.inf).astype(np.float32)


def interior_bounds(frames: int, edge_frames: int = EDGE_FRAMES) -> tuple[int, int]:
    """The frames ``start:stop`` of a spectrogram of ``frames`` frames without ``edge_frames`` at each end
    (:data:`EDGE_FRAMES`), or ``(0, frames)`` when that would leave half of a short clip or less."""
    if edge_frames and frames > 4 * edge_frames:
        return edge_frames, frames - edge_frames
    return 0, frames


def interior(spec: np.ndarray, edge_frames: int = EDGE_FRAMES) -> np.ndarray:
    """``spec`` cut to :func:`interior_bounds`: without the frames whose window reaches past its ends."""
    start, stop = interior_bounds(spec.shape[-1], edge_frames)
    return spec[..., start:stop]


def fade_bounds(spec: np.ndarray, fade_db: float | None, frames_per_second: float,
                smooth_seconds: float = 0.1) -> tuple[int, int]:
    """The frames ``start:stop`` of ``spec`` left without its leading and trailing frames that lie more than
    ``fade_db`` below its median level (``(0, frames)`` when ``fade_db`` is ``None``).

    A recording that fades in or out, or starts or ends in silence, has that edge in its statistics as one
    long swell across every band, and a texture made from it repeats the swell all through (the bench's
    water recording fades in over its first 1.5 s and out over its last: textures of its first half swell
    by 17-21 dB, quietest to loudest 0.1 s). How the clip was cut is not the texture. The level is each
    frame's power averaged over bins, smoothed over ``smooth_seconds``; the median is over the whole clip,
    so a sparse sound (whose median is its quiet part) loses nothing, and at least half the frames, those
    at or above the median, always stay. A sound that decays (a plucked chord) is all fade: leave
    ``fade_db`` ``None`` there.

    Args:
        spec: ``log1p`` magnitude spectrogram ``(bins, frames)``.
        fade_db: how far below the median level (dB) an edge frame must be to go.
        frames_per_second: the spectrogram's frame rate (sr / hop).
        smooth_seconds: length of the moving average over the level.
    """
    frames = spec.shape[1]
    if fade_db is None or frames < 2:
        return 0, frames
    power = np.square(np.expm1(np.asarray(spec, dtype=np.float64))).mean(axis=0)
    width = max(1, min(int(round(smooth_seconds * frames_per_second)), frames))
    padded = np.pad(power, (width // 2, width - 1 - width // 2), mode="edge")
    level = 10.0 * np.log10(np.convolve(padded, np.ones(width) / width, mode="valid") + 1e-20)
    loud = np.flatnonzero(level >= np.median(level) - fade_db)
    return int(loud[0]), int(loud[-1]) + 1


def frames_for(seconds: float, sr: int, hop_length: int, loop: bool = False) -> int:
    """Number of centred STFT frames covering ``seconds`` of audio; with ``loop``, of a loop that long (its
    frames wrap around: ``frames * hop_length`` samples, one frame fewer than for a signal with two ends)."""
    return int(round(seconds * sr / hop_length)) + (0 if loop else 1)


def seconds_for(frames: int, sr: int, hop_length: int) -> float:
    """Length in seconds of the signal ``frames`` centred STFT frames describe."""
    return (frames - 1) * hop_length / sr


def sidecar_path(npy_path: str | os.PathLike) -> Path:
    """The JSON file that records a spectrogram's parameters: ``x.npy`` -> ``x.json``."""
    return Path(npy_path).with_suffix(".json")


def check_spectrogram_path(path: str | os.PathLike) -> None:
    """Refuse a spectrogram path that its own sidecar would overwrite (a ``.json`` name)."""
    if sidecar_path(path) == Path(path):
        raise AudiotexError(f"{path}: a spectrogram cannot be named .json, the name of its sidecar")


def save_spectrogram(path: str | os.PathLike, spec: np.ndarray, meta: dict[str, Any]) -> None:
    """Write ``spec`` to ``path`` (.npy) and ``meta`` (must hold sr, n_fft, hop_length) to its sidecar."""
    missing = {"sr", "n_fft", "hop_length"} - meta.keys()
    if missing:
        raise ValueError(f"spectrogram metadata lacks {sorted(missing)}")
    check_spectrogram_path(path)
    meta = {**meta, "kind": "log1p_magnitude", "shape": list(spec.shape)}
    with atomic_output(sidecar_path(path)) as tmp_json, atomic_output(path) as tmp_npy:
        # through a handle: given a name, np.save appends .npy when it lacks it, and would write beside
        # the temporary file instead of into it
        with open(tmp_npy, "wb") as fh:
            np.save(fh, np.asarray(spec, dtype=np.float32))
        tmp_json.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")


def load_spectrogram(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a spectrogram and its sidecar; errors name the file at fault."""
    path = Path(path)
    side = sidecar_path(path)
    for p in (path, side):
        if not p.exists():
            raise AudiotexError(f"{p}: no such file (a spectrogram needs its .npy and .json sidecar)")
    try:
        spec = np.load(path, allow_pickle=False)
    except Exception as err:  # noqa: BLE001
        raise AudiotexError(f"{path}: not a readable .npy file ({err})") from None
    try:
        meta = json.loads(side.read_text())
    except Exception as err:  # noqa: BLE001
        raise AudiotexError(f"{side}: not a readable JSON sidecar ({err})") from None
    if spec.ndim != 2 or spec.shape[0] != meta.get("n_fft", 0) // 2 + 1:
        raise AudiotexError(f"{path}: shape {spec.shape} does not fit n_fft={meta.get('n_fft')} from {side}")
    if not np.all(np.isfinite(spec)):
        raise AudiotexError(f"{path}: spectrogram contains NaN or infinite values")
    return spec.astype(np.float32), meta
