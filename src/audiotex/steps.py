"""File-level pipeline steps: what one CLI command or one workflow job does, start to finish.

Each step reads its inputs, calls the pure functions of the other modules, and writes its outputs
atomically. The CLI and ``scripts/*.py`` are thin layers over these. ``settings`` is always a mapping of
the parameter vocabulary (:mod:`audiotex.params`); a step reads only the keys of its own stage(s), and
missing keys fall back to the built-in defaults.
"""
from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

import numpy as np
import soundfile as sf

from . import params as P
from .audio import load_audio, write_audio
from .errors import AudiotexError
from .files import atomic_output
from .records import read_json, read_table, table_columns, write_json, write_table
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
    write_table(path, rows)


def read_loss_log(path: str | os.PathLike) -> list[dict[str, float]]:
    """Read a loss log written by :func:`write_loss_log`."""
    rows = read_table(path, "a loss log")[1]
    return [{k: float(v) for k, v in row.items() if v != ""} for row in rows]


def _check_compatible(style_meta: Mapping[str, Any], content_meta: Mapping[str, Any],
                      style_path: Any, content_path: Any) -> None:
    for key in ("sr", "n_fft", "hop_length"):
        if style_meta.get(key) != content_meta.get(key):
            raise AudiotexError(f"{content_meta.get('source', content_path)}: {key}={content_meta.get(key)} differs "
                                f"from the style {style_meta.get('source', style_path)} ({key}="
                                f"{style_meta.get(key)}); analyse both with the same settings")


@dataclass
class SynthesisRow:
    """One output of :func:`synthesize_files`: spectrogram files in, a spectrogram file out.

    Attributes:
        style, content: style (and content, or ``None``) spectrogram files.
        output: the ``.npy`` to write (with its sidecar and loss log, as :func:`synthesize_file` does).
        settings: this row's parameters (any keys; the synthesize stage's are read).
        checkpoint: this row's checkpoint file, or ``None``.
    """

    style: str | os.PathLike
    content: str | os.PathLike | None
    output: str | os.PathLike
    settings: Mapping[str, Any] | None = None
    checkpoint: str | os.PathLike | None = None


@dataclass
class _PreparedRow:
    """A row read and checked, ready for the synthesis loop."""

    problem: Any  # synthesis.SynthesisProblem (imported lazily: torch is slow to import)
    style_meta: dict[str, Any]
    settings: dict[str, Any]
    sr: int
    hop: int


def _prepare_synthesis(style: str | os.PathLike, content: str | os.PathLike | None,
                       settings: Mapping[str, Any] | None, checkpoint: str | os.PathLike | None) -> _PreparedRow:
    from .synthesis import SynthesisProblem

    s = _full(settings)
    style_spec, style_meta = load_spectrogram(style)
    content_spec = None
    if content is not None:
        content_spec, content_meta = load_spectrogram(content)
        _check_compatible(style_meta, content_meta, style, content)
    sr, hop = int(style_meta["sr"]), int(style_meta["hop_length"])
    reference = content_spec if content_spec is not None else style_spec
    # a loop of the reference's length has one frame fewer than the reference: its frames wrap around
    n_frames = (frames_for(s["duration"], sr, hop, loop=s["loop"]) if s["duration"]
                else reference.shape[1] - (1 if s["loop"] else 0))
    problem = SynthesisProblem(style_spec, content_spec, n_frames, P.stage_settings(s, "synthesize"), checkpoint)
    return _PreparedRow(problem, style_meta, s, sr, hop)


def _synthesized_meta(row: _PreparedRow, style: Any, content: Any) -> dict[str, Any]:
    """What every spectrogram a synthesis writes (the result and save_every's) says of itself: its STFT, the
    style and content spectrograms and settings that made it (what a statistics refinement reads)."""
    from .synthesis import style_span

    return {
        "sr": row.sr, "n_fft": int(row.style_meta["n_fft"]), "hop_length": row.hop,
        "style": str(style), "content": None if content is None else str(content),
        "settings": row.problem.settings,
        # the style frames the statistics came from (style_fade_db leaves out its edge fades)
        "style_frames": list(style_span(row.problem.style, row.problem.settings, row.sr / row.hop)),
    }


