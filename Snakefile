# audiotex: neural audio textures and style transfer in bulk, one manifest row per output.
#
#   snakemake --cores all --resources gpu=1                  # everything in config.yaml's manifest
#   snakemake --cores 2 --resources gpu=1 --config preset=fast   # quick CPU run
#
# Pipeline per row: decode -> spectrogram -> synthesize -> invert (-> metrics, plot, gallery).
# Decoded clips and spectrograms are shared by every row that reads the same file with the same settings.
# Synthesize, invert, metrics and plot run one job per shard of rows (`shards: N`; 0, the default: one job
# per row); each writes its rows' files and a shard record under results/shards/.


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/decode.smk"
include: "rules/spectrogram.smk"
include: "rules/synthesize.smk"
include: "rules/invert.smk"
include: "rules/metrics.smk"
include: "rules/report.smk"


# Every shard's records, not only the run's table and page: a failed job leaves none, and Snakemake does not
# rerun a job for an input that is missing while its output, from an earlier run, is there. Named here,
# a failed shard job runs again on every run, and the run fails again naming the row, until it is fixed.
rule all:
    input:
        expand(rules.synthesize.output.record, shard=SHARD_IDS),
        expand(rules.invert.output.record, shard=SHARD_IDS),  # every row's results/audio/{id}.wav
        expand(rules.metrics.output.tsv, shard=SHARD_IDS),
        expand(rules.plot.output.record, shard=SHARD_IDS),
        "results/metrics.tsv",
        "results/report/index.html",
    default_target: True
