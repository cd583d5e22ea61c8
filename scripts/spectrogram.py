"""Job of rule spectrogram: one decoded clip -> log1p|STFT| .npy + .json sidecar."""
import sys

from audiotex.jobs import run_job
from audiotex.steps import spectrogram_file

smk = snakemake  # noqa: F821 - injected by Snakemake
# The clip is already decoded, cut and resampled: read it whole, at its own rate.
settings = {**smk.params.settings, "offset": 0.0, "input_duration": None}


def work(log):
    spec = spectrogram_file(smk.input[0], smk.output.npy, settings)
    return f"{spec.shape[0]} bins x {spec.shape[1]} frames"


sys.exit(run_job(smk.log[0], f"spectrogram of {smk.input[0]} with {smk.params.settings}", work))
