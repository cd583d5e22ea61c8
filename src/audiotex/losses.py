"""Loss terms over feature maps and spectrograms, each a small differentiable function.

Feature maps are ``(filters, frames)`` tensors from :func:`audiotex.banks.bank_features`; spectrograms are
``(bins, frames)``. Every statistic that compares an output with a clip of another length is normalised by
its number of frames, so outputs may be longer or shorter than the style clip.

Batches: the statistics and losses (not the diversity term) also take a leading batch dimension,
``(B, filters, frames)`` or ``(B, bins, frames)``, with targets ``(B, ...)``; a loss then returns one value
per row ``(B,)``, and rows never mix.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def gram(features: torch.Tensor, norm: str = "frames") -> torch.Tensor:
    """Gram matrix ``F F^T`` of ``([B,] filters, frames)`` features, divided by frames or by all elements.

    Dividing by frames (the seed's choice) makes it the average outer product per frame, independent of the
    clip's length; ``"elements"`` also divides by the number of filters.
    """
    filters, frames = features.shape[-2:]
    g = features @ features.transpose(-1, -2)
    return g / (frames * filters if norm == "elements" else frames)


def distance(a: torch.Tensor, b: torch.Tensor, kind: str = "l2") -> torch.Tensor:
    """Sum of squared differences (``"l2"``, the seed's ``2 * tf.nn.l2_loss``) or summed smooth L1.

    Sums over the last two dimensions (one matrix per row): a scalar for ``(m, n)``, ``(B,)`` for ``(B, m, n)``.
    """
    if kind == "smooth_l1":
        return F.smooth_l1_loss(a, b.expand_as(a), reduction="none").sum((-2, -1))
    return ((a - b) ** 2).sum((-2, -1))


def style_loss(features: list[torch.Tensor], target_grams: list[torch.Tensor], norm: str = "frames",
               kind: str = "l2") -> torch.Tensor:
    """Sum over layers of the distance between the Gram matrices of ``features`` and ``target_grams``."""
    return sum(distance(gram(f, norm), g, kind) for f, g in zip(features, target_grams))


def content_loss(features: list[torch.Tensor], target_features: list[torch.Tensor], kind: str = "l2") -> torch.Tensor:
    """Sum over layers of the distance between feature maps of equal shape."""
    return sum(distance(f, t, kind) for f, t in zip(features, target_features))


def autocorrelation(features: torch.Tensor, max_lag: int) -> torch.Tensor:
    """Time autocorrelation of each filter for lags ``1..max_lag``: ``sum_t f(t) f(t+lag) / (frames - lag)``.

    Computed with an FFT (zero padded, so no wrap-around). Dividing by the number of overlapping frames
    makes it comparable between clips of different lengths; lags with no overlap give 0. Returns
    ``(filters, max_lag)``.
    """
    frames = features.shape[-1]
    n = 1 << (2 * frames - 1).bit_length()
    spectrum = torch.fft.rfft(features, n=n)
    corr = torch.fft.irfft(spectrum * spectrum.conj(), n=n)[..., 1:max_lag + 1]
    overlap = torch.arange(frames - 1, frames - max_lag - 1, -1, device=features.device, dtype=features.dtype)
    # a lag as long as the map has no overlapping frames: its sum is 0, and 0 / 0 would poison the loss
    return corr / overlap.clamp_min(1)


def autocorrelation_loss(features: list[torch.Tensor], target_autocorr: list[torch.Tensor], max_lag: int,
                         kind: str = "l2") -> torch.Tensor:
    """Distance between feature autocorrelations and the style's, averaged over lags (rhythm, periodicity)."""
    return sum(distance(autocorrelation(f, max_lag), t, kind) for f, t in zip(features, target_autocorr)) / max_lag


@dataclass(frozen=True)
class FrameReference:
    """A reference spectrogram prepared for :func:`shift_similarity`: made once, compared with many outputs.

    Attributes:
        centre: the reference's mean spectrum ``(bins, 1)``; every compared frame is centred on it.
        units: the reference's frames, centred and scaled to unit length, ``(bins, frames)``.
    """

    centre: torch.Tensor
    units: torch.Tensor


def unit_frames(spec: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """Frames (columns) of ``spec`` minus ``centre``, scaled to unit length (silent frames stay near 0)."""
    x = spec - centre
    return x / (x.norm(dim=0, keepdim=True) + 1e-8)


def frame_reference(reference: torch.Tensor) -> FrameReference:
    """Centre and normalise ``reference``'s frames once (they never change during an optimisation)."""
    centre = reference.mean(dim=1, keepdim=True)
    return FrameReference(centre, unit_frames(reference, centre))


def diagonal_window_mean(matrix: torch.Tensor, window: int) -> torch.Tensor:
    """Mean of every ``window``-long stretch along the diagonals of ``matrix`` ``(T, R)``.

    Entry ``[t, s]`` is ``mean_k matrix[t + k, s + k]`` for ``k < window``; shape
    ``(T - window + 1, R - window + 1)``. The same as a 2-D convolution with a ``window x window`` identity
    kernel, in ``O(T R)`` instead of ``O(T R window^2)``: the matrix is skewed so that its diagonals become
    columns, summed cumulatively (in float64, so that differences of long sums keep their precision), and
    each window is the difference of two cumulative sums.
    """
    rows, cols = matrix.shape
    width = rows + cols
    # left pad by `rows` and re-read the flat array with rows one longer: element [i, j] lands in column
    # rows + j - i, so each column holds one diagonal, in order of i
    padded = F.pad(matrix.to(torch.float64), (rows, 0)).reshape(-1)
    skewed = F.pad(padded, (0, rows)).reshape(rows, width + 1)
    sums = F.pad(skewed.cumsum(dim=0), (0, 0, 1, 0))  # sums[i] = sum of the first i entries of each diagonal
    t = torch.arange(rows - window + 1, device=matrix.device)[:, None]
    s = torch.arange(cols - window + 1, device=matrix.device)[None, :]
    column = rows + s - t
    return ((sums[t + window, column] - sums[t, column]) / window).to(matrix.dtype)


def shift_similarity(spec: torch.Tensor, reference: torch.Tensor | FrameReference, window: int) -> torch.Tensor:
    """Cosine similarity of every ``window``-frame stretch of ``spec`` with every one of ``reference``.

    Frames are centred on the reference's mean spectrum and scaled to unit length; entry ``[t, s]`` is the
    mean frame similarity of ``spec[:, t:t+window]`` and ``reference[:, s:s+window]``, so a copy of the
    reference shifted by any number of frames shows as a diagonal of ones. ``reference`` may come prepared
    by :func:`frame_reference`. Shape ``(frames - window + 1, reference_frames - window + 1)``.
    """
    if not isinstance(reference, FrameReference):
        reference = frame_reference(reference)
    frame_sim = unit_frames(spec, reference.centre).T @ reference.units
    return diagonal_window_mean(frame_sim, window)


def diversity_loss(spec: torch.Tensor, reference: torch.Tensor | FrameReference, window: int,
                   sharpness: float = 20.0) -> torch.Tensor:
    """Penalise closeness to ``reference`` at ANY time shift.

    For each window of the output, a soft maximum (log-sum-exp with ``sharpness``) over all shifts of its
    similarity to the reference (:func:`shift_similarity`); the mean over output windows. A plain
    same-position penalty is beaten by copying the reference a few seconds later; this is not.
    ``reference`` may be a spectrogram or, to prepare it once, a :func:`frame_reference`.
    """
    reference_frames = reference.units.shape[1] if isinstance(reference, FrameReference) else reference.shape[1]
    window = max(1, min(window, spec.shape[1], reference_frames))
    sim = shift_similarity(spec, reference, window)
    return (torch.logsumexp(sharpness * sim, dim=1) / sharpness).mean()


@dataclass(frozen=True)
class PatchReference:
    """A reference clip prepared for :func:`patch_correlations`.

    Attributes:
        spec: the reference ``(channels, frames)``.
        norms: the length of each of its ``window``-frame patches after removing each channel's mean over
            the patch, ``(frames - window + 1,)``.
        window: the patch length in frames.
    """

    spec: torch.Tensor
    norms: torch.Tensor
    window: int


def patch_reference(reference: torch.Tensor, window: int) -> PatchReference:
    """Prepare ``reference`` ``(channels, frames)`` once for :func:`patch_correlations` (it never changes
    during an optimisation); ``window`` shrinks to the reference's length."""
    window = max(2, min(window, reference.shape[1]))
    patches = reference.unfold(1, window, 1)  # (channels, shifts, window)
    patches = patches - patches.mean(dim=-1, keepdim=True)
    return PatchReference(reference, patches.pow(2).sum(dim=(0, 2)).sqrt(), window)


def patch_correlations(spec: torch.Tensor, reference: PatchReference, step: int) -> torch.Tensor:
    """Normalised correlation of every ``reference.window``-frame patch of ``spec`` (every ``step`` frames)
    with the reference's patch at every shift.

    Each channel's mean over the patch is removed, as the copy score of :mod:`audiotex.metrics` does with its
    log-mel patches: what is compared is how the patch rises and falls, not its spectrum. Shape
    ``(queries, shifts)``; ``spec`` must have at least ``window`` frames.
    """
    window = reference.window
    queries = spec.unfold(1, window, step)  # (channels, queries, window)
    queries = (queries - queries.mean(dim=-1, keepdim=True)).transpose(0, 1)
    norms = queries.pow(2).sum(dim=(1, 2)).sqrt()
    # a query has zero mean per channel, so its dot product with a raw reference patch is its dot product
    # with the centred one: one convolution gives every shift
    dots = F.conv1d(reference.spec[None], queries)[0]
    return dots / (norms[:, None] * reference.norms[None, :] + 1e-8)


def best_correlations(spec: torch.Tensor, reference: PatchReference, step: int) -> torch.Tensor:
    """For each patch of ``spec`` (every ``step`` frames), its best :func:`patch_correlations` with the
    reference at any shift, ``(queries,)``; the window shrinks to ``spec``'s length when ``spec`` is shorter."""
    if spec.shape[1] < reference.window:
        reference = patch_reference(reference.spec, spec.shape[1])
    return patch_correlations(spec, reference, step).amax(dim=1)


def honest_copy_level(reference: torch.Tensor, window: int, step: int) -> float:
    """How much one real excerpt of a recording resembles another: the mean over the second half's patches
    of their best :func:`patch_correlations` with the first half. What the output may show without copying.

    ``window`` shrinks to half the reference's length.
    """
    half = reference.shape[1] // 2
    first = patch_reference(reference[:, :half], min(window, half))
    return float(best_correlations(reference[:, half:], first, step).mean())


def copy_loss(spec: torch.Tensor, reference: PatchReference, level: float, step: int) -> torch.Tensor:
    """Penalise windows of ``spec`` that copy the reference more than an honest excerpt would.

    For each patch of ``spec``, its best correlation with the reference at any shift
    (:func:`patch_correlations`) above ``level`` (:func:`honest_copy_level`), squared; the mean over patches.
    Zero when no window matches the reference better than another real excerpt of it does, so sounds that
    repeat themselves (a drum loop) are left alone.
    """
    return F.relu(best_correlations(spec, reference, step) - level).pow(2).mean()


def band_matrix(n_bins: int, n_bands: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Averaging matrix ``(bands, n_bins)`` over log-spaced groups of frequency bins.

    Band edges are geometric in bin index (like an auditory scale, without needing the sample rate), each
    band averages at least one bin, and bin 0 (DC) is left out. Fewer bands may come back than asked for
    when low bands would be empty.
    """
    edges = torch.unique(torch.round(torch.logspace(0, torch.log10(torch.tensor(float(n_bins))), n_bands + 1)).long())
    rows = []
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist()):
        row = torch.zeros(n_bins)
        row[lo:max(hi, lo + 1)] = 1.0
        rows.append(row / row.sum())
    return torch.stack(rows).to(device)


def band_envelopes(spec: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
    """Band-averaged log spectra ``([B,] bands, frames)`` of ``([B,] bins, frames)``: what the band and moment
    terms both measure, so an objective computes it once per evaluation."""
    return bands @ spec


def envelope_covariance(envelopes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``([B,] bands)`` and covariance ``([B,] bands, bands)`` over time of band envelopes."""
    mean = envelopes.mean(dim=-1)
    centred = envelopes - mean[..., None]
    return mean, centred @ centred.transpose(-1, -2) / envelopes.shape[-1]


def band_covariance(spec: torch.Tensor, bands: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(bands,)`` and covariance ``(bands, bands)`` over time of band-averaged log spectra.

    The diagonal is how much each band's level fluctuates; the off-diagonal, how much bands move
    together. Random-feature Gram matrices leave both loose, and outputs then "pump" across all bands.
    """
    return envelope_covariance(band_envelopes(spec, bands))


def envelope_covariance_loss(envelopes: torch.Tensor, target_mean: torch.Tensor,
                             target_covariance: torch.Tensor) -> torch.Tensor:
    """:func:`band_loss` from envelopes already computed."""
    mean, cov = envelope_covariance(envelopes)
    return ((mean - target_mean) ** 2).sum(-1) + ((cov - target_covariance) ** 2).sum((-2, -1)) * envelopes.shape[-2]


def band_loss(spec: torch.Tensor, bands: torch.Tensor, target_mean: torch.Tensor,
              target_covariance: torch.Tensor) -> torch.Tensor:
    """Squared distance of band means plus that of band covariances (scaled to the same order)."""
    return envelope_covariance_loss(band_envelopes(spec, bands), target_mean, target_covariance)


def standardize(curves: torch.Tensor, eps: float = 1e-6, held: torch.Tensor | None = None) -> torch.Tensor:
    """Each curve along the last dimension (a band envelope, an onset curve) with its mean removed and
    scaled to unit spread: its shape over time, whatever its level and depth of modulation.

    With ``held`` (1 for the frames that count, 0 for the rest, broadcastable to ``curves``) the mean and
    spread are those of the held frames only.
    """
    if held is None:
        centred = curves - curves.mean(dim=-1, keepdim=True)
        return centred / (centred.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt()
    count = held.sum(dim=-1, keepdim=True).clamp_min(1.0)
    centred = curves - (curves * held).sum(dim=-1, keepdim=True) / count
    return centred / ((centred * held).pow(2).sum(dim=-1, keepdim=True) / count + eps).sqrt()


def band_power(spec: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
    """Each band's mean power ``([B,] bands, frames)`` of a ``([B,] bins, frames)`` log1p spectrogram."""
    return bands @ torch.expm1(spec).clamp_min(0.0).pow(2)


def band_log_power(spec: torch.Tensor, bands: torch.Tensor, floor: float | torch.Tensor,
                   window: int = 1) -> torch.Tensor:
    """Log of :func:`band_power` ``([B,] bands, frames - window + 1)``, averaged over ``window`` frames,
    down to ``floor`` (a power).

    Unlike :func:`band_envelopes` (means of ``log1p`` values, nearly linear in quiet bins) it sees a decay
    into silence as a listener and a dB meter do; the window sets how fast a change it still follows.
    """
    return pooled_log_power(band_power(spec, bands), floor, window)


def pooled_log_power(power: torch.Tensor, floor: float | torch.Tensor, window: int = 1) -> torch.Tensor:
    """``log(power + floor)`` of power curves ``(..., frames)``, each first averaged over every ``window``
    consecutive frames: ``(..., frames - window + 1)``."""
    if window > 1:
        power = F.avg_pool1d(power.reshape(-1, 1, power.shape[-1]), window, stride=1).reshape(
            *power.shape[:-1], -1)
    return torch.log(power + floor)


def content_band_weights(power: torch.Tensor, top_db: float = 40.0) -> torch.Tensor:
    """Weights ``([B,] bands)`` summing to 1 over the bands of a content's :func:`band_power`
    ``([B,] bands, frames)`` whose mean power is within ``top_db`` of its strongest band's, 0 elsewhere:
    bands the content hardly uses carry no time structure worth keeping, only noise."""
    level = 10.0 * torch.log10(power.mean(dim=-1) + 1e-20)
    used = (level >= level.max(dim=-1, keepdim=True).values - top_db).to(power.dtype)
    return used / used.sum(dim=-1, keepdim=True)


def envelope_shape_loss(envelopes: torch.Tensor, target_shapes: torch.Tensor, weights: torch.Tensor,
                        held: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted mean over bands of ``mean_t (z - z_target)^2`` with ``z`` the :func:`standardize` d
    envelopes: ``2 (1 - r)`` per band, ``r`` the correlation over time with the target's envelope.

    Blind to each band's level and depth of modulation, so a style transfer can take those from the style
    while every band still rises and falls with the content. ``target_shapes`` are standardized already
    (over the ``held`` frames, when given: see :func:`held_frames`); frames not held count for nothing.
    """
    if held is None:
        return ((standardize(envelopes) - target_shapes) ** 2).mean(dim=-1).mul(weights).sum(dim=-1)
    held = held[..., None, :]  # the same frames for every band
    error = ((standardize(envelopes, held=held) - target_shapes) ** 2 * held).sum(dim=-1)
    return (error / held.sum(dim=-1).clamp_min(1.0)).mul(weights).sum(dim=-1)


def held_frames(frame_log_power: torch.Tensor, pause_db: float) -> torch.Tensor:
    """1 for the frames of natural-log power curves ``([B,] frames)`` within ``pause_db`` dB of their
    loudest frame, 0 for the pauses below."""
    floor = frame_log_power.amax(dim=-1, keepdim=True) - pause_db * math.log(10.0) / 10.0
    return (frame_log_power >= floor).to(frame_log_power.dtype)


def onset_curve(log_power: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Onset strength ``([B,] frames - 1)``: the weighted sum over bands of each band's rise in log power
    from one frame to the next (``log_power`` ``([B,] bands, frames)``, ``weights`` ``([B,] bands)``), as in
    spectral-flux onset detection: high where events start."""
    return (weights[..., None] * torch.relu(log_power.diff(dim=-1))).sum(dim=-2)


def onset_shape_loss(log_power: torch.Tensor, target_onsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``2 (1 - r)``, ``r`` the correlation over time of the :func:`onset_curve` with the target's
    (``target_onsets`` standardized already): do events start where the content's do?"""
    return ((standardize(onset_curve(log_power, weights)) - target_onsets) ** 2).mean(dim=-1)


def content_shape_loss(log_power: torch.Tensor, target_shapes: torch.Tensor, target_onsets: torch.Tensor,
                       weights: torch.Tensor, onset_weight: float = 3.0,
                       held: torch.Tensor | None = None) -> torch.Tensor:
    """The content term of ``content_target=envelopes``: :func:`envelope_shape_loss` (over the ``held``
    frames) plus ``onset_weight`` times :func:`onset_shape_loss`, from the output's :func:`band_log_power`
    ``([B,] bands, frames)``.

    Onsets weigh 3x by default (the ``content_onset_weight`` key sets it): a style's own events (crackles,
    drops) otherwise blur where the content's start, which a listener hears first (speech -> vinyl,
    benchmarks/results/transfer_envelopes.tsv).
    """
    return (envelope_shape_loss(log_power, target_shapes, weights, held)
            + onset_weight * onset_shape_loss(log_power, target_onsets, weights))


def envelope_moments(envelopes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Skewness and log kurtosis over time of band envelopes, ``([B,] bands)`` each.

    A constant envelope (a band the style leaves empty) has kurtosis 0 here: its log is clamped at
    log(1e-12) instead of -inf, which made the moment term infinite and the first step NaN.
    """
    centred = envelopes - envelopes.mean(dim=-1, keepdim=True)
    variance = (centred ** 2).mean(dim=-1) + 1e-8
    skewness = (centred ** 3).mean(dim=-1) / variance ** 1.5
    kurtosis = (centred ** 4).mean(dim=-1) / variance ** 2
    return skewness, torch.log(kurtosis.clamp_min(1e-12))


def band_moments(spec: torch.Tensor, bands: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Skewness and log kurtosis over time of each band-averaged log spectrum, ``(bands,)`` each.

    Sparse sounds (crackles, clicks, drops) have skewed, heavy-tailed band envelopes; Gaussian-looking
    outputs of the same covariance do not. These are two of McDermott & Simoncelli's envelope statistics.
    """
    return envelope_moments(band_envelopes(spec, bands))


def envelope_moment_loss(envelopes: torch.Tensor, target_skewness: torch.Tensor,
                         target_log_kurtosis: torch.Tensor) -> torch.Tensor:
    """:func:`moment_loss` from envelopes already computed."""
    skewness, log_kurtosis = envelope_moments(envelopes)
    return ((skewness - target_skewness) ** 2).mean(-1) + ((log_kurtosis - target_log_kurtosis) ** 2).mean(-1)


def moment_loss(spec: torch.Tensor, bands: torch.Tensor, target_skewness: torch.Tensor,
                target_log_kurtosis: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of band skewness and log kurtosis from the style's."""
    return envelope_moment_loss(band_envelopes(spec, bands), target_skewness, target_log_kurtosis)


def compressed_envelopes(spec: torch.Tensor, bands: torch.Tensor, compression: float = 0.3,
                         floor: float | torch.Tensor = 1e-4) -> torch.Tensor:
    """Band envelopes ``([B,] bands, frames)`` as a cochlea would hand them on: each band's mean magnitude
    (of a ``log1p`` spectrogram) raised to ``compression`` (McDermott & Simoncelli's 0.3), or its log
    (``compression`` 0) down to ``floor``.

    ``log1p`` values are nearly linear in quiet bins, so their band averages hardly see the broadband dips
    and swells that a compressed (or dB) envelope shows: on a water stream the bands' ``log1p`` averages
    correlate 0.58 across bands, their logs 0.82.
    """
    magnitude = bands @ torch.expm1(spec).clamp_min(0.0)
    if compression == 0:
        return torch.log(magnitude + floor)
    return (magnitude + floor).pow(compression)


def envelope_correlation(envelopes: torch.Tensor) -> torch.Tensor:
    """Pearson correlation ``([B,] bands, bands)`` over time of every pair of envelopes: which bands rise
    and fall together, whatever each one's level and depth of modulation."""
    z = standardize(envelopes)
    return z @ z.transpose(-1, -2) / envelopes.shape[-1]


def correlation_loss(envelopes: torch.Tensor, target_correlation: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of :func:`envelope_correlation` from the style's."""
    return ((envelope_correlation(envelopes) - target_correlation) ** 2).mean((-2, -1))


def envelope_statistics(envelopes: torch.Tensor, lags: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean ``([B,] bands)``, covariance ``([B,] bands, bands)`` and autocovariance at ``lags`` frames
    ``([B,] bands, len(lags))`` over time of envelopes: their level, how far they swing and together,
    and how long a swing lasts."""
    mean = envelopes.mean(dim=-1)
    centred = envelopes - mean[..., None]
    frames = envelopes.shape[-1]
    covariance = centred @ centred.transpose(-1, -2) / frames
    lagged = torch.stack([(centred[..., lag:] * centred[..., :frames - lag]).mean(dim=-1) for lag in lags], dim=-1)
    return mean, covariance, lagged


def envelope_statistics_loss(envelopes: torch.Tensor, lags: tuple[int, ...], target_mean: torch.Tensor,
                             target_covariance: torch.Tensor, target_lagged: torch.Tensor) -> torch.Tensor:
    """Mean squared differences of :func:`envelope_statistics` from the style's, summed over the three."""
    mean, covariance, lagged = envelope_statistics(envelopes, lags)
    return (((mean - target_mean) ** 2).mean(-1) + ((covariance - target_covariance) ** 2).mean((-2, -1))
            + ((lagged - target_lagged) ** 2).mean((-2, -1)))


def bin_levels(spec: torch.Tensor, floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation over time of each frequency bin's level, in natural-log units of
    magnitude, ``(..., bins)`` each.

    ``spec`` is ``log1p|X|``, which is nearly linear in ``|X|`` for small magnitudes: a quiet band raised
    20 dB changes it by almost nothing, so no loss over ``log1p`` values sees it. ``log(|X| + floor)``
    does, down to ``floor``. The spread catches what the mean misses: a few frames with a quiet band
    raised 20 dB (short broadband blips) barely move its mean level but widen its spread.
    """
    levels = torch.log(torch.expm1(spec).clamp_min(0.0) + floor)
    mean = levels.mean(dim=-1)
    return mean, (levels - mean[..., None]).pow(2).mean(dim=-1).add(1e-12).sqrt()


def level_loss(spec: torch.Tensor, target_mean: torch.Tensor, target_std: torch.Tensor,
               floor: float | torch.Tensor) -> torch.Tensor:
    """Mean squared difference of :func:`bin_levels` (mean and spread) from the style's: keeps quiet bands
    as quiet, and as steady, as the style's. Batched: ``spec`` ``(B, bins, frames)`` with targets
    ``(B, bins)`` and ``floor`` ``(B, 1, 1)`` gives ``(B,)``."""
    mean, std = bin_levels(spec, floor)
    return ((mean - target_mean) ** 2).mean(dim=-1) + ((std - target_std) ** 2).mean(dim=-1)


def spectrum_loss(spec: torch.Tensor, target_mean: torch.Tensor) -> torch.Tensor:
    """Squared distance between the time-averaged log spectrum and the style's."""
    return ((spec.mean(dim=-1) - target_mean) ** 2).sum(-1)


class _NormalizeGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        # per feature map (the last two dimensions), so the rows of a batch are normalised apart
        return grad / (grad.abs().sum((-2, -1), keepdim=True) + 1e-8)


def normalize_gradient(x: torch.Tensor) -> torch.Tensor:
    """Identity in the forward pass; L1-normalises the gradient flowing back through each ``([B,] m, n)`` map.

    The seed's ``normalize_gradients`` switch (from Torch neural-style). It balances terms of very different
    scale for first-order optimisers; with L-BFGS the loss no longer matches its gradient, so prefer Adam.
    """
    return _NormalizeGradient.apply(x)
