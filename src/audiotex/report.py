"""Figures and an HTML gallery of a run: one plot per row, one page to listen to and compare every row.

:func:`plot_file` draws a row's style, content and output spectrograms on one colour scale above its loss
curves; :func:`gallery_file` writes a self-contained page (inline CSS and JS, no network) with audio
players, the plot, run times, metrics and settings of every row. Matplotlib is used through its
object-oriented API with the Agg canvas, so importing this module changes no global state.
"""
from __future__ import annotations

import base64
import csv
import html
import json
import math
import os
import urllib.parse
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import AudiotexError
from .files import atomic_output
from .spectrogram import load_spectrogram

#: Loss-log columns that are not loss values.
_NON_LOSS_COLUMNS = ("iteration", "evaluations", "seconds")

#: MIME types of the media a gallery may embed.
_MIME_TYPES = {
    ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml", ".webp": "image/webp",
}


# --------------------------------------------------------------------------------------------------------
# Plot


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


# --------------------------------------------------------------------------------------------------------
# Gallery


def _read_json(path: str | os.PathLike | None, row_id: str) -> dict[str, Any]:
    """A JSON object from ``path``, or ``{}`` when ``path`` is ``None``."""
    if path is None:
        return {}
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise AudiotexError(f"row {row_id!r}: {path}: no such file") from None
    except (OSError, ValueError) as err:
        raise AudiotexError(f"row {row_id!r}: {path}: not a readable JSON file ({err})") from None
    if not isinstance(data, dict):
        raise AudiotexError(f"row {row_id!r}: {path}: expected a JSON object")
    return data


def read_metrics_table(path: str | os.PathLike) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Read a metrics TSV with an ``id`` column: ``(metric column names, {id: {column: text}})``."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            table = list(reader)
            fields = list(reader.fieldnames or [])
    except OSError as err:
        raise AudiotexError(f"{path}: cannot read the metrics table ({err})") from None
    if "id" not in fields:
        raise AudiotexError(f"{path}: the metrics table has no 'id' column")
    return [f for f in fields if f != "id"], {row["id"]: row for row in table}


def format_value(value: Any) -> str:
    """A short display form: floats (and float-looking text) to 4 significant digits, ``None`` as a dash."""
    if value is None or value == "":
        return "\u2014"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        try:
            int(value)
            return value
        except ValueError:
            pass
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, float):
        return "\u2014" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def format_seconds(seconds: Any) -> str:
    """``12.3 s``, ``4 min 05 s`` or ``1 h 02 min``; an em dash when unknown."""
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "\u2014"
    if not math.isfinite(s):
        return "\u2014"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def media_source(path: str | os.PathLike, page_dir: str | os.PathLike, embed: bool) -> str:
    """The ``src`` of a media file on a page in ``page_dir``: a relative URL, or a base64 data URI."""
    path = Path(path)
    if embed:
        mime = _MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(page_dir))
    return urllib.parse.quote(Path(relative).as_posix())


