# Griffin-Lim (+ optional refinement) back to audio; the .json records how well the audio matches.
rule invert:
    input:
        npy="results/synthesized/{id}.npy",
        sidecar="results/synthesized/{id}.json",
    output:
        wav="results/audio/{id}.wav",
        report="results/audio/{id}.json",
    log:
        "logs/invert/{id}.log",
    params:
        settings=stage_params("invert"),
        device=runtime_param("device"),
    threads: 2
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/invert.py"
