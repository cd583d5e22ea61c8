"""Quality benchmark: how close to a real held-out excerpt do syntheses get, per preset?

For every real recording (data/demo/env_*, mus_*; sp_* with --speech) the first half is the style clip and
the second half is held out. Each preset or variant synthesizes a texture as long as the held-out half
from the style half alone (the library's own file steps, in a temporary folder), and is scored against
the style half exactly as the held-out half is:

* texture_distance_norm = distance(output, style half) / distance(held-out half, style half):
  1.0 means "as close to the style as the real continuation of the recording";
* copy_score vs copy_score_reference (the held-out half's): higher than the reference means copying;
* spectral convergence of the inversion, final style loss, wall time per stage;
* two_sample_accuracy: how well a classifier tells windows of the output from windows of the held-out
  half (audiotex.metrics.two_sample_accuracy), and two_sample_floor, the same for the style half vs the
  held-out half; two_sample_excess = accuracy - floor, 0 for a texture that passes for real;
  two_sample_floor_min / _max: the lowest and highest floor when the recording's halves are cut 0.1-0.4 s
  later (audiotex.metrics.two_sample_floor_cuts): how far one floor can be trusted;
* rhythm_similarity: correlation of the onset-strength autocorrelations of output and style (lags
  0.1-4 s), vs rhythm_similarity_reference (the held-out half's); for rhythmic clips (--rhythm-clips) the curves are also saved as a TSV and a PNG.

Results go to benchmarks/results/<name>.tsv (one row per clip and preset, a header comment with the
machine and date), rewritten after every row so an interrupted run keeps what it finished.

Example (quick check of the harness):
    python benchmarks/quality.py --presets fast --clips env_fire,mus_drums --jobs 2 --out benchmarks/results/smoke.tsv
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import hashlib
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import soundfile as sf

from audiotex.metrics import STATISTIC_GROUPS

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".opus"}

COLUMNS = (
    "clip", "preset", "seconds", "sr", "iterations", "texture_distance", "texture_distance_reference",
    "texture_distance_norm", "texture_distance_heldout", "copy_score", "copy_score_reference",
    "copy_score_reference_reversed", "two_sample_accuracy", "two_sample_floor", "two_sample_floor_min",
    "two_sample_floor_max", "two_sample_excess",
    "spectral_convergence", "style_loss", "rhythm_similarity", "rhythm_similarity_reference", "cpu_s",
    "decode_s", "spectrogram_s", "synthesize_s", "invert_s", "metrics_s", "device",
) + tuple(f"norm_{group}" for group in STATISTIC_GROUPS) + (
    "settings",
)


# ---------------------------------------------------------------------------------------------------------
# Command line


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``name:key=value,key=value`` -> (name, {key: value}); values are checked later by audiotex.params."""
    name, sep, assignments = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"variant {text!r} is not of the form name:key=value,key=value")
    overrides = {}
    # ';' separates assignments when a value itself holds commas (layers=3x256,11x512)
    separator = ";" if ";" in assignments else ","
    for item in filter(None, (a.strip() for a in assignments.split(separator))):
        key, eq, value = item.partition("=")
        if not eq:
            raise argparse.ArgumentTypeError(f"variant {name!r}: {item!r} is not key=value")
        overrides[key.strip()] = value.strip()
    return name.strip(), overrides


