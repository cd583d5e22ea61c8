"""Quality metrics of synthesized audio: inversion fidelity, texture statistics, copying.

Three questions are asked of an output texture:

* **Does it sound like the style?** :func:`texture_statistics` summarises a sound the way McDermott &
  Simoncelli (2011) do -- sub-band envelopes on an auditory (mel) filterbank, their marginal moments,
  cross-band correlations and modulation spectra -- and :func:`texture_distance` compares two such
  summaries. Because these statistics are estimated from finite excerpts, even two excerpts of the same
  recording differ; :func:`reference_distance` measures that floor, and ``distance / reference`` close to 1
  means "as close to the style as another real excerpt of it".
* **Is it a copy?** :func:`copy_score` finds, for every second of the output, the best-matching second of
  the style clip at any time shift. A good texture has the style's statistics without reproducing its
  waveform, so it should score about like a different real excerpt (:func:`copy_score_reference`).
* **Did the inversion work?** :func:`spectral_convergence` of the Griffin-Lim result.

:func:`audio_metrics` gathers them for one output; the workflow's file-level steps
(:func:`audiotex.steps.metrics_file`, :func:`audiotex.steps.collect_metrics`) read and write the files.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import librosa
import numpy as np
from scipy.fft import next_fast_len


#: Octave modulation bands (Hz) of :func:`texture_statistics`: 0.5-1, 1-2, ..., 32-64.
MODULATION_EDGES: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)

#: Statistic groups of :func:`texture_statistics`, in order.
STATISTIC_GROUPS: tuple[str, ...] = ("mean", "cv", "skewness", "kurtosis", "correlation", "modulation")

#: Added to a group's scale in :func:`texture_distance`. Signed statistics (skewness, correlations) can be
#: near zero for both sounds (noise-like envelopes), where a purely relative difference would explode.
DISTANCE_FLOORS: dict[str, float] = {"mean": 0.0, "cv": 0.0, "skewness": 1.0, "kurtosis": 0.0,
                                     "correlation": 0.5, "modulation": 0.0}

#: Columns of the TSV written by :func:`audiotex.steps.metrics_file`, in order.
METRIC_COLUMNS: tuple[str, ...] = (
    "id", "texture_distance", "texture_distance_reference", "texture_distance_norm", "copy_score",
    "copy_score_reference", "two_sample_accuracy", "two_sample_floor", "spectral_convergence", "style_loss",
    "content_loss", "content_distance",
    "output_seconds", "style_seconds", "synthesis_seconds", "inversion_seconds",
    "content_kept", "content_envelope_correlation", "content_onset_correlation", "style_moved", "hole_db",
)

_EPS = 1e-10


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


# --------------------------------------------------------------------------------------------------------
# Texture statistics


def subband_envelopes(y: np.ndarray, sr: int, n_bands: int = 32, envelope_rate: float = 200.0,
                      fmin: float = 20.0, fmax: float | None = None, compression: float = 0.3) -> np.ndarray:
    """Compressed sub-band magnitude envelopes of ``y`` on a mel filterbank.

    ``y`` is first scaled to unit RMS, so every statistic derived from the envelopes is independent of the
    recording level (a texture played louder is the same texture).

    Args:
        y: mono signal.
        sr: its sample rate (Hz).
        n_bands: mel bands between ``fmin`` and ``fmax``.
        envelope_rate: envelope samples per second (the STFT hop is ``round(sr / envelope_rate)``); it must
            exceed twice the top modulation band edge (128 Hz) for :func:`texture_statistics`.
        fmin, fmax: filterbank range in Hz (``fmax`` ``None``: ``sr / 2``).
        compression: power applied to the magnitudes, a rough model of cochlear compression.

    Returns:
        ``(n_bands, frames)`` float64 array, non-negative.
    """
    y = np.asarray(y, dtype=np.float64)
    rms = float(np.sqrt(np.mean(y ** 2))) if y.size else 0.0
    if rms < _EPS:
        raise ValueError("cannot compute envelopes of a silent signal")
    hop = max(1, int(round(sr / envelope_rate)))
    # ~20 ms analysis window: short enough to pass envelope modulations up to ~64 Hz.
    n_fft = int(2 ** math.ceil(math.log2(max(0.02 * sr, 4 * hop))))
    magnitude = np.abs(librosa.stft(y / rms, n_fft=n_fft, hop_length=hop, window="hann", center=True))
    mel_basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_bands, fmin=fmin,
                                    fmax=fmax if fmax is not None else sr / 2.0)
    return (mel_basis @ magnitude) ** compression


def modulation_power(envelopes: np.ndarray, envelope_rate: float,
                     edges: Iterable[float] = MODULATION_EDGES) -> np.ndarray:
    """Fraction of each envelope's variance that lies in each modulation band.

    A Hann-windowed periodogram of every mean-removed envelope is summed over the bands
    ``[edges[k], edges[k+1])`` and divided by the periodogram's total (DC excluded), i.e. by the envelope
    variance (Parseval). Bands above the envelope Nyquist frequency are 0.

    Args:
        envelopes: ``(bands, frames)``.
        envelope_rate: their sample rate (Hz).
        edges: increasing band edges in Hz.

    Returns:
        ``(bands, len(edges) - 1)`` array of values in [0, 1].
    """
    edges = np.asarray(list(edges), dtype=np.float64)
    centred = envelopes - envelopes.mean(axis=1, keepdims=True)
    n = centred.shape[1]
    n_fft = next_fast_len(n)
    spectrum = np.abs(np.fft.rfft(centred * np.hanning(n), n=n_fft, axis=1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / envelope_rate)
    total = spectrum[:, 1:].sum(axis=1, keepdims=True) + _EPS
    bands = [spectrum[:, (freqs >= lo) & (freqs < hi)].sum(axis=1) for lo, hi in zip(edges[:-1], edges[1:])]
    return np.stack(bands, axis=1) / total


def texture_statistics(y: np.ndarray, sr: int, n_bands: int = 32, envelope_rate: float = 200.0,
                       fmin: float = 20.0, fmax: float | None = None) -> dict[str, np.ndarray]:
    """Summary statistics of a sound texture, after McDermott & Simoncelli (2011).

    From the compressed mel sub-band envelopes of :func:`subband_envelopes`:

    * ``mean`` ``(n_bands,)``: each envelope's mean (the level-normalised average spectrum);
    * ``cv`` ``(n_bands,)``: coefficient of variation, std / mean;
    * ``skewness`` ``(n_bands,)``: third standardised moment;
    * ``kurtosis`` ``(n_bands,)``: fourth standardised moment (3 for Gaussian envelopes; large for crackles);
    * ``correlation`` ``(n_bands * (n_bands - 1) / 2,)``: Pearson correlation of every pair of envelopes
      (upper triangle, row-major): which bands rise and fall together;
    * ``modulation`` ``(n_bands, 7)``: :func:`modulation_power` in the octave bands 0.5-1 ... 32-64 Hz.

    Args:
        y: mono signal, at least a few hundred milliseconds long.
        sr: its sample rate (Hz). Compare statistics of signals at the same rate only.
        n_bands, envelope_rate, fmin, fmax: see :func:`subband_envelopes`.

    Returns:
        A dict of float64 arrays keyed by :data:`STATISTIC_GROUPS`.
    """
    env = subband_envelopes(y, sr, n_bands=n_bands, envelope_rate=envelope_rate, fmin=fmin, fmax=fmax)
    if env.shape[1] < 8:
        raise ValueError(f"signal of {len(y)} samples is too short for texture statistics")
    rate = sr / max(1, int(round(sr / envelope_rate)))
    mean = env.mean(axis=1)
    centred = env - mean[:, None]
    std = np.sqrt(np.mean(centred ** 2, axis=1))
    standardised = centred / (std[:, None] + _EPS)
    correlation = (standardised @ standardised.T) / env.shape[1]
    upper = np.triu_indices(n_bands, k=1)
    return {
        "mean": mean,
        "cv": std / (mean + _EPS),
        "skewness": np.mean(standardised ** 3, axis=1),
        "kurtosis": np.mean(standardised ** 4, axis=1),
        "correlation": correlation[upper],
        "modulation": modulation_power(env, rate),
    }


def group_distances(stats_a: Mapping[str, np.ndarray], stats_b: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per-group normalised differences of two :func:`texture_statistics` results.

    For each group ``g`` with values ``a`` and ``b`` (flattened)::

        d_g = rms(a - b) / ((rms(a) + rms(b)) / 2 + floor_g)

    a relative RMS difference, 0 for identical statistics and at most 2 when ``floor_g`` is 0; the floors
    (:data:`DISTANCE_FLOORS`) keep signed statistics that are near zero for both sounds from dominating.
    Dividing by the statistics' own size is what makes groups of different units (levels, moments,
    correlations, variance fractions) weigh comparably.

    Raises:
        ValueError: if the two results do not have the same groups and shapes.
    """
    if set(stats_a) != set(stats_b):
        raise ValueError(f"statistic groups differ: {sorted(stats_a)} vs {sorted(stats_b)}")
    out = {}
    for group in stats_a:
        a = np.asarray(stats_a[group], dtype=np.float64).ravel()
        b = np.asarray(stats_b[group], dtype=np.float64).ravel()
        if a.shape != b.shape:
            raise ValueError(f"statistic {group!r} has shape {a.shape} vs {b.shape}")
        scale = (np.sqrt(np.mean(a ** 2)) + np.sqrt(np.mean(b ** 2))) / 2 + DISTANCE_FLOORS.get(group, 0.0)
        out[group] = float(np.sqrt(np.mean((a - b) ** 2)) / max(scale, _EPS))
    return out


