"""Job of rule spectrogram: one decoded clip -> log1p|STFT| .npy + .json sidecar."""
import sys
import traceback

from audiotex.errors import AudiotexError
from audiotex.steps import spectrogram_file


def main(smk) -> int:
    # The clip is already decoded, cut and resampled: read it whole, at its own rate.
    settings = {**smk.params.settings, "offset": 0.0, "input_duration": None}
    with open(smk.log[0], "w") as log:
        try:
            spec = spectrogram_file(smk.input[0], smk.output.npy, settings)
        except AudiotexError as err:
            for stream in (log, sys.stderr):
                print(f"error: {err}", file=stream)
            return 1
        except Exception:
            traceback.print_exc(file=log)
            raise
        print(f"{smk.input[0]} -> {smk.output.npy}: {spec.shape[0]} bins x {spec.shape[1]} frames", file=log)
    return 0


sys.exit(main(snakemake))  # noqa: F821 - injected by Snakemake
