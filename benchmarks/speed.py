"""Seconds per L-BFGS iteration of a preset on a real clip (default: ulyanov, 10 s of fire).

    python benchmarks/speed.py [--preset ulyanov] [--iterations 12] [--seconds 10] [--device auto]

Runs the synthesis loop for a few iterations and reports the median time per iteration from the loss
log (the first iteration, which includes one-off set-up, is left out).
"""
from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch

from audiotex import params as P
from audiotex import steps

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="ulyanov")
    ap.add_argument("--clip", default=str(ROOT / "data" / "demo" / "env_fire_furnace_minetest.ogg"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--iterations", type=int, default=12)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    overrides = dict(kv.split("=", 1) for kv in args.set)
    s = P.resolve({"preset": args.preset, "input_duration": args.seconds, "iterations": args.iterations,
                   **overrides})
    with tempfile.TemporaryDirectory() as tmp:
        spec = steps.spectrogram_file(args.clip, Path(tmp) / "style.npy", s)
        meta = steps.synthesize_file(Path(tmp) / "style.npy", None, Path(tmp) / "out.npy", s, device=args.device)
        log = steps.read_loss_log(Path(tmp) / "out.loss.tsv")
    per_iteration = np.diff([row["seconds"] for row in log])
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"device {meta['device']}")
    print(f"preset {args.preset}: {spec.shape[0]} bins x {spec.shape[1]} frames ({args.seconds:g} s), "
          f"layers {s['layers']}, optimizer {s['optimizer']}")
    print(f"seconds per iteration: median {np.median(per_iteration):.3f}, min {per_iteration.min():.3f}, "
          f"max {per_iteration.max():.3f} over {per_iteration.size} iterations")


if __name__ == "__main__":
    main()
