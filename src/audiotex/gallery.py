"""The HTML gallery of a run: one page to find, sort, listen to and compare every row, at 10,000 rows too.

The page is rendered from a Jinja2 template (``templates/gallery.html.j2``) with its stylesheet and script
(``static/gallery.css``, ``static/gallery.js``) inlined, so it is one file that needs no network. It does not
carry one HTML card per row: it carries every row's data once, as compact JSON (:func:`gallery_data`), and
the script builds a sortable, filterable, paged table from it and a row's card (players, plot, run record,
metrics, settings with the manifest's overrides highlighted) only when that row is opened. The page's size
therefore grows by a few hundred bytes per row, and its first render does not wait for 10,000 cards.

A standalone page (``embed=True``) embeds audio and plots as base64 data URIs for the first
:data:`EMBED_MEDIA_ROWS` rows (in id order) only, and says so on the page: a 10 s row weighs ~2 MB embedded.
"""
from __future__ import annotations

import base64
import collections
import json
import math
import os
import urllib.parse
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import AudiotexError
from .files import atomic_output
from .records import read_json, read_table

#: How many rows (the first, in id order) a standalone page embeds the media of; the rest are linked.
EMBED_MEDIA_ROWS = 25

#: Where the template and static files are: package data installed next to this module (pyproject.toml).
_PACKAGE_DATA = Path(__file__).parent

#: MIME types of the media a gallery may embed.
_MIME_TYPES = {
    ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml", ".webp": "image/webp",
}

#: The run record's items, in the order a card lists them; each row carries one value (or null) per label.
RUN_LABELS = ("Synthesis time", "Synthesis device", "Iterations", "Final loss", "Inversion time",
              "Spectral convergence", "Inversion device")

#: Table columns taken from the run records, unless the metrics table already has a column of that name.
_RECORD_COLUMNS = ("synthesis_seconds", "spectral_convergence")


def _run_record(path: str | os.PathLike | None, row_id: str) -> dict[str, Any]:
    """A row's run record (a JSON object), or ``{}`` when the row names none."""
    if path is None:
        return {}
    try:
        return read_json(path, "a run record")
    except AudiotexError as err:
        raise AudiotexError(f"row {row_id!r}: {err}") from None


