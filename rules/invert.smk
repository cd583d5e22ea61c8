# Griffin-Lim (+ optional waveform optimisation) back to audio for one shard's rows; each row's .json
# records how well the audio matches and the invert settings. With refine_target=statistics the waveform
# is optimised against the style (and content) spectrograms the sidecar names, so they are inputs too.
# That refinement is torch L-BFGS on the device (200 iterations with `default`), so a shard with a
# refining row asks for the GPU like synthesis does; Griffin-Lim alone does not (see inversion_gpu).
rule invert:
    input:
        synthesized=rules.synthesize.output.record,
        spectrograms=shard_spectrograms,
    output:
        record="results/shards/invert/{shard}.tsv",
    log:
        "logs/invert/{shard}.log",
    params:
        rows=inversion_rows,
        remake=remake_stamp("invert"),
        device=runtime_param("device"),
    threads: 2
    resources:
        gpu=inversion_gpu,
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/invert.py"
