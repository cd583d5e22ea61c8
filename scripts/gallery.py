"""Job of rule gallery: every row's players, plot, run record, metrics and settings -> HTML pages."""
import sys
import traceback

from audiotex.errors import AudiotexError
from audiotex.report import gallery_file


def main(smk) -> int:
    rows = [dict(row) for row in smk.params.rows]
    with open(smk.log[0], "w") as log:
        try:
            gallery_file(rows, smk.output.html, smk.input.metrics)
            gallery_file(rows, smk.output.standalone, smk.input.metrics, embed=True,
                         title="audiotex gallery (standalone)")
        except AudiotexError as err:
            for stream in (log, sys.stderr):
                print(f"error: {err}", file=stream)
            return 1
        except Exception:
            traceback.print_exc(file=log)
            raise
        print(f"{len(rows)} rows -> {smk.output.html}, {smk.output.standalone}", file=log)
    return 0


sys.exit(main(snakemake))  # noqa: F821 - injected by Snakemake