def read_metrics_table(path: str | os.PathLike) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Read a metrics TSV with an ``id`` column: ``(metric column names, {id: {column: text}})``."""
    fields, table = read_table(path, "the metrics table")
    if "id" not in fields:
        raise AudiotexError(f"{path}: the metrics table has no 'id' column")
    return [f for f in fields if f != "id"], {row["id"]: row for row in table}


def display_value(value: Any) -> str:
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


def table_cell(value: Any) -> float | str | None:
    """A table cell: a number rounded to 4 significant digits (sortable, short in JSON), text, or ``None``.

    Rounding here rather than in the page keeps one formatting rule (:func:`display_value`'s) and a small page.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return None
    rounded = float(f"{number:.4g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded


def media_source(path: str | os.PathLike, page_dir: str | os.PathLike, embed: bool) -> str:
    """The ``src`` of a media file on a page in ``page_dir``: a relative URL, or a base64 data URI."""
    if embed:
        path = Path(path)
        mime = _MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    # os.path rather than pathlib: this runs four times per row, 40,000 times for a large run
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(page_dir))
    return urllib.parse.quote(relative.replace(os.sep, "/"))


def _check_rows(rows: Sequence[Mapping[str, Any]]) -> None:
    """Every row has an id (unique), the media the page needs, and those media exist."""
    counts = collections.Counter(str(row.get("id")) for row in rows)
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    if duplicates:
        raise AudiotexError(f"gallery rows with the same id: {', '.join(duplicates)}")
    for row in rows:
        row_id = row.get("id")
        if not row_id:
            raise AudiotexError(f"gallery row without an id: {dict(row)!r}")
        for key in ("style_audio", "output_audio", "plot_png"):
            if not row.get(key):
                raise AudiotexError(f"row {row_id!r}: gallery needs {key!r}")
        for key in ("style_audio", "content_audio", "output_audio", "plot_png"):
            if row.get(key) and not os.path.isfile(row[key]):
                raise AudiotexError(f"row {row_id!r}: {row[key]}: no such file ({key})")


def run_record(synth: Mapping[str, Any], invert: Mapping[str, Any]) -> list[str | None]:
    """One display value (or ``None``) per :data:`RUN_LABELS` entry, from the synthesis and inversion JSON."""
    values: dict[str, str] = {}
    if synth:
        iterations = display_value(synth.get("iterations"))
        if synth.get("resumed_from"):
            iterations += f" (resumed from {display_value(synth['resumed_from'])})"
        values.update({"Synthesis time": format_seconds(synth.get("wall_seconds")),
                       "Synthesis device": display_value(synth.get("device")), "Iterations": iterations})
        final = synth.get("final_losses") or {}
        if isinstance(final, Mapping) and "loss" in final:
            values["Final loss"] = display_value(float(final["loss"]))
    if invert:
        values.update({"Inversion time": format_seconds(invert.get("wall_seconds")),
                       "Spectral convergence": display_value(invert.get("spectral_convergence"))})
        if invert.get("device") and invert.get("device") != synth.get("device"):
            values["Inversion device"] = display_value(invert.get("device"))
    return [values.get(label) for label in RUN_LABELS]


def _shown_settings(row: Mapping[str, Any], synth: Mapping[str, Any]) -> dict[str, str]:
    """The row's effective settings for display, the manifest's overrides taking precedence.

    Without the row's ``settings``, those recorded in the synthesized sidecar are shown.
    """
    settings = row.get("settings")
    if settings is None:
        settings = {k: synth[k] for k in ("sr", "n_fft", "hop_length") if k in synth}
        settings.update(synth.get("settings") or {})
    shown = {key: display_value(value) for key, value in settings.items()}
    shown.update({key: display_value(value) for key, value in (row.get("overrides") or {}).items()})
    return shown


def _common_settings(shown: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Each key's most frequent value across rows (first-seen key order): the base each row is stored against.

    A row then carries only the settings where it differs, so 10,000 rows that mostly share a preset cost a
    few bytes each instead of the whole settings list.
    """
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for settings in shown:
        for key, value in settings.items():
            counts[key][value] += 1
    return {key: counter.most_common(1)[0][0] for key, counter in counts.items()}


def gallery_data(rows: Sequence[Mapping[str, Any]], page_dir: str | os.PathLike, *,
                 metrics_tsv: str | os.PathLike | None = None, embed_rows: int = 0) -> dict[str, Any]:
    """Everything the page shows, as the JSON-ready object its script reads (rows sorted by id).

    Keys: ``columns`` (table columns after id and kind: ``{"name", "numeric"}``, every non-empty column of
    ``metrics_tsv`` then synthesis seconds and spectral convergence), ``metric_count`` (how many of the
    columns are metrics, shown in a card), ``run_labels`` (:data:`RUN_LABELS`), ``settings`` (each
    setting's most common value, :func:`_common_settings`), ``summary`` and ``rows``: one list per row,
    ``[id, kind, cells, [style, content, output, plot], run values, settings that differ, override keys]``,
    media as URLs relative to ``page_dir`` or, for the first ``embed_rows`` rows, data URIs.

    Raises:
        AudiotexError: naming the row and file, if a media file or sidecar is missing or unreadable, or two
            rows share an id.
    """
    ordered = sorted(rows, key=lambda r: str(r.get("id", "")))
    _check_rows(ordered)
    metric_columns: list[str] = []
    metrics: dict[str, dict[str, str]] = {}
    if metrics_tsv is not None:
        metric_columns, metrics = read_metrics_table(metrics_tsv)
        # A column no row has a value in (a metric that does not apply to this run) is only noise.
        metric_columns = [c for c in metric_columns if any(m.get(c) not in (None, "") for m in metrics.values())]
    record_columns = [c for c in _RECORD_COLUMNS if c not in metric_columns]

    records = [(_run_record(row.get("synth_json"), str(row["id"])), _run_record(row.get("invert_json"), str(row["id"])))
               for row in ordered]
    shown = [_shown_settings(row, synth) for row, (synth, _) in zip(ordered, records)]
    common = _common_settings(shown)
    table_rows = []
    for index, (row, (synth, invert), settings) in enumerate(zip(ordered, records, shown)):
        row_id = str(row["id"])
        row_metrics = metrics.get(row_id, {})
        record_values = {"synthesis_seconds": synth.get("wall_seconds"),
                         "spectral_convergence": invert.get("spectral_convergence")}
        cells = ([table_cell(row_metrics.get(c)) for c in metric_columns]
                 + [table_cell(record_values[c]) for c in record_columns])
        embed = index < embed_rows
        media = [media_source(row[key], page_dir, embed) if row.get(key) else None
                 for key in ("style_audio", "content_audio", "output_audio", "plot_png")]
        differs = {k: v for k, v in settings.items() if common.get(k) != v}
        differs.update({k: None for k in common if k not in settings})  # None: this row has no such setting
        table_rows.append([row_id, "transfer" if row.get("content_audio") else "texture", cells, media,
                           run_record(synth, invert), differs, list(row.get("overrides") or {})])

    columns = metric_columns + record_columns
    numeric = [all(not isinstance(r[2][i], str) for r in table_rows) for i in range(len(columns))]
    n_transfer = sum(1 for r in table_rows if r[1] == "transfer")
    synth_seconds = sum(float(synth.get("wall_seconds") or 0.0) for synth, _ in records)
    devices = sorted({str(synth["device"]) for synth, _ in records if synth.get("device")})
    summary = (f"{_plural(len(ordered), 'row')}: {_plural(len(ordered) - n_transfer, 'texture')}, "
               f"{_plural(n_transfer, 'style transfer')}"
               + (f" \u00b7 synthesis {format_seconds(synth_seconds)} in total on {', '.join(devices)}"
                  if devices else ""))
    return {"columns": [{"name": c, "numeric": n} for c, n in zip(columns, numeric)],
            "metric_count": len(metric_columns), "has_metrics": metrics_tsv is not None,
            "run_labels": list(RUN_LABELS), "settings": common, "summary": summary, "rows": table_rows}


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _script_json(data: Any) -> str:
    """``data`` as compact JSON that is safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def _environment():
    import jinja2

    loader = jinja2.FileSystemLoader(_PACKAGE_DATA / "templates")
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True)


def _static(name: str) -> str:
    return (_PACKAGE_DATA / "static" / name).read_text(encoding="utf-8")


def gallery_html(rows: Sequence[Mapping[str, Any]], page_dir: str | os.PathLike, *,
                 metrics_tsv: str | os.PathLike | None = None, embed: bool = False,
                 embed_limit: int = EMBED_MEDIA_ROWS, title: str = "audiotex gallery") -> str:
    """The gallery page as a string; see :func:`gallery_file`. Media links are relative to ``page_dir``."""
    data = gallery_data(rows, page_dir, metrics_tsv=metrics_tsv, embed_rows=embed_limit if embed else 0)
    n_rows = len(data["rows"])
    media_note = None
    if embed:
        media_note = (f"Audio and plots are embedded for the first {min(n_rows, embed_limit):,} of "
                      f"{_plural(n_rows, 'row')} (by id; a standalone page embeds at most {embed_limit:,})")
        media_note += (": the other rows link their files relative to this page's folder and play only "
                       "where the page sits next to the run's results." if n_rows > embed_limit else ".")
    return _environment().get_template("gallery.html.j2").render(
        title=title, summary=data.pop("summary"), media_note=media_note, count=_plural(n_rows, "row"),
        data_json=_script_json(data), css=_static("gallery.css"), js=_static("gallery.js"))


def gallery_file(rows: Sequence[Mapping[str, Any]], dst_html: str | os.PathLike,
                 metrics_tsv: str | os.PathLike | None = None, *, embed: bool = False,
                 embed_limit: int = EMBED_MEDIA_ROWS, title: str = "audiotex gallery") -> None:
    """Write one HTML page of a run (inline CSS, JS and data; nothing fetched from the network).

    The page shows a table of the rows (id, kind, every column of ``metrics_tsv``, synthesis time,
    spectral convergence) that sorts by any column, filters by id (``?q=TEXT`` presets the filter) and pages
    through 100 rows at a time. Opening a row (its id, or ``#row-ID`` in the URL) shows its card: audio
    players for the style, content and output, its plot, its run record (synthesis time, device, iterations
    and resumption from the synthesized sidecar; inversion time and spectral convergence from the inversion
    JSON), its metrics and its effective settings with the manifest's overrides highlighted.

    Args:
        rows: one mapping per row with keys ``id``, ``style_audio``, ``content_audio`` (``None`` for a
            texture), ``output_audio``, ``plot_png``, ``synth_json``, ``invert_json`` (either may be
            ``None``), ``overrides`` (the keys the manifest set), and optionally ``settings`` (the full
            effective settings; without it, the synthesized sidecar's are shown).
        dst_html: the page to write (atomically).
        metrics_tsv: a table with an ``id`` column and one column per metric, or ``None``.
        embed: put audio and images of the first ``embed_limit`` rows into the page as base64 data URIs (a
            page that can be copied alone) instead of linking them relative to the page's folder.
        embed_limit: the most rows whose media a page embeds (the page states it).
        title: the page title.

    Raises:
        AudiotexError: naming the row and file, if a media file or sidecar is missing or unreadable, or two
            rows share an id.
    """
    dst_html = Path(dst_html)
    page = gallery_html(rows, dst_html.parent, metrics_tsv=metrics_tsv, embed=embed, embed_limit=embed_limit,
                        title=title)
    with atomic_output(dst_html) as tmp:
        tmp.write_text(page, encoding="utf-8")
