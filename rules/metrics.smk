# Quality metrics of every result (texture statistics, copy score, inversion fidelity, final losses):
# one TSV row per manifest row (results/metrics/{id}.tsv), one table per shard, then one table for the
# whole run (see audiotex.metrics for the measures, audiotex.steps.metrics_file for the files).
rule metrics:
    input:
        inverted=rules.invert.output.record,
        decoded=shard_decoded_audio,
    output:
        tsv="results/shards/metrics/{shard}.tsv",
    log:
        "logs/metrics/{shard}.log",
    params:
        rows=metrics_rows,
        remake=remake_stamp("metrics"),
    threads: 1
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/metrics.py"


rule collect_metrics:
    input:
        expand(rules.metrics.output.tsv, shard=SHARD_IDS),
    output:
        tsv="results/metrics.tsv",
    log:
        "logs/collect_metrics/all.log",
    threads: 1
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/collect_metrics.py"
