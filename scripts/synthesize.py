"""Job of rule synthesize: optimise one manifest row's spectrogram (texture or style transfer)."""
import sys
import traceback

import torch

from audiotex.errors import AudiotexError
from audiotex.steps import synthesize_file

#: Log a progress line every this many iterations.
LOG_EVERY = 10


def main(smk) -> int:
    torch.set_num_threads(max(1, int(smk.threads)))
    content = smk.input.content if smk.input.content else None
    with open(smk.log[0], "w") as log:
        def progress(iteration, losses):
            if iteration % LOG_EVERY == 0:
                terms = " ".join(f"{k}={v:.4g}" for k, v in losses.items() if isinstance(v, (int, float)))
                print(f"iteration {iteration}: {terms}", file=log, flush=True)

        print(f"style {smk.input.style}, content {content}, settings {smk.params.settings}, "
              f"device {smk.params.device}, threads {smk.threads}", file=log, flush=True)
        try:
            meta = synthesize_file(smk.input.style, content, smk.output.npy, smk.params.settings,
                                   device=smk.params.device, checkpoint=smk.params.checkpoint,
                                   checkpoint_every=smk.params.checkpoint_every,
                                   save_every=smk.params.save_every, progress=progress)
        except AudiotexError as err:
            for stream in (log, sys.stderr):
                print(f"error: {err}", file=stream)
            return 1
        except Exception:
            traceback.print_exc(file=log)
            raise
        print(f"done: {meta['iterations']} iterations on {meta['device']} in {meta['wall_seconds']:.1f} s "
              f"(resumed from {meta['resumed_from']}); final losses {meta['final_losses']}", file=log)
    return 0


sys.exit(main(snakemake))  # noqa: F821 - injected by Snakemake