def _check_row(row: Mapping[str, Any]) -> None:
    row_id = row.get("id")
    if not row_id:
        raise AudiotexError(f"gallery row without an id: {dict(row)!r}")
    for key in ("style_audio", "output_audio", "plot_png"):
        if not row.get(key):
            raise AudiotexError(f"row {row_id!r}: gallery needs {key!r}")
    for key in ("style_audio", "content_audio", "output_audio", "plot_png"):
        if row.get(key) and not Path(row[key]).is_file():
            raise AudiotexError(f"row {row_id!r}: {row[key]}: no such file ({key})")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _definition_list(items: Iterable[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>"


def _settings_html(settings: Mapping[str, Any], overrides: Mapping[str, Any]) -> str:
    """Overrides as chips, then every setting in a collapsible table with the overridden ones marked."""
    shown = dict(settings)
    for key, value in overrides.items():
        shown.setdefault(key, value)
    if overrides:
        chips = "".join(f'<span class="chip" title="set in the manifest">{_e(k)} = {_e(format_value(v))}</span>'
                        for k, v in overrides.items())
        head = f'<p class="overrides"><span class="label">Manifest overrides</span> {chips}</p>'
    else:
        head = '<p class="overrides muted">No manifest overrides: config.yaml and defaults only.</p>'
    items = []
    for key, value in shown.items():
        if key in overrides:
            items.append(f'<div class="setting override" title="set in the manifest"><span>{_e(key)}</span> '
                         f'<b>{_e(format_value(overrides[key]))}</b></div>')
        else:
            items.append(f'<div class="setting"><span>{_e(key)}</span> <b>{_e(format_value(value))}</b></div>')
    return (f'{head}<details><summary>All effective settings ({len(shown)})</summary>'
            f'<div class="settings">{"".join(items)}</div></details>')


def _run_items(synth: Mapping[str, Any], invert: Mapping[str, Any]) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    if synth:
        resumed = synth.get("resumed_from")
        iterations = format_value(synth.get("iterations"))
        if resumed:
            iterations += f" (resumed from {format_value(resumed)})"
        items += [("Synthesis time", format_seconds(synth.get("wall_seconds"))),
                  ("Synthesis device", format_value(synth.get("device"))),
                  ("Iterations", iterations)]
        final = synth.get("final_losses") or {}
        if isinstance(final, Mapping) and "loss" in final:
            items.append(("Final loss", format_value(float(final["loss"]))))
    if invert:
        items += [("Inversion time", format_seconds(invert.get("wall_seconds"))),
                  ("Spectral convergence", format_value(invert.get("spectral_convergence")))]
        if invert.get("device") and invert.get("device") != synth.get("device"):
            items.append(("Inversion device", format_value(invert.get("device"))))
    return items


def _player(label: str, path: Any, page_dir: Path, embed: bool) -> str:
    if not path:
        return (f'<figure class="player absent"><figcaption>{_e(label)}</figcaption>'
                f'<p class="muted">none (texture)</p></figure>')
    src = media_source(path, page_dir, embed)
    return (f'<figure class="player"><figcaption>{_e(label)} <span class="file">{_e(Path(path).name)}</span>'
            f'</figcaption><audio controls preload="metadata" src="{_e(src)}"></audio></figure>')


def _row_section(row: Mapping[str, Any], synth: Mapping[str, Any], invert: Mapping[str, Any], page_dir: Path,
                 embed: bool, metric_columns: Sequence[str], metrics: Mapping[str, str] | None) -> str:
    row_id = str(row["id"])
    overrides = dict(row.get("overrides") or {})
    settings = row.get("settings")
    if settings is None:
        settings = {k: synth[k] for k in ("sr", "n_fft", "hop_length") if k in synth}
        settings.update(synth.get("settings") or {})
    kind = "transfer" if row.get("content_audio") else "texture"
    players = "".join([_player("Style", row["style_audio"], page_dir, embed),
                       _player("Content", row.get("content_audio"), page_dir, embed),
                       _player("Output", row["output_audio"], page_dir, embed)])
    plot_src = media_source(row["plot_png"], page_dir, embed)
    image = (f'<img src="{_e(plot_src)}" alt="spectrograms and loss curves of {_e(row_id)}" '
             f'width="1210" height="715">')
    if not embed:  # a data: URI cannot be opened as a page, so only linked images open full size
        image = f'<a href="{_e(plot_src)}" title="open full size">{image}</a>'
    if metrics is None:
        metrics_html = '<p class="muted">no metrics for this row</p>' if metric_columns else ""
    else:
        metrics_html = _definition_list((c, format_value(metrics.get(c))) for c in metric_columns)
    run_html = _definition_list(_run_items(synth, invert)) if (synth or invert) else '<p class="muted">no run record</p>'
    return f"""
<section class="row" id="row-{_e(row_id)}" data-id="{_e(row_id.lower())}">
  <h2><a href="#row-{_e(row_id)}">{_e(row_id)}</a> <span class="kind {kind}">{kind}</span></h2>
  <div class="players">{players}</div>
  <div class="plot">{image}</div>
  <div class="facts">
    <div><h3>Run</h3>{run_html}</div>
    {f'<div><h3>Metrics</h3>{metrics_html}</div>' if metrics_html else ''}
    <div class="settings-box"><h3>Settings</h3>{_settings_html(settings, overrides)}</div>
  </div>
</section>"""


def _overview(rows: Sequence[Mapping[str, Any]], records: Mapping[str, tuple[dict, dict]],
              metric_columns: Sequence[str], metrics: Mapping[str, Mapping[str, str]]) -> str:
    """One line per row: id (a link to its section), kind, every metric, synthesis time, spectral convergence."""
    extra = [name for name, column in (("synthesis time", "synthesis_seconds"),
                                       ("spectral convergence", "spectral_convergence")) if column not in metric_columns]
    # <wbr> after underscores lets long metric names wrap instead of widening the table
    head = "".join(f"<th>{_e(c).replace('_', '_<wbr>')}</th>" for c in ["id", "kind", *metric_columns, *extra])
    body = []
    for row in rows:
        row_id = str(row["id"])
        synth, invert = records[row_id]
        kind = "transfer" if row.get("content_audio") else "texture"
        values = [metrics.get(row_id, {}).get(c) for c in metric_columns]
        cells = "".join(f"<td>{_e(format_value(v))}</td>" for v in values)
        if "synthesis time" in extra:
            cells += f"<td>{_e(format_seconds(synth.get('wall_seconds')))}</td>"
        if "spectral convergence" in extra:
            cells += f"<td>{_e(format_value(invert.get('spectral_convergence')))}</td>"
        body.append(f'<tr data-id="{_e(row_id.lower())}"><td><a href="#row-{_e(row_id)}">{_e(row_id)}</a></td>'
                    f"<td>{kind}</td>{cells}</tr>")
    return f'<div class="overview"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


_CSS = """
:root { --fg: #1d1f24; --muted: #6b7280; --line: #e3e5ea; --bg: #f6f7f9; --card: #fff; --accent: #b4451f; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); }
header, main { max-width: 1260px; margin: 0 auto; padding: 0 16px; }
header { padding-top: 20px; }
h1 { font-size: 1.5rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 0 0 10px; }
h2 a { color: inherit; text-decoration: none; }
h3 { font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 6px; }
.summary { color: var(--muted); margin: 0 0 12px; }
.toolbar { position: sticky; top: 0; z-index: 2; background: var(--bg); padding: 8px 0;
           display: flex; gap: 12px; align-items: center; border-bottom: 1px solid var(--line); }
.toolbar input { flex: 0 1 320px; font: inherit; padding: 6px 10px; border: 1px solid #c8ccd4; border-radius: 6px; }
.toolbar .count { color: var(--muted); }
.overview { overflow-x: auto; margin: 14px 0; }
table { border-collapse: collapse; font-size: .9rem; }
.overview table { background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
.overview th, .overview td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: right;
                             white-space: nowrap; }
.overview th { white-space: normal; vertical-align: bottom; }
.overview th:nth-child(-n+2), .overview td:nth-child(-n+2) { text-align: left; }
.row { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px;
       margin: 16px 0; scroll-margin-top: 60px; }
.kind { font-size: .75rem; font-weight: 600; padding: 2px 8px; border-radius: 10px; vertical-align: middle;
        background: #e8eefc; color: #2948a8; }
.kind.texture { background: #e7f5ec; color: #1f6b3a; }
.players { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 12px; }
.player { margin: 0; padding: 8px 10px; border: 1px solid var(--line); border-radius: 8px; background: #fafbfc; }
.player figcaption { font-weight: 600; margin-bottom: 4px; }
.player .file { font-weight: 400; color: var(--muted); font-size: .85rem; word-break: break-all; }
.player audio { width: 100%; height: 40px; }
.player.absent p { margin: 8px 0; }
.plot { margin: 14px 0 8px; }
.plot img { display: block; width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(250px, 1fr)); gap: 8px 24px; }
.settings-box { grid-column: span 2; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; font-size: .9rem; }
dt { color: var(--muted); }
dd { margin: 0; font-variant-numeric: tabular-nums; }
.overrides { margin: 0 0 6px; }
.overrides .label { color: var(--muted); font-size: .9rem; margin-right: 4px; }
.chip { display: inline-block; margin: 2px 4px 2px 0; padding: 1px 8px; border-radius: 10px; font-size: .85rem;
        background: #fdeee6; color: var(--accent); border: 1px solid #f3c7b2; font-family: ui-monospace, monospace; }
details summary { cursor: pointer; color: var(--muted); font-size: .9rem; }
.settings { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 1px 16px;
            margin-top: 6px; font: .85rem/1.5 ui-monospace, "SFMono-Regular", Menlo, monospace; }
.setting { display: flex; justify-content: space-between; gap: 8px; border-bottom: 1px dotted var(--line); }
.setting span { color: var(--muted); }
.setting b { font-weight: 500; word-break: break-all; text-align: right; }
.setting.override span, .setting.override b { color: var(--accent); font-weight: 700; }
.muted { color: var(--muted); }
#media-check { display: none; }
.hidden { display: none !important; }
@media (max-width: 700px) {
  body { font-size: 14px; }
  .settings-box { grid-column: auto; }
  .row { padding: 10px; }
}
"""

# Filtering by id (?q=TEXT presets the filter, ?open expands every settings list); and, with ?check, a report of which media loaded, written into
# #media-check so that a headless browser's dumped DOM can be tested.
_JS = """
(function () {
  var box = document.getElementById('filter');
  var count = document.getElementById('count');
  var sections = Array.prototype.slice.call(document.querySelectorAll('section.row'));
  var lines = Array.prototype.slice.call(document.querySelectorAll('.overview tbody tr'));
  function apply() {
    var q = box.value.trim().toLowerCase();
    var shown = 0;
    sections.forEach(function (s) {
      var hit = s.dataset.id.indexOf(q) !== -1;
      s.classList.toggle('hidden', !hit);
      if (hit) { shown += 1; }
    });
    lines.forEach(function (r) { r.classList.toggle('hidden', r.dataset.id.indexOf(q) === -1); });
    count.textContent = shown + ' of ' + sections.length + (sections.length === 1 ? ' row' : ' rows');
  }
  var query = new URLSearchParams(window.location.search);
  if (query.get('q')) { box.value = query.get('q'); }
  if (query.has('open')) {
    document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  }
  box.addEventListener('input', apply);
  apply();

  if (!query.has('check')) { return; }
  function settle(el, ready, events) {
    return new Promise(function (resolve) {
      if (ready()) { resolve(); return; }
      events.forEach(function (name) { el.addEventListener(name, resolve, { once: true }); });
    });
  }
  var audios = Array.prototype.slice.call(document.querySelectorAll('audio'));
  var images = Array.prototype.slice.call(document.querySelectorAll('img'));
  var waits = audios.map(function (a) {
    return settle(a, function () { return a.readyState >= 1 || a.error; }, ['loadedmetadata', 'error']);
  }).concat(images.map(function (i) {
    return settle(i, function () { return i.complete; }, ['load', 'error']);
  }));
  Promise.all(waits).then(function () {
    var out = document.getElementById('media-check');
    out.textContent = JSON.stringify({
      audio: audios.map(function (a) {
        return { row: a.closest('section').dataset.id, src: a.getAttribute('src').slice(0, 120),
                 duration: isFinite(a.duration) ? a.duration : null, error: a.error ? a.error.code : null };
      }),
      images: images.map(function (i) {
        return { row: i.closest('section').dataset.id, src: i.getAttribute('src').slice(0, 120),
                 naturalWidth: i.naturalWidth };
      })
    });
    out.dataset.state = 'done';
  });
})();
"""


def gallery_html(rows: Sequence[Mapping[str, Any]], page_dir: str | os.PathLike, *,
                 metrics_tsv: str | os.PathLike | None = None, embed: bool = False,
                 title: str = "audiotex gallery") -> str:
    """The gallery page as a string; see :func:`gallery_file`. Media links are relative to ``page_dir``."""
    page_dir = Path(page_dir)
    ordered = sorted(rows, key=lambda r: str(r.get("id", "")))
    ids = [str(r.get("id")) for r in ordered]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise AudiotexError(f"gallery rows with the same id: {', '.join(duplicates)}")
    for row in ordered:
        _check_row(row)
    metric_columns: list[str] = []
    metrics: dict[str, dict[str, str]] = {}
    if metrics_tsv is not None:
        metric_columns, metrics = read_metrics_table(metrics_tsv)
        # A column no row has a value in (a metric that does not apply to this run) is only noise.
        metric_columns = [c for c in metric_columns if any(m.get(c) not in (None, "") for m in metrics.values())]

    records = {str(row["id"]): (_read_json(row.get("synth_json"), str(row["id"])),
                                _read_json(row.get("invert_json"), str(row["id"]))) for row in ordered}
    sections = [_row_section(row, *records[str(row["id"])], page_dir, embed, metric_columns,
                             metrics.get(str(row["id"])) if metrics_tsv is not None else None) for row in ordered]
    n_transfer = sum(1 for r in ordered if r.get("content_audio"))
    synth_seconds = sum(float(synth.get("wall_seconds") or 0.0) for synth, _ in records.values())
    devices = {str(synth["device"]) for synth, _ in records.values() if synth.get("device")}
    n_texture = len(ordered) - n_transfer
    summary = (f"{_plural(len(ordered), 'row')}: {_plural(n_texture, 'texture')}, "
               f"{_plural(n_transfer, 'style transfer')}"
               + (f" &middot; synthesis {_e(format_seconds(synth_seconds))} in total on {_e(', '.join(sorted(devices)))}"
                  if devices else ""))
    overview = _overview(ordered, records, metric_columns, metrics) if len(ordered) > 1 or metric_columns else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
  <h1>{_e(title)}</h1>
  <p class="summary">{summary}</p>
</header>
<main>
  <div class="toolbar">
    <input id="filter" type="search" placeholder="Filter by id" aria-label="Filter rows by id" autocomplete="off">
    <span id="count" class="count">{_plural(len(ordered), 'row')}</span>
  </div>
  {overview}
  {''.join(sections)}
  <pre id="media-check" data-state="pending"></pre>
</main>
<script>{_JS}</script>
</body>
</html>
"""


def gallery_file(rows: Sequence[Mapping[str, Any]], dst_html: str | os.PathLike,
                 metrics_tsv: str | os.PathLike | None = None, *, embed: bool = False,
                 title: str = "audiotex gallery") -> None:
    """Write one self-contained HTML page (inline CSS and JS, nothing fetched from the network) of a run.

    Rows are sorted by id; a text box filters them by id. Each row shows audio players for the style,
    content and output, its plot, its run record (synthesis time, device, iterations and resumption from
    the synthesized sidecar; inversion time and spectral convergence from the inversion JSON), its metrics
    (every column of ``metrics_tsv``) and its effective settings with the manifest's overrides highlighted.

    Args:
        rows: one mapping per row with keys ``id``, ``style_audio``, ``content_audio`` (``None`` for a
            texture), ``output_audio``, ``plot_png``, ``synth_json``, ``invert_json`` (either may be
            ``None``), ``overrides`` (the keys the manifest set), and optionally ``settings`` (the full
            effective settings; without it, the synthesized sidecar's are shown).
        dst_html: the page to write (atomically).
        metrics_tsv: a table with an ``id`` column and one column per metric, or ``None``.
        embed: put audio and images into the page as base64 data URIs (a page that can be copied alone)
            instead of linking them relative to the page's folder.
        title: the page title.

    Raises:
        AudiotexError: naming the row and file, if a media file or sidecar is missing or unreadable, or two
            rows share an id.
    """
    dst_html = Path(dst_html)
    page = gallery_html(rows, dst_html.parent, metrics_tsv=metrics_tsv, embed=embed, title=title)
    with atomic_output(dst_html) as tmp:
        tmp.write_text(page, encoding="utf-8")
