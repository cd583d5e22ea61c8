"""Spectral convergence of audiotex's Griffin-Lim beside librosa.griffinlim, same clips, same iterations.

    python benchmarks/inversion.py [--iterations 32 100 500] [--seeds 3] [--out benchmarks/results/inversion.tsv]

For each real clip in data/demo, the magnitude of its STFT (n_fft 2048, hop 512, 22050 Hz, first 10 s) is
inverted by both implementations, plain (momentum 0) and fast (momentum 0.99), from the same number of
seeds; the table holds the median spectral convergence ||S - |STFT(y)|||_F / ||S||_F and wall time of each.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import torch

from audiotex.audio import load_audio
from audiotex.inversion import griffin_lim
from audiotex.metrics import spectral_convergence

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, nargs="+", default=[32, 100, 500])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--clips", nargs="+", default=sorted(str(p) for p in (ROOT / "data" / "demo").glob("*.*")
                                                         if p.suffix in (".wav", ".flac", ".ogg")))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "inversion.tsv"))
    args = ap.parse_args()
    n_fft, hop, sr = 2048, 512, 22050
    rows = []
    for clip in args.clips:
        y = load_audio(clip, sr=sr, duration=10.0)
        mag = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))
        for n_iter in args.iterations:
            for momentum in (0.0, 0.99):
                for impl in ("audiotex", "librosa"):
                    scores, times = [], []
                    for seed in range(args.seeds):
                        t = time.perf_counter()
                        if impl == "audiotex":
                            out = griffin_lim(mag, n_fft, hop, n_iter, momentum=momentum, seed=seed, device=args.device)
                        else:
                            out = librosa.griffinlim(mag, n_iter=n_iter, hop_length=hop, n_fft=n_fft,
                                                     momentum=momentum, random_state=seed)
                        times.append(time.perf_counter() - t)
                        scores.append(spectral_convergence(mag, out, n_fft, hop))
                    rows.append({"clip": Path(clip).name, "n_iter": n_iter, "momentum": momentum, "impl": impl,
                                 "spectral_convergence": float(np.median(scores)), "seconds": float(np.median(times))})
                    print("\t".join(str(v) for v in rows[-1].values()), flush=True)
    df = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(f"# {platform.platform()} | {platform.processor() or platform.machine()} | torch {torch.__version__}"
                 f" | device {args.device} | {time.strftime('%Y-%m-%d')}\n")
        df.to_csv(fh, sep="\t", index=False, float_format="%.4f")
    summary = df.pivot_table(index=["n_iter", "momentum"], columns="impl", values=["spectral_convergence", "seconds"],
                             aggfunc="median")
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