def texture_distance(stats_a: Mapping[str, np.ndarray], stats_b: Mapping[str, np.ndarray]) -> float:
    """Distance between two sounds' texture statistics: the mean over groups of :func:`group_distances`.

    ``texture_distance(s, s) == 0``; it is symmetric; different recordings score about 0.4-1, the two halves
    of one stationary recording about 0.15-0.3. It is best read relative to :func:`reference_distance` of
    the same recording (see the module docstring).
    """
    distances = group_distances(stats_a, stats_b)
    return float(np.mean(list(distances.values())))


def halves(y: np.ndarray, sr: int, min_seconds: float = 2.0) -> tuple[np.ndarray, np.ndarray] | None:
    """The first and second half of ``y``, or ``None`` if a half would be shorter than ``min_seconds``."""
    half = len(y) // 2
    if half < min_seconds * sr:
        return None
    return y[:half], y[half:2 * half]


def reference_distance(y: np.ndarray, sr: int, min_seconds: float = 2.0) -> float | None:
    """:func:`texture_distance` between the two halves of one recording: the floor a synthesis is judged by.

    Returns ``None`` when a half would be shorter than ``min_seconds`` (statistics of shorter excerpts are
    too noisy to serve as a reference). Halves are shorter than the whole, so this floor is, if anything,
    a little generous to syntheses compared with the full clip.
    """
    parts = halves(y, sr, min_seconds)
    if parts is None:
        return None
    return texture_distance(texture_statistics(parts[0], sr), texture_statistics(parts[1], sr))


