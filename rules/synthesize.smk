# Optimise the spectrograms of one shard's rows in one process (see `shards` in README: one row per shard
# by default). Only the rows' synthesize-stage keys are params (a change to one row reruns its shard, which
# redoes that row only); device and checkpointing are runtime keys and trigger nothing.
#
# The declared output is the shard's record; each row's results/synthesized/{id}.npy (+ .json, .loss.tsv)
# is written beside it, undeclared, so that a row that fails does not make Snakemake delete the rows of its
# shard that finished. The job fails (after the other rows) naming the bad rows; its rerun redoes only the
# rows that are not up to date, each resuming from its checkpoint results/checkpoints/{id}.pt. Since
# Snakemake does not see those files, `remake` (a stamp, see remake_stamp in common.smk) reruns the shard
# when one of them is deleted or rewritten by another `shards` layout's job; every shard rule has one.
rule synthesize:
    input:
        shard_spectrograms,
    output:
        record="results/shards/synthesize/{shard}.tsv",
    log:
        "logs/synthesize/{shard}.log",
    params:
        rows=synthesis_rows,
        remake=remake_stamp("synthesize"),
        device=runtime_param("device"),
        checkpoint_every=runtime_param("checkpoint_every"),
        save_every=runtime_param("save_every"),
    threads: 4
    resources:
        gpu=1,
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/synthesize.py"
