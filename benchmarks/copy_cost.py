"""What the copy term costs: CPU seconds of one evaluation of the synthesis objective, with its gradient,
with the preset's ``copy_weight`` and with it at 0, for styles and outputs of growing length.

The term compares every window of the output with the style at every shift, so its cost grows with the
product of the two lengths while the rest of the objective grows with the output's alone. A style of
``--seconds`` is the recording's spectrogram repeated to that length (with a little noise, so that no two
repeats are equal); the output is the same length. One process, one thread, the two settings in turn for
each length; the median of ``--repeats`` evaluations after one warm-up.

Example:
    python benchmarks/copy_cost.py --seconds 4,32,128 --out benchmarks/results/copy_cost.tsv
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import REPO, comma_list, machine_description  # noqa: E402

from audiotex import params as P  # noqa: E402
from audiotex.audio import load_audio  # noqa: E402
from audiotex.spectrogram import log_spectrogram  # noqa: E402
from audiotex.synthesis import Objective  # noqa: E402


def evaluation_seconds(objective: Objective, x: torch.Tensor, repeats: int) -> float:
    """Median CPU seconds of ``objective(x)`` and its backward pass, after one warm-up."""
    times = []
    for k in range(repeats + 1):
        x.grad = None
        started = time.process_time()
        total, _ = objective(x)
        total.backward()
        if k:
            times.append(time.process_time() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default=str(REPO / "data" / "demo" / "env_machinery_3dprinter_sonicpi.flac"))
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seconds", type=comma_list, default="4,16,32,64",
                        help="comma-separated lengths (s) of style and output")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "copy_cost.tsv")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = P.resolve({"preset": args.preset})
    if not settings["copy_weight"]:
        parser.error(f"preset {args.preset!r} has no copy term (copy_weight 0)")
    sr, n_fft, hop = settings["sr"], settings["n_fft"], settings["hop_length"]
    base = torch.from_numpy(log_spectrogram(load_audio(args.clip, sr=sr), n_fft, hop))
    generator = torch.Generator().manual_seed(0)
    rows = []
    for seconds in (float(s) for s in args.seconds):
        frames = int(round(seconds * sr / hop))
        style = base.repeat(1, -(-frames // base.shape[1]))[:, :frames]
        style = style + 0.01 * torch.rand(style.shape, generator=generator)
        x = style.flip(1).clone().requires_grad_(True)  # any spectrogram of the output's length
        timed = {}
        for weight in (settings["copy_weight"], 0.0):
            synth = P.stage_settings({**settings, "copy_weight": weight}, "synthesize")
            timed[weight] = evaluation_seconds(Objective(style, None, frames, synth, sr / hop), x, args.repeats)
        with_term, without = timed[settings["copy_weight"]], timed[0.0]
        rows.append((seconds, with_term, without, with_term / without))
        print(f"{seconds:6.0f} s  with {with_term:.3f} s  without {without:.3f} s  ratio {with_term / without:.2f}",
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        f.write(f"# audiotex copy-term cost; {machine_description('cpu')}; torch_threads=1; "
                f"command={' '.join(sys.argv[1:])}\n")
        f.write("seconds\tcpu_s_with\tcpu_s_without\tratio\n")
        for seconds, with_term, without, ratio in rows:
            f.write(f"{seconds:g}\t{with_term:.6f}\t{without:.6f}\t{ratio:.4f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
