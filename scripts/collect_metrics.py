"""Job of rule collect_metrics: every row's metrics -> results/metrics.tsv."""
import sys
import traceback

from audiotex.errors import AudiotexError
from audiotex.metrics import collect_metrics


def main(smk) -> int:
    with open(smk.log[0], "w") as log:
        try:
            count = collect_metrics(list(smk.input), smk.output.tsv)
        except AudiotexError as err:
            for stream in (log, sys.stderr):
                print(f"error: {err}", file=stream)
            return 1
        except Exception:
            traceback.print_exc(file=log)
            raise
        print(f"{count} rows -> {smk.output.tsv}", file=log)
    return 0


sys.exit(main(snakemake))  # noqa: F821 - injected by Snakemake