def comma_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the items of a comma-separated option, blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def seed_list(text: str) -> list[int]:
    """``--seeds 0,1,2`` -> ``[0, 1, 2]``."""
    try:
        return [int(item) for item in comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def per_seed(runs: list[tuple[str, dict[str, Any]]], seeds: list[int]) -> list[tuple[str, dict[str, Any]]]:
    """Every (name, settings) once per seed, as (``name@seedN``, settings with that seed); ``runs`` itself
    when no seeds are given."""
    if not seeds:
        return runs
    return [(f"{name}@seed{seed}", {**settings, "seed": seed}) for name, settings in runs for seed in seeds]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default="",
                        help="comma-separated clip names or name prefixes in data/demo, or paths "
                             "(default: every env_* and mus_* recording)")
    parser.add_argument("--speech", action="store_true", help="also benchmark the sp_* speech recordings")
    parser.add_argument("--presets", default="ulyanov,default",
                        help="comma-separated presets to run (default: ulyanov,default)")
    parser.add_argument("--variant", action="append", default=[], type=parse_variant, metavar="NAME:K=V,...",
                        help="an extra setting to run: a preset (key preset=..., default 'default') plus "
                             "overrides, e.g. 'autocorr:autocorr_weight=0.1' (separate them with ';' when a "
                             "value holds commas: 'ms:layers=3x256,11x512;init=spectrum'); repeatable")
    parser.add_argument("--iterations", type=int, default=None, help="override the optimiser iterations")
    parser.add_argument("--seeds", type=seed_list, default=[], metavar="N,M,...",
                        help="run every setting once per seed (rows NAME@seedN) and summarise each over the "
                             "seeds: on short halves the two-sample test swings by up to 0.3 with the seed alone")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="use at most this many seconds of each half (the style half from the start, the "
                             "held-out half from the middle): shorter, quicker runs")
    parser.add_argument("--trim-fades", type=float, default=None, metavar="DB",
                        help="leave out each recording's leading and trailing stretches more than DB below its "
                             "median level (fades, silence; audiotex.spectrogram.fade_bounds) before halving it, "
                             "so both halves are the steady sound")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="torch device")
    add_parallel_arguments(parser, default_jobs=2)
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the inversion-only rows (gl:<setting>: the held-out half's own spectrogram "
                             "through Griffin-Lim, the floor the inversion alone sets)")
    parser.add_argument("--rhythm-clips", default="mus_drums_amen",
                        help="comma-separated clip prefixes whose onset autocorrelations are saved")
    parser.add_argument("--keep-audio", type=Path, default=None,
                        help="copy every output (and the style/held-out halves) into this folder")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "quality.tsv",
                        help="results TSV (default: benchmarks/results/quality.tsv)")
    return parser.parse_args(argv)


def add_parallel_arguments(parser: argparse.ArgumentParser, default_jobs: int) -> None:
    """``--threads`` and ``--jobs``, shared by the benchmarks that run one process per task."""
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads per run (default 1: on a shared CPU, idle threads spinning in "
                             "wait would count as CPU seconds and slow everyone down)")
    parser.add_argument("--jobs", type=int, default=default_jobs,
                        help=f"runs at a time, each in its own process with --threads threads (default "
                             f"{default_jobs})")


@contextlib.contextmanager
def task_results(function: Callable[[Any], Any], tasks: Iterable[Any], jobs: int) -> Iterator[Iterator[Any]]:
    """``function`` over ``tasks``: in this process one after the other (``jobs`` 1), or in ``jobs`` fresh
    (spawned) processes, results in the order they finish. Leaving the block stops the processes, so a
    caller that returns early on an error leaves none running."""
    if jobs <= 1:
        yield map(function, tasks)
        return
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        yield pool.imap_unordered(function, tasks)


