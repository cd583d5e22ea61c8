"""Audio I/O: decode any supported file to mono float32 at a target rate; write peak-safe WAV atomically."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import AudiotexError
from .files import atomic_output

#: Peak level written files are scaled down to when they would clip.
PEAK_CEILING = 0.99


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise AudiotexError(f"{path}: no such file")
    if path.is_dir():
        raise AudiotexError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudiotexError(f"{path}: file is empty")


def _read_soundfile(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    info = sf.info(str(path))
    start = int(round(offset * info.samplerate))
    stop = None if duration is None else start + int(round(duration * info.samplerate))
    y, native_sr = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    return y.mean(axis=1), native_sr


def _read_librosa(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns before falling back to audioread
        y, native_sr = librosa.load(str(path), sr=None, mono=True, offset=offset, duration=duration)
    return y.astype(np.float32), int(native_sr)


def load_audio(path: str | os.PathLike, sr: int, offset: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Decode ``path`` to a mono float32 signal at ``sr`` Hz.

    Tries soundfile first (wav, flac, ogg/vorbis, opus, mp3 with libsndfile >= 1.1), then librosa's
    audioread fallback for anything else it can open.

    Args:
        path: the audio file.
        sr: target sample rate in Hz; the signal is resampled (soxr, high quality) when it differs.
        offset: seconds to skip at the start.
        duration: seconds to read after ``offset``; ``None`` reads to the end.

    Returns:
        A 1-D float32 array.

    Raises:
        AudiotexError: naming ``path``, if it is missing, empty, undecodable, shorter than ``offset``, or silent.
    """
    path = Path(path)
    _check_readable(path)
    try:
        y, native_sr = _read_soundfile(path, offset, duration)
    except Exception as sf_error:  # noqa: BLE001 - any soundfile failure means "try the fallback"
        try:
            y, native_sr = _read_librosa(path, offset, duration)
        except Exception:  # noqa: BLE001
            raise AudiotexError(f"{path}: cannot decode audio ({sf_error})") from None
    if y.size == 0:
        raise AudiotexError(f"{path}: no audio after offset {offset:g} s")
    if not np.all(np.isfinite(y)):
        raise AudiotexError(f"{path}: audio contains NaN or infinite samples")
    if native_sr != sr:
        import librosa

        y = librosa.resample(y, orig_sr=native_sr, target_sr=sr, res_type="soxr_hq").astype(np.float32)
    if float(np.max(np.abs(y))) < 1e-6:
        raise AudiotexError(f"{path}: audio is silent (peak below -120 dBFS)")
    return np.ascontiguousarray(y, dtype=np.float32)


def peak_safe(y: np.ndarray, ceiling: float = PEAK_CEILING) -> np.ndarray:
    """Scale ``y`` down so that its peak is at most ``ceiling``; quieter signals are left as they are."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return y * (ceiling / peak) if peak > ceiling else y


def audio_format(path: str | os.PathLike) -> str:
    """The soundfile format :func:`write_audio` writes ``path`` in, from its extension (``.wav``: ``WAV``).

    Raises:
        AudiotexError: naming ``path`` and the extensions that work, when the extension names no format
            that holds 16-bit PCM (``.mp3`` and ``.ogg`` do not; no extension names none).
    """
    extension = Path(path).suffix.lstrip(".").upper()
    formats = sf.available_formats()
    if extension not in formats or not sf.check_format(extension, "PCM_16"):
        usable = ", ".join(f".{f.lower()}" for f in ("WAV", "FLAC", "AIFF", "W64", "RF64", "CAF")
                           if f in formats and sf.check_format(f, "PCM_16"))
        what = f"a .{extension.lower()} file" if extension else "a file without an extension"
        raise AudiotexError(f"{path}: cannot write 16-bit audio as {what} (use one of {usable})")
    return extension


def write_audio(path: str | os.PathLike, y: np.ndarray, sr: int) -> None:
    """Write ``y`` as 16-bit PCM (format by extension, :func:`audio_format`) atomically, scaled down if it
    would clip."""
    audio_format_name = audio_format(path)
    if not np.all(np.isfinite(y)):
        raise AudiotexError(f"{path}: refusing to write audio with NaN or infinite samples")
    with atomic_output(path) as tmp:
        sf.write(str(tmp), peak_safe(np.asarray(y, dtype=np.float32)), sr, subtype="PCM_16",
                 format=audio_format_name)
