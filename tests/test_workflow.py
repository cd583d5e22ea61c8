"""The Snakemake workflow: parse-time checks, lint, rebuild plans, failures that stay local, a real run."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from conftest import REPO, copy_workflow, planned_jobs, snakemake, write_manifest

FIRE = "data/demo/env_fire_furnace_minetest.ogg"
STREAM = "data/demo/env_water_stream_minetest.ogg"
DRUMS = "data/demo/mus_drums_amen_sonicpi.flac"
SPEECH = "data/demo/sp_arctic_a0009.wav"

#: Seconds-long settings for real runs: 1.5 s of each clip, a few iterations.
TINY = ["preset=fast", "input_duration=1.5", "iterations=3", "n_iter=4", "checkpoint_every=0",
        "device=cpu"]


def dry_run(workdir: Path, *config: str, manifest: str | None = None) -> list[tuple[str, dict[str, str]]]:
    settings = list(TINY) + list(config) + ([f"manifest={manifest}"] if manifest else [])
    done = snakemake(workdir, "-n", "--cores", "2", "--config", *settings)
    assert done.returncode == 0, done.stdout + done.stderr
    return planned_jobs(done.stdout)


def rule_counts(jobs) -> Counter:
    return Counter(rule for rule, _ in jobs if rule != "all")


def ids_of(jobs, rule: str) -> set[str]:
    """The shards a rule's jobs run: with shards=0 (the default) each is named by its one row's id."""
    return {wildcards.get("shard") for name, wildcards in jobs if name == rule}


# --- parse-time checks: nothing runs -------------------------------------------------------------------

BAD = {
    "duplicate id": (["id", "style"], [["a", FIRE], ["a", STREAM]], ["'a'", "twice"]),
    "unknown column": (["id", "style", "colour"], [["a", FIRE, "red"]], ["'colour'", "parameter key"]),
    "missing file": (["id", "style", "content"], [["a", FIRE, "data/demo/missing.wav"]],
                     ["row 'a'", "column 'content'", "missing.wav", "no such file"]),
    "wrong type": (["id", "style", "seed"], [["a", FIRE, "1"], ["b", FIRE, "one"]],
                   ["row 'b'", "column 'seed'", "'one'"]),
    "out of range": (["id", "style", "n_fft"], [["a", FIRE, "16"]], ["row 'a'", "column 'n_fft'", "out of range"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_manifest_stops_before_any_job(workflow_dir, case):
    header, rows, words = BAD[case]
    write_manifest(workflow_dir / "manifest.tsv", header, rows)
    done = snakemake(workflow_dir, "-n", "--cores", "1")
    assert done.returncode != 0
    output = done.stdout + done.stderr  # Snakemake prints parse errors on stdout
    errors = [line for line in output.splitlines() if line.startswith("audiotex:")]
    assert len(errors) == 1, output
    assert "manifest.tsv" in errors[0]
    for word in words:
        assert word in errors[0], (word, errors[0])
    assert planned_jobs(output) == []  # no job was even planned
    assert not (workflow_dir / "results").exists()


@pytest.mark.parametrize("setting, words", [
    ("iteration=3", ["unknown key 'iteration'"]),
    ("momentum=2", ["'momentum'", "out of range"]),
    ("device=tpu", ["'device'", "'tpu'"]),
])
def test_bad_config_stops_before_any_job(workflow_dir, setting, words):
    write_manifest(workflow_dir / "manifest.tsv", ["id", "style"], [["a", FIRE]])
    done = snakemake(workflow_dir, "-n", "--cores", "1", "--config", setting)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    errors = [line for line in output.splitlines() if line.startswith("audiotex:")]
    assert len(errors) == 1, output
    for word in words:
        assert word in errors[0]


def test_lint_is_clean(workflow_dir):
    shutil.copy2(REPO / "manifest.tsv", workflow_dir / "manifest.tsv")
    done = snakemake(workflow_dir, "--lint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Lints for" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_dry_run_shares_clips_between_rows(workflow_dir):
    write_manifest(workflow_dir / "manifest.tsv", ["id", "style", "content", "seed", "n_fft"], [
        ["fire1", FIRE, "", "", ""], ["fire2", FIRE, "", "7", ""], ["fire_on_speech", FIRE, SPEECH, "", ""],
        ["fire_wide", FIRE, "", "", "1024"],
    ])
    jobs = dry_run(workflow_dir)
    counts = rule_counts(jobs)
    assert counts["decode"] == 2  # FIRE and SPEECH, once each
    assert counts["spectrogram"] == 3  # FIRE at two FFT sizes, SPEECH
    assert counts["synthesize"] == counts["invert"] == 4
    assert ids_of(jobs, "synthesize") == {"fire1", "fire2", "fire_on_speech", "fire_wide"}


# --- real runs -----------------------------------------------------------------------------------------

ROWS = [["tex_fire", FIRE, "", ""], ["tex_stream", STREAM, "", ""], ["fire_speech", FIRE, SPEECH, ""]]
HEADER = ["id", "style", "content", "seed"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny real run of three rows (two textures, one style transfer), shared by the rebuild-plan tests."""
    workdir = copy_workflow(tmp_path_factory.mktemp("run") / "workflow")
    write_manifest(workdir / "manifest.tsv", HEADER, ROWS)
    done = snakemake(workdir, "--cores", "2", "--resources", "gpu=1", "--config", *TINY)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return workdir


