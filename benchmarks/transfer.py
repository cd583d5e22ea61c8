"""Style-transfer benchmark: how much content does each preset keep, and how far does it move toward the style?

For every content/style pair (:data:`PAIRS`, recordings of data/demo/, the same files as ../shared/audio/),
the first ``--content-seconds`` of the content and the first ``--style-seconds`` of the style are decoded at
each setting's sample rate, and the library's own file steps (spectrogram, synthesize, invert, in a
temporary folder) make a transfer as long as the content. The output, content and style are then scored
with :func:`audiotex.metrics.transfer_metrics`, all read at one common rate (``--metrics-sr``) so that
presets of different sample rates are scored alike:

* content_kept (and its parts content_envelope_correlation, content_onset_correlation): 1 = the content's
  time structure, about 0 = a pure texture;
* style_moved: 1 - d(output, style) / d(content, style) in texture statistics: 1 = statistically like the
  style, 0 = still like the content;
* hole_db: how far the output's weakest log-mel band falls below both inputs' level there (> 20 = a hole);
* cpu_s: CPU seconds of synthesis + inversion (this process, all threads; one torch thread by default),
  and their wall times synthesize_s and invert_s.

Results go to benchmarks/results/<name>.tsv (a header comment with the machine, date and clip lengths),
rewritten after every row, and a plot of content kept against moved toward the style (one point per pair
and setting) to <name>.png.

``--heldout`` runs :data:`HELDOUT_PAIRS` instead, combinations never used to choose the defaults.

Example (quick check of the harness):
    python benchmarks/transfer.py --presets fast --pairs speech_water --out /tmp/transfer_smoke.tsv
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import (DEMO, REPO, add_parallel_arguments, comma_list, keep_audio, machine_description,  # noqa: E402
                     parse_variant, settings_list, task_results)

#: name -> (content recording, style recording): contents speech, drums and a sustained guitar chord;
#: styles noisy (water, vinyl), crackling (fire, vinyl), tonal (machinery hum, guitar) and rhythmic (drums).
PAIRS: dict[str, tuple[str, str]] = {  # the most different pairs first: an interrupted run keeps them
    "speech_water": ("sp_arctic_a0007_awb.wav", "env_water_stream_minetest.ogg"),
    "drums_fire": ("mus_drums_amen_sonicpi.flac", "env_fire_furnace_minetest.ogg"),
    "guitar_vinyl": ("mus_guitar_em9_sonicpi.flac", "env_vinyl_hiss_sonicpi.flac"),
    "speech_machinery": ("sp_arctic_a0009.wav", "env_machinery_3dprinter_sonicpi.flac"),
    "guitar_drums": ("mus_guitar_em9_sonicpi.flac", "mus_drums_amen_sonicpi.flac"),
    "speech_fire": ("sp_arctic_a0009.wav", "env_fire_furnace_minetest.ogg"),
    "drums_guitar": ("mus_drums_amen_sonicpi.flac", "mus_guitar_em9_sonicpi.flac"),
    "speech_vinyl": ("sp_arctic_a0007_awb.wav", "env_vinyl_hiss_sonicpi.flac"),
}

#: Pairs never used to choose the defaults (``--heldout``): the same recordings in the combinations
#: :data:`PAIRS` lacks, a check that what was tuned on :data:`PAIRS` holds beyond them.
HELDOUT_PAIRS: dict[str, tuple[str, str]] = {
    "speech2_water": ("sp_arctic_a0009.wav", "env_water_stream_minetest.ogg"),
    "drums_vinyl": ("mus_drums_amen_sonicpi.flac", "env_vinyl_hiss_sonicpi.flac"),
    "guitar_fire": ("mus_guitar_em9_sonicpi.flac", "env_fire_furnace_minetest.ogg"),
    "speech1_machinery": ("sp_arctic_a0007_awb.wav", "env_machinery_3dprinter_sonicpi.flac"),
    "speech1_drums": ("sp_arctic_a0007_awb.wav", "mus_drums_amen_sonicpi.flac"),
    "drums_water": ("mus_drums_amen_sonicpi.flac", "env_water_stream_minetest.ogg"),
    "guitar_water": ("mus_guitar_em9_sonicpi.flac", "env_water_stream_minetest.ogg"),
    "drums_machinery": ("mus_drums_amen_sonicpi.flac", "env_machinery_3dprinter_sonicpi.flac"),
}

COLUMNS = (
    "pair", "preset", "content", "style", "content_seconds", "style_seconds", "sr", "iterations",
    "content_kept", "content_envelope_correlation", "content_onset_correlation", "style_moved", "hole_db",
    "cpu_s", "synthesize_s", "invert_s", "device", "settings",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="", help=f"comma-separated pair names (default: all of {', '.join(PAIRS)})")
    parser.add_argument("--heldout", action="store_true",
                        help=f"use the held-out pairs instead, never used to tune the defaults: "
                             f"{', '.join(HELDOUT_PAIRS)}")
    parser.add_argument("--presets", default="ulyanov,fast,default",
                        help="comma-separated presets to run (default: ulyanov,fast,default)")
    parser.add_argument("--variant", action="append", default=[], type=parse_variant, metavar="NAME:K=V,...",
                        help="an extra setting: a preset (key preset=..., default 'default') plus overrides, as "
                             "in benchmarks/quality.py; repeatable")
    parser.add_argument("--iterations", type=int, default=None, help="override the optimiser iterations")
    parser.add_argument("--content-seconds", type=float, default=1.5, help="seconds of content (default 1.5)")
    parser.add_argument("--style-seconds", type=float, default=3.0, help="seconds of style (default 3)")
    parser.add_argument("--metrics-sr", type=int, default=16000, help="rate every signal is scored at")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="torch device")
    add_parallel_arguments(parser, default_jobs=2)
    parser.add_argument("--keep-audio", type=Path, default=None, help="copy every output and input here")
    parser.add_argument("--spectrograms", default="", metavar="PAIR,...",
                        help="draw these pairs' content, style and every setting's output as spectrograms, "
                             "to <out>.<pair>.png (needs --keep-audio)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "transfer.tsv",
                        help="results TSV (default: benchmarks/results/transfer.tsv); the plot goes beside it")
    return parser.parse_args(argv)


def run_pair(content_path: Path, style_path: Path, settings: dict[str, Any], device: str, work: Path,
             content_seconds: float, style_seconds: float, metrics_sr: int) -> dict[str, Any]:
    """Decode, analyse, transfer and invert one pair with ``settings``; score it. Returns a row (no names)."""
    from audiotex.audio import load_audio
    from audiotex.metrics import transfer_metrics
    from audiotex.steps import decode_file, invert_file, spectrogram_file, synthesize_file

    whole_file = {**settings, "offset": 0.0, "input_duration": None}
    for name, path, seconds in (("content", content_path, content_seconds), ("style", style_path, style_seconds)):
        decode_file(path, work / f"{name}.wav", {**settings, "offset": 0.0, "input_duration": seconds})
        spectrogram_file(work / f"{name}.wav", work / f"{name}.npy", whole_file)
    cpu, wall = time.process_time(), time.perf_counter()
    meta = synthesize_file(work / "style.npy", work / "content.npy", work / "out.npy", settings, device=device)
    synthesized = time.perf_counter()
    inversion = invert_file(work / "out.npy", work / "out.wav", settings, device=device)
    row: dict[str, Any] = {
        "cpu_s": time.process_time() - cpu, "synthesize_s": synthesized - wall,
        "invert_s": time.perf_counter() - synthesized, "iterations": meta["iterations"],
        "device": inversion["device"], "sr": settings["sr"],
    }
    signals = {name: load_audio(work / f"{name}.wav", metrics_sr) for name in ("out", "content", "style")}
    row["content_seconds"] = len(signals["content"]) / metrics_sr
    row["style_seconds"] = len(signals["style"]) / metrics_sr
    row.update(transfer_metrics(signals["out"], signals["content"], signals["style"], metrics_sr))
    return row


def write_results(path: Path, header: str, rows: list[dict[str, Any]]) -> None:
    from audiotex.records import write_table

    write_table(path, rows, COLUMNS, comment=f"audiotex transfer benchmark; {header}")


def plot(path: Path, rows: list[dict[str, Any]], names: list[str]) -> None:
    """Content kept (x) against moved toward the style (y): one point per pair and setting, a line per pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from audiotex.files import atomic_output

    fig, ax = plt.subplots(figsize=(7, 5.5))
    pairs = list(dict.fromkeys(r["pair"] for r in rows))
    for pair in pairs:  # grey lines join one pair's settings, so the reader sees which way each moved
        points = [r for n in names for r in rows if r["pair"] == pair and r["preset"] == n]
        ax.plot([r["content_kept"] for r in points], [r["style_moved"] for r in points], color="0.85", lw=0.8,
                zorder=1)
    markers = "osD^v<>ph*"
    for i, name in enumerate(names):
        points = [r for r in rows if r["preset"] == name]
        if not points:
            continue
        holes = [r for r in points if r["hole_db"] > 20.0]
        ax.scatter([r["content_kept"] for r in points], [r["style_moved"] for r in points], label=name,
                   marker=markers[i % len(markers)], zorder=2)
        if holes:
            ax.scatter([r["content_kept"] for r in holes], [r["style_moved"] for r in holes], s=160,
                       facecolors="none", edgecolors="r", zorder=3, label=f"{name}: hole > 20 dB")
        for r in points:
            ax.annotate(r["pair"], (r["content_kept"], r["style_moved"]), fontsize=6, alpha=0.6,
                        xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("content kept (1 = the content's time structure)")
    ax.set_ylabel("moved toward the style (1 = the style's statistics)")
    ax.set_title("style transfer: up and to the right is better")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def summarise(rows: list[dict[str, Any]], names: list[str]) -> str:
    """Per setting: medians; then, against ulyanov, on how many pairs each setting is at least as good."""
    lines = [f"{'setting':<18}{'pairs':>6}{'kept':>8}{'moved':>8}{'hole_db':>9}{'holes':>7}{'cpu_s':>8}"]
    by_name = {n: {r["pair"]: r for r in rows if r["preset"] == n} for n in names}
    for name, rs in by_name.items():
        if rs:
            med = {k: statistics.median(r[k] for r in rs.values()) for k in ("content_kept", "style_moved",
                                                                             "hole_db", "cpu_s")}
            lines.append(f"{name:<18}{len(rs):>6}{med['content_kept']:>8.3f}{med['style_moved']:>8.3f}"
                         f"{med['hole_db']:>9.1f}{sum(r['hole_db'] > 20 for r in rs.values()):>7}"
                         f"{med['cpu_s']:>8.1f}")
    base = by_name.get("ulyanov", {})
    for name, rs in by_name.items():
        common = sorted(set(rs) & set(base))
        if name == "ulyanov" or not common:
            continue
        both = [p for p in common if rs[p]["content_kept"] >= base[p]["content_kept"]
                and rs[p]["style_moved"] >= base[p]["style_moved"] and rs[p]["hole_db"] <= 20.0
                and rs[p]["cpu_s"] <= base[p]["cpu_s"]]
        lines.append(f"{name} keeps >= content AND moves >= toward the style than ulyanov, no hole, <= CPU: "
                     f"{len(both)}/{len(common)} pairs")
        for key in ("content_kept", "style_moved", "cpu_s"):
            ratios = [rs[p][key] / base[p][key] for p in common if base[p][key]]
            if ratios:
                lines.append(f"  median {key} ratio {name}/ulyanov: {statistics.median(ratios):.2f}")
    return "\n".join(lines)


def run_task(task: tuple[str, str, dict[str, Any], argparse.Namespace]) -> dict[str, Any] | str:
    """One (pair, setting) run in a temporary folder; the row, or an error message."""
    import torch

    from audiotex import params as P
    from audiotex.errors import AudiotexError

    pair, name, settings, args = task
    torch.set_num_threads(args.threads)
    content_file, style_file = {**PAIRS, **HELDOUT_PAIRS}[pair]
    with tempfile.TemporaryDirectory(prefix="audiotex-transfer-") as tmp:
        try:
            row = run_pair(DEMO / content_file, DEMO / style_file, settings, args.device, Path(tmp),
                           args.content_seconds, args.style_seconds, args.metrics_sr)
        except AudiotexError as err:
            return f"{pair} / {name}: {err}"
        keep_audio(Path(tmp), args.keep_audio, {"out.wav": f"{pair}.{name}.wav",
                                                 **{f"{part}.wav": f"{pair}.{part}.{name}.wav"
                                                    for part in ("content", "style")}})
    row.update(pair=pair, preset=name, content=content_file, style=style_file,
               settings=" ".join(f"{k}={settings[k]}" for k in P.keys_for(("synthesize", "invert"))))
    return row


def plot_spectrograms(path: Path, audio: Path, pair: str, names: list[str]) -> None:
    """The content, style and each setting's output of ``pair`` (files kept in ``audio`` by --keep-audio),
    one dB spectrogram per row, each signal at unit RMS over a common 80 dB range, so levels compare."""
    import librosa
    import librosa.display
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from audiotex.files import atomic_output

    panels = [(part, audio / f"{pair}.{part}.{names[0]}.wav") for part in ("content", "style")]
    panels += [(name, audio / f"{pair}.{name}.wav") for name in names]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.0 * len(panels)), squeeze=False)
    for ax, (title, wav) in zip(axes[:, 0], panels):
        y, sr = sf.read(wav, always_2d=True)
        y = y.mean(axis=1)
        db = librosa.amplitude_to_db(np.abs(librosa.stft(y / (np.sqrt(np.mean(y ** 2)) + 1e-12), n_fft=1024,
                                                         hop_length=256)), top_db=None)
        librosa.display.specshow(db, sr=sr, hop_length=256, x_axis="time", y_axis="hz", ax=ax,
                                 vmin=db.max() - 80.0, vmax=db.max())
        ax.set_title(f"{pair}: {title}", fontsize=9)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pairs = HELDOUT_PAIRS if args.heldout else PAIRS
    chosen = comma_list(args.pairs) or list(pairs)
    unknown = [p for p in chosen if p not in pairs]
    if unknown:
        sys.exit(f"error: unknown pair(s) {', '.join(unknown)}; known: {', '.join(pairs)}")
    drawn = comma_list(args.spectrograms)
    if drawn and args.keep_audio is None:
        sys.exit("error: --spectrograms needs --keep-audio (the outputs are drawn from the kept files)")
    if set(drawn) - set(chosen):
        sys.exit(f"error: --spectrograms names pair(s) not run: {', '.join(sorted(set(drawn) - set(chosen)))}")
    runs = settings_list(args, kind="transfer")
    names = [name for name, _ in runs]
    header = (machine_description(args.device) + f"; content_seconds={args.content_seconds:g}; style_seconds="
              f"{args.style_seconds:g}; metrics_sr={args.metrics_sr}; torch_threads={args.threads}; "
              f"jobs={args.jobs}; command=" + " ".join(sys.argv[1:]))
    args.out.parent.mkdir(parents=True, exist_ok=True)

    tasks = [(pair, name, settings, args) for pair in chosen for name, settings in runs]
    print(f"{len(chosen)} pairs x {len(runs)} settings -> {args.out}", flush=True)
    rows: list[dict[str, Any]] = []
    order = {(pair, name): i for i, (pair, name, _, _) in enumerate(tasks)}
    with task_results(run_task, tasks, args.jobs) as results:
        for row in results:
            if isinstance(row, str):
                print(f"error: {row}", file=sys.stderr)
                return 1
            rows.append(row)
            rows.sort(key=lambda r: order[r["pair"], r["preset"]])
            write_results(args.out, header, rows)
            plot(args.out.with_suffix(".png"), rows, names)
            print(f"{row['pair']:<18}{row['preset']:<16} kept={row['content_kept']:.3f} "
                  f"moved={row['style_moved']:.3f} hole={row['hole_db']:.1f}dB cpu={row['cpu_s']:.1f}s", flush=True)
    for pair in drawn:
        path = args.out.with_name(f"{args.out.stem}.{pair}.png")
        plot_spectrograms(path, args.keep_audio, pair, names)
        print(f"wrote {path}")
    print()
    print(summarise(rows, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
