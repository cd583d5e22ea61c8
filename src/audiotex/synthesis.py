"""The optimisation loop: fit a spectrogram to style (and content) statistics with L-BFGS or Adam.

State lives here because it is the point: the spectrogram being optimised, the optimiser, and the
checkpoint that lets a killed job resume where it stopped.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from . import losses as L
from .banks import bank_features, make_bank, min_frames, parse_layers
from .errors import AudiotexError
from .files import atomic_output


#: A log1p magnitude beyond this (e^40) is no sound any STFT of audio in [-1, 1] can have: divergence.
MAX_LOG_MAGNITUDE = 40.0


@dataclass
class SynthesisResult:
    """What :func:`synthesize` returns.

    Attributes:
        spectrogram: the optimised log-magnitude spectrogram ``(bins, frames)``, float32.
        losses: one dict per iteration: ``iteration``, ``loss`` and each active term, ``evaluations`` (loss
            and gradient evaluations the iteration took: L-BFGS's line search may take several), ``seconds``
            since start.
        iterations: iterations completed (including those done before a resume).
        resumed_from: the iteration a checkpoint resumed at, or ``None`` for a fresh start.
    """

    spectrogram: np.ndarray
    losses: list[dict[str, float]] = field(default_factory=list)
    iterations: int = 0
    resumed_from: int | None = None


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without a GPU is an error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AudiotexError("key 'device': cuda was asked for but torch sees no CUDA device")
    return torch.device(name)


def fit_length(spec: np.ndarray, n_frames: int) -> np.ndarray:
    """Tile ``spec`` along time and crop to ``n_frames`` (a content clip shorter or longer than the output)."""
    reps = -(-n_frames // spec.shape[1])
    return np.tile(spec, (1, reps))[:, :n_frames]


class Objective:
    """The weighted sum of loss terms for one style (and content) target.

    Build it once; call it on the spectrogram being optimised to get ``(total, {term: value})``.
    """

    def __init__(self, style: torch.Tensor, content: torch.Tensor | None, n_frames: int,
                 settings: Mapping[str, Any], frames_per_second: float):
        s = dict(settings)
        self.layers = parse_layers(s["layers"])
        self.kernels = make_bank(style.shape[0], self.layers, seed=s["seed"], device=style.device)
        self.circular = bool(s["loop"])
        self.gram_norm, self.kind = s["gram_norm"], s["loss"]
        self.normalize = bool(s["normalize_gradients"])
        self.weights = {"style": s["style_weight"], "content": s["content_weight"] if content is not None else 0.0,
                        "autocorr": s["autocorr_weight"], "diversity": s["diversity_weight"],
                        "spectrum": s["spectrum_weight"], "bands": s["band_weight"],
                        "moments": s["moment_weight"], "level": s["level_weight"]}
        with torch.no_grad():
            style_feats = bank_features(style, self.kernels, self.layers)
            self.target_grams = [L.gram(f, self.gram_norm) for f in style_feats]
            self.target_content = None
            if self.weights["content"]:
                self.target_content = bank_features(content, self.kernels, self.layers, self.circular)
            self.max_lag = 0
            if self.weights["autocorr"]:
                shortest = min(f.shape[1] for f in style_feats)
                self.max_lag = max(1, min(int(s["autocorr_max_lag"] * frames_per_second), shortest // 2,
                                          (n_frames - max(l.width for l in self.layers) + 1) // 2))
                self.target_autocorr = [L.autocorrelation(f, self.max_lag) for f in style_feats]
            self.style = style
            self.window = max(1, int(round(s["diversity_window"] * frames_per_second)))
            self.target_mean = style.mean(dim=1)
            # levels are compared down to 80 dB below the style's loudest bin
            self.level_floor = float(torch.expm1(style.max())) * 1e-4
            self.target_levels = L.bin_levels(style, self.level_floor)  # (mean, std)
            if self.weights["bands"] or self.weights["moments"]:
                self.bands = L.band_matrix(style.shape[0], s["bands"], device=style.device)
                self.target_band_mean, self.target_band_cov = L.band_covariance(style, self.bands)
                self.target_moments = L.band_moments(style, self.bands)

    def __call__(self, spec: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        feats = bank_features(spec, self.kernels, self.layers, self.circular)
        if self.normalize:
            feats = [L.normalize_gradient(f) for f in feats]
        terms: dict[str, torch.Tensor] = {}
        if self.weights["style"]:
            terms["style"] = L.style_loss(feats, self.target_grams, self.gram_norm, self.kind)
        if self.weights["content"]:
            terms["content"] = L.content_loss(feats, self.target_content, self.kind)
        if self.weights["autocorr"]:
            terms["autocorr"] = L.autocorrelation_loss(feats, self.target_autocorr, self.max_lag, self.kind)
        if self.weights["diversity"]:
            terms["diversity"] = L.diversity_loss(spec, self.style, self.window)
        if self.weights["spectrum"]:
            terms["spectrum"] = L.spectrum_loss(spec, self.target_mean)
        if self.weights["bands"]:
            terms["bands"] = L.band_loss(spec, self.bands, self.target_band_mean, self.target_band_cov)
        if self.weights["moments"]:
            terms["moments"] = L.moment_loss(spec, self.bands, *self.target_moments)
        if self.weights["level"]:
            terms["level"] = L.level_loss(spec, *self.target_levels, self.level_floor)
        total = sum(self.weights[name] * value for name, value in terms.items())
        return total, terms


def initial_spectrogram(style: np.ndarray, n_frames: int, init: str, init_scale: float, seed: int,
                        hop_length: int | None = None) -> np.ndarray:
    """The starting point of the optimisation.

    ``"noise"``: white Gaussian noise of standard deviation ``init_scale`` (the seed's 1e-3).
    ``"spectrum"``: Gaussian noise with the style's mean and standard deviation per frequency bin, so the
    optimiser starts from the right average spectrum instead of near silence.
    ``"shaped"``: ``log1p|STFT|`` of white noise, scaled per bin to the style's average magnitude: the
    spectrogram of a real sound. Independent values per bin and frame (``"spectrum"``) are the STFT of no
    signal; where the losses hardly constrain a region (the empty band of a band-limited recording) that
    pattern survives the optimisation, and Griffin-Lim turns it into the same seeded lines and blips in
    every output. Needs ``hop_length`` (default: a quarter of the FFT size).
    """
    rng = np.random.default_rng(seed)
    if init == "shaped":
        from .inversion import stft

        n_fft = 2 * (style.shape[0] - 1)
        hop = hop_length or n_fft // 4
        wave = torch.from_numpy(rng.standard_normal(hop * (n_frames - 1)).astype(np.float32))
        magnitude = stft(wave, n_fft, hop, torch.hann_window(n_fft)).abs().numpy()[:, :n_frames]
        gain = np.expm1(np.maximum(style, 0.0)).mean(axis=1, keepdims=True) / (
            magnitude.mean(axis=1, keepdims=True) + 1e-12)
        return np.ascontiguousarray(np.log1p(magnitude * gain), dtype=np.float32)
    noise = rng.standard_normal((style.shape[0], n_frames)).astype(np.float32)
    if init == "spectrum":
        mean = style.mean(axis=1, keepdims=True)
        std = style.std(axis=1, keepdims=True)
        return np.maximum(mean + std * noise, 0.0).astype(np.float32)
    return noise * np.float32(init_scale)


def make_optimizer(x: torch.Tensor, settings: Mapping[str, Any]) -> torch.optim.Optimizer:
    """L-BFGS (one iteration per ``step``, strong-Wolfe line search, like scipy's L-BFGS-B) or Adam."""
    lr = settings.get("learning_rate")
    if settings["optimizer"] == "adam":
        return torch.optim.Adam([x], lr=lr or 0.05)
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


def synthesize(style: np.ndarray, content: np.ndarray | None, *, n_frames: int, settings: Mapping[str, Any],
               device: torch.device | str = "cpu", lag_frames_per_second: float = 43.0,
               hop_length: int | None = None, checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 0,
               save_every: int = 0, on_save: Callable[[int, np.ndarray], None] | None = None,
               progress: Callable[[int, dict[str, float]], None] | None = None) -> SynthesisResult:
    """Optimise a log-magnitude spectrogram of ``n_frames`` frames to match ``style`` (and ``content``).

    Args:
        style: style spectrogram ``(bins, frames)``.
        content: content spectrogram with the same bins, or ``None`` for texture synthesis. It is tiled or
            cropped to ``n_frames``.
        n_frames: output length in frames (may differ from the style's: Gram matrices are per-frame averages).
        settings: the synthesize-stage keys of :mod:`audiotex.params`.
        device: torch device to run on.
        lag_frames_per_second: frames per second of the spectrograms (sr / hop), to turn the seconds of
            ``autocorr_max_lag`` and ``diversity_window`` into frames.
        hop_length: the spectrograms' STFT hop, for ``init="shaped"`` (default: a quarter of the FFT size).
        checkpoint: file for the optimisation state; resumed from when its fingerprint matches.
        checkpoint_every: save the state every N iterations (0: never).
        save_every, on_save: call ``on_save(iteration, spectrogram)`` every N iterations.
        progress: called after every iteration with ``(iteration, {term: value})``.

    Raises:
        AudiotexError: if a clip is shorter than the largest kernel, or the loss becomes NaN or infinite.
    """
    s = dict(settings)
    layers = parse_layers(s["layers"])
    need = min_frames(layers)
    if style.shape[1] < need:
        raise AudiotexError(f"style clip of {style.shape[1]} frames is shorter than the largest kernel "
                            f"({need} frames for layers {s['layers']!r})")
    if n_frames < need:
        raise AudiotexError(f"output of {n_frames} frames is shorter than the largest kernel ({need} frames); "
                            "ask for a longer duration")
    if content is not None:
        if content.shape[0] != style.shape[0]:
            raise AudiotexError(f"content has {content.shape[0]} frequency bins, style {style.shape[0]}")
        content = fit_length(content, n_frames)
    device = torch.device(device)
    style_t = torch.from_numpy(np.ascontiguousarray(style)).to(device)
    content_t = None if content is None else torch.from_numpy(np.ascontiguousarray(content)).to(device)
    objective = Objective(style_t, content_t, n_frames, s, lag_frames_per_second)

    x0 = initial_spectrogram(style, n_frames, s["init"], s["init_scale"], s["seed"], hop_length)
    x = torch.from_numpy(x0).to(device).requires_grad_(True)
    optimizer = make_optimizer(x, s)
    digest = fingerprint(style, content, n_frames, s)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    start, log, resumed_from, elapsed_before = 0, [], None, 0.0
    state = _load_checkpoint(ckpt, digest) if ckpt is not None else None
    if state is not None:
        with torch.no_grad():
            x.copy_(state["x"].to(device))
        optimizer.load_state_dict(state["optimizer"])
        start = resumed_from = int(state["iteration"])
        log = list(state["losses"])
        elapsed_before = float(state.get("seconds", 0.0))

    last_terms: dict[str, float] = {}
    evaluations = [0]
    # L-BFGS runs one iteration per step() so that we can log and checkpoint between iterations, but each
    # step() starts by evaluating the point the previous line search ended on. Remembering that last
    # evaluation halves the cost; recomputing it would give the same numbers.
    last_eval: dict[str, Any] = {}

    def closure() -> torch.Tensor:
        if last_eval and torch.equal(last_eval["x"], x.detach()):
            x.grad = last_eval["grad"].clone()
            last_terms.clear()
            last_terms.update(last_eval["terms"])
            return last_eval["loss"]
        evaluations[0] += 1
        optimizer.zero_grad(set_to_none=True)
        total, terms = objective(x)
        total.backward()
        last_terms.clear()
        last_terms.update({"loss": float(total.detach())}, **{k: float(v.detach()) for k, v in terms.items()})
        last_eval.update(x=x.detach().clone(), grad=x.grad.detach().clone(), loss=total.detach(),
                         terms=dict(last_terms))
        return total

    started = time.perf_counter()
    for iteration in range(start + 1, s["iterations"] + 1):
        if s["optimizer"] == "adam":
            closure()
            optimizer.step()
        else:
            optimizer.step(closure)
        peak = float(x.detach().abs().max())
        if not all(np.isfinite(v) for v in last_terms.values()) or not np.isfinite(peak) \
                or peak > MAX_LOG_MAGNITUDE:
            raise AudiotexError(f"optimisation diverged at iteration {iteration} (loss {last_terms.get('loss')}, "
                                f"largest log-magnitude {peak:.3g}); try a smaller learning_rate, another "
                                "optimizer or loss, or smaller weights")
        row = {"iteration": iteration, **last_terms, "evaluations": evaluations[0],
               "seconds": elapsed_before + time.perf_counter() - started}
        evaluations[0] = 0
        log.append(row)
        if progress is not None:
            progress(iteration, dict(last_terms))
        if on_save is not None and save_every and iteration % save_every == 0:
            on_save(iteration, x.detach().cpu().numpy().copy())
        if ckpt is not None and checkpoint_every and iteration % checkpoint_every == 0 \
                and iteration < s["iterations"]:
            _save_checkpoint(ckpt, {"fingerprint": digest, "iteration": iteration, "x": x.detach().cpu(),
                                    "optimizer": optimizer.state_dict(), "losses": log, "seconds": row["seconds"]})
    return SynthesisResult(spectrogram=x.detach().cpu().numpy().astype(np.float32), losses=log,
                           iterations=s["iterations"], resumed_from=resumed_from)


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
    device = torch.device(device)
    window = torch.hann_window(n_fft, device=device)
    # a copy: from_numpy shares memory, and the optimiser works in place
    y = torch.tensor(np.asarray(y0, dtype=np.float32), device=device).requires_grad_(True)

    from .inversion import stft

    def log_magnitude(wave: torch.Tensor) -> torch.Tensor:
        z = stft(wave, n_fft, hop_length, window)
        # sqrt(re^2 + im^2 + eps): |z| has no gradient at 0
        return torch.log1p(torch.sqrt(z.real ** 2 + z.imag ** 2 + 1e-12))

    with torch.no_grad():
        n_frames = log_magnitude(y).shape[1]
    if content is not None:
        content = fit_length(content, n_frames)
    style_t = torch.from_numpy(np.ascontiguousarray(style)).to(device)
    content_t = None if content is None else torch.from_numpy(np.ascontiguousarray(content)).to(device)
    objective = Objective(style_t, content_t, n_frames, s, lag_frames_per_second)
    optimizer = make_optimizer(y, s)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        total, _ = objective(log_magnitude(y))
        total.backward()
        return total

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