def _finish_synthesis(row: _PreparedRow, style: Any, content: Any, dst: str | os.PathLike, result: Any,
                      device: Any, wall_seconds: float) -> dict[str, Any]:
    """Write a synthesized row (spectrogram, sidecar, loss log), remove its checkpoint; return the sidecar."""
    meta = {
        **_synthesized_meta(row, style, content), "device": str(device), "wall_seconds": wall_seconds,
        "iterations": result.iterations,
        "resumed_from": result.resumed_from,
        "final_losses": {k: v for k, v in (result.losses[-1] if result.losses else {}).items()
                         if k not in ("iteration", "evaluations", "seconds")},
    }
    write_loss_log(loss_log_path(dst), result.losses)
    save_spectrogram(dst, result.spectrogram, meta)
    if row.problem.checkpoint is not None:
        Path(row.problem.checkpoint).unlink(missing_ok=True)
    return meta


def intermediate_path(dst: str | os.PathLike, iteration: int) -> Path:
    """Where ``save_every`` keeps the spectrogram of ``iteration``: ``x.npy`` -> ``x.iter00010.npy``."""
    dst = Path(dst)
    return dst.with_name(f"{dst.stem}.iter{iteration:05d}.npy")


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
    from .device import resolve_device
    from .synthesis import synthesize

    row = _prepare_synthesis(style, content, settings, checkpoint)
    torch_device = resolve_device(device)
    dst_path = Path(dst)

    # not the style's sidecar: the array is the synthesis at that iteration
    intermediate_meta = _synthesized_meta(row, style, content) if save_every else {}

    def save_intermediate(iteration: int, spec: np.ndarray) -> None:
        save_spectrogram(intermediate_path(dst_path, iteration), spec, {**intermediate_meta, "iteration": iteration})

    started = time.perf_counter()
    p = row.problem
    try:
        result = synthesize(p.style, p.content, n_frames=p.n_frames, settings=p.settings, device=torch_device,
                            lag_frames_per_second=row.sr / row.hop, checkpoint=checkpoint,
                            checkpoint_every=checkpoint_every, save_every=save_every,
                            on_save=save_intermediate if save_every else None,
                            progress=progress)
    except AudiotexError as err:
        raise AudiotexError(f"{row.style_meta.get('source', style)}: {err}") from None
    return _finish_synthesis(row, style, content, dst, result, torch_device, time.perf_counter() - started)


def synthesize_file_batch(rows: Sequence[SynthesisRow], *, device: str = "auto", checkpoint_every: int = 0,
                          save_every: int = 0, max_batch: int | None = None,
                          progress: Callable[[int, int, dict[str, float]], None] | None = None,
                          ) -> list[dict[str, Any] | AudiotexError]:
    """:func:`synthesize_file` for many rows in one process: rows that share shapes and bank run as one batch.

    Each row is written as :func:`synthesize_file` writes it (its sidecar's ``wall_seconds`` is the time
    from its batch's start to its last iteration) and resumes from its own checkpoint. A row that fails
    (unreadable input, too short, diverged) is returned as its :class:`AudiotexError`, naming its style
    file; the other rows are still written.

    Args:
        rows: the outputs to make.
        device, checkpoint_every, save_every: as for :func:`synthesize_file`.
        max_batch: at most this many rows per batch.
        progress: ``progress(row, iteration, {term: value})``.

    Returns:
        Per row, in order: its sidecar's contents, or its error.
    """
    from .device import resolve_device
    from .synthesis import synthesize_batch

    torch_device = resolve_device(device)
    out: list[dict[str, Any] | AudiotexError | None] = [None] * len(rows)
    prepared: dict[int, _PreparedRow] = {}
    for k, row in enumerate(rows):
        try:
            prepared[k] = _prepare_synthesis(row.style, row.content, row.settings, row.checkpoint)
        except AudiotexError as err:
            out[k] = err
    # the frames per second turn seconds into frames in the objective: one synthesize_batch call per value
    by_rate: dict[float, list[int]] = {}
    for k, row in prepared.items():
        by_rate.setdefault(row.sr / row.hop, []).append(k)
    # what save_every's spectrograms say of themselves, once per row (as synthesize_file does)
    intermediate_meta = ({k: _synthesized_meta(row, rows[k].style, rows[k].content) for k, row in prepared.items()}
                         if save_every else {})
    for rate, members in by_rate.items():
        def save_intermediate(b: int, iteration: int, spec: np.ndarray, members: list[int] = members) -> None:
            k = members[b]
            save_spectrogram(intermediate_path(rows[k].output, iteration), spec,
                             {**intermediate_meta[k], "iteration": iteration})

        def finish(b: int, result: Any, members: list[int] = members) -> None:
            # each row is written the moment it ends, not when its whole batch does
            k = members[b]
            if isinstance(result, AudiotexError):
                out[k] = AudiotexError(f"{prepared[k].style_meta.get('source', rows[k].style)}: {result}")
                return
            wall = result.losses[-1]["seconds"] if result.losses else 0.0
            out[k] = _finish_synthesis(prepared[k], rows[k].style, rows[k].content, rows[k].output, result,
                                       torch_device, wall)

        synthesize_batch([prepared[k].problem for k in members], device=torch_device,
                         lag_frames_per_second=rate, checkpoint_every=checkpoint_every,
                         save_every=save_every, on_save=save_intermediate if save_every else None,
                         max_batch=max_batch, on_done=finish,
                         progress=None if progress is None else
                         (lambda b, i, terms, members=members: progress(members[b], i, terms)))
    return out  # type: ignore[return-value]


