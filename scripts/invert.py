"""Job of rule invert: one shard's synthesized spectrograms -> WAVs, each with a JSON record."""
import sys

from audiotex.jobs import run_job
from audiotex.steps import invert_files, write_shard_record

smk = snakemake  # noqa: F821 - injected by Snakemake
rows = [dict(row) for row in smk.params.rows]
sys.exit(run_job(smk.log[0], f"invert shard {smk.wildcards.shard}: {len(rows)} rows on device {smk.params.device}",
                 lambda log: write_shard_record(invert_files(rows, device=smk.params.device, log=log),
                                                smk.output.record),
                 threads=smk.threads))
