"""Job of rule decode: one input file -> mono WAV at the configured rate (cut by offset/input_duration)."""
import sys

from audiotex.jobs import run_job
from audiotex.steps import decode_file

smk = snakemake  # noqa: F821 - injected by Snakemake
# A file that exists but cannot be decoded fails only the rows that read it.
sys.exit(run_job(smk.log[0], f"decode {smk.input[0]} with {smk.params.settings}",
                 lambda log: decode_file(smk.input[0], smk.output[0], smk.params.settings)))