def invert_file(src: str | os.PathLike, dst: str | os.PathLike, settings: Mapping[str, Any] | None = None,
                *, device: str = "auto") -> dict[str, Any]:
    """Turn a log-magnitude spectrogram file into audio with Griffin-Lim (+ optional refinement).

    The sample rate, n_fft and hop come from ``src``'s sidecar. Reads keys: n_iter, momentum, phase_init,
    refine_iterations, refine_target, refine_copy_weight, hold_empty_bins, seed, loop. Writes ``dst``
    (peak-safe 16-bit WAV) and returns a dict with the spectral convergence of the result and the wall time.
    """
    from .inversion import griffin_lim, refine_waveform, silence_empty_bins
    from .metrics import spectral_convergence
    from .device import resolve_device

    s = _full(settings)
    spec, meta = load_spectrogram(src)
    torch_device = resolve_device(device)
    started = time.perf_counter()
    # A spectrogram that was analysed, not synthesized, has no statistics to match: refine to it instead.
    to_statistics = bool(s["refine_iterations"] and s["refine_target"] == "statistics" and meta.get("settings"))
    # read what the refinement needs before minutes of Griffin-Lim, not after
    inputs = _statistics_inputs(src, meta) if to_statistics else None
    magnitude = np.expm1(np.maximum(spec, 0.0))
    n_fft, hop, sr = int(meta["n_fft"]), int(meta["hop_length"]), int(meta["sr"])
    y = griffin_lim(magnitude, n_fft=n_fft, hop_length=hop, n_iter=s["n_iter"], momentum=s["momentum"],
                    init=s["phase_init"], seed=s["seed"], device=torch_device, loop=s["loop"])
    if inputs is not None:
        y = _refine_to_statistics(y, meta, s, torch_device, *inputs)
    elif s["refine_iterations"]:
        y = refine_waveform(y, spec, n_fft=n_fft, hop_length=hop, iterations=s["refine_iterations"],
                            device=torch_device, loop=s["loop"])
    if s["hold_empty_bins"]:
        y = silence_empty_bins(y, spec, n_fft=n_fft, loop=s["loop"])
    write_audio(dst, y, sr)
    return {"spectral_convergence": spectral_convergence(magnitude, y, n_fft=n_fft, hop_length=hop),
            "wall_seconds": time.perf_counter() - started, "device": str(torch_device)}


