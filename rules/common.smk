# Manifest and config lookups: everything the rules ask about a row, a clip or a spectrogram.
#
# The config and the manifest are checked here, at parse time, before any job runs: a bad key, value,
# column, id or path stops the workflow with one line naming the file, row and column at fault.

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from audiotex import manifest as audiotex_manifest
from audiotex import params as audiotex_params
from audiotex import spectrogram as audiotex_spectrogram
from audiotex import steps as audiotex_steps
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
# One row per distinct set of cells (ids aside) is enough for that, and keeps a 100,000-row plan fast.
_DISTINCT = PLAN.manifest.drop_duplicates(subset=[c for c in PLAN.manifest.columns if c != "id"])
validate(_DISTINCT, "../schemas/manifest.schema.yaml", set_default=False)

#: The checked manifest (index = row id) and its ids in manifest order.
MANIFEST = PLAN.manifest
ROW_IDS = list(PLAN.rows)
#: Shard name -> its row ids. Synthesize, invert, metrics and plot run one job per shard; with `shards: 0`
#: every row is its own shard, named by its id (see audiotex.manifest.shard_rows).
SHARDS = PLAN.shards
SHARD_IDS = list(SHARDS)

#: Per-row files. The shard jobs write them beside their shard records; they are not declared outputs, so
#: Snakemake neither deletes a shard's finished rows when another row of it fails nor needs one job per
#: row to plan them. Their paths are defined here only.
ROW_FILES = {
    "synthesized": "results/synthesized/{id}.npy",  # + .json sidecar and .loss.tsv (audiotex.steps)
    "checkpoint": "results/checkpoints/{id}.pt",  # survives a killed job so the next attempt resumes
    "audio": "results/audio/{id}.wav",
    "inversion": "results/audio/{id}.json",
    "metrics": "results/metrics/{id}.tsv",
    "plot": "results/plots/{id}.png",
}


wildcard_constraints:
    shard=audiotex_manifest.ID_PATTERN.strip("^$"),
    clip=audiotex_manifest.KEY_PATTERN,
    spec=audiotex_manifest.KEY_PATTERN,


def _row(row_id):
    try:
        return PLAN.rows[row_id]
    except KeyError:
        raise WorkflowError(f"audiotex: no manifest row with id {row_id!r}") from None


def _shard(shard):
    try:
        return SHARDS[shard]
    except KeyError:
        raise WorkflowError(f"audiotex: no shard named {shard!r} (shards={runtime_setting('shards')})") from None


def row_file(kind, row_id):
    """Path of one of a row's files (a key of ROW_FILES)."""
    return ROW_FILES[kind].format(id=row_id)


def row_settings(row_id):
    """The full resolved parameter set of a row (defaults < preset < config < row)."""
    return dict(_row(row_id).settings)


def row_overrides(row_id):
    """Only the parameter keys the manifest row sets explicitly."""
    return dict(_row(row_id).overrides)


def runtime_setting(key):
    """The value of a runtime key (device, checkpoint_every, save_every, shards) from config or the defaults."""
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


def decoded_path(clip):
    return rules.decode.output[0].format(clip=clip)


def spectrogram_path(spec):
    return rules.spectrogram.output.npy.format(spec=spec)


def _spectrograms(plan):
    """A row's (style, content) spectrogram paths; content None for a texture."""
    content = None if plan.content_spec is None else spectrogram_path(plan.content_spec)
    return spectrogram_path(plan.style_spec), content


def _decoded(plan):
    """A row's (style, content) decoded audio paths; content None for a texture."""
    content = None if plan.content_clip is None else decoded_path(plan.content_clip)
    return decoded_path(plan.style_clip), content


def _unique(paths):
    return list(dict.fromkeys(p for p in paths if p))


def shard_spectrograms(wildcards):
    """The style and content spectrograms every row of a shard reads (each once)."""
    return _unique(p for row_id in _shard(wildcards.shard) for p in _spectrograms(_row(row_id)))


def shard_decoded_audio(wildcards):
    """The decoded style and content clips every row of a shard reads (each once)."""
    return _unique(p for row_id in _shard(wildcards.shard) for p in _decoded(_row(row_id)))


def _stage(row_id, stage):
    return audiotex_params.stage_settings(_row(row_id).settings, stage)


