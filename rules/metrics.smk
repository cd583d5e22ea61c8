# Quality metrics of every result (texture statistics, copy score, inversion fidelity, final losses):
# one TSV row per manifest row, then one table for the whole run (see audiotex.metrics).
rule metrics:
    input:
        audio="results/audio/{id}.wav",
        inversion="results/audio/{id}.json",
        style=style_audio,
        content=content_audio,
        synthesized="results/synthesized/{id}.npy",
        synthesized_sidecar="results/synthesized/{id}.json",
    output:
        tsv="results/metrics/{id}.tsv",
    log:
        "logs/metrics/{id}.log",
    params:
        settings=stage_params("metrics"),
    threads: 1
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/metrics.py"


rule collect_metrics:
    input:
        expand("results/metrics/{id}.tsv", id=ROW_IDS),
    output:
        tsv="results/metrics.tsv",
    log:
        "logs/collect_metrics/all.log",
    threads: 1
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/collect_metrics.py"
