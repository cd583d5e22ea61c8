"""Job of rule metrics: quality metrics of one manifest row -> results/metrics/{id}.tsv."""
import sys

from audiotex.jobs import run_job, single_path
from audiotex.metrics import metrics_file

smk = snakemake  # noqa: F821 - injected by Snakemake


def work(log):
    row = metrics_file(smk.wildcards.id, smk.input.audio, single_path(smk.input.style),
                       single_path(smk.input.content), smk.input.synthesized, smk.input.inversion,
                       smk.output.tsv, dict(smk.params.settings))
    return "\n".join(f"{key}\t{value}" for key, value in row.items())


sys.exit(run_job(smk.log[0], f"metrics of {smk.wildcards.id}", work))
