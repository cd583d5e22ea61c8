"""Job of rule decode: one input file -> mono WAV at the configured rate (cut by offset/input_duration)."""
import sys
import traceback

from audiotex.errors import AudiotexError
from audiotex.steps import decode_file


def main(smk) -> int:
    with open(smk.log[0], "w") as log:
        try:
            decode_file(smk.input[0], smk.output[0], smk.params.settings)
        except AudiotexError as err:
            # A file that exists but cannot be decoded fails only the rows that read it.
            for stream in (log, sys.stderr):
                print(f"error: {err}", file=stream)
            return 1
        except Exception:
            traceback.print_exc(file=log)
            raise
        print(f"decoded {smk.input[0]} -> {smk.output[0]} with {smk.params.settings}", file=log)
    return 0


sys.exit(main(snakemake))  # noqa: F821 - injected by Snakemake
