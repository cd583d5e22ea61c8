"""Job of rule collect_metrics: every row's metrics -> results/metrics.tsv."""
import sys

from audiotex.jobs import run_job
from audiotex.steps import collect_metrics

smk = snakemake  # noqa: F821 - injected by Snakemake
sys.exit(run_job(smk.log[0], f"collect {len(smk.input)} metrics rows",
                 lambda log: f"{collect_metrics(list(smk.input), smk.output.tsv)} rows -> {smk.output.tsv}"))