@pytest.mark.slow
def test_end_to_end_run_makes_audio(finished_run):
    for row_id, style, content, _ in ROWS:
        wav = finished_run / "results" / "audio" / f"{row_id}.wav"
        y, sr = sf.read(wav)
        assert sr == 16000
        assert 1.2 < len(y) / sr < 1.8  # input_duration=1.5: as long as its clip
        assert abs(y).max() > 1e-3
        report = json.loads((finished_run / "results" / "audio" / f"{row_id}.json").read_text())
        assert {"spectral_convergence", "wall_seconds", "device"} <= report.keys()
        sidecar = json.loads((finished_run / "results" / "synthesized" / f"{row_id}.json").read_text())
        assert sidecar["iterations"] == 3 and sidecar["settings"]["iterations"] == 3
        assert (sidecar["content"] is None) == (content == "")
        assert not (finished_run / "results" / "checkpoints" / f"{row_id}.pt").exists()
        assert (finished_run / "logs" / "synthesize" / f"{row_id}.log").read_text().strip()
    # FIRE is read by two rows and decoded once
    assert len(list((finished_run / "results" / "decoded").glob("*.wav"))) == 3
    assert (finished_run / "results" / "metrics.tsv").exists()
    assert (finished_run / "results" / "report" / "index.html").exists()


@pytest.mark.slow
@pytest.mark.browser
def test_gallery_of_a_real_run_plays_every_row_in_chromium(finished_run, tmp_path):
    import browser_check  # tests/browser_check.py

    browser_check.require_chromium()
    n_players = sum(3 if content else 2 for _, _, content, _ in ROWS)
    for page in ("index.html", "gallery-standalone.html"):  # media linked, then embedded
        report = browser_check.media_check(finished_run / "results" / "report" / page, tmp_path / "profile")
        assert sorted({a["row"] for a in report["audio"]}) == sorted(row[0].lower() for row in ROWS)
        assert len(report["audio"]) == n_players and len(report["images"]) == len(ROWS)
        for audio in report["audio"]:
            assert audio["error"] is None and audio["duration"] and audio["duration"] > 1.0, audio
        assert all(image["naturalWidth"] > 500 for image in report["images"]), report["images"]


@pytest.mark.slow
def test_nothing_changed_plans_nothing(finished_run):
    assert rule_counts(dry_run(finished_run)) == Counter()


@pytest.mark.slow
def test_runtime_key_change_plans_nothing(finished_run):
    assert rule_counts(dry_run(finished_run, "checkpoint_every=7", "save_every=0")) == Counter()


@pytest.mark.slow
def test_invert_only_key_reruns_only_invert_and_downstream(finished_run):
    jobs = dry_run(finished_run, "n_iter=5")
    counts = rule_counts(jobs)
    assert counts["invert"] == len(ROWS)
    assert not {"decode", "spectrogram", "synthesize", "plot"} & set(counts), counts
    assert set(counts) <= {"invert", "metrics", "collect_metrics", "gallery"}, counts


