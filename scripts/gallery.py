"""Job of rule gallery: every row's players, plot, run record, metrics and settings -> HTML pages."""
import sys

from audiotex.jobs import run_job
from audiotex.gallery import gallery_file

smk = snakemake  # noqa: F821 - injected by Snakemake
rows = [dict(row) for row in smk.params.rows]


def work(log):
    gallery_file(rows, smk.output.html, smk.input.metrics)
    gallery_file(rows, smk.output.standalone, smk.input.metrics, embed=True, title="audiotex gallery (standalone)")
    return f"{len(rows)} rows -> {smk.output.html}, {smk.output.standalone}"


sys.exit(run_job(smk.log[0], f"gallery of {len(rows)} rows", work))
