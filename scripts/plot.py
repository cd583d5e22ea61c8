"""Job of rule plot: each row of one shard: spectrograms (style, content, output) and loss curves -> PNG."""
import sys

from audiotex.jobs import run_job
from audiotex.steps import failed_rows, plot_files, write_shard_record

smk = snakemake  # noqa: F821 - injected by Snakemake
rows = [dict(row) for row in smk.params.rows]
sys.exit(run_job(smk.log[0], f"plot shard {smk.wildcards.shard}: {len(rows)} rows",
                 lambda log: write_shard_record(plot_files(rows, failed_rows(smk.input.synthesized), log=log),
                                                smk.output.record, stamp=smk.params.remake)))
