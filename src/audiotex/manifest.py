"""The workflow's manifest: reading and checking it, each row's settings, and shared clip keys.

A manifest is a TSV with one row per output: ``id``, ``style``, an optional ``content`` (empty: texture
synthesis) and optional override columns named exactly like parameter keys (an empty cell: use
config.yaml). :func:`plan` turns config + manifest into everything the workflow needs to know before any
job runs: each row's resolved settings and the decoded-clip and spectrogram files it reads.

Intermediate files are named by what they contain, not by the row that first asked for them: a decoded
clip is ``{slug(stem)}-{hash(path as written, decode settings)}`` and a spectrogram hashes the path with
the decode and spectrogram settings. A clip that many rows use with the same settings is decoded and
analysed once; the same clip under two different settings gives two files.

Running ``python -m audiotex.manifest --write-schemas schemas/`` regenerates the JSON schemas the
workflow validates config.yaml and the manifest against, from :mod:`audiotex.params`.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import yaml

from . import params as P
from .errors import AudiotexError

#: Columns that are not parameter keys.
ROW_COLUMNS = ("id", "style", "content")
#: Config keys of the workflow itself (everything else in config.yaml is a parameter key).
WORKFLOW_KEYS = ("manifest",)
#: A row id: used as a file name, so no slashes, spaces or leading dots.
ID_PATTERN = P.manifest_schema()["properties"]["id"]["pattern"]
#: A row id that names an intermediate spectrogram of row ``\1`` (:func:`audiotex.steps.intermediate_path`
#: pads the iteration to 5 digits, and iterations go past 99999); matched ignoring case, as ids are compared.
INTERMEDIATE_ID = r"(?i)^(.+)\.iter\d{5,}$"
#: What a clip or spectrogram key looks like: a slug, a dash and 8 hex digits.
KEY_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]*-[0-9a-f]{8}"
#: File names of the generated schemas, relative to the schema folder.
SCHEMA_FILES = {"config.schema.yaml": P.config_schema, "manifest.schema.yaml": P.manifest_schema}


def slug(text: str, max_length: int = 64) -> str:
    """A file-name-safe version of ``text``: runs of anything but letters, digits, ``_`` and ``-`` become ``_``,
    cut to ``max_length`` characters (a key's hash, not its slug, tells files apart; a long file name plus the
    hash and suffix would pass the file system's 255-byte limit)."""
    out = re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:max_length].strip("_-")
    return out or "clip"


def _short_hash(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def clip_key(path: str, settings: Mapping[str, Any]) -> str:
    """Name of the decoded WAV of ``path`` (as written in the manifest) under ``settings``' decode keys."""
    return f"{slug(Path(path).stem)}-{_short_hash(path, P.stage_settings(settings, 'decode'))}"


def spectrogram_key(path: str, settings: Mapping[str, Any]) -> str:
    """Name of the spectrogram of ``path`` under ``settings``' decode and spectrogram keys."""
    keys = {**P.stage_settings(settings, "decode"), **P.stage_settings(settings, "spectrogram")}
    return f"{slug(Path(path).stem)}-{_short_hash(path, keys)}"


def read_config(config: Mapping[str, Any], source: str = "config.yaml") -> tuple[str, dict[str, Any]]:
    """Check a workflow config mapping; return (manifest path, the validated parameter layer).

    Every key except ``manifest`` must be a parameter key with a valid value; errors name ``source`` and
    the key.
    """
    if "manifest" not in config or not isinstance(config["manifest"], str) or not config["manifest"].strip():
        raise AudiotexError(f"{source}: key 'manifest' must name the manifest TSV")
    layer = {k: v for k, v in config.items() if k not in WORKFLOW_KEYS}
    return config["manifest"], P.validate(layer, source)


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, cells) of a TSV; blank lines and lines starting with ``#`` are skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AudiotexError(f"{path}: no such manifest file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise AudiotexError(f"{path}: cannot read manifest ({err})") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise AudiotexError(f"{path}: manifest is empty (it needs a header line with id and style)")
    header_line, header_text = lines[0]
    header = [h.strip() for h in next(csv.reader([header_text], delimiter="\t"))]
    rows = []
    for n, line in lines[1:]:
        cells = [c.strip() for c in next(csv.reader([line], delimiter="\t"))]
        if len(cells) > len(header) and any(cells[len(header):]):
            raise AudiotexError(f"{path} line {n}: {len(cells)} cells but the header has {len(header)} columns "
                                "(columns are separated by tabs)")
        rows.append((n, (cells + [""] * len(header))[:len(header)]))
    return header, rows