def synthesis_rows(wildcards):
    """params of a synthesize shard: per row its inputs, outputs and synthesize-stage settings (so a change
    reruns exactly the shards of the rows it touches)."""
    rows = []
    for row_id in _shard(wildcards.shard):
        style, content = _spectrograms(_row(row_id))
        rows.append({"id": row_id, "style": style, "content": content, "npy": row_file("synthesized", row_id),
                     "checkpoint": row_file("checkpoint", row_id), "settings": _stage(row_id, "synthesize")})
    return rows


def inversion_rows(wildcards):
    """params of an invert shard: per row the synthesized spectrogram, the outputs and invert settings."""
    rows = []
    for row_id in _shard(wildcards.shard):
        style, content = _spectrograms(_row(row_id))
        rows.append({"id": row_id, "npy": row_file("synthesized", row_id), "wav": row_file("audio", row_id),
                     "report": row_file("inversion", row_id), "style": style, "content": content,
                     "settings": _stage(row_id, "invert")})
    return rows


def metrics_rows(wildcards):
    """params of a metrics shard: per row the audio to compare and the row's metrics TSV."""
    rows = []
    for row_id in _shard(wildcards.shard):
        style, content = _decoded(_row(row_id))
        rows.append({"id": row_id, "audio": row_file("audio", row_id), "inversion": row_file("inversion", row_id),
                     "style": style, "content": content, "synthesized": row_file("synthesized", row_id),
                     "tsv": row_file("metrics", row_id)})
    return rows


def plot_rows(wildcards):
    """params of a plot shard: per row its spectrograms and the PNG."""
    rows = []
    for row_id in _shard(wildcards.shard):
        style, content = _spectrograms(_row(row_id))
        rows.append({"id": row_id, "style": style, "content": content,
                     "synthesized": row_file("synthesized", row_id), "png": row_file("plot", row_id)})
    return rows


#: Per shard rule, the files its job writes for a row: the files its record vouches for.
_STEP_FILES = {
    "synthesize": lambda row_id: audiotex_steps.synthesis_outputs(row_file("synthesized", row_id)),
    "invert": lambda row_id: [row_file("audio", row_id), row_file("inversion", row_id)],
    "metrics": lambda row_id: [row_file("metrics", row_id)],
    "plot": lambda row_id: [row_file("plot", row_id)],
}


def remake_stamp(step):
    """A params entry for a shard rule that changes when a row's files are gone or newer than the shard's
    record (deleted to be made again, or made under another `shards` layout), so that Snakemake reruns the
    shard, which redoes those rows (audiotex.steps.remake_stamp)."""
    files = _STEP_FILES[step]

    def stamp(wildcards):
        record = getattr(rules, step).output[0].format(shard=wildcards.shard)
        return audiotex_steps.remake_stamp(record, {row_id: files(row_id) for row_id in _shard(wildcards.shard)})

    return stamp


def inversion_gpu(wildcards):
    """gpu resource of an invert shard: 1 when a row refines the waveform (torch L-BFGS, on the GPU
    whenever the device may be one), else 0 (Griffin-Lim alone is light)."""
    if runtime_setting("device") == "cpu":
        return 0
    return int(any(_row(row_id).settings["refine_iterations"] > 0 for row_id in _shard(wildcards.shard)))


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
        plan = _row(row_id)
        style, content = _decoded(plan)
        settings = {key: value for key, value in plan.settings.items()
                    if "runtime" not in audiotex_params.PARAMS[key].stages}
        synthesized = row_file("synthesized", row_id)
        rows.append({
            "id": row_id,
            "style_audio": style,
            "content_audio": content,
            "output_audio": row_file("audio", row_id),
            "plot_png": row_file("plot", row_id),
            "synth_json": str(audiotex_spectrogram.sidecar_path(synthesized)),
            "invert_json": row_file("inversion", row_id),
            "overrides": dict(plan.overrides),
            "settings": settings,
        })
    return rows


def gallery_inputs(wildcards):
    """Everything the page shows or reads: the decoded inputs and the records of the shards that write each
    row's audio, plot and run records, so the page is rebuilt when any of them changes."""
    decoded = _unique(p for row_id in ROW_IDS for p in _decoded(_row(row_id)))
    records = [rule.output.record for rule in (rules.synthesize, rules.invert, rules.plot)]
    return decoded + expand(records, shard=SHARD_IDS)