@pytest.mark.slow
def test_one_row_override_reruns_only_that_row(finished_run):
    rows = [list(r) for r in ROWS]
    rows[1][3] = "5"  # tex_stream: seed 5
    write_manifest(finished_run / "changed.tsv", HEADER, rows)
    jobs = dry_run(finished_run, manifest="changed.tsv")
    counts = rule_counts(jobs)
    assert ids_of(jobs, "synthesize") == ids_of(jobs, "invert") == {"tex_stream"}
    assert not {"decode", "spectrogram"} & set(counts), counts
    assert all(wc.get("shard") in (None, "tex_stream") for _, wc in jobs)  # None: collect/gallery/all


@pytest.mark.slow
def test_added_row_plans_only_its_jobs(finished_run):
    write_manifest(finished_run / "added.tsv", HEADER, ROWS + [["tex_fire_seed2", FIRE, "", "2"]])
    jobs = dry_run(finished_run, manifest="added.tsv")
    counts = rule_counts(jobs)
    assert ids_of(jobs, "synthesize") == ids_of(jobs, "invert") == {"tex_fire_seed2"}
    assert not {"decode", "spectrogram"} & set(counts), counts  # FIRE is already analysed
    assert all(wc.get("shard") in (None, "tex_fire_seed2") for _, wc in jobs)


