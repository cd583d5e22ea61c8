# Decode each distinct input clip once per decode settings (sr, offset, input_duration).
rule decode:
    input:
        clip_source,
    output:
        "results/decoded/{clip}.wav",
    log:
        "logs/decode/{clip}.log",
    params:
        settings=clip_settings,
    threads: 1
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/decode.py"
