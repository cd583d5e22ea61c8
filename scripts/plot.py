"""Job of rule plot: one row's spectrograms (style, content, output) and loss curves -> PNG."""
import sys
import traceback

from audiotex.errors import AudiotexError
from audiotex.report import plot_file


def main(smk) -> int:
    content = smk.input.content
    content = content[0] if isinstance(content, (list, tuple)) and content else (content or None)
    with open(smk.log[0], "w") as log:
        try:
            plot_file(smk.wildcards.id, smk.input.style, content, smk.input.synthesized, smk.input.loss,
                      smk.output.png)
        except AudiotexError as err:
            for stream in (log, sys.stderr):
                print(f"error: {err}", file=stream)
            return 1
        except Exception:
            traceback.print_exc(file=log)
            raise
        print(f"{smk.input.synthesized} -> {smk.output.png}", file=log)
    return 0


sys.exit(main(snakemake))  # noqa: F821 - injected by Snakemake
