"""Loss terms over feature maps and spectrograms, each a small differentiable function.

Feature maps are ``(filters, frames)`` tensors from :func:`audiotex.banks.bank_features`; spectrograms are
``(bins, frames)``. Every statistic that compares an output with a clip of another length is normalised by
its number of frames, so outputs may be longer or shorter than the style clip.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gram(features: torch.Tensor, norm: str = "frames") -> torch.Tensor:
    """Gram matrix ``F F^T`` of ``(filters, frames)`` features, divided by frames or by all elements.

    Dividing by frames (the seed's choice) makes it the average outer product per frame, independent of the
    clip's length; ``"elements"`` also divides by the number of filters.
    """
    filters, frames = features.shape
    g = features @ features.T
    return g / (frames * filters if norm == "elements" else frames)


def distance(a: torch.Tensor, b: torch.Tensor, kind: str = "l2") -> torch.Tensor:
    """Sum of squared differences (``"l2"``, the seed's ``2 * tf.nn.l2_loss``) or summed smooth L1."""
    if kind == "smooth_l1":
        return F.smooth_l1_loss(a, b, reduction="sum")
    return ((a - b) ** 2).sum()


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
    makes it comparable between clips of different lengths. Returns ``(filters, max_lag)``.
    """
    frames = features.shape[-1]
    n = 1 << (2 * frames - 1).bit_length()
    spectrum = torch.fft.rfft(features, n=n)
    corr = torch.fft.irfft(spectrum * spectrum.conj(), n=n)[..., 1:max_lag + 1]
    overlap = torch.arange(frames - 1, frames - max_lag - 1, -1, device=features.device, dtype=features.dtype)
    return corr / overlap


def autocorrelation_loss(features: list[torch.Tensor], target_autocorr: list[torch.Tensor], max_lag: int,
                         kind: str = "l2") -> torch.Tensor:
    """Distance between feature autocorrelations and the style's, averaged over lags (rhythm, periodicity)."""
    return sum(distance(autocorrelation(f, max_lag), t, kind) for f, t in zip(features, target_autocorr)) / max_lag


def _unit_columns(spec: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    x = spec - centre
    return x / (x.norm(dim=0, keepdim=True) + 1e-8)


def shift_similarity(spec: torch.Tensor, reference: torch.Tensor, window: int) -> torch.Tensor:
    """Cosine similarity of every ``window``-frame stretch of ``spec`` with every one of ``reference``.

    Frames are centred on the reference's mean spectrum and scaled to unit length; entry ``[t, s]`` is the
    mean frame similarity of ``spec[:, t:t+window]`` and ``reference[:, s:s+window]``, so a copy of the
    reference shifted by any number of frames shows as a diagonal of ones. Shape
    ``(frames - window + 1, reference_frames - window + 1)``.
    """
    centre = reference.mean(dim=1, keepdim=True)
    frame_sim = _unit_columns(spec, centre).T @ _unit_columns(reference, centre)
    eye = torch.eye(window, device=spec.device, dtype=spec.dtype)[None, None] / window
    return F.conv2d(frame_sim[None, None], eye)[0, 0]


def diversity_loss(spec: torch.Tensor, reference: torch.Tensor, window: int, sharpness: float = 20.0) -> torch.Tensor:
    """Penalise closeness to ``reference`` at ANY time shift.

    For each window of the output, a soft maximum (log-sum-exp with ``sharpness``) over all shifts of its
    similarity to the reference (:func:`shift_similarity`); the mean over output windows. A plain
    same-position penalty is beaten by copying the reference a few seconds later; this is not.
    """
    window = max(1, min(window, spec.shape[1], reference.shape[1]))
    sim = shift_similarity(spec, reference, window)
    return (torch.logsumexp(sharpness * sim, dim=1) / sharpness).mean()


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


def band_covariance(spec: torch.Tensor, bands: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(bands,)`` and covariance ``(bands, bands)`` over time of band-averaged log spectra.

    The diagonal is how much each band's level fluctuates; the off-diagonal, how much bands move
    together. Random-feature Gram matrices leave both loose, and outputs then "pump" across all bands.
    """
    envelopes = bands @ spec
    mean = envelopes.mean(dim=1)
    centred = envelopes - mean[:, None]
    return mean, centred @ centred.T / spec.shape[1]


def band_loss(spec: torch.Tensor, bands: torch.Tensor, target_mean: torch.Tensor,
              target_covariance: torch.Tensor) -> torch.Tensor:
    """Squared distance of band means plus that of band covariances (scaled to the same order)."""
    mean, cov = band_covariance(spec, bands)
    return ((mean - target_mean) ** 2).sum() + ((cov - target_covariance) ** 2).sum() * bands.shape[0]


def band_moments(spec: torch.Tensor, bands: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Skewness and log kurtosis over time of each band-averaged log spectrum, ``(bands,)`` each.

    Sparse sounds (crackles, clicks, drops) have skewed, heavy-tailed band envelopes; Gaussian-looking
    outputs of the same covariance do not. These are two of McDermott & Simoncelli's envelope statistics.
    """
    envelopes = bands @ spec
    centred = envelopes - envelopes.mean(dim=1, keepdim=True)
    variance = (centred ** 2).mean(dim=1) + 1e-8
    skewness = (centred ** 3).mean(dim=1) / variance ** 1.5
    kurtosis = (centred ** 4).mean(dim=1) / variance ** 2
    return skewness, torch.log(kurtosis)


def moment_loss(spec: torch.Tensor, bands: torch.Tensor, target_skewness: torch.Tensor,
                target_log_kurtosis: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of band skewness and log kurtosis from the style's."""
    skewness, log_kurtosis = band_moments(spec, bands)
    return ((skewness - target_skewness) ** 2).mean() + ((log_kurtosis - target_log_kurtosis) ** 2).mean()


def bin_levels(spec: torch.Tensor, floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation over time of each frequency bin's level, in natural-log units of
    magnitude, ``(bins,)`` each.

    ``spec`` is ``log1p|X|``, which is nearly linear in ``|X|`` for small magnitudes: a quiet band raised
    20 dB changes it by almost nothing, so no loss over ``log1p`` values sees it. ``log(|X| + floor)``
    does, down to ``floor``. The spread catches what the mean misses: a few frames with a quiet band
    raised 20 dB (short broadband blips) barely move its mean level but widen its spread.
    """
    levels = torch.log(torch.expm1(spec).clamp_min(0.0) + floor)
    mean = levels.mean(dim=1)
    return mean, (levels - mean[:, None]).pow(2).mean(dim=1).add(1e-12).sqrt()


def level_loss(spec: torch.Tensor, target_mean: torch.Tensor, target_std: torch.Tensor, floor: float) -> torch.Tensor:
    """Mean squared difference of :func:`bin_levels` (mean and spread) from the style's: keeps quiet bands
    as quiet, and as steady, as the style's."""
    mean, std = bin_levels(spec, floor)
    return ((mean - target_mean) ** 2).mean() + ((std - target_std) ** 2).mean()


def spectrum_loss(spec: torch.Tensor, target_mean: torch.Tensor) -> torch.Tensor:
    """Squared distance between the time-averaged log spectrum and the style's."""
    return ((spec.mean(dim=1) - target_mean) ** 2).sum()


class _NormalizeGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return grad / (grad.abs().sum() + 1e-8)


def normalize_gradient(x: torch.Tensor) -> torch.Tensor:
    """Identity in the forward pass; L1-normalises the gradient flowing back through it.

    The seed's ``normalize_gradients`` switch (from Torch neural-style). It balances terms of very different
    scale for first-order optimisers; with L-BFGS the loss no longer matches its gradient, so prefer Adam.
    """
    return _NormalizeGradient.apply(x)
