# Figures and the gallery page: one plot per row (spectrograms + loss curves; results/plots/{id}.png, written
# by one job per shard like synthesis), then one HTML page to listen to and compare every row. The page is
# marked for `snakemake --report report.html` (or report.zip); the per-row plots are not declared outputs
# (see rules/synthesize.smk), so the page is where they are seen.

report: "../report/workflow.rst"


rule plot:
    input:
        synthesized=rules.synthesize.output.record,
        spectrograms=shard_spectrograms,
    output:
        record="results/shards/plot/{shard}.tsv",
    log:
        "logs/plot/{shard}.log",
    params:
        rows=plot_rows,
        remake=remake_stamp("plot"),
    threads: 1
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/plot.py"


# index.html links the media relative to results/report/ (small at any number of rows: a table, and each
# row's card built when it is opened; open it from results/). The standalone copy embeds the media of the
# first audiotex.gallery.EMBED_MEDIA_ROWS rows, so it is the one in Snakemake's report and the one to copy
# or mail on its own.
rule gallery:
    input:
        media=gallery_inputs,
        metrics="results/metrics.tsv",
    output:
        html="results/report/index.html",
        standalone=report(
            "results/report/gallery-standalone.html",
            category="Gallery",
            caption="../report/gallery.rst",
            labels={"page": "all rows"},
        ),
    log:
        "logs/gallery/all.log",
    params:
        rows=gallery_rows(),
    threads: 1
    conda:
        "../envs/audiotex.yaml"
    script:
        "../scripts/gallery.py"
