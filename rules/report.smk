# Figures and the gallery page: one plot per row (spectrograms + loss curves), then one HTML page to listen
# to and compare every row. Both are marked for `snakemake --report report.html` (or report.zip).

report: "../report/workflow.rst"


rule plot:
    input:
        style=style_spectrogram,
        content=content_spectrogram,
        synthesized="results/synthesized/{id}.npy",
        sidecar="results/synthesized/{id}.json",
        loss="results/synthesized/{id}.loss.tsv",
    output:
        png=report(
            "results/plots/{id}.png",
            category="Spectrograms",
            caption="../report/plot.rst",
            labels={"row": "{id}", "figure": "spectrograms and loss"},
        ),
    log:
        "logs/plot/{id}.log",
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
