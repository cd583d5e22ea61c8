# Manifest and config lookups: everything the rules ask about a row, a clip or a spectrogram.
#
# The config and the manifest are checked here, at parse time, before any job runs: a bad key, value,
# column, id or path stops the workflow with one line naming the file, row and column at fault.

import types

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from audiotex import manifest as audiotex_manifest
from audiotex import params as audiotex_params
from audiotex.errors import AudiotexError

min_version("8.0")


def _config_source():
    files = [str(f) for f in getattr(workflow, "configfiles", [])]
    return " + ".join(files) + " (or --config)" if files else "config"


try:
    PLAN = audiotex_manifest.plan(config, _config_source())
except AudiotexError as err:
    # One line, no traceback: the message already names the file, row and column at fault.
    raise WorkflowError(f"audiotex: {err}") from None

# The JSON schemas are generated from audiotex.params; audiotex already checked every value above with
# clearer messages, so these only fail if schemas/ is stale (regenerate with `make schemas`).
validate({"manifest": config["manifest"], **PLAN.config_layer}, "../schemas/config.schema.yaml",
         set_default=False)
validate(PLAN.manifest, "../schemas/manifest.schema.yaml", set_default=False)

#: The checked manifest (index = row id) and its ids in manifest order.
MANIFEST = PLAN.manifest
ROW_IDS = list(PLAN.rows)


wildcard_constraints:
    id=audiotex_manifest.ID_PATTERN.strip("^$"),
    clip=audiotex_manifest.KEY_PATTERN,
    spec=audiotex_manifest.KEY_PATTERN,


def _row(row_id):
    try:
        return PLAN.rows[row_id]
    except KeyError:
        raise WorkflowError(f"audiotex: no manifest row with id {row_id!r}") from None


def row_settings(row_id):
    """The full resolved parameter set of a row (defaults < preset < config < row)."""
    return dict(_row(row_id).settings)


def row_overrides(row_id):
    """Only the parameter keys the manifest row sets explicitly."""
    return dict(_row(row_id).overrides)


def runtime_setting(key):
    """The value of a runtime key (device, checkpoint_every, save_every) from config or the defaults."""
    if "runtime" not in audiotex_params.PARAMS[key].stages:
        raise WorkflowError(f"audiotex: {key!r} is not a runtime key")
    return audiotex_params.resolve(PLAN.config_layer)[key]


def runtime_param(key):
    """A params: entry for a runtime key that does not trigger reruns.

    Snakemake leaves params whose function takes ``resources`` out of its params rerun trigger (they count
    as derived from the job's resources). Runtime keys change how a job runs, never what it produces, so
    switching e.g. the device must not redo finished work.
    """
    value = runtime_setting(key)

    def runtime_value(wildcards, resources):
        return value

    return runtime_value


def stage_params(stage):
    """A params: function giving a row's settings of one stage (so a change reruns exactly that stage)."""

    def settings_of_stage(wildcards):
        return audiotex_params.stage_settings(row_settings(wildcards.id), stage)

    return settings_of_stage


def decoded_path(clip):
    return f"results/decoded/{clip}.wav"


def spectrogram_path(spec):
    return f"results/spectrograms/{spec}.npy"


def style_audio(wildcards):
    return decoded_path(_row(wildcards.id).style_clip)


def content_audio(wildcards):
    clip = _row(wildcards.id).content_clip
    return [] if clip is None else decoded_path(clip)


def style_spectrogram(wildcards):
    return spectrogram_path(_row(wildcards.id).style_spec)


def content_spectrogram(wildcards):
    spec = _row(wildcards.id).content_spec
    return [] if spec is None else spectrogram_path(spec)


def clip_source(wildcards):
    """The audio file (path as written in the manifest) a decoded clip comes from."""
    try:
        return PLAN.clips[wildcards.clip][0]
    except KeyError:
        raise WorkflowError(f"audiotex: no manifest row reads a clip named {wildcards.clip!r}") from None


def clip_settings(wildcards):
    return dict(PLAN.clips[wildcards.clip][1])


def spec_audio(wildcards):
    """The decoded clip a spectrogram is computed from."""
    try:
        return decoded_path(PLAN.specs[wildcards.spec][0])
    except KeyError:
        raise WorkflowError(f"audiotex: no manifest row reads a spectrogram named {wildcards.spec!r}") from None


def spec_settings(wildcards):
    """The spectrogram keys of a spectrogram, plus the sample rate its decoded clip already has."""
    settings = PLAN.specs[wildcards.spec][1]
    return {"sr": settings["sr"], **audiotex_params.stage_settings(settings, "spectrogram")}


def gallery_rows():
    """One dict per manifest row for audiotex.gallery.gallery_file (paths relative to the workdir).

    The settings shown are the row's full resolved set minus the runtime keys, which never change a
    result (and so must not make the page rerun).
    """
    rows = []
    for row_id in ROW_IDS:
        wildcards = types.SimpleNamespace(id=row_id)
        settings = {key: value for key, value in row_settings(row_id).items()
                    if "runtime" not in audiotex_params.PARAMS[key].stages}
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