def _check_header(path: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if name == "":
            raise AudiotexError(f"{path}: the header has an empty column name")
        if name in seen:
            raise AudiotexError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)
        if name in ROW_COLUMNS:
            continue
        if name not in P.PARAMS:
            raise AudiotexError(f"{path}: column {name!r} is neither id, style, content nor a parameter key "
                                f"(known keys: {', '.join(sorted(P.PARAMS))})")
        if "runtime" in P.PARAMS[name].stages:
            raise AudiotexError(f"{path}: column {name!r} is a runtime key; set it in config.yaml "
                                "or on the command line, not per row")
    for required in ("id", "style"):
        if required not in seen:
            raise AudiotexError(f"{path}: the header has no {required!r} column "
                                "(the first non-comment line must be the header: id, style[, content, keys...])")


def _check_audio_path(where: str, value: str) -> str:
    p = Path(value)  # relative paths are relative to the working directory, as in Snakemake
    if not p.exists():
        raise AudiotexError(f"{where}: {value}: no such file")
    if p.is_dir():
        raise AudiotexError(f"{where}: {value}: is a folder, not an audio file")
    return value


def _first(mask: pd.Series) -> int:
    """Position of the first True in a boolean Series."""
    return int(mask.to_numpy().argmax())


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check a manifest TSV.

    Returns a DataFrame indexed by ``id`` (in file order) with columns ``style``, ``content`` (``None``
    for a texture) and one column per override key present in the header, holding typed values, ``pd.NA``
    where the cell is empty (use config.yaml), or ``None`` where it says ``none`` or ``null`` (the key's own
    null meaning, e.g. ``input_duration``: the whole file, for this row whatever config.yaml says).

    The checks run per column over the distinct values, not per row (a manifest of 100,000 rows names a
    few files and a few values per key), and report the first row at fault in file order.

    Raises:
        AudiotexError: naming the file, and the row id and column at fault: a missing header or id/style
            column, an unknown or runtime column, a bad or duplicate id, a missing audio file, or a value
            of the wrong type or out of range.
    """
    path = Path(path)
    header, rows = _read_rows(path)
    _check_header(path, header)
    if not rows:
        raise AudiotexError(f"{path}: manifest has a header but no rows")
    keys = [h for h in header if h not in ROW_COLUMNS]
    cells = pd.DataFrame([cells for _, cells in rows], columns=header, dtype=object)
    lines = [line for line, _ in rows]
    ids = cells["id"]

    empty = ids == ""
    if empty.any():
        raise AudiotexError(f"{path} line {lines[_first(empty)]}: column 'id' is empty")
    bad = ~ids.str.match(ID_PATTERN)
    if bad.any():
        i = _first(bad)
        raise AudiotexError(f"{path} line {lines[i]}: row id {ids[i]!r} is not usable as a file name "
                            "(letters, digits, '.', '_' and '-'; starting with a letter or digit; at most "
                            f"{P.MAX_ID_LENGTH} characters)")
    # ids name files: ids that differ only in case are one file on a case-insensitive file system (macOS,
    # Windows), where each row would overwrite the other's results
    folded = ids.str.casefold()
    repeated = folded.duplicated()
    if repeated.any():
        i = _first(repeated)
        j = _first(folded == folded[i])
        if ids[j] == ids[i]:
            raise AudiotexError(f"{path}: row id {ids[i]!r} appears twice (lines {lines[j]} and {lines[i]})")
        raise AudiotexError(f"{path}: row ids {ids[j]!r} (line {lines[j]}) and {ids[i]!r} (line {lines[i]}) "
                            "differ only in case; their files would overwrite each other on a case-insensitive "
                            "file system")

    # save_every keeps row x's intermediate spectrograms as x.iterNNNNN.npy (steps.intermediate_path): a
    # row named like one of them would share its files
    intermediate = ids.str.extract(INTERMEDIATE_ID, expand=False).str.casefold()
    shadowing = intermediate.isin(set(folded))
    if shadowing.any():
        i = _first(shadowing)
        j = _first(folded == intermediate[i])
        raise AudiotexError(f"{path} line {lines[i]}: row id {ids[i]!r} is the name of row {ids[j]!r}'s (line "
                            f"{lines[j]}) intermediate spectrograms (save_every); their files would overwrite "
                            "each other")

    def where(i: int) -> str:
        return f"{path} row {ids[i]!r}"

    no_style = cells["style"] == ""
    if no_style.any():
        raise AudiotexError(f"{where(_first(no_style))} column 'style': empty (a style audio file is required)")
    frame: dict[str, pd.Series] = {"id": ids}
    for role in ("style", "content"):
        column = cells[role] if role in cells else pd.Series([""] * len(cells), dtype=object)
        # one check per distinct file, named by the first row that reads it
        for i in column.drop_duplicates().index:
            if column[i]:
                _check_audio_path(f"{where(i)} column {role!r}", column[i])
        frame[role] = column.where(column != "", None)
    for key in keys:
        column = cells[key]
        typed = {column[i]: (pd.NA if column[i] == "" else P.coerce(key, column[i], f"{where(i)} column {key!r}"))
                 for i in column.drop_duplicates().index}
        # object columns keep each cell's Python type, and pd.NA (not given) apart from None (given: null)
        frame[key] = pd.Series([typed[v] for v in column], dtype=object)
    # Every distinct combination of overrides must resolve to a full, valid parameter set (e.g. a preset).
    if keys:
        for i in cells[keys].drop_duplicates().index:
            P.resolve({k: frame[k][i] for k in keys if frame[k][i] is not pd.NA}, source=where(i))
    result = pd.DataFrame({col: frame[col].reset_index(drop=True) for col in ["id", "style", "content", *keys]})
    return result.set_index("id", drop=False).rename_axis(None)


def row_overrides(manifest: pd.DataFrame, row_id: str) -> dict[str, Any]:
    """The parameter keys a manifest row sets explicitly (non-empty override cells; ``none`` gives ``None``)."""
    row = manifest.loc[row_id]
    return {k: row[k] for k in manifest.columns if k not in ROW_COLUMNS and row[k] is not pd.NA}


def shard_index(row_id: str, shards: int) -> int:
    """The shard (0 .. shards-1) of a row: a hash of its id, so it never moves as rows are added or removed."""
    return int(hashlib.sha1(row_id.encode()).hexdigest()[:12], 16) % shards


def shard_name(index: int, shards: int) -> str:
    """A shard's name, e.g. ``shard-03-of-16``; it names the shard's records and logs."""
    return f"shard-{index:0{len(str(shards - 1))}d}-of-{shards}"


def shard_rows(row_ids: list[str], shards: int) -> dict[str, list[str]]:
    """Group row ids into shards (name -> ids in the order given); ``shards`` 0: each row is its own shard,
    named by its id. Shards without rows are left out."""
    if shards <= 0:
        return {row_id: [row_id] for row_id in row_ids}
    groups: dict[int, list[str]] = {}
    for row_id in row_ids:
        groups.setdefault(shard_index(row_id, shards), []).append(row_id)
    return {shard_name(i, shards): groups[i] for i in sorted(groups)}


@dataclass(frozen=True)
class RowPlan:
    """What one manifest row reads and how: its settings and the clip/spectrogram keys of its inputs."""

    id: str
    style: str
    content: str | None
    overrides: dict[str, Any]
    settings: dict[str, Any]
    style_clip: str
    style_spec: str
    content_clip: str | None
    content_spec: str | None


@dataclass(frozen=True)
class WorkflowPlan:
    """Everything the workflow looks up: rows by id, and the source/settings of every clip and spectrogram.

    Attributes:
        manifest: the checked manifest (see :func:`read_manifest`).
        config_layer: the validated parameter keys of the config (config.yaml + ``--config``).
        rows: row id -> :class:`RowPlan`, in manifest order.
        clips: clip key -> (source path as written, decode settings).
        specs: spectrogram key -> (clip key, decode + spectrogram settings).
        shards: shard name -> its row ids (see :func:`shard_rows` and the ``shards`` key).
    """

    manifest: pd.DataFrame
    config_layer: dict[str, Any]
    rows: dict[str, RowPlan] = field(default_factory=dict)
    clips: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    specs: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    shards: dict[str, list[str]] = field(default_factory=dict)


def plan(config: Mapping[str, Any], config_source: str = "config.yaml") -> WorkflowPlan:
    """Check ``config`` and the manifest it names; resolve every row (config < row) and its input keys.

    Settings are resolved once per distinct set of overrides and clip keys once per distinct file and
    settings, so planning costs little per row. Rows with equal overrides share one settings dict: treat
    it as read-only.
    """
    manifest_path, layer = read_config(config, config_source)
    manifest = read_manifest(manifest_path)
    result = WorkflowPlan(manifest=manifest, config_layer=layer)
    keys = [k for k in manifest.columns if k not in ROW_COLUMNS]
    resolved: dict[tuple, dict[str, Any]] = {}
    inputs: dict[tuple, tuple[str, str]] = {}
    columns = [manifest[c].tolist() for c in ("id", "style", "content", *keys)]
    for row_id, style, content, *values in zip(*columns):
        overrides = {k: v for k, v in zip(keys, values) if v is not pd.NA}
        # a row with a content is a style transfer: the preset's transfer values apply (params.resolve)
        kind = "texture" if content is None else "transfer"
        frozen = (kind, *sorted(overrides.items()))
        if frozen not in resolved:
            resolved[frozen] = P.resolve(layer, overrides, source=f"{manifest_path} row {row_id!r}", kind=kind)
        settings = resolved[frozen]
        found: dict[str, str | None] = {}
        for role, src in (("style", style), ("content", content)):
            if src is None:
                found[role + "_clip"] = found[role + "_spec"] = None
                continue
            if (src, frozen) not in inputs:
                clip, spec = clip_key(src, settings), spectrogram_key(src, settings)
                result.clips[clip] = (src, P.stage_settings(settings, "decode"))
                result.specs[spec] = (clip, {**P.stage_settings(settings, "decode"),
                                             **P.stage_settings(settings, "spectrogram")})
                inputs[(src, frozen)] = (clip, spec)
            found[role + "_clip"], found[role + "_spec"] = inputs[(src, frozen)]
        result.rows[row_id] = RowPlan(id=row_id, style=style, content=content, overrides=overrides,
                                      settings=settings, **found)
    result.shards.update(shard_rows(list(result.rows), P.resolve(layer)["shards"]))
    return result


def schema_text(schema: Mapping[str, Any]) -> str:
    """A schema as the YAML text committed under ``schemas/`` (stable key order, a do-not-edit note)."""
    body = yaml.safe_dump(schema, sort_keys=False, default_flow_style=False, width=110)
    return ("# Generated from audiotex.params by `python -m audiotex.manifest --write-schemas schemas/`.\n"
            "# Do not edit by hand: change src/audiotex/params.py and regenerate.\n" + body)


def write_schemas(folder: str | os.PathLike) -> list[Path]:
    """Write ``config.schema.yaml`` and ``manifest.schema.yaml`` into ``folder``; return their paths."""
    from .files import atomic_output

    folder = Path(folder)
    written = []
    for name, make in SCHEMA_FILES.items():
        with atomic_output(folder / name) as tmp:
            tmp.write_text(schema_text(make()))
        written.append(folder / name)
    return written


#: The lines around config.yaml's generated block of commented keys (:func:`write_config_comments`).
CONFIG_COMMENTS_BEGIN = "# --- generated from audiotex.params by `make schemas`: do not edit down to the end marker"
CONFIG_COMMENTS_END = "# --- end of generated keys"

#: The column where a commented key's help starts.
_HELP_COLUMN = 26

#: What each stage's keys change, as config.yaml's section headings say it.
_STAGE_HEADINGS = {
    "decode": "how input files are read (changes here re-decode and redo everything downstream)",
    "spectrogram": "the STFT (changes here redo the spectrograms and everything downstream)",
    "synthesize": "the optimisation (changes here redo synthesis and inversion only)",
    "invert": "back to audio (changes here redo inversion only)",
    "runtime": "how jobs run, never what they produce (no rerun when changed; not allowed in the manifest)",
}


def config_comments(preset: str = "default", width: int = 116) -> str:
    """Every parameter key as a commented ``key: value  # help`` line, grouped by the stage that reads it.

    The values are those ``preset`` resolves to (built-in defaults overlaid with the preset), so the block
    under ``preset: default`` in config.yaml shows what a run actually uses; uncommenting a line keeps it.
    """
    import textwrap

    resolved = P.resolve({"preset": preset})
    lines = [CONFIG_COMMENTS_BEGIN,
             "# (python -m audiotex.manifest --write-config-comments config.yaml). Each key with the value",
             f"# `preset: {preset}` gives it; uncomment a line to change that value."]
    for stage, heading in _STAGE_HEADINGS.items():
        lines += ["#", f"# --- {stage}: {heading}"]
        for name, p in P.PARAMS.items():
            if not p.stages or p.stages[0] != stage:
                continue
            setting = "# " + yaml.safe_dump({name: resolved[name]}, default_flow_style=True, width=1000)[1:-2]
            help_lines = [f"# {line}" for line in textwrap.wrap(p.help, width - _HELP_COLUMN - 2)]
            if len(setting) + 2 > _HELP_COLUMN:  # a long value: its help goes on the lines below
                lines.append(setting)
            else:
                lines.append(setting.ljust(_HELP_COLUMN) + help_lines.pop(0))
            lines += ["#".ljust(_HELP_COLUMN) + line for line in help_lines]
    return "\n".join([*lines, CONFIG_COMMENTS_END]) + "\n"


def write_config_comments(path: str | os.PathLike, preset: str = "default") -> bool:
    """Replace the generated block of ``path`` (a config.yaml) with :func:`config_comments`; True if it changed.

    Raises:
        AudiotexError: naming the file, if it has not exactly one block between the marker lines.
    """
    from .files import atomic_output

    path = Path(path)
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.rstrip("\n") == CONFIG_COMMENTS_BEGIN]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == CONFIG_COMMENTS_END]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise AudiotexError(f"{path}: expected one generated block between the lines {CONFIG_COMMENTS_BEGIN!r} "
                            f"and {CONFIG_COMMENTS_END!r}")
    new = "".join(lines[:begins[0]]) + config_comments(preset) + "".join(lines[ends[0] + 1:])
    if new == text:
        return False
    with atomic_output(path) as tmp:
        tmp.write_text(new)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audiotex.manifest",
                                     description="Check an audiotex manifest, or regenerate the JSON schemas.")
    parser.add_argument("--write-schemas", metavar="FOLDER", help="write config/manifest schemas into FOLDER")
    parser.add_argument("--write-config-comments", metavar="CONFIG",
                        help="regenerate the commented keys of CONFIG (config.yaml) from audiotex.params")
    parser.add_argument("--check", metavar="MANIFEST", help="read and check MANIFEST, print its rows")
    args = parser.parse_args(argv)
    if not (args.write_schemas or args.write_config_comments or args.check):
        parser.error("nothing to do: give --write-schemas FOLDER, --write-config-comments CONFIG "
                     "and/or --check MANIFEST")
    try:
        if args.write_schemas:
            for path in write_schemas(args.write_schemas):
                print(f"wrote {path}")
        if args.write_config_comments:
            changed = write_config_comments(args.write_config_comments)
            print(f"{'wrote' if changed else 'unchanged:'} {args.write_config_comments}")
        if args.check:
            print(read_manifest(args.check).to_string(index=False))
    except AudiotexError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
