"""Job of rule metrics: quality metrics of one manifest row -> results/metrics/{id}.tsv."""
import sys
import traceback

from audiotex.errors import AudiotexError
from audiotex.metrics import metrics_file


def single(paths):
    """One path from a Snakemake input entry; ``None`` for an empty one (a texture row's content)."""
    if isinstance(paths, str):
        return paths
    paths = list(paths)
    return paths[0] if paths else None


def main(smk) -> int:
    with open(smk.log[0], "w") as log:
        try:
            row = metrics_file(smk.wildcards.id, smk.input.audio, single(smk.input.style),
                               single(smk.input.content), smk.input.synthesized, smk.input.inversion,
                               smk.output.tsv, dict(smk.params.settings))
        except AudiotexError as err:
            for stream in (log, sys.stderr):
                print(f"error: {err}", file=stream)
            return 1
        except Exception:
            traceback.print_exc(file=log)
            raise
        print("\n".join(f"{key}\t{value}" for key, value in row.items()), file=log)
    return 0


sys.exit(main(snakemake))  # noqa: F821 - injected by Snakemake
