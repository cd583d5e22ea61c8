"""Job of rule invert: one shard's synthesized spectrograms -> WAVs, each with a JSON record."""
import sys

from audiotex.jobs import run_job
from audiotex.steps import failed_rows, invert_files, write_shard_record

smk = snakemake  # noqa: F821 - injected by Snakemake
rows = [dict(row) for row in smk.params.rows]


def work(log):
    results = invert_files(rows, device=smk.params.device, failed_before=failed_rows(smk.input.synthesized), log=log)
    return write_shard_record(results, smk.output.record, stamp=smk.params.remake)


sys.exit(run_job(smk.log[0], f"invert shard {smk.wildcards.shard}: {len(rows)} rows on device {smk.params.device}",
                 work, threads=smk.threads))
