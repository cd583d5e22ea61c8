"""Figures of a run: one row's spectrograms (style, content, output) on one colour scale above its loss curves.

Matplotlib is used through its object-oriented API with the Agg canvas (imported inside :func:`plot_file`), so
importing this module neither loads matplotlib nor changes any global state.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .errors import AudiotexError
from .files import atomic_output
from .spectrogram import load_spectrogram

#: Loss-log columns that are not loss values.
_NON_LOSS_COLUMNS = ("iteration", "evaluations", "seconds")



def loss_series(rows: Sequence[Mapping[str, float]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Split loss-log rows into ``{column: (iterations, values)}``: the total ``loss`` first, then each term.

    Values that cannot go on a log axis (zero, negative, missing) become NaN, so they leave gaps rather than
    breaking the plot. Columns with no positive value at all are dropped.
    """
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns and k not in _NON_LOSS_COLUMNS]
    if "loss" in columns:
        columns.remove("loss")
        columns.insert(0, "loss")
    iterations = np.array([row.get("iteration", i) for i, row in enumerate(rows)], dtype=float)
    series = {}
    for name in columns:
        values = np.array([row.get(name, np.nan) for row in rows], dtype=float)
        values[~(values > 0)] = np.nan
        if np.any(np.isfinite(values)):
            series[name] = (iterations, values)
    return series


def _shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis in the middle, so both ends stay readable."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: (keep + 1) // 2] + "\u2026" + text[len(text) - keep // 2:]


def mel_rows(spec: np.ndarray, sr: float, n_fft: int, n_rows: int = 256) -> tuple[np.ndarray, float]:
    """Resample a spectrogram's frequency axis onto ``n_rows`` mel-spaced rows (nearest FFT bin, no smoothing).

    Returns the resampled array ``(n_rows, frames)`` and the mel value of the top edge (the bottom is 0),
    for an ``imshow`` whose y axis is linear in mel, so low frequencies get the room the ear gives them.
    """
    import librosa

    top = float(librosa.hz_to_mel(sr / 2))
    centres = (np.arange(n_rows) + 0.5) * top / n_rows
    bins = np.rint(librosa.mel_to_hz(centres) * n_fft / sr).astype(int)
    return spec[np.clip(bins, 0, spec.shape[0] - 1)], top


def _mel_ticks(top_mel: float, sr: float) -> tuple[list[float], list[str]]:
    """Tick positions (mel) and labels (Hz) for a mel-scaled frequency axis."""
    import librosa

    candidates = [0, 100, 200, 500, 1000, 2000, 3000, 5000, 8000, 12000, 16000, 20000, 30000, 40000, 60000, 80000]
    positions: list[float] = []
    labels: list[str] = []
    for hz in candidates:
        mel = float(librosa.hz_to_mel(hz))
        # keep ticks at least 1/12 of the axis apart so labels never overlap
        if hz <= sr / 2 and (not positions or mel - positions[-1] >= top_mel / 12):
            positions.append(mel)
            labels.append(f"{hz:g}")
    return positions, labels


def _time_extent(frames: int, sr: float, hop: float) -> tuple[float, float]:
    """x extent of ``frames`` centred STFT frames in seconds (frame centres at multiples of the hop)."""
    half_frame = hop / sr / 2
    return -half_frame, (frames - 1) * hop / sr + half_frame


