# Figures and the gallery page: one plot per row (spectrograms + loss curves), then one HTML page to listen
# to and compare every row. Both are marked for `snakemake --report report.html` (or report.zip).

import types

from audiotex import params as _report_params

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


def gallery_rows():
    """One dict per manifest row for audiotex.report.gallery_file (paths relative to the workdir).

    The settings shown are the row's full resolved set minus the runtime keys, which never change a
    result (and so must not make the page rerun).
    """
    rows = []
    for row_id in ROW_IDS:
        wildcards = types.SimpleNamespace(id=row_id)
        settings = {key: value for key, value in row_settings(row_id).items()
                    if "runtime" not in _report_params.PARAMS[key].stages}
        rows.append({
            "id": row_id,
            "style_audio": style_audio(wildcards),
            "content_audio": content_audio(wildcards) or None,
            "output_audio": f"results/audio/{row_id}.wav",
            "plot_png": f"results/plots/{row_id}.png",
            "synth_json": f"results/synthesized/{row_id}.json",
            "invert_json": f"results/audio/{row_id}.json",
            "overrides": row_overrides(row_id),
            "settings": settings,
        })
    return rows


def gallery_inputs(wildcards):
    """Every file the page shows or reads, so it is rebuilt when any of them changes."""
    keys = ("style_audio", "content_audio", "output_audio", "plot_png", "synth_json", "invert_json")
    return [row[key] for row in gallery_rows() for key in keys if row[key]]


# index.html links the media relative to results/report/ (small; open it from results/). The standalone
# copy embeds them, so it is the one in Snakemake's report and the one to copy or mail on its own.
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
