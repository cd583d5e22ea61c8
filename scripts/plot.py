"""Job of rule plot: one row's spectrograms (style, content, output) and loss curves -> PNG."""
import sys

from audiotex.jobs import run_job, single_path
from audiotex.plots import plot_file

smk = snakemake  # noqa: F821 - injected by Snakemake
sys.exit(run_job(smk.log[0], f"plot {smk.wildcards.id}",
                 lambda log: plot_file(smk.wildcards.id, smk.input.style, single_path(smk.input.content),
                                       smk.input.synthesized, smk.input.loss, smk.output.png)))
