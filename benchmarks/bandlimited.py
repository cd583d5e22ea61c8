"""Band-limited benchmark: does a setting put sound where the style has none?

A recording that is band-limited (nothing above a cutoff but a flat noise floor far below) should give a
texture with the same empty band. Each recording (``--clips``) is low-passed at ``--cutoff`` Hz and given a
white floor ``--floor-db`` below its level, and every preset or variant makes a texture of it with one
seed (decode, spectrogram, synthesize, invert: the library's own file steps). Above ``--above`` Hz the
output is measured against the band-limited style (both at unit RMS, :func:`out_of_band`):

* ``median_excess_db``: the output's median level there over the style's floor (about 0 = the floor);
* ``worst_line_db``: the worst bin's median level over its own in the style (a narrow horizontal line);
* ``blip_fraction`` / ``worst_frame_db``: the share of frames whose level there is more than 5 dB over the
  floor, and the worst frame (short vertical blips);
* ``seeded_correlation``: the largest correlation of this output's frame levels there with another
  recording's output made with the same setting and seed. Near 0 when the style decides what happens
  there; high when the seed does (the same blips at the same times in outputs of different recordings).

Results go to benchmarks/results/bandlimited.tsv (a header comment with the machine and the command).

Example (quick check of the harness):
    python benchmarks/bandlimited.py --presets fast --clips env_fire,env_water --out /tmp/bandlimited.tsv
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import (REPO, add_parallel_arguments, comma_list, find_clips, machine_description,  # noqa: E402
                     parse_variant, settings_list, task_results)

COLUMNS = ("clip", "preset", "seed", "cutoff_hz", "floor_db", "median_excess_db", "worst_line_db",
           "blip_fraction", "worst_frame_db", "seeded_correlation", "settings")

#: A frame whose level above the cutoff is this many dB over the style's floor there counts as a blip.
BLIP_DB = 5.0


def band_limited(y: np.ndarray, sr: int, cutoff_hz: float, floor_db: float, seed: int = 0) -> np.ndarray:
    """``y`` low-passed at ``cutoff_hz`` (zero-phase 16th-order Butterworth), at an RMS of 0.1, plus white
    noise ``floor_db`` below that RMS: nothing above the cutoff but a flat floor."""
    from scipy.signal import butter, sosfiltfilt

    low = sosfiltfilt(butter(16, cutoff_hz, fs=sr, output="sos"), np.asarray(y, dtype=np.float64))
    low *= 0.1 / (np.sqrt(np.mean(low ** 2)) + 1e-12)
    return low + np.random.default_rng(seed).standard_normal(len(low)) * 0.1 * 10 ** (-floor_db / 20)


def out_of_band_db(y: np.ndarray, sr: int, above_hz: float, n_fft: int = 512, hop_length: int = 128) -> np.ndarray:
    """Power in dB ``(bins, frames)`` of ``y`` at unit RMS, in the STFT bins above ``above_hz``. Frames are not
    centred: zero padding at the ends would be a step, broadband, in every signal alike."""
    import librosa

    y = np.asarray(y, dtype=np.float64)
    power = np.abs(librosa.stft(y / (np.sqrt(np.mean(y ** 2)) + 1e-12), n_fft=n_fft, hop_length=hop_length,
                                center=False)) ** 2
    return 10 * np.log10(power[librosa.fft_frequencies(sr=sr, n_fft=n_fft) > above_hz] + 1e-20)


def out_of_band(output: np.ndarray, style: np.ndarray, sr: int, above_hz: float) -> tuple[dict[str, float], np.ndarray]:
    """How much louder than ``style`` the ``output`` is above ``above_hz``: the row's measures (see the module
    docstring) and the output's level there per frame over the style's floor (dB), for
    ``seeded_correlation``."""
    out, ref = out_of_band_db(output, sr, above_hz), out_of_band_db(style, sr, above_hz)
    floor = float(np.median(ref))
    frames = out.mean(axis=0) - floor
    return {
        "median_excess_db": float(np.median(out)) - floor,
        "worst_line_db": float(np.max(np.median(out, axis=1) - np.median(ref, axis=1))),
        "blip_fraction": float(np.mean(frames > BLIP_DB)),
        "worst_frame_db": float(frames.max()),
    }, frames


def seeded_correlations(curves: dict[str, np.ndarray]) -> dict[str, float]:
    """For each key, the largest Pearson correlation of its curve with any other key's (over their common
    length); NaN when there is no other curve."""
    out = {}
    for name, curve in curves.items():
        best = float("nan")
        for other, second in curves.items():
            if other != name:
                n = min(len(curve), len(second))
                r = float(np.corrcoef(curve[:n], second[:n])[0, 1])
                best = r if np.isnan(best) else max(best, r)
        out[name] = best
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default="env_fire,env_machinery,env_water,env_vinyl",
                        help="comma-separated recordings (name prefixes in data/demo, or paths)")
    parser.add_argument("--presets", default="default", help="comma-separated presets to run (default: default)")
    parser.add_argument("--variant", action="append", default=[], type=parse_variant, metavar="NAME:K=V,...",
                        help="an extra setting, as in benchmarks/quality.py; repeatable")
    parser.add_argument("--iterations", type=int, default=None, help="override the optimiser iterations")
    parser.add_argument("--seed", type=int, default=0, help="the one seed every setting uses (default 0)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of each recording (default 4)")
    parser.add_argument("--cutoff", type=float, default=5500.0, help="low-pass cutoff in Hz (default 5500)")
    parser.add_argument("--floor-db", type=float, default=40.0,
                        help="white floor, dB below the band-limited signal's level (default 40)")
    parser.add_argument("--above", type=float, default=6000.0,
                        help="measure above this frequency in Hz (default 6000, clear of the filter's slope)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="torch device")
    add_parallel_arguments(parser, default_jobs=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bandlimited.tsv",
                        help="results TSV (default: benchmarks/results/bandlimited.tsv)")
    return parser.parse_args(argv)


def run_task(task: tuple[Path, str, dict[str, Any], argparse.Namespace]) -> tuple[dict[str, Any], np.ndarray] | str:
    """One (recording, setting) texture in a temporary folder: (row, frame curve), or an error message."""
    import json

    import torch

    from audiotex.audio import load_audio, write_audio
    from audiotex.errors import AudiotexError
    from audiotex.steps import invert_file, read_sidecar, spectrogram_file, synthesize_file

    clip, name, settings, args = task
    torch.set_num_threads(args.threads)
    sr = settings["sr"]
    with tempfile.TemporaryDirectory(prefix="audiotex-bandlimited-") as tmp:
        work = Path(tmp)
        try:
            style = band_limited(load_audio(clip, sr, duration=args.seconds), sr, args.cutoff, args.floor_db)
            write_audio(work / "style.wav", style, sr)
            spectrogram_file(work / "style.wav", work / "style.npy", {**settings, "input_duration": None})
            synthesize_file(work / "style.npy", None, work / "out.npy", settings, device=args.device)
            invert_file(work / "out.npy", work / "out.wav", settings, device=args.device)
        except AudiotexError as err:
            return f"{clip.name} / {name}: {err}"
        measures, frames = out_of_band(load_audio(work / "out.wav", sr), load_audio(work / "style.wav", sr), sr,
                                       args.above)
        used = read_sidecar(work / "out.npy").get("settings", {})
    row = {"clip": clip.stem, "preset": name, "seed": settings["seed"], "cutoff_hz": args.cutoff,
           "floor_db": args.floor_db, **measures, "settings": json.dumps(used, sort_keys=True)}
    return row, frames


def main(argv: list[str] | None = None) -> int:
    from audiotex.records import write_table

    args = parse_args(argv)
    clips = find_clips(args.clips, speech=False)
    runs = [(name, {**settings, "seed": args.seed}) for name, settings in settings_list(args)]
    header = (f"audiotex band-limited benchmark; {machine_description(args.device)}; torch_threads={args.threads}; "
              f"jobs={args.jobs}; command=" + " ".join(sys.argv[1:]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tasks = [(clip, name, settings, args) for name, settings in runs for clip in clips]
    print(f"{len(clips)} clips x {len(runs)} settings -> {args.out} ({args.jobs} at a time)", flush=True)
    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, np.ndarray]] = {name: {} for name, _ in runs}
    with task_results(run_task, tasks, args.jobs) as results:
        for result in results:
            if isinstance(result, str):
                print(f"error: {result}", file=sys.stderr)
                return 1
            row, frames = result
            rows.append(row)
            curves[row["preset"]][row["clip"]] = frames
            print(f"{row['clip']:<38}{row['preset']:<14} median {row['median_excess_db']:+.1f} dB, line "
                  f"{row['worst_line_db']:+.1f} dB, blips {row['blip_fraction']:.3f} (worst "
                  f"{row['worst_frame_db']:+.1f} dB)", flush=True)
    correlations = {name: seeded_correlations(by_clip) for name, by_clip in curves.items()}
    for row in rows:
        row["seeded_correlation"] = correlations[row["preset"]][row["clip"]]
    order = {(clip.stem, name): i for i, (clip, name, _, _) in enumerate(tasks)}
    rows.sort(key=lambda r: order[r["clip"], r["preset"]])
    write_table(args.out, rows, COLUMNS, comment=header)
    for name, _ in runs:
        mine = [r for r in rows if r["preset"] == name]
        print(f"{name}: worst line {max(r['worst_line_db'] for r in mine):+.1f} dB, blips "
              f"{max(r['blip_fraction'] for r in mine):.3f}, worst frame {max(r['worst_frame_db'] for r in mine):+.1f} "
              f"dB, seeded correlation up to {max(r['seeded_correlation'] for r in mine):+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
