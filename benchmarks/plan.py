"""Time and peak memory of planning the workflow (`snakemake -n`) over large manifests.

    python benchmarks/plan.py [--rows 10000 100000] [--config shards=100 ...] [--out benchmarks/results/plan.tsv]

For each size, writes a manifest of real files from data/demo/ (every fourth row a style transfer with a
speech clip as content, the rest textures; ids row000000...), copies the workflow into a temporary folder
and runs ``snakemake -n --cores 2`` there once. Reports wall time, the child's peak resident memory and the
number of jobs planned, printed and appended to the TSV with the machine and date.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from audiotex.records import append_table

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
WORKFLOW_FILES = ("Snakefile", "config.yaml", "rules", "scripts", "schemas", "profiles", "envs", "report")


def write_manifest(path: Path, n_rows: int) -> None:
    """``n_rows`` rows over the demo recordings; a quarter of them are style transfers."""
    styles = sorted(str(p.relative_to(ROOT)) for p in DEMO.glob("*") if p.name.startswith(("env_", "mus_")))
    contents = sorted(str(p.relative_to(ROOT)) for p in DEMO.glob("sp_*"))
    with open(path, "w") as fh:
        fh.write("id\tstyle\tcontent\tseed\n")
        for i in range(n_rows):
            content = contents[i % len(contents)] if i % 4 == 3 else ""
            fh.write(f"row{i:06d}\t{styles[i % len(styles)]}\t{content}\t{i % 7}\n")


def copy_workflow(dst: Path) -> None:
    import shutil

    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dst / name)
    (dst / "data").symlink_to(ROOT / "data", target_is_directory=True)


def plan_once(n_rows: int, config: list[str]) -> dict[str, object]:
    """Plan ``n_rows`` rows in a fresh copy of the workflow; wall seconds, peak MiB and job count."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        copy_workflow(work)
        write_manifest(work / "manifest.tsv", n_rows)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--config",
                               "preset=fast", *config], cwd=work, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise SystemExit(f"snakemake -n failed at {n_rows} rows:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    # ru_maxrss of children is the largest child so far (KiB on Linux): only a new maximum is this run's.
    total = re.search(r"^total\s+(\d+)$", done.stdout, re.MULTILINE)
    return {"rows": n_rows, "config": " ".join(config), "seconds": round(seconds, 1),
            "peak_mib": round(peak / 1024) if peak > before else None,
            "jobs": int(total.group(1)) if total else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE", help="extra --config settings")
    ap.add_argument("--label", default="", help="a word for the TSV (e.g. before/after)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "plan.tsv"))
    args = ap.parse_args()
    columns = ["date", "machine", "label", "rows", "config", "jobs", "seconds", "peak_mib"]
    # ascending sizes, so that each run's peak is a new maximum of RUSAGE_CHILDREN
    for n in sorted(args.rows):
        result = plan_once(n, args.config)
        print(f"{n} rows ({result['config'] or 'defaults'}): {result['jobs']} jobs planned in "
              f"{result['seconds']} s, peak {result['peak_mib']} MiB", flush=True)
        values = [time.strftime("%Y-%m-%d"), f"{platform.machine()} {os.cpu_count()} cpus", args.label, n,
                  result["config"], result["jobs"], result["seconds"], result["peak_mib"]]
        append_table(args.out, [dict(zip(columns, values))], columns)


if __name__ == "__main__":
    main()
