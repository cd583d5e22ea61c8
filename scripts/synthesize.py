"""Job of rule synthesize: optimise one manifest row's spectrogram (texture or style transfer)."""
import sys

from audiotex.jobs import run_job, single_path
from audiotex.steps import synthesize_file

smk = snakemake  # noqa: F821 - injected by Snakemake
LOG_EVERY = 10  # iterations between progress lines
content = single_path(smk.input.content)


def work(log):
    def progress(iteration, losses):
        if iteration % LOG_EVERY == 0:
            terms = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
            print(f"iteration {iteration}: {terms}", file=log, flush=True)

    meta = synthesize_file(smk.input.style, content, smk.output.npy, smk.params.settings,
                           device=smk.params.device, checkpoint=smk.params.checkpoint,
                           checkpoint_every=smk.params.checkpoint_every, save_every=smk.params.save_every,
                           progress=progress)
    return (f"{meta['iterations']} iterations on {meta['device']} in {meta['wall_seconds']:.1f} s "
            f"(resumed from {meta['resumed_from']}); final losses {meta['final_losses']}")


sys.exit(run_job(smk.log[0], f"synthesize {smk.wildcards.id}: style {smk.input.style}, content {content}, "
                 f"settings {smk.params.settings}, device {smk.params.device}", work, threads=smk.threads))
