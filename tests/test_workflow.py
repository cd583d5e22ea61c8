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
    return {wildcards.get("id") for name, wildcards in jobs if name == rule}


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
    synth = [wc for rule, wc in jobs if rule == "synthesize"]
    assert {wc["id"] for wc in synth} == {"fire1", "fire2", "fire_on_speech", "fire_wide"}


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
    assert all(wc.get("id") in (None, "tex_stream") for _, wc in jobs)  # None: collect/gallery/all


@pytest.mark.slow
def test_added_row_plans_only_its_jobs(finished_run):
    write_manifest(finished_run / "added.tsv", HEADER, ROWS + [["tex_fire_seed2", FIRE, "", "2"]])
    jobs = dry_run(finished_run, manifest="added.tsv")
    counts = rule_counts(jobs)
    assert ids_of(jobs, "synthesize") == ids_of(jobs, "invert") == {"tex_fire_seed2"}
    assert not {"decode", "spectrogram"} & set(counts), counts  # FIRE is already analysed
    assert all(wc.get("id") in (None, "tex_fire_seed2") for _, wc in jobs)


@pytest.mark.slow
def test_undecodable_file_fails_only_its_rows(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    (workdir / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 50)
    write_manifest(workdir / "manifest.tsv", ["id", "style", "content"],
                   [["good", STREAM, ""], ["bad", "broken.wav", ""], ["bad_content", STREAM, "broken.wav"]])
    # First the good row alone, so that the failing run has finished results it must not touch.
    done = snakemake(workdir, "--cores", "2", "--config", *TINY, "--", "results/audio/good.wav")
    assert done.returncode == 0, done.stderr[-3000:]
    good = workdir / "results" / "audio" / "good.wav"
    before = good.stat().st_mtime_ns
    done = snakemake(workdir, "--cores", "2", "--keep-going", "--config", *TINY, "--", "results/audio/good.wav",
                     "results/audio/bad.wav", "results/audio/bad_content.wav")
    assert done.returncode != 0
    assert good.stat().st_mtime_ns == before
    assert not (workdir / "results" / "audio" / "bad.wav").exists()
    assert not (workdir / "results" / "audio" / "bad_content.wav").exists()
    decode_logs = [p.read_text() for p in (workdir / "logs" / "decode").glob("broken-*.log")]
    assert decode_logs and all("cannot decode audio" in text for text in decode_logs), decode_logs
    assert "cannot decode audio" in done.stdout + done.stderr  # the one-line reason shows in the console
