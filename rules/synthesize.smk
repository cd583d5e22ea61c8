# Optimise one row's spectrogram. Only the synthesize-stage keys are params (a change to them reruns this
# rule and what follows); device and checkpointing are runtime keys and trigger nothing.
rule synthesize:
    input:
        style=style_spectrogram,
        content=content_spectrogram,
    output:
        npy="results/synthesized/{id}.npy",
        sidecar="results/synthesized/{id}.json",
        loss="results/synthesized/{id}.loss.tsv",
    log:
        "logs/synthesize/{id}.log",
    params:
        settings=stage_params("synthesize"),
        device=runtime_param("device"),
        checkpoint_every=runtime_param("checkpoint_every"),
        save_every=runtime_param("save_every"),
        # Not an output: it must survive a killed or failed job so the next attempt resumes from it.
        checkpoint="results/checkpoints/{id}.pt",
    threads: 4
    resources:
        gpu=1,
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/synthesize.py"
