"""Rows per minute through the workflow against one in-process loop over audiotex.steps, side by side.

    python benchmarks/bulk.py [--rows 48] [--shards 0 4] [--default-rows 1] [--out benchmarks/results/bulk.tsv]

A manifest of short texture rows (3 s of each recording in data/demo/, seed = row number) is rendered to
audio (decode -> spectrogram -> synthesize -> invert; no metrics, plots or gallery) with
``preset=fast iterations=10 n_iter=16 device=cpu``:

- through the workflow, ``snakemake --cores 2 --resources gpu=1``, once per ``--shards`` value
  (0: one job per row), targets the rows' audio only;
- through one Python process that runs the same steps in the loop a user would write: row after row,
  ``steps.synthesize_file`` then ``steps.invert_file`` (each clip decoded and analysed once; no batching).

Each runs in its own fresh folder, one after the other in this run. Then ``--default-rows`` rows of 10 s
``default`` textures go through the in-process loop, or with ``--default-shards N`` through the workflow
(on ``--device``). Wall times include start-up
(interpreter, torch import). Results are printed and appended to the TSV with the machine and date.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan import copy_workflow  # noqa: E402 - a sibling script, not a package

from audiotex.records import append_table  # noqa: E402
IN_PROCESS = "in-process, row by row"  # the TSV's name for the loop below
SHORT = ["preset=fast", "iterations=10", "n_iter=16", "device=cpu", "input_duration=3", "checkpoint_every=0"]


def write_manifest(path: Path, n_rows: int) -> list[str]:
    """``n_rows`` texture rows over the demo recordings (seed = row number); returns the ids."""
    styles = sorted(str(p.relative_to(ROOT)) for p in DEMO.glob("*") if p.name.startswith(("env_", "mus_")))
    ids = [f"b{i:03d}" for i in range(n_rows)]
    with open(path, "w") as fh:
        fh.write("id\tstyle\tseed\n")
        for i, row_id in enumerate(ids):
            fh.write(f"{row_id}\t{styles[i % len(styles)]}\t{i}\n")
    return ids


def _workdir(tmp: Path, n_rows: int) -> tuple[Path, list[str]]:
    work = tmp / "workflow"
    work.mkdir()
    copy_workflow(work)
    return work, write_manifest(work / "manifest.tsv", n_rows)


def through_workflow(n_rows: int, shards: int, settings: tuple[str, ...] = tuple(SHORT)) -> float:
    """Wall seconds of ``snakemake --cores 2 --resources gpu=1`` rendering every row's audio with ``settings``
    (KEY=VALUE, the short rows' unless given)."""
    from audiotex.manifest import shard_rows

    with tempfile.TemporaryDirectory() as tmp:
        work, ids = _workdir(Path(tmp), n_rows)
        targets = [f"results/shards/invert/{name}.tsv" for name in shard_rows(ids, shards)]
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--resources", "gpu=1",
                               "--config", *settings, f"shards={shards}", "--", *targets],
                              cwd=work, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"workflow run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        missing = [i for i in ids if not (work / "results" / "audio" / f"{i}.wav").exists()]
        if missing:
            raise SystemExit(f"workflow run wrote no audio for {missing}")
    return seconds


def in_process(n_rows: int, settings: list[str], device: str) -> float:
    """Wall seconds of one fresh Python process looping over audiotex.steps for every row."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_manifest(work / "manifest.tsv", n_rows)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--loop", str(work / "manifest.tsv"), "--device", device,
                               "--set", *settings], cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"in-process run failed:\n{done.stderr[-3000:]}")
    return seconds


def loop(manifest: Path, settings: list[str], device: str) -> None:
    """The in-process path: every row of ``manifest`` rendered by audiotex.steps in this process."""
    from audiotex import params as P
    from audiotex import steps

    s = P.resolve(P.validate(dict(kv.split("=", 1) for kv in settings if not kv.startswith("device="))))
    out = manifest.parent
    analysed: dict[str, Path] = {}
    for line in manifest.read_text().splitlines()[1:]:
        row_id, style, seed = line.split("\t")
        if style not in analysed:
            decoded = out / f"{Path(style).stem}.wav"
            steps.decode_file(ROOT / style, decoded, s)
            analysed[style] = out / f"{Path(style).stem}.npy"
            steps.spectrogram_file(decoded, analysed[style], {**s, "offset": 0.0, "input_duration": None})
        row = {**s, "seed": int(seed)}
        steps.synthesize_file(analysed[style], None, out / f"{row_id}.npy", row, device=device)
        steps.invert_file(out / f"{row_id}.npy", out / f"{row_id}.wav", row, device=device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=48, help="short rows (0: skip them)")
    ap.add_argument("--shards", type=int, nargs="*", default=[0, 4])
    ap.add_argument("--default-rows", type=int, default=1, help="10 s default-preset rows (0: skip)")
    ap.add_argument("--device", default="cpu", help="device of the default-preset rows")
    ap.add_argument("--default-shards", type=int, default=None,
                    help="run the default-preset rows through the workflow with this many shards (1: one shard, "
                         "its rows synthesized as one batch) instead of the in-process loop")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bulk.tsv"))
    ap.add_argument("--loop", type=Path, help=argparse.SUPPRESS)  # internal: run the in-process loop
    ap.add_argument("--set", nargs="*", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.loop:
        loop(args.loop, args.set, args.device)
        return

    results = []
    base = None
    if args.rows:
        base = in_process(args.rows, SHORT, "cpu")
        results.append(("short fast", IN_PROCESS, "", args.rows, base))
        for shards in args.shards:
            results.append(("short fast", "workflow", shards, args.rows, through_workflow(args.rows, shards)))
            print(f"workflow, shards={shards}: {results[-1][-1]:.1f} s (in-process {base:.1f} s)", flush=True)
    if args.default_rows:
        default = ["preset=default", "input_duration=10", "duration=10", "checkpoint_every=0"]
        if args.default_shards is None:
            results.append(("10 s default", IN_PROCESS, "", args.default_rows,
                            in_process(args.default_rows, default, args.device)))
        else:
            results.append(("10 s default", "workflow", args.default_shards, args.default_rows,
                            through_workflow(args.default_rows, args.default_shards,
                                             (*default, f"device={args.device}"))))

    columns = ["date", "machine", "rows_kind", "path", "shards", "rows", "seconds", "rows_per_minute",
               "ratio_to_in_process"]
    for kind, path, shards, rows, seconds in results:
        ratio = f"{seconds / base:.2f}" if base and kind == "short fast" else ""
        per_minute = 60 * rows / seconds
        print(f"{kind:12s} {path:22s} shards={shards!s:3s} {rows} rows in {seconds:7.1f} s: "
              f"{per_minute:6.1f} rows/min" + (f", {ratio}x the in-process time" if ratio else ""), flush=True)
        values = [time.strftime("%Y-%m-%d"), f"{platform.machine()} {os.cpu_count()} cpus", kind, path, shards,
                  rows, round(seconds, 1), round(per_minute, 2), ratio]
        append_table(args.out, [dict(zip(columns, values))], columns)


if __name__ == "__main__":
    main()