def normalised_texture_distance(output: np.ndarray, style: np.ndarray, sr: int, min_seconds: float = 2.0,
                                max_excerpts: int = 4) -> tuple[float, float] | None:
    """Distance of ``output`` to ``style`` relative to the style recording's own halves, at equal lengths.

    Statistics of shorter excerpts are noisier, so comparing a full-length output with the style while the
    reference compares half-length excerpts would flatter the output. Here both sides are half the style's
    length: the output is cut into up to ``max_excerpts`` non-overlapping excerpts of that length (the whole
    output if it is shorter), each is compared with the style's first half, and the mean distance is
    divided by :func:`reference_distance` (second half vs first half).

    Returns:
        ``(ratio, reference)``: ``ratio`` about 1 means "as close to the style as another real excerpt of
        it"; ``None`` when a style half would be shorter than ``min_seconds``.
    """
    parts = halves(style, sr, min_seconds)
    if parts is None:
        return None
    first_stats = texture_statistics(parts[0], sr)
    reference = texture_distance(texture_statistics(parts[1], sr), first_stats)
    length = len(parts[0])
    count = max(1, min(max_excerpts, len(output) // length))
    excerpts = [output[i * length:(i + 1) * length] for i in range(count)]
    distance = float(np.mean([texture_distance(texture_statistics(e, sr), first_stats) for e in excerpts]))
    return distance / max(reference, _EPS), reference


# --------------------------------------------------------------------------------------------------------
# Copy detection


def log_mel_spectrogram(y: np.ndarray, sr: int, n_mels: int = 64, frame_seconds: float = 0.01) -> np.ndarray:
    """Log-mel power spectrogram in dB relative to its maximum (floor -80 dB); ``(n_mels, frames)``.

    Frames are ``frame_seconds`` apart with a window of about 8 hops: the long overlap keeps a copy that is
    shifted by a fraction of a hop correlating above 0.95 with its source. The level reference makes it
    independent of the recording level.
    """
    hop = max(1, int(round(sr * frame_seconds)))
    n_fft = int(2 ** math.ceil(math.log2(8 * hop)))
    mel = librosa.feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=sr, n_fft=n_fft, hop_length=hop,
                                         n_mels=n_mels, power=2.0)
    return librosa.power_to_db(mel, ref=np.max, top_db=80.0).astype(np.float64)


def _patches(spec: np.ndarray, width: int, step: int) -> np.ndarray:
    """Unit-norm patches ``spec[:, t:t + width]`` every ``step`` frames, each band's mean removed.

    Removing each band's mean within a patch leaves the patch's time-frequency *pattern*; otherwise any two
    patches of the same average spectrum (two stretches of the same noise) would correlate highly.
    """
    windows = np.lib.stride_tricks.sliding_window_view(spec, width, axis=1)[:, ::step]  # (mels, n, width)
    windows = windows.transpose(1, 0, 2)
    centred = windows - windows.mean(axis=2, keepdims=True)
    flat = centred.reshape(centred.shape[0], -1)
    return flat / (np.linalg.norm(flat, axis=1, keepdims=True) + _EPS)


def best_match_correlations(output: np.ndarray, style: np.ndarray, sr: int, window: float = 1.0,
                            hop: float = 0.25, frame_seconds: float = 0.01, n_mels: int = 64,
                            chunk: int = 512) -> np.ndarray:
    """For each ``window``-second window of ``output`` (every ``hop`` s), its best normalised
    cross-correlation with any window of ``style`` at any frame shift.

    Patches are log-mel spectrogram excerpts (:func:`log_mel_spectrogram`) with each band's mean removed
    (:func:`_patches`). When either signal is shorter than ``window``, the window shrinks to fit.

    Returns:
        1-D array, one value in [-1, 1] per output window.
    """
    out_spec = log_mel_spectrogram(output, sr, n_mels=n_mels, frame_seconds=frame_seconds)
    style_spec = log_mel_spectrogram(style, sr, n_mels=n_mels, frame_seconds=frame_seconds)
    frame_rate = 1.0 / frame_seconds
    width = min(int(round(window * frame_rate)), out_spec.shape[1], style_spec.shape[1])
    if width < 2:
        raise ValueError("signals are too short for a copy score")
    step = max(1, int(round(hop * frame_rate)))
    queries = _patches(out_spec, width, step)
    style_patches = _patches(style_spec, width, 1)
    best = np.full(len(queries), -1.0)
    for start in range(0, len(style_patches), chunk):  # bounded memory for long style clips
        best = np.maximum(best, (queries @ style_patches[start:start + chunk].T).max(axis=1))
    return best


def copy_score(output: np.ndarray, style: np.ndarray, sr: int, window: float = 1.0, hop: float = 0.25,
               frame_seconds: float = 0.01) -> float:
    """How much ``output`` copies ``style``: the mean over output windows of their best match
    (:func:`best_match_correlations`).

    Near 1: every second of the output appears somewhere in the style clip. Compare with
    :func:`copy_score_reference`, the score of a different real excerpt of the style recording.
    """
    return float(np.mean(best_match_correlations(output, style, sr, window=window, hop=hop,
                                                 frame_seconds=frame_seconds)))


def copy_score_reference(y: np.ndarray, sr: int, min_seconds: float = 2.0, window: float = 1.0,
                         hop: float = 0.25) -> float | None:
    """:func:`copy_score` of the second half of a recording against its first half.

    What an honest (non-copying) excerpt of the same sound scores; ``None`` when a half would be shorter
    than ``min_seconds``.
    """
    parts = halves(y, sr, min_seconds)
    if parts is None:
        return None
    return copy_score(parts[1], parts[0], sr, window=window, hop=hop)


def content_distance(output: np.ndarray, content: np.ndarray, sr: int) -> float:
    """``1 - r`` where ``r`` is the Pearson correlation of the two log-mel spectrograms (frame-aligned,
    cut to the shorter): 0 when the output follows the content's time-frequency shape exactly, about 1
    when unrelated.
    """
    a = log_mel_spectrogram(output, sr)
    b = log_mel_spectrogram(content, sr)
    frames = min(a.shape[1], b.shape[1])
    a, b = a[:, :frames].ravel(), b[:, :frames].ravel()
    a, b = a - a.mean(), b - b.mean()
    return float(1.0 - (a @ b) / (np.linalg.norm(a) * np.linalg.norm(b) + _EPS))


# --------------------------------------------------------------------------------------------------------
# Style transfer: content kept, moved toward the style, holes

#: Columns :func:`transfer_metrics` adds to a transfer row (empty cells for a texture).
TRANSFER_COLUMNS: tuple[str, ...] = ("content_kept", "content_envelope_correlation", "content_onset_correlation",
                                     "style_moved", "hole_db")

#: A band of the output more than this many dB below both inputs' level in that band is a hole.
HOLE_DB = 20.0


def _pearson(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Pearson correlation along ``axis``; 0 where either side is constant (no time structure to share)."""
    a = a - a.mean(axis=axis, keepdims=True)
    b = b - b.mean(axis=axis, keepdims=True)
    norm = np.sqrt((a ** 2).sum(axis=axis) * (b ** 2).sum(axis=axis))
    return np.where(norm > _EPS, (a * b).sum(axis=axis) / np.maximum(norm, _EPS), 0.0)


def envelope_correlation(output: np.ndarray, content: np.ndarray, sr: int, n_mels: int = 64,
                         top_db: float = 40.0) -> float:
    """How well the output's log-mel band envelopes follow the content's over time.

    The Pearson correlation over time of each band's log-mel level (:func:`log_mel_spectrogram`, frames
    aligned, cut to the shorter), averaged over the content's bands whose mean level is within ``top_db``
    of its strongest band: bands the content hardly uses carry no content to keep.

    Returns:
        1 when every used band rises and falls with the content, about 0 for an unrelated sound.
    """
    out_spec = log_mel_spectrogram(output, sr, n_mels=n_mels)
    content_spec = log_mel_spectrogram(content, sr, n_mels=n_mels)
    frames = min(out_spec.shape[1], content_spec.shape[1])
    out_spec, content_spec = out_spec[:, :frames], content_spec[:, :frames]
    level = content_spec.mean(axis=1)
    used = level >= level.max() - top_db
    return float(np.mean(_pearson(out_spec[used], content_spec[used], axis=1)))


def onset_correlation(output: np.ndarray, content: np.ndarray, sr: int, frame_seconds: float = 0.01) -> float:
    """Pearson correlation of the output's and the content's onset-strength curves (frames aligned, cut to
    the shorter): do events start where the content's do? 0 when either curve is flat."""
    hop = max(1, int(round(sr * frame_seconds)))
    curves = [librosa.onset.onset_strength(y=np.asarray(y, dtype=np.float32), sr=sr, hop_length=hop)
              for y in (output, content)]
    frames = min(len(c) for c in curves)
    return float(_pearson(curves[0][:frames], curves[1][:frames]))


def content_kept(output: np.ndarray, content: np.ndarray, sr: int) -> tuple[float, float, float]:
    """How much of the content's time structure the output keeps.

    Returns:
        ``(kept, envelopes, onsets)``: the mean of :func:`envelope_correlation` and
        :func:`onset_correlation`, and the two. 1 = the same time structure, about 0 = a pure texture.
    """
    envelopes = envelope_correlation(output, content, sr)
    onsets = onset_correlation(output, content, sr)
    return (envelopes + onsets) / 2.0, envelopes, onsets


def style_moved(output: np.ndarray, content: np.ndarray, style: np.ndarray, sr: int) -> float | None:
    """How far the output moved from the content toward the style, in texture statistics:
    ``1 - d(output, style) / d(content, style)`` with d :func:`texture_distance`.

    1 = statistically like the style, 0 = still like the content (negative: farther than the content).
    ``None`` when the content is already the style (``d(content, style)`` under 1e-6): there is no way to
    go, and dividing by that distance would give any output a score of millions.
    """
    style_stats = texture_statistics(style, sr)
    start = texture_distance(texture_statistics(content, sr), style_stats)
    if start < 1e-6:
        return None
    return float(1.0 - texture_distance(texture_statistics(output, sr), style_stats) / start)


def band_levels(y: np.ndarray, sr: int, n_mels: int = 64, floor_db: float = -100.0) -> np.ndarray:
    """Each log-mel band's level in dB, averaged over time in dB, of ``y`` scaled to unit RMS.

    Averaging the dB values (not the power) lets a band that is silent for much of the time pull its level
    down even when loud moments remain; scaling to unit RMS compares spectral shape, not loudness.
    ``floor_db`` bounds the level of a silent band.
    """
    y = np.asarray(y, dtype=np.float64)
    rms = float(np.sqrt(np.mean(y ** 2))) if y.size else 0.0
    if rms < _EPS:
        raise ValueError("cannot compute band levels of a silent signal")
    hop = max(1, int(round(sr * 0.01)))
    mel = librosa.feature.melspectrogram(y=(y / rms).astype(np.float32), sr=sr, n_fft=int(2 ** math.ceil(
        math.log2(8 * hop))), hop_length=hop, n_mels=n_mels, power=2.0)
    return np.maximum(10.0 * np.log10(mel + 10.0 ** (floor_db / 10.0)), floor_db).mean(axis=1)


def hole_depth(output: np.ndarray, content: np.ndarray, style: np.ndarray, sr: int, n_mels: int = 64) -> float:
    """How far the output's weakest band falls below both inputs: the largest, over log-mel bands, of
    ``min(content level, style level) - output level`` in dB (:func:`band_levels`).

    Above :data:`HOLE_DB` the output has a hole: a band far quieter than in either input. Negative: every
    band is at least as loud as the quieter input.
    """
    quieter = np.minimum(band_levels(content, sr, n_mels), band_levels(style, sr, n_mels))
    return float(np.max(quieter - band_levels(output, sr, n_mels)))


def transfer_metrics(output: np.ndarray, content: np.ndarray, style: np.ndarray,
                     sr: int) -> dict[str, float | None]:
    """The style-transfer columns (:data:`TRANSFER_COLUMNS`) of an output, all signals at ``sr``:
    :func:`content_kept` and its two parts, :func:`style_moved` and :func:`hole_depth`."""
    kept, envelopes, onsets = content_kept(output, content, sr)
    return {"content_kept": kept, "content_envelope_correlation": envelopes, "content_onset_correlation": onsets,
            "style_moved": style_moved(output, content, style, sr), "hole_db": hole_depth(output, content, style, sr)}


# --------------------------------------------------------------------------------------------------------
# Real-vs-synthetic two-sample test


def two_sample_patches(y: np.ndarray, sr: int, window: float = 0.37, hop: float = 0.04, n_mels: int = 40,
                       frame_seconds: float = 0.02, floor_db: float = -80.0) -> np.ndarray:
    """Flattened log-mel patches of ``window`` seconds every ``hop`` seconds, in time order.

    ``y`` is scaled to unit RMS first and the dB values are relative to that (floored at ``floor_db``), so
    a texture played louder gives the same patches but a different balance of loud and quiet bands does not.

    Returns:
        ``(patches, n_mels * frames_per_patch)`` float64 array; no patch if ``y`` is shorter than ``window``.
    """
    y = np.asarray(y, dtype=np.float64)
    rms = float(np.sqrt(np.mean(y ** 2))) if y.size else 0.0
    if rms < _EPS:
        raise ValueError("cannot compute patches of a silent signal")
    frame_hop = max(1, int(round(sr * frame_seconds)))
    n_fft = int(2 ** math.ceil(math.log2(2 * frame_hop)))
    mel = librosa.feature.melspectrogram(y=(y / rms).astype(np.float32), sr=sr, n_fft=n_fft,
                                         hop_length=frame_hop, n_mels=n_mels, power=2.0)
    spec = 10.0 * np.log10(np.maximum(mel.astype(np.float64), 10.0 ** (floor_db / 10.0)))
    width = max(1, int(round(window / frame_seconds)))
    step = max(1, int(round(hop / frame_seconds)))
    if spec.shape[1] < width:
        return np.zeros((0, n_mels * width))
    windows = np.lib.stride_tricks.sliding_window_view(spec, width, axis=1)[:, ::step]  # (mels, n, width)
    return windows.transpose(1, 0, 2).reshape(windows.shape[1], -1)


def two_sample_min_patches(folds: int = 5, window: float = 0.37, hop: float = 0.04) -> int:
    """The fewest patches each signal needs for :func:`two_sample_accuracy`: with any fold tested, the
    patches left to train on, once that fold and the patches overlapping it are set aside, must not be none
    (with the defaults 24 patches, 1.3 s of sound)."""
    overlap = int(math.ceil(window / hop))
    n = max(folds, 1)
    while n - math.ceil(n / folds) - 2 * (overlap - 1) < 1:
        n += 1
    return n


def contiguous_folds(n: int, folds: int) -> list[np.ndarray]:
    """Split ``range(n)`` into ``folds`` contiguous blocks of near-equal size (some empty if ``n < folds``)."""
    return [block for block in np.array_split(np.arange(n), folds)]


def two_sample_accuracy(a: np.ndarray, b: np.ndarray, sr: int, folds: int = 5, window: float = 0.37,
                        hop: float = 0.04, components: int = 16, random_state: int = 0) -> float:
    """How well a classifier tells windows of ``a`` from windows of ``b``: cross-validated balanced accuracy.

    Both signals are cut into log-mel patches (:func:`two_sample_patches`); a logistic regression on the
    patches' first ``components`` principal components is trained and tested over ``folds`` CONTIGUOUS
    folds: fold ``k`` tests on the ``k``-th stretch of each signal. Overlapping patches are near copies of
    each other, so training patches that overlap a test patch in time are left out (otherwise the
    classifier would be tested on what it was trained on, and any two signals would look separable).

    About 0.5: the classifier cannot tell the two apart (two excerpts of one stationary sound); 1.0: every
    window is told apart (white noise vs a sine). Compare with :func:`two_sample_floor`, what two real
    excerpts of the same recording score. Deterministic.

    Raises:
        ValueError: if either signal has fewer patches than :func:`two_sample_min_patches`.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    patches = [two_sample_patches(a, sr, window=window, hop=hop), two_sample_patches(b, sr, window=window, hop=hop)]
    if min(len(p) for p in patches) < two_sample_min_patches(folds, window, hop):
        raise ValueError(f"signals of {len(a) / sr:.2f} s and {len(b) / sr:.2f} s are too short for a "
                         f"{folds}-fold two-sample test of {window} s windows")
    # patches whose start indices differ by less than this overlap in time
    overlap = int(math.ceil(window / hop))
    correct = [0, 0]
    for fold in range(folds):
        train_x, train_y, tests = [], [], []
        for label, p in enumerate(patches):
            test = contiguous_folds(len(p), folds)[fold]
            keep = np.ones(len(p), dtype=bool)
            keep[max(0, test[0] - overlap + 1):test[-1] + overlap] = False
            train_x.append(p[keep])
            train_y.append(np.full(int(keep.sum()), label))
            tests.append(p[test])
        x = np.concatenate(train_x)
        n_components = max(1, min(components, len(x) - 1, x.shape[1]))
        model = make_pipeline(StandardScaler(), PCA(n_components=n_components, random_state=random_state),
                              LogisticRegression(max_iter=1000, random_state=random_state))
        model.fit(x, np.concatenate(train_y))
        for label, test in enumerate(tests):
            correct[label] += int((model.predict(test) == label).sum())
    return float(np.mean([correct[label] / len(p) for label, p in enumerate(patches)]))


def two_sample_floor(y: np.ndarray, sr: int, min_seconds: float = 2.0, **kwargs: Any) -> float | None:
    """:func:`two_sample_accuracy` between the two halves of a recording: what real audio scores.

    A non-stationary recording (a chord ringing out) has halves a classifier can tell apart, so its floor is
    high and an output is judged by its excess over it. ``None`` when a half is shorter than ``min_seconds``.
    """
    parts = halves(y, sr, min_seconds)
    if parts is None:
        return None
    return two_sample_accuracy(parts[0], parts[1], sr, **kwargs)


def two_sample_floor_cuts(y: np.ndarray, sr: int, cuts: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4),
                          min_seconds: float = 2.0, **kwargs: Any) -> list[float] | None:
    """:func:`two_sample_floor` of ``y`` with its first ``cut`` seconds left out, for each of ``cuts``.

    A floor is one draw: on a recording of noise, halves cut a tenth of a second later can score 0.1-0.3
    apart (few independent windows, folds that each leave out a stretch unlike the rest), so the spread of
    these floors says how finely an excess over one of them can be read. ``None`` when a cut leaves halves
    shorter than ``min_seconds``; ``kwargs`` go to :func:`two_sample_accuracy`.
    """
    if any(cut < 0 for cut in cuts):
        raise ValueError(f"every cut must be at least 0 s, not {min(cuts)}")
    floors = []
    for cut in cuts:
        floor = two_sample_floor(y[int(round(cut * sr)):], sr, min_seconds, **kwargs)
        if floor is None:
            return None
        floors.append(floor)
    return floors


def audio_metrics(output: np.ndarray, style: np.ndarray, sr: int,
                  content: np.ndarray | None = None) -> dict[str, float | None]:
    """The metrics of an output against its style (and content), all signals at ``sr``.

    Returns ``texture_distance`` (output vs whole style clip), ``texture_distance_reference`` and
    ``texture_distance_norm`` (:func:`normalised_texture_distance`), ``copy_score``,
    ``copy_score_reference``, for a texture ``two_sample_accuracy`` (output vs style,
    :func:`two_sample_accuracy`) and ``two_sample_floor`` (the style's halves, :func:`two_sample_floor`),
    and for a transfer ``content_distance`` and :func:`transfer_metrics`; ``None`` where a value does not
    apply (a style clip too short for a reference, content metrics of a texture, the two-sample test of a
    transfer or of an output too short for it, :func:`two_sample_min_patches`).
    """
    normalised = normalised_texture_distance(output, style, sr)
    # a transfer is not meant to pass for its style, and the floor needs halves long enough to test
    floor = two_sample_floor(style, sr) if content is None else None
    testable = floor is not None and len(two_sample_patches(output, sr)) >= two_sample_min_patches()
    return {
        "texture_distance": texture_distance(texture_statistics(output, sr), texture_statistics(style, sr)),
        "texture_distance_reference": None if normalised is None else normalised[1],
        "texture_distance_norm": None if normalised is None else normalised[0],
        "copy_score": copy_score(output, style, sr),
        "copy_score_reference": copy_score_reference(style, sr),
        "two_sample_accuracy": two_sample_accuracy(output, style, sr) if testable else None,
        "two_sample_floor": floor,
        "content_distance": None if content is None else content_distance(output, content, sr),
        **(dict.fromkeys(TRANSFER_COLUMNS) if content is None else transfer_metrics(output, content, style, sr)),
    }
