"""Job of rule invert: one synthesized spectrogram -> WAV, plus a JSON record of the inversion."""
import json
import sys

from audiotex.files import atomic_output
from audiotex.jobs import run_job
from audiotex.steps import invert_file

smk = snakemake  # noqa: F821 - injected by Snakemake


def work(log):
    result = invert_file(smk.input.npy, smk.output.wav, smk.params.settings, device=smk.params.device)
    with atomic_output(smk.output.report) as tmp:
        tmp.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    return f"{smk.output.wav}: {result}"


sys.exit(run_job(smk.log[0], f"invert {smk.input.npy} with {smk.params.settings}", work, threads=smk.threads))
