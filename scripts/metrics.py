"""Job of rule metrics: quality metrics of one shard's rows -> results/metrics/{id}.tsv and the shard's table."""
import sys

from audiotex.jobs import run_job
from audiotex.steps import collect_metrics, failed_rows, metrics_files, raise_for_failed_rows, vouch

smk = snakemake  # noqa: F821 - injected by Snakemake
rows = [dict(row) for row in smk.params.rows]


def work(log):
    # a row whose synthesis or inversion failed fails here too, and this job with it: the run ends in an error
    raise_for_failed_rows(metrics_files(rows, failed_rows(smk.input.inverted), log=log))
    n = collect_metrics([row['tsv'] for row in rows], smk.output.tsv)
    vouch(smk.output.tsv, smk.params.remake)
    return f"{n} rows -> {smk.output.tsv}"


sys.exit(run_job(smk.log[0], f"metrics of shard {smk.wildcards.shard}: {len(rows)} rows", work))