def _statistics_inputs(src: str | os.PathLike, meta: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """The style and content spectrograms that a synthesized spectrogram's sidecar names (paths as given
    when it was synthesized); an error names ``src`` and what to do when one cannot be read."""
    try:
        style, _ = load_spectrogram(meta["style"])
        content = load_spectrogram(meta["content"])[0] if meta.get("content") else None
    except AudiotexError as err:
        raise AudiotexError(f"{src}: refine_target=statistics needs the style (and content) spectrograms its "
                            f"sidecar names, as seen from where it was synthesized ({err}); run from there, or "
                            "set refine_target=spectrogram or refine_iterations=0") from None
    return style, content


def _refine_to_statistics(y: np.ndarray, meta: Mapping[str, Any], s: Mapping[str, Any], device: Any,
                          style: np.ndarray, content: np.ndarray | None) -> np.ndarray:
    """Waveform optimisation against the style/content statistics that made a synthesized spectrogram.

    The synthesized spectrogram's sidecar names its style and content spectrograms and holds the
    synthesis settings, so inversion needs to be told nothing again.
    """
    from .synthesis import synthesize_waveform

    settings = P.stage_settings(P.resolve(meta["settings"]), "synthesize")
    if s["refine_copy_weight"] is not None:
        settings["copy_weight"] = s["refine_copy_weight"]
    return synthesize_waveform(y, style, content, n_fft=int(meta["n_fft"]), hop_length=int(meta["hop_length"]),
                               settings=settings, iterations=s["refine_iterations"], device=device,
                               lag_frames_per_second=int(meta["sr"]) / int(meta["hop_length"]))


def read_sidecar(npy_path: str | os.PathLike) -> dict[str, Any]:
    """The JSON sidecar of a spectrogram file, as a dict."""
    return read_json(sidecar_path(npy_path), "a spectrogram's sidecar")


def _native_rate(path: str | os.PathLike) -> int:
    try:
        return int(sf.info(str(path)).samplerate)
    except Exception as err:  # noqa: BLE001 - any failure here is an unreadable file
        raise AudiotexError(f"{path}: cannot read audio header ({err})") from None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def metrics_file(row_id: str, output_audio: str | os.PathLike, style_audio: str | os.PathLike,
                 content_audio: str | os.PathLike | None, synthesized_npy: str | os.PathLike,
                 inversion_json: str | os.PathLike, dst_tsv: str | os.PathLike) -> dict[str, Any]:
    """Compute one result's metrics and write them as a one-row TSV (:data:`audiotex.metrics.METRIC_COLUMNS`).

    Columns: :func:`audiotex.metrics.audio_metrics` (texture distance and its reference, copy score, the
    two-sample test, content and transfer metrics); ``spectral_convergence`` (inversion); ``style_loss``,
    ``content_loss`` (final optimiser losses); lengths and wall times.

    The output is read at its own sample rate; style and content are read at the same rate (normally
    they already are: the workflow decodes everything at ``sr``). Values that do not apply (a reference
    for a style clip shorter than 4 s, content metrics of a texture) are written as empty cells. The
    metrics have no settings: every parameter is fixed so that runs stay comparable.

    Args:
        row_id: the manifest row.
        output_audio: the synthesized WAV.
        style_audio, content_audio: the decoded inputs (``content_audio`` ``None`` for a texture).
        synthesized_npy: the synthesized spectrogram; its JSON sidecar supplies ``final_losses`` and the
            synthesis wall time.
        inversion_json: the dict :func:`invert_file` returned, as JSON (spectral convergence, wall time).
        dst_tsv: the TSV to write.

    Returns:
        The row as a dict.
    """
    from .metrics import METRIC_COLUMNS, audio_metrics

    sr = _native_rate(output_audio)
    output = load_audio(output_audio, sr)
    style = load_audio(style_audio, sr)
    synth_meta = read_json(sidecar_path(synthesized_npy), "the synthesized spectrogram's sidecar")
    inversion = read_json(inversion_json, "the inversion result")
    losses = synth_meta.get("final_losses") or {}

    content = None if content_audio is None else load_audio(content_audio, sr)
    row: dict[str, Any] = {
        "id": row_id,
        **audio_metrics(output, style, sr, content),
        "spectral_convergence": _number(inversion.get("spectral_convergence")),
        "style_loss": _number(losses.get("style")),
        "content_loss": _number(losses.get("content")),
        "output_seconds": len(output) / sr,
        "style_seconds": len(style) / sr,
        "synthesis_seconds": _number(synth_meta.get("wall_seconds")),
        "inversion_seconds": _number(inversion.get("wall_seconds")),
    }
    write_table(dst_tsv, [row], METRIC_COLUMNS)
    return row


def collect_metrics(tsv_paths: Iterable[str | os.PathLike], dst_tsv: str | os.PathLike) -> int:
    """Concatenate per-row metric TSVs into ``dst_tsv``; columns are the union, in first-seen order.

    Returns:
        The number of rows written.

    Raises:
        AudiotexError: naming a file that is missing or has no data row.
    """
    from .metrics import METRIC_COLUMNS

    rows: list[dict[str, str]] = []
    for path in tsv_paths:
        found = read_table(path, "a metrics table")[1]
        if not found:
            raise AudiotexError(f"{path}: metrics table has no data row")
        rows += found
    write_table(dst_tsv, rows, table_columns(rows) or METRIC_COLUMNS)
    return len(rows)


# --- shards: many rows in one process ------------------------------------------------------------------
#
# A workflow shard job runs one step over several manifest rows. Each row is described by a plain dict of
# paths and settings (built by the workflow), is skipped when its outputs are already up to date, and
# fails alone: its error is recorded and the other rows go on. A row that fails with an AudiotexError
# (its own input or settings, which a rerun would fail again) is written into the shard record beside the
# others, so that the shard's later steps go on with them; those steps fail it too without running (even
# where an earlier run left files for it), and the metrics job of its shard fails naming it, so the run
# ends in an error. A row that fails otherwise (a bug, a GPU out of memory: it may pass next time), or a
# shard whose every row failed, gets no record, so that Snakemake reruns (and the SLURM profile retries)
# the shard; the rerun redoes only the rows that are not up to date (a killed synthesis resumes from its
# checkpoint).


@dataclass(frozen=True)
class RowResult:
    """What a shard step did with one row: ``status`` is ``done``, ``up to date`` or ``failed``; ``bug`` marks
    a failure by anything but an :class:`AudiotexError`."""

    id: str
    status: str
    seconds: float
    message: str = ""
    bug: bool = False


#: Columns of a shard record (:func:`write_shard_record`).
SHARD_RECORD_COLUMNS = ("id", "status", "seconds", "message")


def _mtime(path: str | os.PathLike) -> float | None:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return None


def outputs_up_to_date(outputs: Sequence[str | os.PathLike], inputs: Sequence[str | os.PathLike | None]) -> bool:
    """True when every output exists and none is older than any existing input (Snakemake's mtime rule)."""
    out_times = [_mtime(p) for p in outputs]
    if not out_times or any(t is None for t in out_times):
        return False
    in_times = [t for t in (_mtime(p) for p in inputs if p) if t is not None]
    return not in_times or min(out_times) >= max(in_times)  # type: ignore[type-var]


def _recorded(path: str | os.PathLike, keys: Sequence[str]) -> dict[str, Any] | None:
    """``keys`` of a JSON file, normalised through JSON; ``None`` if it is missing or unreadable."""
    try:
        data = read_json(path, "a run record")
    except AudiotexError:
        return None
    return {k: data.get(k) for k in keys}


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _log_result(result: RowResult, log: TextIO | None) -> None:
    if log is not None:
        print(f"row {result.id}: {result.status} in {result.seconds:.1f} s"
              + (f": {result.message}" if result.message else ""), file=log, flush=True)


def run_rows(rows: Sequence[Mapping[str, Any]], step: Callable[[Mapping[str, Any]], str | None],
             log: TextIO | None = None) -> list[RowResult]:
    """Run ``step(row)`` for each row; a row's :class:`AudiotexError` (or bug) fails only that row.

    Each outcome is logged as one line naming the row id (a bug's traceback follows its line).
    ``KeyboardInterrupt`` and other non-``Exception`` signals stop the loop: a killed job is a killed job.
    """
    results = []
    for row in rows:
        started = time.perf_counter()
        try:
            summary = step(row) or ""
            result = RowResult(row["id"], "done", time.perf_counter() - started, summary)
        except AudiotexError as err:
            result = RowResult(row["id"], "failed", time.perf_counter() - started, str(err))
        except Exception as err:  # a bug in one row must not cost the others their results
            result = RowResult(row["id"], "failed", time.perf_counter() - started, f"{type(err).__name__}: {err}",
                               bug=True)
            if log is not None:
                traceback.print_exc(file=log)
        _log_result(result, log)
        results.append(result)
    return results


def _skip_up_to_date(rows: Sequence[Mapping[str, Any]], up_to_date: Callable[[Mapping[str, Any]], bool],
                     log: TextIO | None) -> tuple[list[Mapping[str, Any]], list[RowResult]]:
    todo, skipped = [], []
    for row in rows:
        if up_to_date(row):
            skipped.append(RowResult(row["id"], "up to date", 0.0))
            if log is not None:
                print(f"row {row['id']}: up to date", file=log, flush=True)
        else:
            todo.append(row)
    return todo, skipped


def failed_rows(record: str | os.PathLike) -> dict[str, str]:
    """The rows a shard record (:func:`write_shard_record`) lists as failed: id -> reason."""
    return {row["id"]: row["message"] for row in read_table(record, "a shard record")[1] if row["status"] == "failed"}


def _skip_failed_before(rows: Sequence[Mapping[str, Any]], failed_before: Mapping[str, str],
                        log: TextIO | None) -> tuple[list[Mapping[str, Any]], list[RowResult]]:
    """Rows that an earlier step failed (``failed_before``: id -> reason, :func:`failed_rows`) fail here
    without running, with that reason: files an earlier run left for them are not this run's."""
    todo, failed = [], []
    for row in rows:
        if row["id"] not in failed_before:
            todo.append(row)
            continue
        reason = failed_before[row["id"]]
        prefix = "an earlier step failed: "  # once, however many steps the failure has come through
        result = RowResult(row["id"], "failed", 0.0, reason if reason.startswith(prefix) else prefix + reason)
        _log_result(result, log)
        failed.append(result)
    return todo, failed


def _in_row_order(rows: Sequence[Mapping[str, Any]], results: list[RowResult]) -> list[RowResult]:
    order = {row["id"]: i for i, row in enumerate(rows)}
    return sorted(results, key=lambda r: order[r.id])


def _run_later_step(rows: Sequence[Mapping[str, Any]], up_to_date: Callable[[Mapping[str, Any]], bool],
                    step: Callable[[Mapping[str, Any]], str | None], failed_before: Mapping[str, str] | None,
                    log: TextIO | None) -> list[RowResult]:
    """A step after synthesis over a shard's rows: the rows an earlier step failed fail here too
    (:func:`_skip_failed_before`), up-to-date rows are skipped, the rest run (:func:`run_rows`); in row order."""
    made, not_made = _skip_failed_before(rows, failed_before or {}, log)
    todo, skipped = _skip_up_to_date(made, up_to_date, log)
    return _in_row_order(rows, not_made + skipped + run_rows(todo, step, log))


def synthesis_outputs(npy: str | os.PathLike) -> list[Path]:
    """The three files synthesis writes for a row: the spectrogram, its sidecar and its loss log."""
    return [Path(npy), sidecar_path(npy), loss_log_path(npy)]


def synthesis_up_to_date(row: Mapping[str, Any]) -> bool:
    """A synthesis row is up to date when its three outputs are newer than its inputs and its sidecar
    records the same style, content and synthesize settings."""
    npy = row["npy"]
    if not outputs_up_to_date(synthesis_outputs(npy), [row["style"], row.get("content")]):
        return False
    wanted = _as_json({"style": str(row["style"]), "content": None if not row.get("content") else str(row["content"]),
                       "settings": P.stage_settings(_full(row["settings"]), "synthesize")})
    return _recorded(sidecar_path(npy), ("style", "content", "settings")) == wanted


def synthesize_files(rows: Sequence[Mapping[str, Any]], *, device: str = "auto", checkpoint_every: int = 0,
                     save_every: int = 0, log: TextIO | None = None, log_every: int = 10) -> list[RowResult]:
    """Synthesize several rows in one process (a workflow shard), each as :func:`synthesize_file` would.

    Args:
        rows: dicts with ``id``, ``style`` and ``content`` (spectrogram files; content empty or ``None``
            for a texture), ``npy`` (the output) and ``checkpoint`` (the row's checkpoint file), and
            ``settings``.
        device, checkpoint_every, save_every: as for :func:`synthesize_file`.
        log: where progress and each row's outcome go.
        log_every: iterations between progress lines.

    Returns:
        One :class:`RowResult` per row, in the order given. Rows already up to date
        (:func:`synthesis_up_to_date`) are not redone; a row that fails does not stop the others.
    """
    todo, skipped = _skip_up_to_date(rows, synthesis_up_to_date, log)

    def progress(k: int, iteration: int, losses: dict[str, float]) -> None:
        if log is not None and iteration % log_every == 0:
            terms = " ".join(f"{name}={value:.4g}" for name, value in losses.items())
            print(f"row {todo[k]['id']} iteration {iteration}: {terms}", file=log, flush=True)

    # Rows of equal shapes and bank are optimised as one batch (synthesize_file_batch); each row still
    # fails alone, and one that a bug stopped costs its batch, never the rows already written.
    started = time.perf_counter()
    try:
        outcomes: list[Any] = synthesize_file_batch(
            [SynthesisRow(row["style"], row.get("content") or None, row["npy"], row["settings"],
                          row.get("checkpoint")) for row in todo],
            device=device, checkpoint_every=checkpoint_every, save_every=save_every, progress=progress)
    except Exception as err:  # noqa: BLE001 - reported per row below, with the traceback in the log
        if log is not None:
            traceback.print_exc(file=log)
        # rows a batch finished before the bug were written (on_done): report them as done, not failed
        outcomes = [read_sidecar(row["npy"]) if synthesis_up_to_date(row) else err for row in todo]
    done = []
    for row, outcome in zip(todo, outcomes):
        if isinstance(outcome, Exception):
            message = str(outcome) if isinstance(outcome, AudiotexError) else f"{type(outcome).__name__}: {outcome}"
            result = RowResult(row["id"], "failed", time.perf_counter() - started, message)
        else:
            result = RowResult(row["id"], "done", outcome["wall_seconds"],
                               f"{outcome['iterations']} iterations on {outcome['device']} in "
                               f"{outcome['wall_seconds']:.1f} s (resumed from {outcome['resumed_from']})")
        _log_result(result, log)
        done.append(result)
    return _in_row_order(rows, skipped + done)


def inversion_up_to_date(row: Mapping[str, Any]) -> bool:
    """An inversion row is up to date when its WAV and record are newer than its inputs and the record
    holds the same invert settings."""
    npy = row["npy"]
    inputs = [npy, sidecar_path(npy), row.get("style"), row.get("content")]
    if not outputs_up_to_date([row["wav"], row["report"]], inputs):
        return False
    wanted = _as_json(P.stage_settings(_full(row["settings"]), "invert"))
    return (_recorded(row["report"], ("settings",)) or {}).get("settings") == wanted


def invert_files(rows: Sequence[Mapping[str, Any]], *, device: str = "auto",
                 failed_before: Mapping[str, str] | None = None, log: TextIO | None = None) -> list[RowResult]:
    """Invert several rows in one process: :func:`invert_file` per row, its result as JSON in ``report``.

    Args:
        rows: dicts with ``id``, ``npy`` (a synthesized spectrogram), ``wav`` and ``report`` (outputs),
            ``settings``, and optionally ``style``/``content`` (the spectrograms a statistics refinement
            reads; only for the up-to-date check).
        failed_before: rows whose synthesis failed (id -> reason): they fail here too, without running.

    Returns:
        One :class:`RowResult` per row, in order; up-to-date rows (:func:`inversion_up_to_date`) are skipped.
    """
    def invert_row(row: Mapping[str, Any]) -> str:
        result = invert_file(row["npy"], row["wav"], row["settings"], device=device)
        result["settings"] = P.stage_settings(_full(row["settings"]), "invert")
        write_json(row["report"], result)
        return f"spectral convergence {result['spectral_convergence']:.4f} on {result['device']}"

    return _run_later_step(rows, inversion_up_to_date, invert_row, failed_before, log)


def metrics_files(rows: Sequence[Mapping[str, Any]], failed_before: Mapping[str, str] | None = None,
                  log: TextIO | None = None) -> list[RowResult]:
    """Compute several rows' metrics in one process (:func:`metrics_file` per row).

    Args:
        rows: dicts with ``id``, ``audio``, ``inversion`` (the invert record), ``style``, ``content``
            (decoded audio; content empty for a texture), ``synthesized`` (the spectrogram) and ``tsv``.
        failed_before: rows whose synthesis or inversion failed (id -> reason): they fail here too.
    """
    def inputs(row: Mapping[str, Any]) -> list[Any]:
        return [row["audio"], row["inversion"], row["style"], row.get("content"), row["synthesized"],
                sidecar_path(row["synthesized"])]

    def metrics_row(row: Mapping[str, Any]) -> None:
        metrics_file(row["id"], row["audio"], row["style"], row.get("content") or None, row["synthesized"],
                     row["inversion"], row["tsv"])

    return _run_later_step(rows, lambda row: outputs_up_to_date([row["tsv"]], inputs(row)), metrics_row,
                           failed_before, log)


def plot_files(rows: Sequence[Mapping[str, Any]], failed_before: Mapping[str, str] | None = None,
               log: TextIO | None = None) -> list[RowResult]:
    """Draw several rows' plots in one process (:func:`audiotex.plots.plot_file` per row).

    Args:
        rows: dicts with ``id``, ``style``, ``content`` (spectrograms), ``synthesized`` and ``png``.
        failed_before: rows whose synthesis failed (id -> reason): they fail here too, without running.
    """
    from .plots import plot_file

    def inputs(row: Mapping[str, Any]) -> list[Any]:
        npy = row["synthesized"]
        return [row["style"], row.get("content"), npy, sidecar_path(npy), loss_log_path(npy)]

    def plot_row(row: Mapping[str, Any]) -> None:
        npy = row["synthesized"]
        plot_file(row["id"], row["style"], row.get("content") or None, npy, loss_log_path(npy), row["png"])

    return _run_later_step(rows, lambda row: outputs_up_to_date([row["png"]], inputs(row)), plot_row,
                           failed_before, log)


def raise_for_failed_rows(results: Sequence[RowResult]) -> None:
    """Raise an :class:`AudiotexError` naming every failed row of a shard by id (nothing if none failed).

    A shard job lets this fail it after all its rows ran, so Snakemake marks the shard failed (and shows it
    under ``--keep-going``) while the other rows' outputs stay written.
    """
    failed = [r for r in results if r.status == "failed"]
    if failed:
        reasons = "; ".join(f"row {r.id!r}: {r.message}" for r in failed)
        raise AudiotexError(f"{len(failed)} of {len(results)} rows failed ({reasons})")


# --- rows whose files changed behind their shard record ----------------------------------------------
#
# Snakemake sees a shard's record, not its rows' files. A row file deleted (to have it made again) or
# written by another `shards` layout's job after the record would otherwise go unnoticed. So each shard
# job also leaves a copy of its record that Snakemake does not manage (:func:`vouched_path`: it does not
# delete it before rerunning the job, as it does the record), and the workflow gives each shard job a
# params value, :func:`remake_stamp`, computed from that copy and the rows' files. The value changes exactly
# when a row's files are gone or newer than the copy, so Snakemake reruns the shard (whose job redoes those
# rows and skips the rest); the job writes the value into its new copy, where the next plan finds it
# again: one rerun, then nothing to do.

#: How the comment line of a :func:`vouched_path` file starts.
_STAMP_PREFIX = "# remake: "


def vouched_path(record: str | os.PathLike) -> Path:
    """Where a shard job leaves the copy of its record that :func:`remake_stamp` reads: beside it, hidden
    (a row id never starts with a dot, so no shard's record is named so)."""
    record = Path(record)
    return record.with_name("." + record.name)


def vouch(record: str | os.PathLike, stamp: str = "") -> None:
    """Copy a shard's just-written record to :func:`vouched_path`, after a comment line holding ``stamp``
    (the job's :func:`remake_stamp`): the rows it lists were made, as of now."""
    text = Path(record).read_text(encoding="utf-8")
    with atomic_output(vouched_path(record)) as tmp:
        tmp.write_text(f"{_STAMP_PREFIX}{stamp}\n{text}", encoding="utf-8")


def rows_to_remake(record: str | os.PathLike, row_files: Mapping[str, Sequence[str | os.PathLike]]) -> list[str]:
    """The rows a shard job vouched for (:func:`vouch`) whose files are gone or newer than its voucher.

    Args:
        record: the shard's record (:func:`write_shard_record`) or metrics table (:func:`collect_metrics`).
        row_files: row id -> the files its step writes for it.

    Returns:
        Row ids in ``row_files`` order; none when the shard has no voucher. Rows it does not list (added
        since: their shard reruns anyway) or lists as failed (it has no files to keep) are never among them.
    """
    voucher = vouched_path(record)
    vouched_time = _mtime(voucher)
    if vouched_time is None:
        return []
    changed = [row_id for row_id, files in row_files.items()
               if any((t := _mtime(f)) is None or t > vouched_time for f in files)]
    if not changed:
        return []
    try:
        listed = read_table(voucher, "a shard record")[1]
    except AudiotexError:
        return []
    vouched = {row["id"] for row in listed if row.get("status") != "failed"}  # metrics tables have no status
    return [row_id for row_id in changed if row_id in vouched]


def recorded_stamp(record: str | os.PathLike) -> str:
    """The :func:`remake_stamp` the shard's last job was given ("" if none or no voucher)."""
    try:
        with open(vouched_path(record), encoding="utf-8") as fh:
            first = fh.readline().rstrip("\n")
    except (OSError, UnicodeDecodeError):
        return ""
    return first[len(_STAMP_PREFIX):] if first.startswith(_STAMP_PREFIX) else ""


def remake_stamp(record: str | os.PathLike, row_files: Mapping[str, Sequence[str | os.PathLike]]) -> str:
    """A shard job's params value that changes when rows of a finished shard must be made again.

    The rows of :func:`rows_to_remake` and the voucher's time when there are any, else the stamp the
    voucher carries (what the job that wrote it was given), so that the plan after that job finds the value
    it ran with. Snakemake computes it when it plans and again when it starts the job (the record deleted
    by then, the voucher not), which is why it reads the voucher. Pass it to :func:`vouch`.
    """
    remake = rows_to_remake(record, row_files)
    if remake:
        return f"{','.join(remake)} after {os.stat(vouched_path(record)).st_mtime_ns}"
    return recorded_stamp(record)


def write_shard_record(results: Sequence[RowResult], dst: str | os.PathLike, stamp: str = "") -> str:
    """Write a shard's record (one line per row, failed rows with their reason); return a summary line.

    Rows that failed with an :class:`AudiotexError` are recorded, so that Snakemake goes on with the shard's
    other rows (see the comment above :class:`RowResult`), then :func:`vouch` for them with ``stamp``.

    Raises:
        AudiotexError: from :func:`raise_for_failed_rows` when a row failed by a bug or every row failed;
            nothing is written then, so Snakemake reruns the shard, and the rerun redoes only the failed and
            unfinished rows.
    """
    failed = [r for r in results if r.status == "failed"]
    if any(r.bug for r in failed) or (failed and len(failed) == len(results)):
        raise_for_failed_rows(results)
    write_table(dst, [{"id": r.id, "status": r.status, "seconds": round(r.seconds, 3), "message": r.message}
                     for r in results], SHARD_RECORD_COLUMNS)
    vouch(dst, stamp)
    done = sum(r.status == "done" for r in results)
    summary = f"{done} rows done, {len(results) - done - len(failed)} up to date"
    if failed:
        summary += f", {len(failed)} failed ({', '.join(r.id for r in failed)}: recorded, the others go on)"
    return f"{summary} -> {dst}"
