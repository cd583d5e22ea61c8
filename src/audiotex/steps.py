"""File-level pipeline steps: what one CLI command or one workflow job does, start to finish.

Each step reads its inputs, calls the pure functions of the other modules, and writes its outputs
atomically. The CLI and ``scripts/*.py`` are thin layers over these. ``settings`` is always a mapping of
the parameter vocabulary (:mod:`audiotex.params`); a step reads only the keys of its own stage(s), and
missing keys fall back to the built-in defaults.
"""
from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from . import params as P
from .audio import load_audio, write_audio
from .errors import AudiotexError
from .files import atomic_output
from .spectrogram import frames_for, hop_for, load_spectrogram, log_spectrogram, save_spectrogram, sidecar_path


def _full(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fill ``settings`` up to a full parameter set (defaults < preset < settings)."""
    return P.resolve(dict(settings or {}))


def decode_file(src: str | os.PathLike, dst: str | os.PathLike, settings: Mapping[str, Any] | None = None) -> None:
    """Decode ``src`` (any supported audio) to a mono 16-bit WAV ``dst`` at ``settings['sr']``.

    Reads keys: sr, offset, input_duration.
    """
    s = _full(settings)
    y = load_audio(src, sr=s["sr"], offset=s["offset"], duration=s["input_duration"])
    write_audio(dst, y, s["sr"])


def spectrogram_file(src: str | os.PathLike, dst: str | os.PathLike,
                     settings: Mapping[str, Any] | None = None) -> np.ndarray:
    """Compute ``log1p|STFT|`` of audio file ``src``; write ``dst`` (.npy) and its ``.json`` sidecar.

    Reads keys: sr, offset, input_duration (decoding), n_fft, hop_length. A ``src`` that is already at
    ``sr`` (the workflow's decoded WAV) is read as is: pass offset 0 and no input_duration for it.
    """
    s = _full(settings)
    y = load_audio(src, sr=s["sr"], offset=s["offset"], duration=s["input_duration"])
    hop = hop_for(s["n_fft"], s["hop_length"])
    if y.size < s["n_fft"]:
        raise AudiotexError(f"{src}: {y.size / s['sr']:.3f} s of audio is shorter than one FFT frame "
                            f"(n_fft={s['n_fft']} samples)")
    spec = log_spectrogram(y, n_fft=s["n_fft"], hop_length=hop)
    meta = {"sr": s["sr"], "n_fft": s["n_fft"], "hop_length": hop, "source": str(src),
            "seconds": y.size / s["sr"]}
    save_spectrogram(dst, spec, meta)
    return spec


def loss_log_path(npy_path: str | os.PathLike) -> Path:
    """Where a synthesized spectrogram's per-iteration loss log goes: ``x.npy`` -> ``x.loss.tsv``."""
    p = Path(npy_path)
    return p.with_name(p.stem + ".loss.tsv")


def write_loss_log(path: str | os.PathLike, rows: list[dict[str, float]]) -> None:
    """Write per-iteration loss rows as a TSV (columns: iteration, loss, each term, seconds)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, delimiter="\t", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def read_loss_log(path: str | os.PathLike) -> list[dict[str, float]]:
    """Read a loss log written by :func:`write_loss_log`."""
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh, delimiter="\t")]


def _check_compatible(style_meta: Mapping[str, Any], content_meta: Mapping[str, Any],
                      style_path: Any, content_path: Any) -> None:
    for key in ("sr", "n_fft", "hop_length"):
        if style_meta.get(key) != content_meta.get(key):
            raise AudiotexError(f"{content_meta.get('source', content_path)}: {key}={content_meta.get(key)} differs "
                                f"from the style {style_meta.get('source', style_path)} ({key}="
                                f"{style_meta.get(key)}); analyse both with the same settings")


def synthesize_file(style: str | os.PathLike, content: str | os.PathLike | None, dst: str | os.PathLike,
                    settings: Mapping[str, Any] | None = None, *, device: str = "auto",
                    checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 0,
                    save_every: int = 0, progress: Callable[[int, dict[str, float]], None] | None = None,
                    ) -> dict[str, Any]:
    """Optimise a spectrogram to match ``style`` (and ``content``) spectrogram files; write ``dst``.

    Writes ``dst`` (.npy), its ``.json`` sidecar (sr, n_fft, hop_length, the synthesis settings, device,
    wall time, iterations, the iteration it resumed from) and the loss log ``dst.loss.tsv``. With
    ``checkpoint``, the optimisation state is saved there every ``checkpoint_every`` iterations, a run
    resumes from it when its settings and inputs still match, and it is removed on success. With
    ``save_every``, intermediate spectrograms go to ``dst``'s folder as ``<stem>.iter<N>.npy``.

    Reads keys: the synthesize stage's (see ``audiotex.params``). Returns the sidecar's contents.
    """
    from .synthesis import resolve_device, synthesize

    s = _full(settings)
    style_spec, style_meta = load_spectrogram(style)
    content_spec = None
    if content is not None:
        content_spec, content_meta = load_spectrogram(content)
        _check_compatible(style_meta, content_meta, style, content)
    sr, hop = int(style_meta["sr"]), int(style_meta["hop_length"])
    reference = content_spec if content_spec is not None else style_spec
    n_frames = frames_for(s["duration"], sr, hop) if s["duration"] else reference.shape[1]
    torch_device = resolve_device(device)

    dst_path = Path(dst)

    def save_intermediate(iteration: int, spec: np.ndarray) -> None:
        save_spectrogram(dst_path.with_name(f"{dst_path.stem}.iter{iteration:05d}.npy"), spec, style_meta)

    started = time.perf_counter()
    try:
        result = synthesize(style_spec, content_spec, n_frames=n_frames,
                            settings=P.stage_settings(s, "synthesize"), device=torch_device,
                            lag_frames_per_second=sr / hop, hop_length=hop, checkpoint=checkpoint,
                            checkpoint_every=checkpoint_every, save_every=save_every,
                            on_save=save_intermediate if save_every else None,
                            progress=progress)
    except AudiotexError as err:
        raise AudiotexError(f"{style_meta.get('source', style)}: {err}") from None
    meta = {
        "sr": sr, "n_fft": int(style_meta["n_fft"]), "hop_length": hop,
        "style": str(style), "content": None if content is None else str(content),
        "settings": P.stage_settings(s, "synthesize"), "device": str(torch_device),
        "wall_seconds": time.perf_counter() - started, "iterations": result.iterations,
        "resumed_from": result.resumed_from,
        "final_losses": {k: v for k, v in (result.losses[-1] if result.losses else {}).items()
                         if k not in ("iteration", "evaluations", "seconds")},
    }
    write_loss_log(loss_log_path(dst), result.losses)
    save_spectrogram(dst, result.spectrogram, meta)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return meta


def invert_file(src: str | os.PathLike, dst: str | os.PathLike, settings: Mapping[str, Any] | None = None,
                *, device: str = "auto") -> dict[str, Any]:
    """Turn a log-magnitude spectrogram file into audio with Griffin-Lim (+ optional refinement).

    The sample rate, n_fft and hop come from ``src``'s sidecar. Reads keys: n_iter, momentum, phase_init,
    refine_iterations, seed, loop. Writes ``dst`` (peak-safe 16-bit WAV) and returns a dict with the
    spectral convergence of the result and the wall time.
    """
    from .inversion import griffin_lim, refine_waveform
    from .metrics import spectral_convergence
    from .synthesis import resolve_device

    s = _full(settings)
    spec, meta = load_spectrogram(src)
    torch_device = resolve_device(device)
    started = time.perf_counter()
    magnitude = np.expm1(np.maximum(spec, 0.0))
    n_fft, hop, sr = int(meta["n_fft"]), int(meta["hop_length"]), int(meta["sr"])
    y = griffin_lim(magnitude, n_fft=n_fft, hop_length=hop, n_iter=s["n_iter"], momentum=s["momentum"],
                    init=s["phase_init"], seed=s["seed"], device=torch_device, loop=s["loop"])
    # A spectrogram that was analysed, not synthesized, has no statistics to match: refine to it instead.
    if s["refine_iterations"] and s["refine_target"] == "statistics" and meta.get("settings"):
        y = _refine_to_statistics(y, meta, s, torch_device)
    elif s["refine_iterations"]:
        y = refine_waveform(y, spec, n_fft=n_fft, hop_length=hop, iterations=s["refine_iterations"],
                            device=torch_device)
    write_audio(dst, y, sr)
    return {"spectral_convergence": spectral_convergence(magnitude, y, n_fft=n_fft, hop_length=hop),
            "wall_seconds": time.perf_counter() - started, "device": str(torch_device)}


def _refine_to_statistics(y: np.ndarray, meta: Mapping[str, Any], s: Mapping[str, Any], device: Any) -> np.ndarray:
    """Waveform optimisation against the style/content statistics that made a synthesized spectrogram.

    The synthesized spectrogram's sidecar names its style and content spectrograms and holds the
    synthesis settings, so inversion needs to be told nothing again.
    """
    from .synthesis import synthesize_waveform

    style, _ = load_spectrogram(meta["style"])
    content = load_spectrogram(meta["content"])[0] if meta.get("content") else None
    settings = P.stage_settings(P.resolve(meta["settings"]), "synthesize")
    return synthesize_waveform(y, style, content, n_fft=int(meta["n_fft"]), hop_length=int(meta["hop_length"]),
                               settings=settings, iterations=s["refine_iterations"], device=device,
                               lag_frames_per_second=int(meta["sr"]) / int(meta["hop_length"]))


def read_sidecar(npy_path: str | os.PathLike) -> dict[str, Any]:
    """The JSON sidecar of a spectrogram file, as a dict."""
    return json.loads(sidecar_path(npy_path).read_text())