def plot_file(row_id: str, style_npy: str | os.PathLike, content_npy: str | os.PathLike | None,
              synthesized_npy: str | os.PathLike, loss_tsv: str | os.PathLike, dst_png: str | os.PathLike,
              *, frequency_scale: str = "mel", dpi: int = 110) -> None:
    """Draw one row's spectrograms and loss curves into ``dst_png`` (written atomically).

    Top: the style, content (when given) and synthesized ``log1p|STFT|`` spectrograms, time in seconds and
    frequency in Hz from each file's JSON sidecar, all on the same colour scale with one colour bar.
    Bottom: the total loss and each loss term of the loss log per iteration, on a log axis.

    Args:
        row_id: the manifest row, used in the title.
        style_npy, content_npy, synthesized_npy: spectrogram files with their ``.json`` sidecars;
            ``content_npy`` is ``None`` for a texture.
        loss_tsv: the synthesis loss log (:func:`audiotex.steps.write_loss_log`).
        dst_png: the PNG to write.
        frequency_scale: ``"mel"`` (frequency axis spaced like the mel scale, labelled in Hz) or
            ``"linear"`` (Hz, evenly spaced).
        dpi: resolution; the figure is 11 x 6.5 inches.

    Raises:
        AudiotexError: naming the file, if a spectrogram, sidecar or the loss log is missing or unreadable.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .steps import read_loss_log

    if frequency_scale not in ("mel", "linear"):
        raise ValueError(f"frequency_scale must be 'mel' or 'linear', not {frequency_scale!r}")

    panels = [("Style", style_npy)]
    if content_npy is not None:
        panels.append(("Content", content_npy))
    panels.append(("Output", synthesized_npy))
    loaded = [(label, Path(path).name, *load_spectrogram(path)) for label, path in panels]
    loss_path = Path(loss_tsv)
    if not loss_path.is_file():
        raise AudiotexError(f"{loss_path}: no such file (the loss log of {synthesized_npy})")
    try:
        series = loss_series(read_loss_log(loss_path))
    except (OSError, ValueError) as err:
        raise AudiotexError(f"{loss_path}: not a readable loss log ({err})") from None

    vmax = max(float(spec.max()) for _, _, spec, _ in loaded) or 1.0
    fig = Figure(figsize=(11, 6.5), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, len(loaded), height_ratios=[3, 2])
    kind = "style transfer" if content_npy is not None else "texture"
    fig.suptitle(f"{row_id} ({kind})", fontsize=13, fontweight="bold")

    image = None
    spec_axes = []
    for col, (label, name, spec, meta) in enumerate(loaded):
        ax = fig.add_subplot(grid[0, col], sharey=spec_axes[0] if spec_axes else None)
        sr, n_fft, hop = float(meta["sr"]), int(meta["n_fft"]), float(meta["hop_length"])
        if frequency_scale == "mel":
            shown, top = mel_rows(spec, sr, n_fft)
        else:
            shown, top = spec, sr / 2
        image = ax.imshow(shown, origin="lower", aspect="auto", cmap="magma", vmin=0.0, vmax=vmax,
                          extent=(*_time_extent(spec.shape[1], sr, hop), 0.0, top), interpolation="nearest")
        if frequency_scale == "mel":
            ax.set_yticks(*_mel_ticks(top, sr))
        ax.set_title(f"{label}: {_shorten(name, 48 // len(loaded) + 16)}", fontsize=10)
        ax.set_xlabel("Time (s)")
        if col == 0:
            ax.set_ylabel("Frequency (Hz, mel-spaced)" if frequency_scale == "mel" else "Frequency (Hz)")
        else:
            ax.tick_params(labelleft=False)
        spec_axes.append(ax)
    bar = fig.colorbar(image, ax=spec_axes, shrink=0.9, pad=0.01)
    bar.set_label("log(1 + |STFT|)")

    loss_ax = fig.add_subplot(grid[1, :])
    if series:
        for name, (iterations, values) in series.items():
            total = name == "loss"
            loss_ax.plot(iterations, values, label="total" if total else name, color="black" if total else None,
                         linewidth=2.4 if total else 1.3, zorder=2 if total else 3)
        loss_ax.set_yscale("log")
        loss_ax.legend(loc="upper right", fontsize=9, ncols=min(len(series), 6))
    else:
        loss_ax.text(0.5, 0.5, "no positive loss values logged", ha="center", va="center",
                     transform=loss_ax.transAxes, color="gray")
    loss_ax.set_xlabel("Iteration")
    loss_ax.set_ylabel("Loss (log scale)")
    loss_ax.set_title("Synthesis loss: total and each term", fontsize=10)
    loss_ax.grid(True, which="major", alpha=0.3)

    with atomic_output(dst_png) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
