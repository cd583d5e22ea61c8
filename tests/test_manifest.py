"""Manifest reading and checking, row settings, clip keys, and the generated schemas."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from audiotex import manifest as M
from audiotex import params as P
from audiotex.errors import AudiotexError
from conftest import REPO, write_manifest

FIRE = "data/demo/env_fire_furnace_minetest.ogg"
STREAM = "data/demo/env_water_stream_minetest.ogg"
SPEECH = "data/demo/sp_arctic_a0007_awb.wav"


@pytest.fixture
def in_repo(monkeypatch):
    """Relative paths resolve against the working directory, as in Snakemake: work from the repo root."""
    monkeypatch.chdir(REPO)


def test_committed_schemas_match_params():
    """schemas/*.yaml must be regenerated (`make schemas`) whenever audiotex.params changes."""
    for name, make in M.SCHEMA_FILES.items():
        committed = (REPO / "schemas" / name).read_text()
        assert committed == M.schema_text(make()), f"schemas/{name} is stale: run `make schemas`"


def test_write_schemas_cli(tmp_path):
    assert M.main(["--write-schemas", str(tmp_path)]) == 0
    for name, make in M.SCHEMA_FILES.items():
        assert (tmp_path / name).read_text() == M.schema_text(make())


def test_read_manifest_types_and_empty_cells(in_repo, tmp_path):
    path = write_manifest(tmp_path / "m.tsv", ["id", "style", "content", "iterations", "duration", "loop"],
                          [["b", FIRE, "", "", "2.5", "yes"], ["a", STREAM, SPEECH, "7", "", ""]])
    frame = M.read_manifest(path)
    assert list(frame.index) == ["b", "a"]  # file order, not sorted
    assert frame.at["b", "content"] is None
    assert frame.at["a", "content"] == SPEECH
    assert frame.at["a", "iterations"] == 7 and type(frame.at["a", "iterations"]) is int
    assert frame.at["b", "iterations"] is pd.NA  # empty: not given, config.yaml decides
    assert frame.at["b", "duration"] == 2.5 and frame.at["b", "loop"] is True
    assert M.row_overrides(frame, "b") == {"duration": 2.5, "loop": True}
    assert M.row_overrides(frame, "a") == {"iterations": 7}


def test_a_none_cell_gives_the_key_its_empty_meaning_for_that_row(in_repo, tmp_path):
    path = write_manifest(tmp_path / "m.tsv", ["id", "style", "input_duration", "hop_length"],
                          [["whole", FIRE, "none", "NULL"], ["config", FIRE, "", ""], ["own", FIRE, "3", ""]])
    plan = M.plan({"manifest": str(path), "preset": "fast", "input_duration": 2.0, "hop_length": 64})
    assert plan.rows["whole"].overrides == {"input_duration": None, "hop_length": None}
    assert plan.rows["whole"].settings["input_duration"] is None and plan.rows["whole"].settings["hop_length"] is None
    assert plan.rows["config"].overrides == {}
    assert plan.rows["config"].settings["input_duration"] == 2.0 and plan.rows["config"].settings["hop_length"] == 64
    assert plan.rows["own"].settings["input_duration"] == 3.0
    # the whole file is another decoded clip than its first 2 s
    assert plan.rows["whole"].style_clip != plan.rows["config"].style_clip
    assert M.row_overrides(M.read_manifest(path), "whole") == {"input_duration": None, "hop_length": None}
    # a key that must have a value is refused by name
    bad = write_manifest(tmp_path / "bad.tsv", ["id", "style", "iterations"], [["x", FIRE, "none"]])
    with pytest.raises(AudiotexError, match=r"row 'x' column 'iterations'.*needs a value"):
        M.read_manifest(bad)


def test_comments_and_blank_lines_are_skipped(in_repo, tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text(f"# a comment\n\nid\tstyle\n# texture of fire\nfire\t{FIRE}\n\n")
    assert list(M.read_manifest(path).index) == ["fire"]


BAD_MANIFESTS = {
    # name: (header, rows, words the one-line error must contain)
    "duplicate id": (["id", "style"], [["x", FIRE], ["y", STREAM], ["x", STREAM]], ["'x'", "twice", "lines 2 and 4"]),
    "ids differing in case": (["id", "style"], [["Rain", FIRE], ["x", STREAM], ["rain", STREAM]],
                              ["'Rain' (line 2)", "'rain' (line 4)", "only in case"]),
    "id of another row's intermediates": (["id", "style"], [["a", FIRE], ["b", STREAM], ["a.iter00050", STREAM]],
                                          ["line 4", "'a.iter00050'", "row 'a'", "(line 2)", "save_every"]),
    "id of another row's intermediates, other case": (["id", "style"], [["a", FIRE], ["A.ITER00050", STREAM]],
                                                      ["'A.ITER00050'", "row 'a'", "save_every"]),
    "id of another row's intermediates past 99999": (["id", "style"], [["a", FIRE], ["a.iter100000", STREAM]],
                                                      ["'a.iter100000'", "row 'a'", "save_every"]),
    "id too long": (["id", "style"], [["x" * 129, FIRE]], ["file name", "at most 128 characters"]),
    "integer too large": (["id", "style", "seed"], [["x", FIRE, "1e400"]], ["row 'x'", "column 'seed'", "'1e400'"]),
    "layer of no filters": (["id", "style", "layers"], [["x", FIRE, "11x0"]], ["row 'x'", "column 'layers'", "'11x0'"]),
    "layer pooling by 0": (["id", "style", "layers"], [["x", FIRE, "5x8,11x16/0"]], ["row 'x'", "column 'layers'"]),
    "unknown column": (["id", "style", "iterashuns"], [["x", FIRE, "3"]], ["'iterashuns'", "parameter key"]),
    "runtime column": (["id", "style", "device"], [["x", FIRE, "cpu"]], ["'device'", "runtime key", "config.yaml"]),
    "missing style file": (["id", "style"], [["x", FIRE], ["y", "data/demo/nope.ogg"]],
                           ["row 'y'", "column 'style'", "nope.ogg", "no such file"]),
    "missing content file": (["id", "style", "content"], [["x", FIRE, "data/demo/nope.wav"]],
                             ["row 'x'", "column 'content'", "no such file"]),
    "wrong type": (["id", "style", "iterations"], [["x", FIRE, "3"], ["y", FIRE, "many"]],
                   ["row 'y'", "column 'iterations'", "'many'", "int"]),
    "out of range": (["id", "style", "momentum"], [["x", FIRE, "1.5"]],
                     ["row 'x'", "column 'momentum'", "out of range"]),
    "bad choice": (["id", "style", "optimizer"], [["x", FIRE, "sgd"]], ["row 'x'", "column 'optimizer'", "lbfgs"]),
    "id not a file name": (["id", "style"], [["a/b", FIRE]], ["'a/b'", "file name"]),
    "empty style": (["id", "style", "content"], [["x", "", SPEECH]], ["row 'x'", "column 'style'", "empty"]),
    "no style column": (["id", "content"], [["x", SPEECH]], ["'style'", "header"]),
    "no rows": (["id", "style"], [], ["no rows"]),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_bad_manifest_gives_one_clear_error(in_repo, tmp_path, case):
    header, rows, words = BAD_MANIFESTS[case]
    path = write_manifest(tmp_path / "bad.tsv", header, rows)
    with pytest.raises(AudiotexError) as err:
        M.read_manifest(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message, (word, message)


def test_too_many_cells_names_the_line(in_repo, tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text(f"id\tstyle\nx\t{FIRE}\textra\n")
    with pytest.raises(AudiotexError, match=r"line 2: 3 cells but the header has 2"):
        M.read_manifest(path)


def test_missing_manifest_file(tmp_path):
    with pytest.raises(AudiotexError, match="no such manifest file"):
        M.read_manifest(tmp_path / "absent.tsv")


def test_config_is_checked_beyond_the_schema(in_repo):
    with pytest.raises(AudiotexError, match=r"config\.yaml: unknown key 'iteration'"):
        M.read_config({"manifest": "manifest.tsv", "iteration": 3})
    with pytest.raises(AudiotexError, match=r"config\.yaml: key 'n_fft': 8 is out of range"):
        M.read_config({"manifest": "manifest.tsv", "n_fft": 8})
    with pytest.raises(AudiotexError, match="'manifest'"):
        M.read_config({"preset": "fast"})
    path, layer = M.read_config({"manifest": "m.tsv", "iterations": "12", "device": "cpu"})
    assert path == "m.tsv" and layer == {"iterations": 12, "device": "cpu"}


def test_row_settings_layer_config_under_row(in_repo, tmp_path):
    path = write_manifest(tmp_path / "m.tsv", ["id", "style", "iterations", "preset"],
                          [["plain", FIRE, "", ""], ["own", FIRE, "9", ""], ["slow", FIRE, "", "ulyanov"]])
    plan = M.plan({"manifest": str(path), "preset": "fast", "n_iter": 5})
    plain, own, slow = (plan.rows[k].settings for k in ("plain", "own", "slow"))
    assert plain["iterations"] == P.PRESETS["fast"]["iterations"] and plain["n_iter"] == 5
    assert own["iterations"] == 9 and own["n_iter"] == 5 and own["n_fft"] == P.PRESETS["fast"]["n_fft"]
    # A row's preset replaces the config's preset, but config keys still apply on top of it.
    assert slow["n_fft"] == P.PRESETS["ulyanov"]["n_fft"] and slow["n_iter"] == 5
    assert plan.rows["own"].overrides == {"iterations": 9}
    assert plan.rows["plain"].overrides == {}


def test_shared_clip_is_decoded_once(in_repo, tmp_path):
    path = write_manifest(tmp_path / "m.tsv", ["id", "style", "content", "iterations", "n_fft", "offset"], [
        ["t1", FIRE, "", "", "", ""],
        ["t2", FIRE, "", "5", "", ""],          # synthesis-only change: same clip, same spectrogram
        ["x1", STREAM, FIRE, "", "", ""],       # FIRE as content: still the same clip and spectrogram
        ["t3", FIRE, "", "", "1024", ""],       # spectrogram change: same decoded clip, new spectrogram
        ["t4", FIRE, "", "", "", "0.5"],        # decode change: new clip and new spectrogram
    ])
    plan = M.plan({"manifest": str(path), "preset": "fast"})
    rows = plan.rows
    assert rows["t1"].style_clip == rows["t2"].style_clip == rows["x1"].content_clip == rows["t3"].style_clip
    assert rows["t1"].style_spec == rows["t2"].style_spec == rows["x1"].content_spec
    assert rows["t3"].style_spec != rows["t1"].style_spec
    assert rows["t4"].style_clip != rows["t1"].style_clip and rows["t4"].style_spec != rows["t1"].style_spec
    assert rows["t1"].content_clip is None and rows["t1"].content_spec is None
    assert len(plan.clips) == 3 and len(plan.specs) == 4  # FIRE, FIRE@0.5, STREAM; + FIRE@1024
    clip_src, clip_settings = plan.clips[rows["t4"].style_clip]
    assert clip_src == FIRE and clip_settings == {"sr": 16000, "offset": 0.5, "input_duration": None}
    assert plan.specs[rows["t3"].style_spec][0] == rows["t3"].style_clip


def test_clip_keys_are_deterministic_and_file_name_safe():
    settings = P.resolve({"preset": "fast"})
    key = M.clip_key("some dir/My Clip (take 2).flac", settings)
    assert key == M.clip_key("some dir/My Clip (take 2).flac", dict(settings))
    assert key.startswith("My_Clip_take_2-") and len(key.rsplit("-", 1)[1]) == 8
    import re
    assert re.fullmatch(M.KEY_PATTERN, key)
    # The path as written is part of the key; a different path to a file of the same name is another clip.
    assert M.clip_key("other/My Clip (take 2).flac", settings) != key
    # Keys that other stages read do not change the decoded clip's name.
    assert M.clip_key("a.wav", {**settings, "n_iter": 3, "n_fft": 1024}) == M.clip_key("a.wav", settings)
    assert M.spectrogram_key("a.wav", {**settings, "n_fft": 1024}) != M.spectrogram_key("a.wav", settings)
    assert M.spectrogram_key("a.wav", {**settings, "iterations": 1}) == M.spectrogram_key("a.wav", settings)
    # a long file name gives a short key (the hash tells them apart): 250 characters would be too long a
    # file name once the hash and suffix are added
    long_keys = {M.clip_key(f"{'f' * 250}{n}.ogg", settings) for n in range(2)}
    assert len(long_keys) == 2 and all(len(k) == 64 + 9 for k in long_keys)
    assert all(re.fullmatch(M.KEY_PATTERN, k) for k in long_keys)
    assert len(M.spectrogram_key("f" * 250 + ".ogg", settings)) == 64 + 9


def test_relative_paths_resolve_against_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "clips").mkdir()
    os.symlink(REPO / FIRE, tmp_path / "clips" / "fire.ogg")
    path = write_manifest(tmp_path / "m.tsv", ["id", "style"], [["x", "clips/fire.ogg"]])
    monkeypatch.chdir(tmp_path)
    assert M.read_manifest(path).at["x", "style"] == "clips/fire.ogg"
    monkeypatch.chdir(REPO)
    with pytest.raises(AudiotexError, match="clips/fire.ogg: no such file"):
        M.read_manifest(path)


def test_demo_manifest_is_valid(in_repo):
    plan = M.plan({"manifest": "manifest.tsv", "preset": "fast"})
    assert any(row.content is not None for row in plan.rows.values()), "the demo needs a style transfer row"
    assert any(row.overrides for row in plan.rows.values()), "the demo needs a per-row override"


def test_a_row_with_a_content_gets_the_transfer_defaults(in_repo, tmp_path):
    transfer = P.PRESETS["default"]["transfer"]
    key = next(iter(transfer))
    path = write_manifest(tmp_path / "m.tsv", ["id", "style", "content"],
                          [["tex", FIRE, ""], ["tr", FIRE, SPEECH]])
    plan = M.plan({"manifest": str(path)})
    assert plan.rows["tr"].settings == P.resolve({}, kind="transfer")
    assert plan.rows["tex"].settings == P.resolve({})
    assert plan.rows["tr"].settings[key] == transfer[key] != plan.rows["tex"].settings[key]


# --- shards ---------------------------------------------------------------------------------------------

def test_shards_are_stable_as_rows_are_added_and_removed():
    ids = [f"row{i}" for i in range(200)]
    before = M.shard_rows(ids, 8)
    after = M.shard_rows(ids[50:] + ["new_a", "new_b"], 8)
    shard_of = {row_id: name for name, members in after.items() for row_id in members}
    moved = [row_id for name, members in before.items() for row_id in members
             if row_id in shard_of and shard_of[row_id] != name]
    assert moved == []  # a row's shard depends on its id alone, not on its position
    assert sorted(len(m) for m in before.values())[0] > 10  # 200 rows spread over all 8 shards
    assert len(before) == 8 and set(before) == {f"shard-{i}-of-8" for i in range(8)}


def test_shards_zero_is_one_row_per_shard_named_by_its_id():
    assert M.shard_rows(["b", "a"], 0) == {"b": ["b"], "a": ["a"]}
    # rows keep manifest order inside their shard
    (members,) = M.shard_rows(["z", "m", "a"], 1).values()
    assert members == ["z", "m", "a"]


def test_plan_shards_follow_the_config(in_repo, tmp_path):
    path = write_manifest(tmp_path / "m.tsv", ["id", "style", "seed"],
                          [[f"r{i}", FIRE, str(i % 3)] for i in range(40)])
    plan = M.plan({"manifest": str(path), "shards": 4})
    assert sorted(sum(plan.shards.values(), [])) == sorted(plan.rows)
    assert set(plan.shards) <= {f"shard-{i}-of-4" for i in range(4)}
    # equal overrides resolve once and give equal settings; different seeds stay apart
    assert plan.rows["r0"].settings == plan.rows["r3"].settings != plan.rows["r1"].settings
    assert plan.rows["r1"].settings["seed"] == 1
    assert len(plan.clips) == 1 and len(plan.specs) == 1


def test_bad_cell_names_the_first_row_with_it(in_repo, tmp_path):
    rows = [[f"r{i}", FIRE, "1"] for i in range(5)] + [["r5", FIRE, "x"], ["r6", FIRE, "x"]]
    path = write_manifest(tmp_path / "m.tsv", ["id", "style", "seed"], rows)
    with pytest.raises(AudiotexError, match=r"row 'r5' column 'seed'.*'x'"):
        M.read_manifest(path)


def test_intermediate_id_pattern_matches_the_intermediate_file_names(in_repo, tmp_path):
    import re

    from audiotex.steps import intermediate_path

    for iteration in (50, 100000):  # iterations go up to 100000: six digits
        stem = intermediate_path(tmp_path / "row-1.npy", iteration).stem
        assert re.match(M.INTERMEDIATE_ID, stem).group(1) == "row-1"
    # an id that only looks similar is fine when no row has the prefix as its id
    path = write_manifest(tmp_path / "m.tsv", ["id", "style"], [["x.iter00050", FIRE], ["y", FIRE]])
    assert list(M.read_manifest(path).index) == ["x.iter00050", "y"]