def find_clips(spec: str, speech: bool) -> list[Path]:
    """The recordings to benchmark: named (prefix in data/demo, or a path), or all env_/mus_ (+ sp_)."""
    available = sorted(p for p in DEMO.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not spec:
        prefixes = ("env_", "mus_") + (("sp_",) if speech else ())
        return [p for p in available if p.name.startswith(prefixes)]
    chosen = []
    for item in comma_list(spec):
        path = Path(item)
        matches = [path] if path.is_file() else [p for p in available if p.name.startswith(item)]
        if not matches:
            sys.exit(f"error: no recording in {DEMO} matches {item!r}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def settings_list(args: argparse.Namespace, kind: str = "texture") -> list[tuple[str, dict[str, Any]]]:
    """(name, validated settings) for every preset and variant, resolved as ``kind`` (a transfer resolves as a
    manifest row with a content does), with --iterations applied."""
    from audiotex import params as P
    from audiotex.errors import AudiotexError

    runs = [(name, {"preset": name}) for name in comma_list(args.presets)]
    runs += [(name, overrides) for name, overrides in args.variant]
    resolved = []
    for name, layer in runs:
        if args.iterations is not None:
            layer = {**layer, "iterations": args.iterations}
        try:
            resolved.append((name, P.resolve(layer, source=f"--variant {name}", kind=kind)))
        except AudiotexError as err:
            sys.exit(f"error: {err}")
    return resolved


def machine_description(device: str) -> str:
    import torch

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if device != "cpu" and torch.cuda.is_available():
        device = f"{device} ({torch.cuda.get_device_name(0)})"
    return (f"date={dt.datetime.now().isoformat(timespec='seconds')}; platform={platform.platform()}; "
            f"cpu={cpu} x{__import__('os').cpu_count()}; torch={torch.__version__}; device={device}")


# ---------------------------------------------------------------------------------------------------------
# Measurements


#: Lag step (s) of the onset autocorrelations, the same for every sample rate.
LAG_STEP = 0.01


def onset_autocorrelation(y: np.ndarray, sr: int, max_lag: float = 4.0) -> np.ndarray:
    """Autocorrelation of the onset-strength envelope at lags 0, LAG_STEP, ... up to ``max_lag`` seconds
    (shorter for short signals), normalised to 1 at lag 0."""
    import librosa

    hop = max(1, int(round(sr * LAG_STEP)))
    onset = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop)
    onset = onset - onset.mean()
    frames = min(len(onset), int(max_lag * sr / hop) + 1)
    ac = librosa.autocorrelate(onset, max_size=frames)
    ac = ac / (ac[0] + 1e-12)
    lags = np.arange(0.0, (frames - 1) * hop / sr, LAG_STEP)
    return np.interp(lags, np.arange(frames) * hop / sr, ac)


def rhythm_similarity(ac_a: np.ndarray, ac_b: np.ndarray, min_lag: float = 0.1) -> float:
    """Pearson correlation of two onset autocorrelations over lags from ``min_lag`` on (their common part)."""
    start = int(round(min_lag / LAG_STEP))
    n = min(len(ac_a), len(ac_b))
    a, b = ac_a[start:n] - ac_a[start:n].mean(), ac_b[start:n] - ac_b[start:n].mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


#: Keys that decide what an inversion-only baseline produces (one baseline per distinct combination).
INVERSION_KEYS = ("sr", "n_fft", "hop_length", "n_iter", "momentum", "phase_init", "refine_iterations", "seed",
                  "hold_empty_bins", "loop")


def steady_span(clip: Path, sr: int, fade_db: float | None) -> tuple[float, float]:
    """Where ``clip``'s steady part starts and how long it is (s): all of it when ``fade_db`` is ``None``,
    else without its edge fades, measured on a spectrogram at n_fft 512 (``audiotex.spectrogram.fade_bounds``)."""
    duration = float(sf.info(str(clip)).duration)
    if fade_db is None:
        return 0.0, duration
    from audiotex.audio import load_audio
    from audiotex.spectrogram import fade_bounds, log_spectrogram

    hop = 128
    spec = log_spectrogram(load_audio(clip, sr), 512, hop)
    start, stop = fade_bounds(spec, fade_db, sr / hop)
    end = duration if stop == spec.shape[1] else stop * hop / sr
    return start * hop / sr, end - start * hop / sr


def copy_references(heldout: np.ndarray, style: np.ndarray, sr: int) -> tuple[float, float]:
    """The copy score of the held-out half against the style half, played forwards and backwards.

    Both are real excerpts with the same texture statistics (every statistic of the distance ignores the
    direction of time), so where they differ the real reference depends on the direction of a slow change,
    not on the sound: water's held-out half ends in a fade-out, which matches nothing in a style half that
    starts with a fade-in (forwards 0.05), while the same half reversed is a fade-in (0.40).
    """
    from audiotex import metrics as M

    return M.copy_score(heldout, style, sr), M.copy_score(np.ascontiguousarray(heldout[::-1]), style, sr)


def floor_cuts(style: np.ndarray, heldout: np.ndarray, sr: int,
               cuts: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)) -> list[float]:
    """The two-sample floor of the style and held-out halves played one after the other, with the first
    ``cuts`` seconds left out before halving: the same recording cut a little later (where the halves are
    contiguous, as whole halves are; with --max-seconds the held-out half comes from the middle)."""
    from audiotex import metrics as M

    return M.two_sample_floor_cuts(np.concatenate([style, heldout]), sr, cuts, min_seconds=0.0)