@pytest.mark.slow
def test_undecodable_file_fails_only_its_rows(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    (workdir / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 50)
    write_manifest(workdir / "manifest.tsv", ["id", "style", "content"],
                   [["good", STREAM, ""], ["bad", "broken.wav", ""], ["bad_content", STREAM, "broken.wav"]])
    # First the good row alone, so that the failing run has finished results it must not touch.
    done = snakemake(workdir, "--cores", "2", "--config", *TINY, "--", "results/shards/invert/good.tsv")
    assert done.returncode == 0, done.stderr[-3000:]
    good = workdir / "results" / "audio" / "good.wav"
    before = good.stat().st_mtime_ns
    done = snakemake(workdir, "--cores", "2", "--keep-going", "--config", *TINY, "--",
                     *(f"results/shards/invert/{row}.tsv" for row in ("good", "bad", "bad_content")))
    assert done.returncode != 0
    assert good.stat().st_mtime_ns == before
    assert not (workdir / "results" / "audio" / "bad.wav").exists()
    assert not (workdir / "results" / "audio" / "bad_content.wav").exists()
    decode_logs = [p.read_text() for p in (workdir / "logs" / "decode").glob("broken-*.log")]
    assert decode_logs and all("cannot decode audio" in text for text in decode_logs), decode_logs
    assert "cannot decode audio" in done.stdout + done.stderr  # the one-line reason shows in the console


# --- shards: many rows per job ---------------------------------------------------------------------------

def test_shard_rows_fail_alone_and_the_record_names_them(tmp_path):
    import io

    from audiotex.errors import AudiotexError
    from audiotex.steps import failed_rows, run_rows, write_shard_record

    def step(row):
        if row["id"] == "bad":
            raise AudiotexError("bad.wav: cannot decode audio")
        if row["id"] == "bug":
            raise ValueError("an index out of range")
        return f"did {row['id']}"

    log = io.StringIO()
    results = run_rows([{"id": "ok1"}, {"id": "bad"}, {"id": "bug"}, {"id": "ok2"}], step, log)
    assert [(r.id, r.status, r.bug) for r in results] == [
        ("ok1", "done", False), ("bad", "failed", False), ("bug", "failed", True), ("ok2", "done", False)]
    text = log.getvalue()
    assert "row bad: failed" in text and "cannot decode audio" in text and "Traceback" in text
    record = tmp_path / "shard.tsv"
    # a bug (it may pass next time) leaves the shard without a record, so Snakemake reruns (retries) it
    with pytest.raises(AudiotexError, match=r"2 of 4 rows failed \(row 'bad': .*; row 'bug': ValueError"):
        write_shard_record(results, record)
    assert not record.exists()
    # so does a shard whose every row failed
    with pytest.raises(AudiotexError, match=r"1 of 1 rows failed \(row 'bad'"):
        write_shard_record([results[1]], record)
    assert not record.exists()
    # a row's own fault is recorded beside the other rows, whose later steps then go on
    summary = write_shard_record([results[0], results[1], results[3]], record)
    assert "2 rows done" in summary and "1 failed (bad" in summary
    assert [line.split("\t")[:2] for line in record.read_text().splitlines()] == [
        ["id", "status"], ["ok1", "done"], ["bad", "failed"], ["ok2", "done"]]
    assert "cannot decode audio" in record.read_text()
    assert failed_rows(record) == {"bad": "bad.wav: cannot decode audio"}


def test_later_steps_fail_the_rows_an_earlier_step_failed_without_running_them(tmp_path):
    """Files an earlier run left for a row (before its cell was made bad) are not this run's: a row the
    record lists as failed fails again at every later step, with the first step's reason."""
    from audiotex.steps import invert_files, metrics_files, plot_files

    stale = tmp_path / "stale.npy"
    stale.write_bytes(b"left by an earlier run")
    row = {"id": "bad", "npy": str(stale), "synthesized": str(stale), "audio": str(tmp_path / "bad.wav"),
           "wav": str(tmp_path / "bad.wav"), "report": str(tmp_path / "bad.json"), "png": str(tmp_path / "bad.png"),
           "tsv": str(tmp_path / "bad.tsv"), "settings": {}, "style": str(stale), "content": None,
           "inversion": str(tmp_path / "bad.json")}
    before = {"bad": "output of 4 frames is too short"}
    for results in (invert_files([row], failed_before=before), metrics_files([row], before), plot_files([row], before)):
        assert [(r.id, r.status, r.bug) for r in results] == [("bad", "failed", False)]
        assert "an earlier step failed: output of 4 frames is too short" in results[0].message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stale.npy"]  # nothing ran, nothing was written


def test_remake_stamp_changes_once_when_a_vouched_row_file_goes_or_is_newer(tmp_path):
    import os

    from audiotex.steps import RowResult, remake_stamp, rows_to_remake, vouched_path, write_shard_record

    record = tmp_path / "shard.tsv"
    files = {row_id: [tmp_path / f"{row_id}.wav", tmp_path / f"{row_id}.json"] for row_id in ("a", "b", "bad", "new")}
    for row_id in ("a", "b"):
        for f in files[row_id]:
            f.write_text(row_id)
            os.utime(f, (1000, 1000))
    assert remake_stamp(record, files) == ""  # no job has run: nothing to remake
    results = [RowResult("a", "done", 1.0), RowResult("b", "up to date", 0.0),
               RowResult("bad", "failed", 0.0, "too short")]
    write_shard_record(results, record)  # "new" was added to the shard after this record
    os.utime(vouched_path(record), (2000, 2000))
    # a failed row has no files to keep and a row added since reruns its shard through its settings
    assert rows_to_remake(record, files) == [] and remake_stamp(record, files) == ""

    files["b"][1].unlink()  # deleted to be made again
    os.utime(files["a"][0], (3000, 3000))  # written after the record (by another `shards` layout's job)
    assert rows_to_remake(record, files) == ["a", "b"]
    stamp = remake_stamp(record, files)
    assert stamp.startswith("a,b after ")
    record.unlink()  # Snakemake deletes the record before it starts the job: the job is given the same value
    assert remake_stamp(record, files) == stamp
    files["b"][1].write_text("b")  # the job remakes the rows and vouches with the value it was given
    write_shard_record(results, record, stamp)
    assert remake_stamp(record, files) == stamp  # the plan after it: the value the job ran with, no rerun
    files["a"][0].unlink()
    assert remake_stamp(record, files) not in ("", stamp)  # the same row gone again: another rerun


def test_outputs_up_to_date_compares_times(tmp_path):
    import os

    from audiotex.steps import outputs_up_to_date

    source, made = tmp_path / "in.npy", tmp_path / "out.wav"
    source.write_text("x")
    assert not outputs_up_to_date([made], [source])  # missing output
    made.write_text("y")
    os.utime(source, (1000, 1000))
    os.utime(made, (2000, 2000))
    assert outputs_up_to_date([made], [source, None])
    os.utime(source, (3000, 3000))
    assert not outputs_up_to_date([made], [source])  # input changed since


SHARD_ROWS = [[f"r{i:02d}", (FIRE, STREAM, DRUMS)[i % 3], SPEECH if i % 4 == 3 else "", ""] for i in range(24)]


def test_shards_plan_one_job_per_shard_and_stage(workflow_dir):
    from audiotex.manifest import shard_rows

    write_manifest(workflow_dir / "manifest.tsv", HEADER, SHARD_ROWS)
    jobs = dry_run(workflow_dir, "shards=4")
    shards = set(shard_rows([row[0] for row in SHARD_ROWS], 4))
    assert len(shards) == 4
    for rule in ("synthesize", "invert", "metrics", "plot"):
        assert ids_of(jobs, rule) == shards, rule
    counts = rule_counts(jobs)
    assert counts["decode"] == counts["spectrogram"] == 4  # three styles and one content clip, shared
    assert sum(counts.values()) == 8 + 4 * 4 + 2  # + collect_metrics and gallery


def test_changed_or_added_row_plans_only_its_shard(finished_shards):
    from audiotex.manifest import shard_rows

    ids = [row[0] for row in SHARD_ROWS]
    rows = [list(r) for r in SHARD_ROWS]
    rows[5][3] = "9"  # r05: another seed
    write_manifest(finished_shards / "changed.tsv", HEADER, rows)
    shard_of = {row_id: name for name, members in shard_rows(ids + ["added"], 4).items() for row_id in members}
    jobs = dry_run(finished_shards, "shards=4", manifest="changed.tsv")
    assert ids_of(jobs, "synthesize") == ids_of(jobs, "invert") == {shard_of["r05"]}
    assert not {"decode", "spectrogram"} & set(rule_counts(jobs))
    write_manifest(finished_shards / "added.tsv", HEADER, SHARD_ROWS + [["added", STREAM, "", "3"]])
    jobs = dry_run(finished_shards, "shards=4", manifest="added.tsv")
    assert ids_of(jobs, "synthesize") == ids_of(jobs, "invert") == {shard_of["added"]}


@pytest.fixture(scope="module")
def finished_shards(tmp_path_factory):
    """A finished run of SHARD_ROWS in 4 shards (only synthesis and inversion: what the plans test needs)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("shards") / "workflow")
    write_manifest(workdir / "manifest.tsv", HEADER, SHARD_ROWS)
    done = snakemake(workdir, "--cores", "2", "--resources", "gpu=1", "--config", *TINY, "shards=4", "--",
                     *(f"results/shards/invert/shard-{i}-of-4.tsv" for i in range(4)))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return workdir


def _mtimes(workdir: Path, pattern: str) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (workdir / "results").glob(pattern)}


@pytest.mark.slow
def test_deleted_row_files_and_rows_made_under_another_layout_are_made_again(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    rows = [["a", FIRE, "", ""], ["b", STREAM, "", ""]]
    write_manifest(workdir / "manifest.tsv", HEADER, rows)
    run = ["--cores", "2", "--resources", "gpu=1", "--config", *TINY]
    assert snakemake(workdir, *run).returncode == 0

    (workdir / "results" / "audio" / "a.wav").unlink()  # one step's file of one row
    (workdir / "results" / "synthesized" / "b.npy").unlink()  # a row's first step: everything after follows
    jobs = dry_run(workdir)
    assert ids_of(jobs, "invert") == {"a", "b"} and ids_of(jobs, "synthesize") == {"b"}
    assert ids_of(jobs, "plot") == {"b"}  # a's plot reads its spectrogram, which stays
    done = snakemake(workdir, *run)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (workdir / "results" / "audio" / "a.wav").exists()
    assert (workdir / "results" / "synthesized" / "b.npy").exists()
    assert rule_counts(dry_run(workdir)) == Counter()  # one rerun, then nothing to do

    # a row changed under another layout, then changed back under this one: this layout's records are
    # older than the row's files, so its shard reruns and the row is made with this run's settings again
    rows[0][3] = "5"
    write_manifest(workdir / "seed5.tsv", HEADER, rows)
    assert snakemake(workdir, *run, "shards=1", "manifest=seed5.tsv").returncode == 0
    assert json.loads((workdir / "results" / "synthesized" / "a.json").read_text())["settings"]["seed"] == 5
    jobs = dry_run(workdir)
    assert ids_of(jobs, "synthesize") == {"a"}
    assert snakemake(workdir, *run).returncode == 0
    assert json.loads((workdir / "results" / "synthesized" / "a.json").read_text())["settings"]["seed"] == 0
    assert rule_counts(dry_run(workdir)) == Counter()


@pytest.mark.slow
def test_bad_row_in_a_shard_fails_alone_and_the_rerun_redoes_only_it(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    header = ["id", "style", "content", "duration"]
    rows = [["good1", FIRE, "", ""], ["bad", STREAM, "", "0.05"], ["good2", STREAM, SPEECH, ""]]
    write_manifest(workdir / "manifest.tsv", header, rows)
    config = [*TINY, "shards=1"]  # one shard holds all three rows
    done = snakemake(workdir, "--cores", "2", "--keep-going", "--config", *config)
    assert done.returncode != 0  # the shard's metrics job fails, naming the bad row
    log = (workdir / "logs" / "synthesize" / "shard-0-of-1.log").read_text()
    assert "row bad: failed" in log and "too short: the largest kernel" in log, log
    assert "row 'bad'" in done.stdout + done.stderr  # the console says which row
    # the other rows went on: synthesized, inverted, measured and plotted; the record names the bad row
    written = _mtimes(workdir, "synthesized/*")
    assert {"good1.npy", "good1.json", "good1.loss.tsv", "good2.npy"} <= written.keys()
    assert not any(name.startswith("bad.") for name in written)
    record = (workdir / "results" / "shards" / "synthesize" / "shard-0-of-1.tsv").read_text()
    assert "bad\tfailed" in record and "good1\tdone" in record, record
    for row_id in ("good1", "good2"):
        for path in (f"audio/{row_id}.wav", f"metrics/{row_id}.tsv", f"plots/{row_id}.png"):
            assert (workdir / "results" / path).exists(), path
    assert not (workdir / "results" / "audio" / "bad.wav").exists()
    assert not (workdir / "results" / "metrics.tsv").exists()  # the run's table waits for every row

    rows[1][3] = ""  # fix the bad row: the rerun of its shard redoes that row only
    write_manifest(workdir / "manifest.tsv", header, rows)
    done = snakemake(workdir, "--cores", "2", "--keep-going", "--config", *config)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (workdir / "logs" / "synthesize" / "shard-0-of-1.log").read_text()
    assert "row good1: up to date" in log and "row good2: up to date" in log and "row bad: done" in log, log
    after = _mtimes(workdir, "synthesized/*")
    assert all(after[name] == mtime for name, mtime in written.items())
    for row_id, *_ in rows:
        assert (workdir / "results" / "audio" / f"{row_id}.wav").exists()
        assert (workdir / "results" / "metrics" / f"{row_id}.tsv").exists()


@pytest.mark.slow
def test_killed_shard_reruns_only_unfinished_rows_from_their_checkpoints(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    workdir = copy_workflow(tmp_path / "workflow")
    header = ["id", "style", "content", "iterations"]
    # long enough that it cannot finish between the checks below and the kill, batched with "first" or not
    write_manifest(workdir / "manifest.tsv", header, [["first", FIRE, "", ""], ["long", STREAM, "", "300"]])
    config = [*TINY, "checkpoint_every=2", "shards=1"]
    target = "results/shards/synthesize/shard-0-of-1.tsv"
    checkpoint = workdir / "results" / "checkpoints" / "long.pt"
    job = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--config", *config, "--", target],
                           cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        first_npy = workdir / "results" / "synthesized" / "first.npy"
        while not (checkpoint.exists() and first_npy.exists()) and time.monotonic() < deadline \
                and job.poll() is None:
            time.sleep(0.05)
        assert checkpoint.exists(), "the long row never saved a checkpoint"
        time.sleep(0.5)  # a few more iterations
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the whole job, as a lost node or preemption would
        job.wait()
    first = _mtimes(workdir, "synthesized/first*")
    assert "first.npy" in first and not (workdir / "results" / "synthesized" / "long.npy").exists()

    assert snakemake(workdir, "--unlock", "--config", *config).returncode == 0  # the killed run's lock
    done = snakemake(workdir, "--cores", "2", "--rerun-incomplete", "--config", *config, "--", target)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert _mtimes(workdir, "synthesized/first*") == first  # the finished row was not redone
    sidecar = json.loads((workdir / "results" / "synthesized" / "long.json").read_text())
    assert sidecar["resumed_from"] and sidecar["resumed_from"] >= 2 and sidecar["iterations"] == 300
    assert not checkpoint.exists()
    log = (workdir / "logs" / "synthesize" / "shard-0-of-1.log").read_text()
    assert "row first: up to date" in log and f"resumed from {sidecar['resumed_from']}" in log, log
