"""The optimisation loop: fit spectrograms to style (and content) statistics with L-BFGS or Adam.

State lives here because it is the point: the spectrograms being optimised, the optimiser, and the
checkpoints that let a killed job resume where it stopped.

One loop serves one row or many: :func:`synthesize_batch` optimises rows that share a shape and a bank as
one batch (batched convolutions and Gram matrices, one forward and backward pass per evaluation), each row
with its own optimiser state (:mod:`audiotex.lbfgs`, :mod:`audiotex.adam`) and its own checkpoint;
:func:`synthesize` is the batch of one.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from . import losses as L
from .adam import AdamState, adam_step
from .banks import bank_features, make_bank, min_frames, parse_layers
from .device import exact_convolutions, resolve_device
from .errors import AudiotexError
from .files import atomic_output
from .lbfgs import LBFGSState, lbfgs_step
from .spectrogram import QUIET_FLOOR, empty_bin_ceiling, fade_bounds, interior_bounds

#: Power of the band magnitudes in the envelope correlation term: McDermott & Simoncelli's cochlear compression.
COMPRESSION = 0.3

#: Lags (frames) of the dB envelope term's autocovariances: how long a swing lasts, 6-90 ms at hop 128 / 22 kHz.
DB_LAGS = (1, 2, 4, 8, 16)

#: A log1p magnitude beyond this (e^40) is no sound any STFT of audio in [-1, 1] can have: divergence.
MAX_LOG_MAGNITUDE = 40.0


@dataclass
class SynthesisResult:
    """What :func:`synthesize` returns (and :func:`synthesize_batch`, per row).

    Attributes:
        spectrogram: the optimised log-magnitude spectrogram ``(bins, frames)``, float32.
        losses: one dict per iteration: ``iteration``, ``loss`` and each active term (with L-BFGS, at the
            point the iteration accepted; with Adam, at the point it stepped from), ``evaluations`` (loss
            and gradient evaluations the iteration took: L-BFGS's line search may take several), ``seconds``
            since start (of the row's batch).
        iterations: iterations completed (including those done before a resume).
        resumed_from: the iteration a checkpoint resumed at, or ``None`` for a fresh start.
    """

    spectrogram: np.ndarray
    losses: list[dict[str, float]] = field(default_factory=list)
    iterations: int = 0
    resumed_from: int | None = None


def fit_length(spec: np.ndarray, n_frames: int) -> np.ndarray:
    """Tile ``spec`` along time and crop to ``n_frames`` (a content clip shorter or longer than the output)."""
    reps = -(-n_frames // spec.shape[1])
    return np.tile(spec, (1, reps))[:, :n_frames]


class Objective:
    """The weighted sum of loss terms for a batch of style (and content) targets that share one bank.

    Build it once; call it on the spectrograms being optimised to get ``(total, terms)``: per row, the
    weighted total and the value of each active term (named by :attr:`term_names`). ``style`` (and
    ``content``) may be one tensor ``(bins, frames)`` (a batch of one) or a sequence of them, one per row:
    the styles may differ in length, the contents are all ``n_frames`` long (or all ``None``).
    """

    def __init__(self, style: torch.Tensor | Sequence[torch.Tensor],
                 content: torch.Tensor | Sequence[torch.Tensor | None] | None, n_frames: int,
                 settings: Mapping[str, Any], frames_per_second: float):
        styles = [style] if isinstance(style, torch.Tensor) else list(style)
        contents = [content] if isinstance(style, torch.Tensor) else list(content or [None] * len(styles))
        has_content = contents[0] is not None
        s = dict(settings)
        # the banks are float32: a float64 clip (numpy's default dtype) is computed like any other
        styles = [st.to(torch.float32) for st in styles]
        contents = [None if c is None else c.to(torch.float32) for c in contents]
        first = styles[0]
        self.batch = len(styles)
        self.layers = parse_layers(s["layers"])
        self.kernels = make_bank(first.shape[0], self.layers, seed=s["seed"], device=first.device)
        self.circular = bool(s["loop"])
        self.gram_norm, self.kind = s["gram_norm"], s["loss"]
        self.normalize = bool(s["normalize_gradients"])
        self.weights = {"style": s["style_weight"], "content": s["content_weight"] if has_content else 0.0,
                        "autocorr": s["autocorr_weight"], "diversity": s["diversity_weight"],
                        "spectrum": s["spectrum_weight"], "bands": s["band_weight"],
                        "moments": s["moment_weight"], "level": s["level_weight"],
                        "correlation": s["correlation_weight"], "db": s["db_weight"], "copy": s["copy_weight"]}
        #: the active terms, in the order of the columns of ``terms``
        self.term_names = [name for name, weight in self.weights.items() if weight]
        self.term_weights = torch.tensor([self.weights[name] for name in self.term_names], device=first.device,
                                         dtype=first.dtype)
        with torch.no_grad():
            # styles may differ in length: their features are computed row by row, then stacked
            style_feats = [bank_features(st, self.kernels, self.layers) for st in styles]
            self.target_grams = [torch.stack([L.gram(feats[k], self.gram_norm) for feats in style_feats])
                                 for k in range(len(self.layers))]
            self.target_content = None
            self.content_envelopes = self.weights["content"] and s["content_target"] == "envelopes"
            if any(self.weights[k] for k in ("bands", "moments", "correlation", "db", "copy")):
                self.bands = L.band_matrix(first.shape[0], s["bands"], device=first.device)
            if self.content_envelopes:
                # finer than the style's bands: a chord's partials each keep their own decay
                self.content_bands = L.band_matrix(first.shape[0], s["content_bands"], device=first.device)
                stacked = torch.stack(contents)
                power = L.band_power(stacked, self.content_bands)
                # levels are followed down to 80 dB below each content's loudest band and frame
                self.shape_floor = power.amax(dim=(-2, -1))[:, None, None] * 1e-8
                self.shape_window = max(1, min(n_frames, int(round(s["content_window"] * frames_per_second))))
                log_power = L.pooled_log_power(power, self.shape_floor, self.shape_window)
                self.held_frames = None
                if s["content_pause_db"] is not None:
                    # pauses are frames where the whole content is quiet (speech between words), not one
                    # band decaying (a chord's partial): there the style is free to go on at its own level
                    frame_log_power = L.pooled_log_power(power.sum(dim=-2), self.shape_floor[..., 0],
                                                         self.shape_window)
                    self.held_frames = L.held_frames(frame_log_power, s["content_pause_db"])
                self.target_shapes = L.standardize(
                    log_power, held=None if self.held_frames is None else self.held_frames[..., None, :])
                self.content_band_weights = L.content_band_weights(power, s["content_top_db"])
                self.onset_weight = s["content_onset_weight"]
                self.target_onsets = L.standardize(L.onset_curve(log_power, self.content_band_weights))
            elif self.weights["content"]:
                self.target_content = bank_features(torch.stack(contents), self.kernels, self.layers, self.circular)
            self.max_lag = 0
            if self.weights["autocorr"]:
                # a lag needs frames on both sides: cap it at half the shortest feature map, style's or
                # output's; a pooled layer has n_frames // pool frames before its convolution (a loop's,
                # pooled across its seam, ceil(n_frames / pool))
                output_lengths = [-(-n_frames // l.pool) if self.circular else n_frames // l.pool - (l.width - 1)
                                  for l in self.layers]
                shortest = min(min(f.shape[1] for feats in style_feats for f in feats), *output_lengths)
                self.max_lag = max(1, min(int(s["autocorr_max_lag"] * frames_per_second), shortest // 2))
                self.target_autocorr = [torch.stack([L.autocorrelation(feats[k], self.max_lag) for feats in style_feats])
                                        for k in range(len(self.layers))]
            # each row's style frames, centred and normalised once for the diversity term
            self.diversity_references = ([L.frame_reference(st) for st in styles] if self.weights["diversity"]
                                         else None)
            self.window = max(1, int(round(s["diversity_window"] * frames_per_second)))
            self.target_mean = torch.stack([st.mean(dim=1) for st in styles])
            # levels, compressed and dB envelopes are followed down to 80 dB below each style's loudest bin
            self.quiet_floor = torch.stack([torch.expm1(st.max()) * QUIET_FLOOR for st in styles])[:, None, None]
            if self.weights["level"]:
                levels = [L.bin_levels(st, float(floor)) for st, floor in zip(styles, self.quiet_floor)]
                self.target_levels = (torch.stack([m for m, _ in levels]), torch.stack([d for _, d in levels]))
            if self.weights["correlation"]:
                self.target_correlation = torch.stack([
                    L.envelope_correlation(L.compressed_envelopes(st, self.bands, COMPRESSION, floor))
                    for st, floor in zip(styles, self.quiet_floor)])
            if self.weights["db"] or self.weights["copy"]:
                db_styles = [L.compressed_envelopes(st, self.bands, 0.0, floor)
                             for st, floor in zip(styles, self.quiet_floor)]
            if self.weights["db"]:
                stats = [L.envelope_statistics(e, DB_LAGS) for e in db_styles]
                self.target_db = tuple(torch.stack([t[k] for t in stats]) for k in range(3))
            if self.weights["copy"]:
                # on dB band envelopes, like the metric's log-mel patches; each row against its own style,
                # with its own honest level (two halves of that style); the references are prepared for a
                # window no longer than the output, here once, so that copy_loss need not redo it per evaluation
                self.copy_step = max(1, self.window // 4)
                self.copy_references = [L.patch_reference(e, min(self.window, n_frames)) for e in db_styles]
                self.copy_levels = [L.honest_copy_level(e, self.window, self.copy_step) for e in db_styles]
            if self.weights["bands"] or self.weights["moments"]:
                envelopes = [L.band_envelopes(st, self.bands) for st in styles]
                covariances = [L.envelope_covariance(e) for e in envelopes]
                self.target_band_mean = torch.stack([c[0] for c in covariances])
                self.target_band_cov = torch.stack([c[1] for c in covariances])
                moments = [L.envelope_moments(e) for e in envelopes]
                self.target_moments = (torch.stack([m[0] for m in moments]), torch.stack([m[1] for m in moments]))

    def __call__(self, spec: torch.Tensor, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss of ``spec``: ``(bins, frames)`` for a batch of one, or ``(b, bins, frames)`` for the rows
        ``rows`` (a CPU index tensor; all rows in order when ``None``).

        Returns ``(total, terms)``: ``(b,)`` and ``(b, len(term_names))`` (a scalar and ``(terms,)`` for a
        single spectrogram).
        """
        single = spec.dim() == 2
        x = spec[None] if single else spec
        row_list = list(range(x.shape[0])) if rows is None else rows.tolist()
        if row_list == list(range(self.batch)):
            def pick(target: torch.Tensor) -> torch.Tensor:
                return target
        else:
            index = torch.tensor(row_list, device=x.device)

            def pick(target: torch.Tensor) -> torch.Tensor:
                return target[index]
        feats = bank_features(x, self.kernels, self.layers, self.circular)
        if self.normalize:
            feats = [L.normalize_gradient(f) for f in feats]
        terms: list[torch.Tensor] = []
        if self.weights["style"]:
            terms.append(L.style_loss(feats, [pick(g) for g in self.target_grams], self.gram_norm, self.kind))
        envelopes = (L.band_envelopes(x, self.bands)  # once for both terms
                     if self.weights["bands"] or self.weights["moments"] else None)
        if self.content_envelopes:
            log_power = L.band_log_power(x, self.content_bands, pick(self.shape_floor), self.shape_window)
            terms.append(L.content_shape_loss(log_power, pick(self.target_shapes), pick(self.target_onsets),
                                              pick(self.content_band_weights), self.onset_weight,
                                              None if self.held_frames is None else pick(self.held_frames)))
        elif self.weights["content"]:
            terms.append(L.content_loss(feats, [pick(c) for c in self.target_content], self.kind))
        if self.weights["autocorr"]:
            terms.append(L.autocorrelation_loss(feats, [pick(a) for a in self.target_autocorr], self.max_lag,
                                                self.kind))
        if self.weights["diversity"]:
            # the diversity term compares each row with its own style clip, whose length is its own
            terms.append(torch.stack([L.diversity_loss(x[k], self.diversity_references[r], self.window)
                                      for k, r in enumerate(row_list)]))
        if self.weights["spectrum"]:
            terms.append(L.spectrum_loss(x, pick(self.target_mean)))
        if self.weights["bands"]:
            terms.append(L.envelope_covariance_loss(envelopes, pick(self.target_band_mean), pick(self.target_band_cov)))
        if self.weights["moments"]:
            terms.append(L.envelope_moment_loss(envelopes, *(pick(m) for m in self.target_moments)))
        if self.weights["level"]:
            terms.append(L.level_loss(x, *(pick(t) for t in self.target_levels), pick(self.quiet_floor)))
        if self.weights["correlation"]:
            terms.append(L.correlation_loss(
                L.compressed_envelopes(x, self.bands, COMPRESSION, pick(self.quiet_floor)),
                pick(self.target_correlation)))
        db_envelopes = (L.compressed_envelopes(x, self.bands, 0.0, pick(self.quiet_floor))  # once for both terms
                        if self.weights["db"] or self.weights["copy"] else None)
        if self.weights["db"]:
            terms.append(L.envelope_statistics_loss(db_envelopes, DB_LAGS, *(pick(t) for t in self.target_db)))
        if self.weights["copy"]:
            terms.append(torch.stack([L.copy_loss(db_envelopes[k], self.copy_references[r], self.copy_levels[r],
                                                  self.copy_step) for k, r in enumerate(row_list)]))
        stacked = torch.stack(terms, dim=-1)
        total = stacked @ self.term_weights
        return (total[0], stacked[0]) if single else (total, stacked)


def build_objective(style: np.ndarray | Sequence[np.ndarray], content: np.ndarray | Sequence[np.ndarray | None] | None,
                    n_frames: int, settings: Mapping[str, Any], device: torch.device,
                    frames_per_second: float) -> Objective:
    """The :class:`Objective` for spectrogram arrays: content tiled or cropped to ``n_frames``, all on ``device``.

    ``style`` and ``content`` are one array each (a batch of one) or sequences, one per row.
    """
    single = isinstance(style, np.ndarray)
    styles = [style] if single else list(style)
    contents = [content] if single else list(content or [None] * len(styles))

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)

    style_t = [tensor(st) for st in styles]
    content_t = [None if c is None else tensor(fit_length(c, n_frames)) for c in contents]
    return Objective(style_t[0] if single else style_t, content_t[0] if single else content_t, n_frames,
                     settings, frames_per_second)


def phase_randomized(spec: np.ndarray, n_frames: int, rng: np.random.Generator, neighbours: int = 0,
                     circular: bool = False, independent_period: float = 0.0) -> np.ndarray:
    """A random field with ``spec``'s mean, each bin's modulation spectrum and (with ``neighbours`` 0) every
    pair of bins' cross-spectrum over time.

    With ``neighbours`` 0 the time Fourier transform of every bin is multiplied by the SAME random phase per
    modulation frequency, which keeps every cross-spectrum while scrambling where things happen. That keeps
    each modulation frequency's exact pattern of phases across bins, though: the output is every bin's
    series through one and the same random all-pass filter, and a second of it matches some second of the
    style (water: copy score 0.30 against a real excerpt's 0.05). With ``neighbours`` N > 0 the phases at
    modulation frequency ``k`` are instead those of a random complex mix of frequencies ``k +- 2 .. k +-
    (N + 1)`` (not ``k +- 1``, which a finite clip's leakage ties to ``k``): patterns with the recording's
    coherence across bins, none of them ``k``'s own; each bin still keeps its modulation spectrum, periodic
    peaks included. Longer outputs join independent draws, and the end does not lead into the start; with
    ``circular`` (a loop) there is one draw of exactly ``n_frames``, made from the style cropped or
    zero-padded to that length, so the field wraps around without a jump.

    Modulations with a period of ``independent_period`` frames or longer get an independent random phase in
    every bin: a clip holds only a few of their cycles, so their pattern across bins is one event of the
    recording, not a statistic, and keeping it makes every second of the output match one of the style
    (water, 3 s: copy score 0.21-0.28 of the start with 8 neighbours, 0.11-0.13 with 1 s periods
    independent; a real excerpt 0.05). Each bin's modulation spectrum stays, but bins that swelled together
    no longer do, and the optimiser rebuilds the bands' spread with faster fluctuations (water's texture
    distance 0.94-1.12 -> 1.11-1.67), so it is a knob, not a default.
    """
    spec = np.asarray(spec, dtype=np.float64)
    mean = spec.mean(axis=1, keepdims=True)
    frames = n_frames if circular else spec.shape[1]
    # zero-padding to a longer loop spreads the same energy over more frames: scale it back up
    gain = np.sqrt(max(1.0, frames / spec.shape[1]))
    spectrum = np.fft.rfft(spec - mean, n=frames, axis=1) * gain
    last = spectrum.shape[1] - 1
    if neighbours:
        offsets = np.array([j for j in range(-1 - neighbours, neighbours + 2) if abs(j) > 1])
        index = np.abs(np.arange(1, last + 1)[:, None] + offsets[None, :])  # reflect at 0 ...
        index = np.clip(np.where(index > last, 2 * last - index, index), 1, last)  # ... and at the top
    # modulation indices 1..slow have periods of at least independent_period frames
    slow = min(int(frames / independent_period), last) if independent_period else 0
    pieces = []
    for _ in range(-(-n_frames // frames)):  # as many draws as cover n_frames
        if neighbours:
            weights = rng.standard_normal(index.shape) + 1j * rng.standard_normal(index.shape)
            phase = np.ones_like(spectrum)
            phase[:, 1:] = np.exp(1j * np.angle(np.einsum("bkj,kj->bk", spectrum[:, index], weights)))
        else:
            phase = np.exp(2j * np.pi * rng.random(spectrum.shape[1]))
            phase[0] = 1.0
        if slow:
            phase = np.broadcast_to(phase, spectrum.shape).copy()
            phase[:, 1:slow + 1] = np.exp(2j * np.pi * rng.random((spectrum.shape[0], slow)))
        if frames % 2 == 0:
            # irfft keeps only the real part of the Nyquist term: a sign flip keeps its size
            phase[..., -1] = np.where(phase[..., -1].real < 0, -1.0, 1.0)
        pieces.append(np.fft.irfft(np.abs(spectrum) * phase if neighbours else spectrum * phase, n=frames, axis=1))
    field = np.concatenate(pieces, axis=1)[:, :n_frames] + mean
    return np.maximum(field, 0.0).astype(np.float32)


def _db(spec: np.ndarray, floor: float = QUIET_FLOOR) -> np.ndarray:
    """Log magnitudes of a ``log1p`` spectrogram down to ``floor`` times its loudest, shifted to start at 0."""
    magnitude = np.expm1(np.asarray(spec, dtype=np.float64))
    log_magnitude = np.log(magnitude + magnitude.max() * floor)
    return log_magnitude - log_magnitude.min()


def rank_matched(field: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """``field`` with each bin's values replaced by ``spec``'s values of the same rank in that bin (its
    quantiles, when the lengths differ): the order over time of ``field``, the levels of ``spec``."""
    frames = field.shape[1]
    # the inverted CDF picks values of spec itself: with equal lengths, each exactly once
    levels = np.quantile(np.asarray(spec, dtype=np.float64), (np.arange(frames) + 0.5) / frames, axis=1,
                         method="inverted_cdf").T
    ranks = np.argsort(np.argsort(field, axis=1, kind="stable"), axis=1, kind="stable")
    return np.take_along_axis(levels, ranks, axis=1).astype(np.float32)


def start_copy_scorer(style: np.ndarray, window: int, n_bands: int = 48) -> Callable[[np.ndarray], float]:
    """:func:`start_copy_score` against ``style``, with the style's side prepared once for many starts."""
    style_t = torch.from_numpy(np.ascontiguousarray(style, dtype=np.float32))
    bands = L.band_matrix(style_t.shape[0], n_bands)
    floor = float(torch.expm1(style_t.max())) * QUIET_FLOOR
    reference = L.patch_reference(L.compressed_envelopes(style_t, bands, 0.0, floor), window)

    def score(start: np.ndarray) -> float:
        start_t = torch.from_numpy(np.ascontiguousarray(start, dtype=np.float32))
        envelopes = L.compressed_envelopes(start_t, bands, 0.0, floor)
        step = max(1, min(reference.window, envelopes.shape[1]) // 4)
        return float(L.best_correlations(envelopes, reference, step).mean())

    return score


def start_copy_score(start: np.ndarray, style: np.ndarray, window: int, n_bands: int = 48) -> float:
    """How much a starting spectrogram copies the style: the mean over its ``window``-frame patches (every
    quarter window) of their best correlation with any patch of the style, on dB band envelopes with each
    band's mean over the patch removed (:func:`audiotex.losses.best_correlations`, the copy loss's measure,
    like the copy score of :mod:`audiotex.metrics` on log-mel patches). ``window`` shrinks to fit."""
    return start_copy_scorer(style, window, n_bands)(start)


def initial_spectrogram(style: np.ndarray, n_frames: int, init: str, init_scale: float, seed: int,
                        content: np.ndarray | None = None, init_neighbours: int = 0,
                        loop: bool = False, independent_period: float = 0.0, candidates: int = 1,
                        copy_window: int = 0, n_bands: int = 48) -> np.ndarray:
    """The starting point of the optimisation.

    ``"noise"``: white Gaussian noise of standard deviation ``init_scale`` (the seed's 1e-3).
    ``"spectrum"``: Gaussian noise with the style's mean and standard deviation per frequency bin, so the
    optimiser starts from the right average spectrum instead of near silence.
    ``"phase"``: :func:`phase_randomized` style, which has the style's fluctuations over time and their
    coherence across frequency from the start; noise has neither, and the optimiser never fully builds them.
    ``"phase_db"``: the same scramble on the style's levels in dB (:func:`phase_randomized` of the log
    magnitudes), each bin then given the style's own values in the new order (:func:`rank_matched`). The
    ``log1p`` values of quiet bins are nearly linear, so a scramble of them loses the broadband dips that a
    dB meter and a log-mel classifier see (water: bands correlate 0.50 across the scrambled start in dB,
    0.82 across the recording); in dB they stay. ``init_neighbours`` is :func:`phase_randomized`'s
    ``neighbours`` for both, ``loop`` its ``circular`` and ``independent_period`` (frames) its own.
    ``"content"``: the content spectrogram itself (tiled or cropped to ``n_frames``), so a style transfer
    starts with all of the content and moves toward the style (Grinstein et al., ICASSP 2018).

    With ``candidates`` N > 1, ``"phase"`` and ``"phase_db"`` draw N scrambles and return the one that copies
    the style least (:func:`start_copy_score` over ``copy_window`` frames, on ``n_bands`` bands): the
    optimised output keeps its start's arrangement, and copies about as much as its start did (water, 3 s,
    seeds 0-2: start 0.22 / 0.26 / 0.28, output 0.21 / 0.25 / 0.31). Draw 0 is the one N = 1 makes.

    Raises:
        AudiotexError: for ``"content"`` without a content spectrogram (a texture has none).
    """
    if init == "content":
        if content is None:
            raise AudiotexError("key 'init': 'content' needs a content clip (a texture has none); use noise "
                                "or spectrum")
        return np.ascontiguousarray(fit_length(content, n_frames), dtype=np.float32)
    rng = np.random.default_rng(seed)
    if init in ("phase", "phase_db"):
        def draw(generator: np.random.Generator) -> np.ndarray:
            if init == "phase_db":
                return rank_matched(phase_randomized(_db(style), n_frames, generator, init_neighbours, loop,
                                                     independent_period), style)
            return phase_randomized(style, n_frames, generator, init_neighbours, loop, independent_period)

        best = draw(rng)
        if candidates == 1:
            return best
        # keep only the best draw so far: N full-length starts need not sit in memory at once
        score = start_copy_scorer(style, copy_window or n_frames, n_bands)
        best_score = score(best)
        for k in range(1, candidates):
            start = draw(np.random.default_rng([seed, k]))
            start_score = score(start)
            if start_score < best_score:  # ties keep the earlier draw
                best, best_score = start, start_score
        return best
    noise = rng.standard_normal((style.shape[0], n_frames)).astype(np.float32)
    if init == "spectrum":
        mean = style.mean(axis=1, keepdims=True)
        std = style.std(axis=1, keepdims=True)
        return np.maximum(mean + std * noise, 0.0).astype(np.float32)
    return noise * np.float32(init_scale)


def make_optimizer(x: torch.Tensor, settings: Mapping[str, Any]) -> torch.optim.Optimizer:
    """torch's L-BFGS (strong-Wolfe line search, like scipy's L-BFGS-B) or Adam, for one waveform.

    The spectrogram loop uses the batched optimisers of :mod:`audiotex.lbfgs` and :mod:`audiotex.adam`;
    the waveform refinement runs its L-BFGS iterations in one ``step`` call and keeps torch's. Adam moves
    every sample by about its step from the first iteration, so its step is a fraction of the waveform's
    RMS: ``learning_rate`` (default 0.05) of it. An absolute 0.05 (the spectrogram's step, in ``log1p``
    units) on samples of 0.01 RMS made the loss 100x worse in 5 iterations.
    """
    lr = settings.get("learning_rate")
    if settings["optimizer"] == "adam":
        rms = float(x.detach().pow(2).mean().sqrt())
        return torch.optim.Adam([x], lr=(lr or 0.05) * (rms or 1.0))
    return torch.optim.LBFGS([x], lr=lr or 1.0, max_iter=1, max_eval=25, history_size=100,
                             tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")


def fingerprint(style: np.ndarray, content: np.ndarray | None, n_frames: int, settings: Mapping[str, Any]) -> str:
    """A digest of everything that determines the result; a checkpoint is reused only when it matches."""
    h = hashlib.sha256()
    h.update(json.dumps({k: settings[k] for k in sorted(settings)}, sort_keys=True, default=str).encode())
    h.update(str(n_frames).encode())
    for arr in (style, content):
        if arr is not None:
            h.update(str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _load_checkpoint(path: Path, digest: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # noqa: BLE001 - a torn or foreign file is discarded, never trusted
        state = None
    if not isinstance(state, dict) or state.get("fingerprint") != digest:
        path.unlink(missing_ok=True)  # the config or inputs changed: start afresh
        return None
    return state


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


@dataclass
class SynthesisProblem:
    """One row of :func:`synthesize_batch`: what :func:`synthesize` takes for one output.

    Attributes:
        style: style spectrogram ``(bins, frames)``.
        content: content spectrogram with the same bins, or ``None`` (tiled or cropped to ``n_frames``).
        n_frames: output length in frames.
        settings: the synthesize-stage keys of :mod:`audiotex.params`.
        checkpoint: this row's checkpoint file, or ``None``.
    """

    style: np.ndarray
    content: np.ndarray | None
    n_frames: int
    settings: Mapping[str, Any]
    checkpoint: str | os.PathLike | None = None


def style_span(style: np.ndarray, settings: Mapping[str, Any], frames_per_second: float) -> tuple[int, int]:
    """The frames ``start:stop`` of ``style`` that the statistics come from: all but its edge fades
    (:func:`~audiotex.spectrogram.fade_bounds` with the ``style_fade_db`` setting) and its ``style_edge_frames``
    at each end (:func:`~audiotex.spectrogram.interior_bounds`), or all of it when what would be left is
    shorter than the largest kernel."""
    start, stop = fade_bounds(style, settings.get("style_fade_db"), frames_per_second)
    inner_start, inner_stop = interior_bounds(style.shape[1], settings.get("style_edge_frames", 0))
    start, stop = max(start, inner_start), min(stop, inner_stop)
    if stop - start < min_frames(parse_layers(settings["layers"])):
        return 0, style.shape[1]
    return start, stop


def without_style_fades(style: np.ndarray, settings: Mapping[str, Any], frames_per_second: float) -> np.ndarray:
    """``style`` cut to :func:`style_span` (``style`` itself when nothing goes)."""
    start, stop = style_span(style, settings, frames_per_second)
    return style if (start, stop) == (0, style.shape[1]) else np.ascontiguousarray(style[:, start:stop])


def without_fades(problem: SynthesisProblem, frames_per_second: float) -> SynthesisProblem:
    """``problem`` with its style cut to :func:`style_span`; the content is never cut, its time structure is
    the point."""
    style = without_style_fades(problem.style, problem.settings, frames_per_second)
    return problem if style is problem.style else replace(problem, style=style)


def _shortest(settings: Mapping[str, Any], of_style: bool) -> tuple[int, str]:
    """The fewest frames the style (``of_style``) or the output needs under ``settings``, and what needs them:
    the largest kernel, the dB term's longest lag, or the copy term's two halves of the style."""
    needs = [(min_frames(parse_layers(settings["layers"])), f"the largest kernel (layers {settings['layers']!r})")]
    if settings["db_weight"]:
        needs.append((max(DB_LAGS) + 1, "the dB term's longest lag (db_weight)"))
    if of_style and settings["copy_weight"]:
        needs.append((4, "the copy term, on the style's two halves (copy_weight)"))
    return max(needs)


def check_problem(problem: SynthesisProblem) -> None:
    """Raise :class:`AudiotexError` if a row cannot be synthesized (clips too short for the kernels or the
    loss terms, bins differ, a start from the content without a content)."""
    s = problem.settings
    need, what = _shortest(s, of_style=True)
    if problem.style.shape[1] < need:
        raise AudiotexError(f"style clip of {problem.style.shape[1]} frames is too short: {what} needs {need} "
                            "frames")
    need, what = _shortest(s, of_style=False)
    if problem.n_frames < need:
        if problem.content is not None and s.get("duration") is None:
            raise AudiotexError(f"the content clip, and so the output, is {problem.n_frames} frames long, too short: "
                                f"{what} needs {need} frames; use a longer content clip or set a duration")
        raise AudiotexError(f"output of {problem.n_frames} frames is too short: {what} needs {need} frames; ask for "
                            "a longer duration")
    if s["init"] == "content" and problem.content is None:
        # checked here, before any batch runs: raised inside a batch it would stop the rows after it too
        raise AudiotexError("key 'init': 'content' needs a content clip (a texture has none); use noise, "
                            "spectrum, phase or phase_db")
    if problem.content is not None and problem.content.shape[0] != problem.style.shape[0]:
        raise AudiotexError(f"content has {problem.content.shape[0]} frequency bins, style {problem.style.shape[0]}")


def batch_key(problem: SynthesisProblem) -> tuple:
    """Rows with equal keys can be optimised as one batch: same shapes, same bank, same objective.

    Everything in the settings but ``iterations`` shapes the bank, the objective or the optimiser; the
    rhythm term's lag range also depends on the style's length.
    """
    s = problem.settings
    settings = tuple(sorted((k, repr(v)) for k, v in s.items() if k != "iterations"))
    style_frames = problem.style.shape[1] if s["autocorr_weight"] else None
    return (problem.style.shape[0], problem.n_frames, problem.content is None, style_frames, settings)


def synthesize(style: np.ndarray, content: np.ndarray | None, *, n_frames: int, settings: Mapping[str, Any],
               device: torch.device | str = "cpu", lag_frames_per_second: float = 43.0,
               checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 0,
               save_every: int = 0, on_save: Callable[[int, np.ndarray], None] | None = None,
               progress: Callable[[int, dict[str, float]], None] | None = None) -> SynthesisResult:
    """Optimise a log-magnitude spectrogram of ``n_frames`` frames to match ``style`` (and ``content``).

    The batch of one of :func:`synthesize_batch`.

    Args:
        style: style spectrogram ``(bins, frames)``.
        content: content spectrogram with the same bins, or ``None`` for texture synthesis. It is tiled or
            cropped to ``n_frames``.
        n_frames: output length in frames (may differ from the style's: Gram matrices are per-frame averages).
        settings: the synthesize-stage keys of :mod:`audiotex.params`.
        device: torch device to run on.
        lag_frames_per_second: frames per second of the spectrograms (sr / hop), to turn the seconds of
            ``autocorr_max_lag`` and ``diversity_window`` into frames.
        checkpoint: file for the optimisation state; resumed from when its fingerprint matches.
        checkpoint_every: save the state every N iterations (0: never).
        save_every, on_save: call ``on_save(iteration, spectrogram)`` every N iterations.
        progress: called after every iteration with ``(iteration, {term: value})``.

    Raises:
        AudiotexError: if a clip is shorter than the largest kernel, or the loss becomes NaN or infinite.
    """
    problem = SynthesisProblem(style, content, n_frames, settings, checkpoint)
    [result] = synthesize_batch(
        [problem], device=device, lag_frames_per_second=lag_frames_per_second, checkpoint_every=checkpoint_every,
        save_every=save_every, on_save=None if on_save is None else (lambda row, i, spec: on_save(i, spec)),
        progress=None if progress is None else (lambda row, i, terms: progress(i, terms)))
    if isinstance(result, AudiotexError):
        raise result
    return result


def synthesize_batch(problems: Sequence[SynthesisProblem], *, device: torch.device | str = "cpu",
                     lag_frames_per_second: float = 43.0, checkpoint_every: int = 0, save_every: int = 0,
                     on_save: Callable[[int, int, np.ndarray], None] | None = None,
                     progress: Callable[[int, int, dict[str, float]], None] | None = None,
                     on_done: Callable[[int, SynthesisResult | AudiotexError], None] | None = None,
                     max_batch: int | None = None) -> list[SynthesisResult | AudiotexError]:
    """Optimise many rows; rows that share shapes and bank (:func:`batch_key`) run together as one batch.

    Each row keeps its own optimiser state, iteration count, loss log and checkpoint (saved every
    ``checkpoint_every`` of its iterations, resumed from when its fingerprint matches), so a row's result
    is its :func:`synthesize` result (to float rounding: batched convolutions sum in another order).
    Groups of different keys run one after another.

    Args:
        problems: the rows.
        device, lag_frames_per_second, checkpoint_every, save_every: as for :func:`synthesize`.
        on_save: ``on_save(row, iteration, spectrogram)`` every ``save_every`` iterations of a row.
        progress: ``progress(row, iteration, {term: value})`` after every iteration of a row.
        on_done: ``on_done(row, result_or_error)`` as soon as a row ends, while the rest of its batch may
            still run: a caller that writes each row there loses no finished row when the process is killed.
        max_batch: at most this many rows per batch (device memory); all of a group by default.

    Returns:
        One entry per row, in order: its :class:`SynthesisResult`, or the :class:`AudiotexError` that
        stopped it (bad input, divergence). One row failing does not stop the others; any other exception
        (from a callback, say) propagates.
    """
    device = resolve_device(device)
    problems = [without_fades(p, lag_frames_per_second) for p in problems]
    results: list[SynthesisResult | AudiotexError | None] = [None] * len(problems)
    groups: dict[tuple, list[int]] = {}
    for row, problem in enumerate(problems):
        try:
            check_problem(problem)
        except AudiotexError as err:
            results[row] = err
            if on_done is not None:
                on_done(row, err)
            continue
        groups.setdefault(batch_key(problem), []).append(row)
    for rows in groups.values():
        size = max_batch or len(rows)
        for start in range(0, len(rows), size):
            chunk = rows[start:start + size]
            with exact_convolutions():
                done = _optimise_batch([problems[r] for r in chunk], chunk, device, lag_frames_per_second,
                                       checkpoint_every, save_every, on_save, progress, on_done)
            for r, result in zip(chunk, done):
                results[r] = result
    return results  # type: ignore[return-value]


def _restore_row(path: Path | None, digest: str, row: int, x: torch.Tensor,
                 optimizer: LBFGSState | AdamState) -> dict[str, Any] | None:
    """Load row ``row``'s checkpoint into ``x`` and ``optimizer``; ``None`` (and the file removed) if unusable."""
    state = _load_checkpoint(path, digest) if path is not None else None
    if state is None:
        return None
    try:
        restored = state["x"].to(x.device).reshape(x.shape[1:])
        optimizer.set_row(row, state["optimizer"])
        x[row] = restored
    except (KeyError, ValueError, RuntimeError, AttributeError, TypeError):
        path.unlink(missing_ok=True)  # a checkpoint of another format: start afresh
        return None
    return state


def _optimise_batch(problems: list[SynthesisProblem], rows: list[int], device: torch.device,
                    frames_per_second: float, checkpoint_every: int, save_every: int,
                    on_save: Callable[[int, int, np.ndarray], None] | None,
                    progress: Callable[[int, int, dict[str, float]], None] | None,
                    on_done: Callable[[int, SynthesisResult | AudiotexError], None] | None = None,
                    ) -> list[SynthesisResult | AudiotexError]:
    """Run rows of one batch key together; ``rows`` are their numbers in the caller's list (for callbacks)."""
    s = dict(problems[0].settings)
    n_frames = problems[0].n_frames
    contents = [None if p.content is None else fit_length(p.content, n_frames) for p in problems]
    objective = build_objective([p.style for p in problems], contents, n_frames, s, device, frames_per_second)
    x = torch.from_numpy(np.stack([initial_spectrogram(p.style, n_frames, s["init"], s["init_scale"], s["seed"], c,
                                                       s["init_neighbours"], s["loop"],
                                                       s["init_independent_seconds"] * frames_per_second,
                                                       s["init_candidates"],
                                                       int(round(s["diversity_window"] * frames_per_second)),
                                                       s["bands"])
                                   for p, c in zip(problems, contents)])).to(device)
    adam = s["optimizer"] == "adam"
    optimizer: LBFGSState | AdamState = (AdamState.empty(x) if adam else
                                         LBFGSState.empty(len(problems), x[0].numel(), device=device, dtype=x.dtype))
    lr = s.get("learning_rate") or (0.05 if adam else 1.0)

    digests = [fingerprint(p.style, c, n_frames, p.settings) for p, c in zip(problems, contents)]
    paths = [None if p.checkpoint is None else Path(p.checkpoint) for p in problems]
    iteration, logs, resumed_from, elapsed_before = [0] * len(problems), [[] for _ in problems], \
        [None] * len(problems), [0.0] * len(problems)
    for b in range(len(problems)):
        state = _restore_row(paths[b], digests[b], b, x, optimizer)
        if state is not None:
            iteration[b] = resumed_from[b] = int(state["iteration"])
            logs[b] = list(state["losses"])
            elapsed_before[b] = float(state.get("seconds", 0.0))
    targets = [int(p.settings["iterations"]) for p in problems]
    # bins the style (and content) leave empty stay empty in the result, whatever the optimiser put there
    ceilings = [empty_bin_ceiling([p.style] + ([] if c is None else [c])) if s["hold_empty_bins"] else None
                for p, c in zip(problems, contents)]
    failed: dict[int, AudiotexError] = {}
    names = ["loss", *objective.term_names]

    def closure(which: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            points = points.detach().requires_grad_(True)
            total, terms = objective(points, which)
            grad, = torch.autograd.grad(total.sum(), points)
        return total.detach(), grad, terms.detach()

    started = time.perf_counter()
    while True:
        active = [b for b in range(len(problems)) if b not in failed and iteration[b] < targets[b]]
        if not active:
            break
        idx = torch.tensor(active, device=device)
        if adam:
            # Adam logs the point it stepped from, as it always has: one evaluation per iteration
            total, grad, terms = closure(torch.tensor(active), x[idx])
            values = torch.cat([total[:, None], terms], 1)
            x = adam_step(x, grad, optimizer, active, lr=lr)
            evaluations = [1] * len(active)
        else:
            x, evaluations = lbfgs_step(closure, x, optimizer, active, lr=lr)
            values = torch.cat([optimizer.loss[idx][:, None], optimizer.aux[idx]], 1)
        peaks = x[idx].abs().amax(dim=(-2, -1))
        # one read from the device per iteration, for every row and term at once
        read = torch.cat([values, peaks[:, None]], 1).tolist()
        now = time.perf_counter()
        for k, b in enumerate(active):
            iteration[b] += 1
            terms_b = dict(zip(names, read[k][:-1]))
            peak = read[k][-1]
            if not all(np.isfinite(v) for v in terms_b.values()) or not np.isfinite(peak) or peak > MAX_LOG_MAGNITUDE:
                failed[b] = AudiotexError(
                    f"optimisation diverged at iteration {iteration[b]} (loss {terms_b['loss']}, largest "
                    f"log-magnitude {peak:.3g}); try a smaller learning_rate, another optimizer or loss, or "
                    "smaller weights")
                if on_done is not None:
                    on_done(rows[b], failed[b])
                continue
            log_row = {"iteration": iteration[b], **terms_b, "evaluations": evaluations[k],
                       "seconds": elapsed_before[b] + now - started}
            logs[b].append(log_row)
            if progress is not None:
                progress(rows[b], iteration[b], dict(terms_b))
            if on_save is not None and save_every and iteration[b] % save_every == 0:
                on_save(rows[b], iteration[b], _spectrogram(x, b, ceilings[b]))
            if paths[b] is not None and checkpoint_every and iteration[b] % checkpoint_every == 0 \
                    and iteration[b] < targets[b]:
                _save_checkpoint(paths[b], {"fingerprint": digests[b], "iteration": iteration[b],
                                            # a copy: x[b] is a view of the whole batch
                                            "x": x[b].detach().to("cpu", copy=True), "optimizer": optimizer.row(b),
                                            "losses": logs[b], "seconds": log_row["seconds"]})
            if on_done is not None and iteration[b] == targets[b]:
                on_done(rows[b], _result(x, b, logs, targets, resumed_from, ceilings[b]))
    return [failed[b] if b in failed else _result(x, b, logs, targets, resumed_from, ceilings[b])
            for b in range(len(problems))]


def _spectrogram(x: torch.Tensor, b: int, ceiling: np.ndarray | None) -> np.ndarray:
    """Row ``b`` of the batch as a float32 array of its own, capped at ``ceiling`` (per bin) if given.

    Below the level terms' floor nothing holds a bin the style leaves empty, and the optimiser uses such bins
    freely (on a 16 kHz recording read at 22.05 kHz, values of -0.4 to +0.6 where the style has 1e-4): the
    cap (:func:`audiotex.spectrogram.empty_bin_ceiling`) keeps them at the level the style reaches there.
    """
    spec = x[b].detach().cpu().numpy().astype(np.float32)
    if ceiling is None:
        return spec
    return np.where(np.isfinite(ceiling)[:, None], np.clip(spec, 0.0, ceiling[:, None]), spec)


def _result(x: torch.Tensor, b: int, logs: list[list[dict[str, float]]], targets: list[int],
            resumed_from: list[int | None], ceiling: np.ndarray | None = None) -> SynthesisResult:
    """Row ``b``'s :class:`SynthesisResult` from the batch's state (:func:`_spectrogram`)."""
    return SynthesisResult(spectrogram=_spectrogram(x, b, ceiling), losses=logs[b],
                           iterations=targets[b], resumed_from=resumed_from[b])


def synthesize_waveform(y0: np.ndarray, style: np.ndarray, content: np.ndarray | None, *, n_fft: int,
                        hop_length: int, settings: Mapping[str, Any], iterations: int,
                        device: torch.device | str = "cpu", lag_frames_per_second: float = 43.0) -> np.ndarray:
    """Optimise a waveform so that its own ``log1p|STFT|`` matches the style (and content) statistics.

    The spectrogram-domain result need not be the magnitude of any signal, and Griffin-Lim can only
    approximate it; optimising the waveform through a differentiable STFT (Caracalla & Roebel) makes the
    matched statistics those of the sound itself. ``y0`` (Griffin-Lim's output) is the starting point.

    Args:
        y0: initial waveform.
        style, content: spectrograms as for :func:`synthesize` (content is tiled or cropped to fit).
        n_fft, hop_length: the STFT of the spectrograms (Hann window, centred, zero padded).
        settings: the synthesize-stage keys (the same objective and optimiser).
        iterations: optimiser iterations.
    """
    s = dict(settings)
    device = resolve_device(device)
    style = without_style_fades(style, s, lag_frames_per_second)
    window = torch.hann_window(n_fft, device=device)
    # a copy: from_numpy shares memory, and the optimiser works in place
    y = torch.tensor(np.asarray(y0, dtype=np.float32), device=device).requires_grad_(True)

    from . import inversion

    # a loop (griffin_lim with loop) is one period: its frames wrap around, as the features do
    transform = inversion.circular_stft if s["loop"] else inversion.stft

    def log_magnitude(wave: torch.Tensor) -> torch.Tensor:
        return inversion.log_magnitude(transform(wave, n_fft, hop_length, window))

    with torch.no_grad():
        n_frames = log_magnitude(y).shape[1]
    optimizer = make_optimizer(y, s)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        total, _ = objective(log_magnitude(y))
        total.backward()
        return total

    with exact_convolutions():  # the style's targets too
        objective = build_objective(style, content, n_frames, s, device, lag_frames_per_second)
        if s["optimizer"] == "adam":
            for _ in range(iterations):
                closure()
                optimizer.step()
        else:
            # one call: no per-iteration logging here, so no repeated evaluation either
            optimizer.param_groups[0]["max_iter"] = iterations
            optimizer.param_groups[0]["max_eval"] = iterations * 2
            optimizer.step(closure)
    result = y.detach()
    if not torch.isfinite(result).all():
        raise AudiotexError("waveform optimisation diverged; lower refine_iterations or use refine_target=spectrogram")
    return result.cpu().numpy().astype(np.float32)