#: Floors already computed in this process, by the halves they came from: every setting and seed of a clip
#: has the same halves, and the floor and its range over cuts cost five classifier fits (~7 s a row).
_FLOORS: dict[str, tuple[float, float, float]] = {}


def floors(style: np.ndarray, heldout: np.ndarray, sr: int) -> tuple[float, float, float]:
    """The two-sample floor of the halves, and the lowest and highest of it and :func:`floor_cuts`;
    computed once per pair of halves in a process."""
    from audiotex import metrics as M

    key = hashlib.sha1(b"".join([str(sr).encode(), style.tobytes(), b"|", heldout.tobytes()])).hexdigest()
    if key not in _FLOORS:
        all_floors = [M.two_sample_accuracy(style, heldout, sr), *floor_cuts(style, heldout, sr)]
        _FLOORS[key] = (all_floors[0], min(all_floors), max(all_floors))
    return _FLOORS[key]


def run_one(clip: Path, name: str, settings: dict[str, Any], device: str, work: Path,
            baseline: bool = False, max_seconds: float | None = None,
            trim_fades: float | None = None) -> tuple[dict[str, Any], dict]:
    """Hold out the second half of ``clip``, synthesize from the first, and measure. Returns (row, curves).

    With ``baseline``, nothing is synthesized: the held-out half's own spectrogram is inverted, which
    shows how much of the distance the STFT round trip and Griffin-Lim alone cost. With ``trim_fades``
    (dB), the halves are those of the recording's steady part (:func:`steady_span`).
    """
    from audiotex import metrics as M
    from audiotex.audio import load_audio
    from audiotex.steps import decode_file, invert_file, read_sidecar, spectrogram_file, synthesize_file

    sr = settings["sr"]
    begin, duration = steady_span(clip, sr, trim_fades)
    half = duration / 2.0
    times: dict[str, float] = {}
    style_wav, heldout_wav = work / "style.wav", work / "heldout.wav"
    whole_file = {**settings, "offset": 0.0, "input_duration": None}
    started = time.perf_counter()
    length = half if max_seconds is None else min(half, max_seconds)
    decode_file(clip, style_wav, {**settings, "offset": begin, "input_duration": length})
    decode_file(clip, heldout_wav, {**settings, "offset": begin + half, "input_duration": length})
    times["decode_s"] = time.perf_counter() - started

    started = time.perf_counter()
    spectrogram_file(heldout_wav if baseline else style_wav, work / "source.npy", whole_file)
    times["spectrogram_s"] = time.perf_counter() - started

    heldout = load_audio(heldout_wav, sr)
    synth_meta: dict[str, Any] = {}
    cpu = time.process_time()
    started = time.perf_counter()
    if not baseline:
        synth_meta = synthesize_file(work / "source.npy", None, work / "out.npy",
                                     {**settings, "duration": len(heldout) / sr}, device=device)
    times["synthesize_s"] = time.perf_counter() - started

    started = time.perf_counter()
    inversion = invert_file(work / ("source.npy" if baseline else "out.npy"), work / "out.wav", settings,
                            device=device)
    times["invert_s"] = time.perf_counter() - started
    times["cpu_s"] = time.process_time() - cpu

    started = time.perf_counter()
    style, output = load_audio(style_wav, sr), load_audio(work / "out.wav", sr)
    style_stats = M.texture_statistics(style, sr)
    out_stats, heldout_stats = M.texture_statistics(output, sr), M.texture_statistics(heldout, sr)
    distance = M.texture_distance(out_stats, style_stats)
    reference = M.texture_distance(heldout_stats, style_stats)
    ac = {"style": onset_autocorrelation(style, sr), "heldout": onset_autocorrelation(heldout, sr),
          "output": onset_autocorrelation(output, sr)}
    row = {
        "clip": clip.stem, "preset": name, "seconds": len(heldout) / sr, "sr": sr,
        "iterations": synth_meta.get("iterations"),
        "texture_distance": distance, "texture_distance_reference": reference,
        "texture_distance_norm": distance / reference,
        "texture_distance_heldout": M.texture_distance(out_stats, heldout_stats),
        "copy_score": M.copy_score(output, style, sr),
        **dict(zip(("copy_score_reference", "copy_score_reference_reversed"), copy_references(heldout, style, sr))),
        "two_sample_accuracy": M.two_sample_accuracy(output, heldout, sr),
        **dict(zip(("two_sample_floor", "two_sample_floor_min", "two_sample_floor_max"), floors(style, heldout, sr))),
        "spectral_convergence": inversion["spectral_convergence"],
        "style_loss": (synth_meta.get("final_losses") or {}).get("style"),
        "rhythm_similarity": rhythm_similarity(ac["output"], ac["style"]),
        "rhythm_similarity_reference": rhythm_similarity(ac["heldout"], ac["style"]),
        "device": inversion.get("device"),
    }
    # which statistics miss: each group's distance relative to the held-out half's
    out_groups, ref_groups = M.group_distances(out_stats, style_stats), M.group_distances(heldout_stats, style_stats)
    row["two_sample_excess"] = row["two_sample_accuracy"] - row["two_sample_floor"]
    row.update({f"norm_{g}": out_groups[g] / max(ref_groups[g], 1e-12) for g in out_groups})
    times["metrics_s"] = time.perf_counter() - started
    row.update(times)
    used = read_sidecar(work / "out.npy").get("settings", {}) if not baseline else {
        k: settings[k] for k in INVERSION_KEYS}
    row["settings"] = json.dumps(used, sort_keys=True)
    return row, ac


