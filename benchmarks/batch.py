"""Batched synthesis against one row at a time, and our L-BFGS against torch's, side by side in one run.

    python benchmarks/batch.py [--rows 8] [--seconds 3] [--iterations 40] [--repeats 1] \
        [--compare-seconds 5] [--compare-iterations 30] [--compare-clips 1] [--device auto] \
        [--part batch|lbfgs|both]

1. ``batch``: ``--rows`` texture rows (the demo clips, ``--seconds`` each, ``fast`` preset, ``--iterations``)
   optimised as one :func:`synthesize_batch` call against one call per row; wall time and rows per
   minute, and how far each row's batched result is from its single-row one.
2. ``lbfgs``: one row at a time, ``default`` preset's layers, ``--compare-clips`` clips of
   ``--compare-seconds``: the loop before batching (torch.optim.LBFGS, one ``step`` per iteration, the
   accepted point's evaluation remembered) against ``lbfgs_step``, same objective, same start: final loss
   and median seconds per iteration. Both follow the same path to float rounding, which the
   optimisation amplifies over tens of iterations: compare medians over clips, not one clip.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audiotex import params as P
from audiotex import steps
from audiotex.lbfgs import LBFGSState, lbfgs_step
from audiotex.spectrogram import frames_for, load_spectrogram
from audiotex.synthesis import (SynthesisProblem, build_objective, initial_spectrogram, make_optimizer,
                                resolve_device, synthesize_batch)

ROOT = Path(__file__).resolve().parents[1]
CLIPS = sorted((ROOT / "data" / "demo").glob("[em][nu][vs]_*")) + sorted((ROOT / "data" / "demo").glob("sp_*"))


def styles(settings: dict, count: int, folder: Path) -> tuple[list[np.ndarray], dict]:
    """Spectrograms of the first ``count`` demo clips (cycling) and the sidecar of the first."""
    specs, meta = [], {}
    for k in range(count):
        clip = CLIPS[k % len(CLIPS)]
        dst = folder / f"{k}.npy"
        steps.spectrogram_file(clip, dst, settings)
        spec, meta_k = load_spectrogram(dst)
        specs.append(spec)
        meta = meta or meta_k
    return specs, meta


def bench_batch(args: argparse.Namespace, device: torch.device, folder: Path) -> None:
    s = P.resolve({"preset": "fast", "input_duration": args.seconds, "iterations": args.iterations,
                   "duration": args.seconds})
    specs, meta = styles(s, args.rows, folder)
    fps = meta["sr"] / meta["hop_length"]
    n_frames = frames_for(s["duration"], meta["sr"], meta["hop_length"])
    synth = P.stage_settings(s, "synthesize")
    problems = [SynthesisProblem(spec, None, n_frames, synth) for spec in specs]

    # warm-up (first-call costs of torch's kernels), untimed
    synthesize_batch([SynthesisProblem(specs[0], None, n_frames, {**synth, "iterations": 2})] * 2, device=device,
                     lag_frames_per_second=fps)
    batched_times, single_times = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        batched = synthesize_batch(problems, device=device, lag_frames_per_second=fps)
        batched_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        single = [synthesize_batch([p], device=device, lag_frames_per_second=fps)[0] for p in problems]
        single_times.append(time.perf_counter() - started)
    batched_s, single_s = statistics.median(batched_times), statistics.median(single_times)

    differences = [float(np.abs(b.spectrogram - a.spectrogram).max()) for b, a in zip(batched, single)]
    loss_ratio = [b.losses[-1]["loss"] / a.losses[-1]["loss"] for b, a in zip(batched, single)]
    print(f"\n[batch] {args.rows} rows, {specs[0].shape[0]} bins x {n_frames} frames ({args.seconds:g} s), "
          f"preset fast (layers {s['layers']}), {args.iterations} iterations")
    print(f"  median of {args.repeats} run(s) each, the two modes alternating")
    print(f"  one batch      : {batched_s:7.1f} s  {60 * args.rows / batched_s:6.1f} rows/min")
    print(f"  row after row  : {single_s:7.1f} s  {60 * args.rows / single_s:6.1f} rows/min")
    print(f"  speed-up (row after row / batch): {single_s / batched_s:.2f}x")
    print(f"  max |batched - single| per row: median {statistics.median(differences):.2g}, max {max(differences):.2g}; "
          f"final loss batched/single: median {statistics.median(loss_ratio):.4f}")


def torch_lbfgs_loop(objective, x0: torch.Tensor, settings: dict, iterations: int) -> tuple[list[float], list[float]]:
    """The loop before batching: torch's LBFGS one step per iteration, the accepted point's evaluation
    remembered (its next step() starts by evaluating it again). Returns (loss per iteration, seconds)."""
    x = x0.clone().requires_grad_(True)
    optimizer = make_optimizer(x, settings)
    memo: dict = {}

    def closure() -> torch.Tensor:
        if memo and torch.equal(memo["x"], x.detach()):
            x.grad = memo["grad"].clone()
            return memo["loss"]
        optimizer.zero_grad(set_to_none=True)
        total, _ = objective(x)
        total.backward()
        memo.update(x=x.detach().clone(), grad=x.grad.detach().clone(), loss=total.detach())
        return total

    losses, seconds = [], []
    for _ in range(iterations):
        started = time.perf_counter()
        optimizer.step(closure)
        seconds.append(time.perf_counter() - started)
        losses.append(float(objective(x.detach())[0]))  # not timed
    return losses, seconds


def our_lbfgs_loop(objective, x0: torch.Tensor, iterations: int) -> tuple[list[float], list[float]]:
    x, state = x0.clone()[None], LBFGSState.empty(1, x0.numel(), device=x0.device, dtype=x0.dtype)

    def closure(rows, points):
        with torch.enable_grad():
            points = points.detach().requires_grad_(True)
            total, terms = objective(points, rows)
            grad, = torch.autograd.grad(total.sum(), points)
        return total.detach(), grad, terms.detach()

    losses, seconds = [], []
    for _ in range(iterations):
        started = time.perf_counter()
        x, _ = lbfgs_step(closure, x, state)
        seconds.append(time.perf_counter() - started)
        losses.append(float(objective(x[0])[0]))  # not timed (the state has it; the same call as torch's side)
    return losses, seconds


def bench_lbfgs(args: argparse.Namespace, device: torch.device, folder: Path) -> None:
    s = P.resolve({"preset": "default", "input_duration": args.compare_seconds,
                   "iterations": args.compare_iterations})
    specs, meta = styles(s, args.compare_clips, folder)
    synth = P.stage_settings(s, "synthesize")
    fps = meta["sr"] / meta["hop_length"]
    print(f"\n[lbfgs] 1 row at a time, {args.compare_seconds:g} s clips, layers {s['layers']}, "
          f"{args.compare_iterations} iterations; torch LBFGS vs lbfgs_step, same objective and start")
    loss_ratios, time_ratios = [], []
    for k, spec in enumerate(specs):
        objective = build_objective(spec, None, spec.shape[1], synth, device, fps)
        x0 = torch.from_numpy(initial_spectrogram(spec, spec.shape[1], s["init"], s["init_scale"],
                                                  s["seed"])).to(device)
        theirs = torch_lbfgs_loop(objective, x0, synth, args.compare_iterations)
        ours = our_lbfgs_loop(objective, x0, args.compare_iterations)
        print(f"  {CLIPS[k % len(CLIPS)].name} ({spec.shape[0]} bins x {spec.shape[1]} frames)")
        for name, (losses, seconds) in (("torch LBFGS", theirs), ("lbfgs_step ", ours)):
            print(f"    {name}: final loss {losses[-1]:.6g}, loss at 10 {losses[min(9, len(losses) - 1)]:.6g}, "
                  f"median {np.median(seconds):.3f} s/iteration (total {sum(seconds):.1f} s)")
        loss_ratios.append(ours[0][-1] / theirs[0][-1])
        time_ratios.append(float(np.median(ours[1]) / np.median(theirs[1])))
    print(f"  final loss ours/torch: median {statistics.median(loss_ratios):.4f} "
          f"({', '.join(f'{r:.4f}' for r in loss_ratios)}); median time per iteration ours/torch: "
          f"median {statistics.median(time_ratios):.2f} ({', '.join(f'{r:.2f}' for r in time_ratios)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--compare-seconds", type=float, default=5.0)
    ap.add_argument("--compare-iterations", type=int, default=30)
    ap.add_argument("--compare-clips", type=int, default=1, help="demo clips in the L-BFGS comparison")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each mode in the batch part (median)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--part", choices=("batch", "lbfgs", "both"), default="both")
    args = ap.parse_args()
    device = resolve_device(args.device)
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"device {device}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("batch", "both"):
            bench_batch(args, device, Path(tmp))
        if args.part in ("lbfgs", "both"):
            bench_lbfgs(args, device, Path(tmp))


if __name__ == "__main__":
    main()
