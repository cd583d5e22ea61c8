"""Job of rule invert: one synthesized spectrogram -> WAV, plus a JSON record of the inversion."""
import json
import sys
import traceback

import torch

from audiotex.errors import AudiotexError
from audiotex.files import atomic_output
from audiotex.steps import invert_file


def main(smk) -> int:
    torch.set_num_threads(max(1, int(smk.threads)))
    with open(smk.log[0], "w") as log:
        try:
            result = invert_file(smk.input.npy, smk.output.wav, smk.params.settings, device=smk.params.device)
        except AudiotexError as err:
            for stream in (log, sys.stderr):
                print(f"error: {err}", file=stream)
            return 1
        except Exception:
            traceback.print_exc(file=log)
            raise
        with atomic_output(smk.output.report) as tmp:
            tmp.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
        print(f"{smk.input.npy} -> {smk.output.wav}: {result}", file=log)
    return 0


sys.exit(main(snakemake))  # noqa: F821 - injected by Snakemake