# ---------------------------------------------------------------------------------------------------------
# Output


def write_results(path: Path, header: str, rows: list[dict[str, Any]]) -> None:
    from audiotex.records import write_table

    write_table(path, rows, COLUMNS, comment=f"audiotex quality benchmark; {header}")


def write_rhythm(out: Path, clip: str, curves: dict[str, dict[str, np.ndarray]]) -> list[Path]:
    """Save onset autocorrelations of style, held-out half and every preset's output as TSV and PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from audiotex.files import atomic_output

    first = next(iter(curves.values()))
    columns = {"style": first["style"], "heldout": first["heldout"]}
    columns.update({name: c["output"] for name, c in curves.items()})
    n = min(len(v) for v in columns.values())
    lags = np.arange(n) * LAG_STEP
    tsv = out.with_name(f"{out.stem}.rhythm.{clip}.tsv")
    with atomic_output(tsv) as tmp:
        lines = ["lag_seconds\t" + "\t".join(columns)]
        lines += [f"{lags[i]:.4f}\t" + "\t".join(f"{v[i]:.5f}" for v in columns.values()) for i in range(n)]
        tmp.write_text("\n".join(lines) + "\n")

    fig, axes = plt.subplots(1, 1 + len(curves), figsize=(4 * (1 + len(curves)), 3), sharey=True)
    axes = np.atleast_1d(axes)
    axes[0].plot(lags, columns["style"][:n], label="style half", color="k")
    axes[0].plot(lags, columns["heldout"][:n], label="held-out half", color="0.6")
    axes[0].set_title(f"{clip}: real")
    for ax, name in zip(axes[1:], curves):
        ax.plot(lags, columns["style"][:n], color="k", lw=0.8, label="style half")
        ax.plot(lags, columns[name][:n], color="C1", label=name)
        ax.set_title(f"output: {name}")
    for ax in axes:
        ax.set_xlabel("lag (s)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("onset autocorrelation")
    fig.tight_layout()
    png = tsv.with_suffix(".png")
    with atomic_output(png) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return [tsv, png]


def summarise(rows: list[dict[str, Any]], names: list[str]) -> str:
    """Per preset: medians of normalised distance, copy score and synthesis time; pairwise win rates."""
    lines = [f"{'preset':<16}{'clips':>6}{'dist_norm':>11}{'copy':>8}{'copy_ref':>9}{'ref_rev':>8}{'spec_conv':>10}"
             f"{'rhythm':>8}{'rhy_ref':>8}{'2s_acc':>8}{'2s_floor':>9}{'2s_exc':>8}{'2s_max':>8}{'synth_s':>9}"
             f"{'cpu_s':>8}"]
    by_name = {n: [r for r in rows if r["preset"] == n] for n in names}
    for name, rs in by_name.items():
        if not rs:
            continue

        def med(key: str) -> float:
            return statistics.median(float(r[key]) for r in rs)

        lines.append(f"{name:<16}{len(rs):>6}{med('texture_distance_norm'):>11.3f}{med('copy_score'):>8.3f}"
                     f"{med('copy_score_reference'):>9.3f}{med('copy_score_reference_reversed'):>8.3f}"
                     f"{med('spectral_convergence'):>10.3f}"
                     f"{med('rhythm_similarity'):>8.3f}{med('rhythm_similarity_reference'):>8.3f}"
                     f"{med('two_sample_accuracy'):>8.3f}{med('two_sample_floor'):>9.3f}"
                     f"{med('two_sample_excess'):>8.3f}{max(float(r['two_sample_excess']) for r in rs):>8.3f}"
                     f"{med('synthesize_s'):>9.1f}{med('cpu_s'):>8.1f}")
    lines += seed_summary(rows)
    lines += floor_summary(rows)
    compared = [n for n in names if not n.startswith("gl:")]
    for a in compared:
        for b in compared:
            if a >= b:
                continue
            dist = {n: {r["clip"]: r["texture_distance_norm"] for r in by_name[n]} for n in (a, b)}
            common = sorted(set(dist[a]) & set(dist[b]))
            if common:
                wins = sum(dist[a][c] < dist[b][c] for c in common)
                lines.append(f"{a} beats {b} (lower normalised distance) on {wins}/{len(common)} clips")
    return "\n".join(lines)


def seed_summary(rows: list[dict[str, Any]]) -> list[str]:
    """For settings run over several seeds (``NAME@seedN`` rows): each clip's median over the seeds of the
    two-sample excess, normalised distance and copy score over the real excerpt's, then their median and
    worst over the clips: figures that one lucky seed cannot make."""
    by_setting: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        name, _, seed = row["preset"].rpartition("@seed")
        if name and seed and not name.startswith("gl:"):
            by_setting.setdefault(name, {}).setdefault(row["clip"], []).append(row)
    lines = []
    for name, clips in by_setting.items():
        def per_clip(key: str) -> list[float]:
            return [statistics.median(float(r[key]) for r in rs) for rs in clips.values()]

        excess = per_clip("two_sample_excess")
        distance = per_clip("texture_distance_norm")
        copy_over = [c - r for c, r in zip(per_clip("copy_score"), per_clip("copy_score_reference"))]
        seeds = max(len(rs) for rs in clips.values())
        lines.append(f"{name} over {seeds} seeds (per-clip medians, {len(clips)} clips): two-sample excess median "
                     f"{statistics.median(excess):.3f} max {max(excess):.3f}; dist_norm max {max(distance):.3f}; "
                     f"copy over real median {statistics.median(copy_over):+.3f} max {max(copy_over):+.3f}")
    return lines


def floor_summary(rows: list[dict[str, Any]]) -> list[str]:
    """Each clip's two-sample floor and its range over later cuts: the same for every setting of a clip
    at one sample rate (its halves are decoded at that rate), so one per clip and rate."""
    floors = {(r["clip"], r.get("sr")): r for r in rows if r.get("two_sample_floor_min") is not None}
    if not floors:
        return []
    rates = collections.Counter(clip for clip, _ in floors)

    def name(clip: str, sr: Any) -> str:
        return clip if rates[clip] == 1 else f"{clip} at {sr} Hz"

    return ["two-sample floor (over cuts 0-0.4 s later): " + ", ".join(
        f"{name(clip, sr)} {float(r['two_sample_floor']):.2f} ({float(r['two_sample_floor_min']):.2f}-"
        f"{float(r['two_sample_floor_max']):.2f})" for (clip, sr), r in floors.items())]


def keep_audio(tmp: Path, directory: Path | None, names: dict[str, str]) -> None:
    """Copy the files of a run's temporary folder ``tmp`` into ``directory`` (nothing when it is None),
    each under its new name: ``names`` maps a file of ``tmp`` to its name in ``directory``."""
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for source, target in names.items():
        shutil.copy(tmp / source, directory / target)


def run_task(task: tuple[Path, str, dict[str, Any], bool, argparse.Namespace]) -> tuple[dict[str, Any], dict] | str:
    """One (clip, setting) run in a temporary folder: (row, onset curves), or an error message."""
    import torch

    from audiotex.errors import AudiotexError

    clip, name, settings, baseline, args = task
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="audiotex-bench-") as tmp:
        try:
            row, ac = run_one(clip, name, settings, args.device, Path(tmp), baseline=baseline,
                              max_seconds=args.max_seconds, trim_fades=args.trim_fades)
        except AudiotexError as err:
            return f"{clip.name} / {name}: {err}"
        keep_audio(Path(tmp), args.keep_audio, {"out.wav": f"{clip.stem}.{name.replace(':', '_')}.wav",
                                                 **{f"{part}.wav": f"{clip.stem}.{part}.wav"
                                                    for part in ("style", "heldout")}})
    return row, ac


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clips = find_clips(args.clips, args.speech)
    runs = per_seed(settings_list(args), args.seeds)
    rhythm_prefixes = tuple(comma_list(args.rhythm_clips))
    header = (machine_description(args.device) + f"; torch_threads={args.threads}; jobs={args.jobs}; command="
              + " ".join(sys.argv[1:]))
    args.out.parent.mkdir(parents=True, exist_ok=True)

    jobs = [(name, settings, False) for name, settings in runs]
    if args.baseline:
        seen = set()
        for name, settings in runs:
            key = tuple(settings[k] for k in INVERSION_KEYS)
            if key not in seen:
                seen.add(key)
                jobs.append((f"gl:{name}", settings, True))

    print(f"{len(clips)} clips x {len(jobs)} settings -> {args.out} ({args.jobs} at a time)", flush=True)
    tasks = [(clip, name, settings, baseline, args) for clip in clips for name, settings, baseline in jobs]
    order = {(clip.stem, name): i for i, (clip, name, _, _, _) in enumerate(tasks)}
    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, dict[str, np.ndarray]]] = {clip.stem: {} for clip in clips}
    finished = dict.fromkeys(curves, 0)
    with task_results(run_task, tasks, args.jobs) as results:
        for result in results:
            if isinstance(result, str):
                print(f"error: {result}", file=sys.stderr)
                return 1
            row, ac = result
            clip = row["clip"]
            rows.append(row)
            rows.sort(key=lambda r: order[r["clip"], r["preset"]])
            if not row["preset"].startswith("gl:"):
                curves[clip][row["preset"]] = ac
            write_results(args.out, header, rows)
            print(f"{clip:<38}{row['preset']:<14} dist_norm={row['texture_distance_norm']:.3f} "
                  f"copy={row['copy_score']:.3f} (ref {row['copy_score_reference']:.3f}) "
                  f"2s={row['two_sample_accuracy']:.2f} (floor {row['two_sample_floor']:.2f}) "
                  f"sc={row['spectral_convergence']:.3f} cpu={row['cpu_s']:.1f}s", flush=True)
            finished[clip] += 1
            if finished[clip] == len(jobs) and clip.startswith(rhythm_prefixes) and curves[clip]:
                # every setting of this clip is in: its curves, in the order the settings were given
                ordered = {name: curves[clip][name] for name, _, _ in jobs if name in curves[clip]}
                for path in write_rhythm(args.out, clip, ordered):
                    print(f"  wrote {path}")
    print()
    print(summarise(rows, [name for name, _, _ in jobs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
