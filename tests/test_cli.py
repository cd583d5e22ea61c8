"""The audiotex command end to end on real clips, and its one-line errors."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotex.cli import main

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
TINY = ["--preset", "fast", "--set", "iterations=6", "--set", "n_iter=8", "--set", "sr=8000",
        "--set", "layers=5x32", "--quiet"]


def test_texture_defaults_to_style_length_and_honours_duration(tmp_path, capsys):
    out = tmp_path / "tex.wav"
    assert main(["texture", str(DEMO / "env_water_stream_minetest.ogg"), str(out), *TINY,
                 "--set", "input_duration=1.5"]) == 0
    info = sf.info(out)
    assert info.samplerate == 8000 and info.duration == pytest.approx(1.5, abs=0.05)
    assert "spectral convergence" in capsys.readouterr().out
    longer = tmp_path / "long.wav"
    assert main(["texture", str(DEMO / "env_water_stream_minetest.ogg"), str(longer), *TINY,
                 "--set", "input_duration=1.5", "--duration", "4"]) == 0
    assert sf.info(longer).duration == pytest.approx(4.0, abs=0.05)


def test_transfer_is_as_long_as_the_content(tmp_path):
    out = tmp_path / "tr.wav"
    assert main(["transfer", "--content", str(DEMO / "sp_arctic_a0009.wav"), "--style",
                 str(DEMO / "env_fire_furnace_minetest.ogg"), str(out), *TINY]) == 0
    content_seconds = sf.info(DEMO / "sp_arctic_a0009.wav").duration
    assert sf.info(out).duration == pytest.approx(content_seconds, abs=0.05)
    y, _ = sf.read(out)
    assert np.abs(y).max() <= 0.99 + 1e-4 and np.abs(y).max() > 1e-3


def test_three_steps_match_the_seed_workflow(tmp_path):
    """spectrogram -> synthesize -> invert with the ulyanov preset: the seed notebook's values reach every
    file (only the iteration counts are cut for time)."""
    import json

    from audiotex import params as P

    seed = P.PRESETS["ulyanov"]
    spec, out_npy, wav = tmp_path / "s.npy", tmp_path / "o.npy", tmp_path / "o.wav"
    assert main(["spectrogram", str(DEMO / "sp_arctic_a0009.wav"), str(spec), "--preset", "ulyanov",
                 "--duration", "1"]) == 0
    assert np.load(spec).shape == (1025, 44)  # 1 s at 22050 Hz, hop 512, n_fft 2048
    assert main(["synthesize", "--style", str(spec), str(out_npy), "--preset", "ulyanov", "--set", "iterations=2",
                 "--quiet"]) == 0
    meta = json.loads((tmp_path / "o.json").read_text())
    assert (meta["sr"], meta["n_fft"], meta["hop_length"]) == (22050, 2048, 512)
    for key in ("layers", "style_weight", "content_weight", "gram_norm", "loss", "optimizer", "init",
                "init_scale", "normalize_gradients"):
        assert meta["settings"][key] == seed[key], key
    assert meta["settings"]["layers"] == "11x4096" and meta["iterations"] == 2
    log = (tmp_path / "o.loss.tsv").read_text().splitlines()
    assert len(log) == 3 and "style" in log[0].split("\t")
    assert main(["invert", str(out_npy), str(wav), "--preset", "ulyanov", "--n-iter", "4"]) == 0
    info = sf.info(wav)
    assert info.samplerate == 22050  # taken from the sidecar, not told again
    assert info.frames == 512 * (44 - 1)


def _silent(p):
    sf.write(p, np.zeros(8000), 8000)


@pytest.mark.parametrize("make,args,fragment", [
    (None, ["texture", "{missing}", "{out}"], "no such file"),
    (lambda p: p.write_bytes(b""), ["texture", "{bad}", "{out}"], "empty"),
    (lambda p: p.write_bytes(b"not audio at all" * 100), ["texture", "{bad}", "{out}"], "cannot decode"),
    (_silent, ["texture", "{bad}", "{out}"], "silent"),
    (lambda p: sf.write(p, np.random.default_rng(0).standard_normal(3000) * 0.1, 22050),
     ["texture", "{bad}", "{out}", "--preset", "ulyanov"], "too short: the largest kernel"),
    (None, ["texture", str(DEMO / "sp_arctic_a0009.wav"), "{out}", "--set", "itrations=3"], "unknown key 'itrations'"),
    (None, ["texture", str(DEMO / "sp_arctic_a0009.wav"), "{out}", "--set", "iterations=0"], "out of range"),
    (None, ["texture", str(DEMO / "sp_arctic_a0009.wav"), "{out}", *TINY, "--set", "optimizer=adam",
            "--set", "learning_rate=1e6"], "diverged"),
])
def test_bad_input_one_line_exit_2_no_output(tmp_path, make, args, fragment):
    bad = tmp_path / "bad.wav"
    if make is not None:
        make(bad)
    out = tmp_path / "out.wav"
    argv = [a.format(missing=tmp_path / "missing.wav", bad=bad, out=out) for a in args]
    proc = subprocess.run([sys.executable, "-m", "audiotex.cli", *argv], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.startswith("audiotex: error:")]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name != "bad.wav"] == []


@pytest.mark.parametrize("command,output,fragment", [
    ("texture", "out.mp3", "cannot write 16-bit audio as a .mp3 file"),
    ("texture", "out", "without an extension"),
    ("texture", "folder", "is a folder"),
    ("texture", "afile/out.wav", "which is a file"),
    ("invert", "out.ogg", "as a .ogg file"),
    ("spectrogram", "folder", "is a folder"),
    ("spectrogram", "s.json", "cannot be named .json"),
    ("synthesize", "s.json", "cannot be named .json"),
])
def test_an_unwritable_output_is_refused_before_any_work(tmp_path, capsys, monkeypatch, command, output,
                                                         fragment):
    from audiotex import steps

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the output path was checked")

    for name in ("spectrogram_file", "synthesize_file", "invert_file"):
        monkeypatch.setattr(steps, name, no_work)
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    out = tmp_path / output
    argv = {"texture": ["texture", str(DEMO / "sp_arctic_a0009.wav"), str(out)],
            "invert": ["invert", str(tmp_path / "in.npy"), str(out)],
            "spectrogram": ["spectrogram", str(DEMO / "sp_arctic_a0009.wav"), str(out)],
            "synthesize": ["synthesize", "--style", str(tmp_path / "in.npy"), str(out)]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"audiotex: error: {out}: ") and fragment in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "folder"]


def test_content_with_other_settings_names_both_files(tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    main(["spectrogram", str(DEMO / "sp_arctic_a0009.wav"), str(a), "--sr", "8000", "--n-fft", "256"])
    main(["spectrogram", str(DEMO / "sp_arctic_a0009.wav"), str(b), "--sr", "8000", "--n-fft", "512"])
    proc = subprocess.run([sys.executable, "-m", "audiotex.cli", "synthesize", "--style", str(a), "--content", str(b),
                           str(tmp_path / "o.npy")], capture_output=True, text=True)
    assert proc.returncode == 2 and "n_fft=512 differs" in proc.stderr
    assert not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize("command,stages", [
    ("texture", None), ("transfer", None), ("spectrogram", ("decode", "spectrogram")),
    ("synthesize", ("synthesize", "runtime")), ("invert", ("invert", "runtime"))])
def test_help_documents_every_key(command, stages):
    """texture and transfer read every key of the vocabulary; each step documents the keys it reads."""
    import re

    from audiotex import params as P

    proc = subprocess.run([sys.executable, "-m", "audiotex.cli", command, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    documented = set(re.findall(r"^  (\w+) +(?:int|float|str|bool) ", proc.stdout, re.MULTILINE))
    if "--preset {" in proc.stdout:  # the one key with its own option instead of a table line
        documented.add("preset")
    expected = set(P.PARAMS) if stages is None else set(P.keys_for(stages)) | {"preset"}
    assert expected <= documented, sorted(expected - documented)


def test_metrics_command(tmp_path, capsys):
    assert main(["metrics", str(DEMO / "env_fire_furnace_minetest.ogg"), "--style",
                 str(DEMO / "env_fire_furnace_minetest.ogg"), "--sr", "8000"]) == 0
    table = dict(line.split("\t") for line in capsys.readouterr().out.strip().splitlines())
    assert float(table["texture_distance"]) == pytest.approx(0.0, abs=1e-9)
    assert float(table["copy_score"]) > 0.99


def test_invert_of_an_analysed_spectrogram_refines_to_itself(tmp_path):
    """refine_target=statistics needs a synthesis record; an analysed spectrogram is refined to itself."""
    spec, wav = tmp_path / "s.npy", tmp_path / "s.wav"
    assert main(["spectrogram", str(DEMO / "sp_arctic_a0009.wav"), str(spec), "--sr", "8000", "--n-fft", "256",
                 "--duration", "1"]) == 0
    assert main(["invert", str(spec), str(wav), "--n-iter", "4", "--set", "refine_target=statistics",
                 "--set", "refine_iterations=3"]) == 0
    assert sf.info(wav).duration == pytest.approx(1.0, abs=0.05)


def test_save_every_keeps_intermediate_spectrograms(tmp_path):
    spec, out = tmp_path / "s.npy", tmp_path / "o.npy"
    main(["spectrogram", str(DEMO / "sp_arctic_a0009.wav"), str(spec), "--sr", "8000", "--n-fft", "256",
          "--duration", "1"])
    assert main(["synthesize", "--style", str(spec), str(out), "--set", "iterations=4", "--set", "layers=5x16",
                 "--set", "save_every=2", "--quiet"]) == 0
    saved = sorted(p.name for p in tmp_path.glob("o.iter*.npy"))
    assert saved == ["o.iter00002.npy", "o.iter00004.npy"]
    # each says what it is: the synthesis at that iteration (it used to carry the style clip's sidecar)
    sidecar = json.loads((tmp_path / "o.iter00002.json").read_text())
    assert sidecar["iteration"] == 2 and sidecar["style"] == str(spec) and "source" not in sidecar
    assert sidecar["shape"] == list(np.load(tmp_path / "o.iter00002.npy").shape)
    assert sidecar["settings"] == json.loads((tmp_path / "o.json").read_text())["settings"]
    first, last = np.load(tmp_path / saved[0]), np.load(out)
    assert np.array_equal(np.load(tmp_path / saved[1]), last) and not np.array_equal(first, last)


def test_a_loop_is_as_long_as_asked(tmp_path):
    """A loop's frames wrap around: one frame fewer than a signal with two ends has (it came out one hop,
    16 ms here, too long)."""
    lengths = {}
    for loop in ("false", "true"):
        out = tmp_path / f"{loop}.wav"
        assert main(["texture", str(DEMO / "env_fire_furnace_minetest.ogg"), str(out), *TINY,
                     "--set", "input_duration=1.5", "--duration", "2", "--set", f"loop={loop}"]) == 0
        lengths[loop] = sf.info(out).frames
    assert lengths == {"false": 16000, "true": 16000}
    # without a duration, as long as the style clip (1.5 s: 93.75 hops), to the hop
    out = tmp_path / "style_long.wav"
    assert main(["texture", str(DEMO / "env_fire_furnace_minetest.ogg"), str(out), *TINY,
                 "--set", "input_duration=1.5", "--set", "loop=true"]) == 0
    assert sf.info(out).frames == 93 * 128


def test_invert_of_a_transfer_uses_the_transfer_settings(tmp_path, monkeypatch):
    """The sidecar says it is a transfer, and the preset's transfer values (no refinement) apply."""
    from audiotex import params as P

    style, content, out = tmp_path / "st.npy", tmp_path / "ct.npy", tmp_path / "o.npy"
    for src, dst in ((DEMO / "env_fire_furnace_minetest.ogg", style), (DEMO / "sp_arctic_a0009.wav", content)):
        assert main(["spectrogram", str(src), str(dst), "--sr", "8000", "--n-fft", "256", "--duration", "0.5"]) == 0
    assert main(["synthesize", "--style", str(style), "--content", str(content), str(out), "--set", "iterations=2",
                 "--set", "layers=5x16", "--quiet"]) == 0
    used = []
    monkeypatch.setattr("audiotex.steps.invert_file", lambda src, dst, s, device: used.append(s) or
                        {"spectral_convergence": 0.0, "wall_seconds": 0.0, "device": "cpu"})
    assert main(["invert", str(out), str(tmp_path / "o.wav")]) == 0
    assert main(["invert", str(style), str(tmp_path / "s.wav")]) == 0  # an analysed clip: a texture's
    assert used[0]["refine_iterations"] == P.resolve({}, kind="transfer")["refine_iterations"] == 0
    assert used[1]["refine_iterations"] == P.resolve({})["refine_iterations"] > 0


def test_texture_with_the_rhythm_term_and_a_pooled_layer(tmp_path):
    """fast's pooled layer and autocorr_weight=1 used to stop at iteration 1 as 'diverged' (issue 11, item 1)."""
    out = tmp_path / "rhythm.wav"
    assert main(["texture", str(DEMO / "env_fire_furnace_minetest.ogg"), str(out), "--preset", "fast",
                 "--duration", "2", "--set", "autocorr_weight=1", "--set", "iterations=3", "--set", "n_iter=4",
                 "--quiet"]) == 0
    y, sr = sf.read(out)
    assert len(y) / sr == pytest.approx(2.0, abs=0.05) and np.isfinite(y).all() and np.abs(y).max() > 1e-3


def test_presets_shows_the_transfer_defaults(capsys):
    from audiotex import params as P

    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    default_block = out.split("[default]")[1].split("\n[")[0]
    assert "with a content clip (style transfer)" in default_block
    texture, transfer = P.resolve({}), P.resolve({}, kind="transfer")
    changed = [key for key in P.PARAMS if texture[key] != transfer[key]]
    assert changed
    for key in changed:  # listed under the transfer heading, with the transfer value
        assert f"  {key} = {transfer[key]}" in default_block.split("style transfer")[1]


def test_metrics_command_with_a_content_prints_the_transfer_metrics(tmp_path, capsys):
    speech = str(DEMO / "sp_arctic_a0009.wav")
    assert main(["metrics", speech, "--content", speech, "--style", str(DEMO / "env_fire_furnace_minetest.ogg"),
                 "--sr", "8000"]) == 0
    table = dict(line.split("\t") for line in capsys.readouterr().out.strip().splitlines())
    assert float(table["content_kept"]) == pytest.approx(1.0, abs=1e-3)  # the content is its own best keeper
    assert float(table["style_moved"]) == pytest.approx(0.0, abs=1e-3)
    assert float(table["hole_db"]) <= 0.0


def test_metrics_command_errors_are_one_line_and_short_outputs_skip_the_two_sample_test(tmp_path, capsys):
    fire = DEMO / "env_fire_furnace_minetest.ogg"
    assert main(["metrics", str(fire), "--style", str(fire), "--sr", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--sr" in err and "out of range" in err
    y, sr = sf.read(fire)
    short = tmp_path / "short.wav"
    sf.write(short, y[: sr], sr)  # 1 s: too short for the two-sample test's folds
    assert main(["metrics", str(short), "--style", str(fire), "--sr", "8000"]) == 0
    table = dict(line.split("\t") for line in capsys.readouterr().out.strip().splitlines())
    assert table["two_sample_accuracy"] == "" and float(table["two_sample_floor"]) > 0


def test_invert_names_a_missing_style_before_griffin_lim(tmp_path, capsys, monkeypatch):
    """The statistics refinement needs the style spectrogram its sidecar names; when it is gone, the error
    says so (and how to invert without it) before any Griffin-Lim is spent."""
    from audiotex import inversion

    style, out = tmp_path / "st.npy", tmp_path / "o.npy"
    assert main(["spectrogram", str(DEMO / "sp_arctic_a0009.wav"), str(style), *TINY[:2], "--duration", "0.5"]) == 0
    assert main(["synthesize", "--style", str(style), str(out), *TINY]) == 0
    style.unlink()

    def no_griffin_lim(*args, **kwargs):
        raise AssertionError("Griffin-Lim ran before the inputs were checked")

    monkeypatch.setattr(inversion, "griffin_lim", no_griffin_lim)
    assert main(["invert", str(out), str(tmp_path / "o.wav"), "--set", "refine_iterations=2",
                 "--set", "refine_target=statistics"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"audiotex: error: {out}: refine_target=statistics needs the style") and "st.npy" in err
    assert "refine_iterations=0" in err and not (tmp_path / "o.wav").exists()


def test_a_killed_synthesis_resumes_from_its_checkpoint_beside_the_output(tmp_path, monkeypatch):
    """checkpoint_every is honoured by the commands too: the state goes to OUT.checkpoint.pt, the same
    command run again resumes from it, and it is removed when the synthesis finishes."""
    from audiotex import cli

    spec, out = tmp_path / "s.npy", tmp_path / "o.npy"
    assert main(["spectrogram", str(DEMO / "sp_arctic_a0009.wav"), str(spec), *TINY[:2], "--duration", "1"]) == 0
    args = ["synthesize", "--style", str(spec), str(out), *TINY[:-1], "--set", "checkpoint_every=2"]

    def killed_at_5(total, quiet):
        def update(iteration, terms):
            if iteration == 5:
                raise KeyboardInterrupt
        return update, None

    with monkeypatch.context() as patch:
        patch.setattr(cli, "_progress", killed_at_5)
        assert main(args) == 130
    checkpoint = cli.checkpoint_path(out)
    assert checkpoint == tmp_path / "o.npy.checkpoint.pt" and checkpoint.exists() and not out.exists()
    assert main(args) == 0
    assert json.loads((tmp_path / "o.json").read_text())["resumed_from"] == 4
    assert not checkpoint.exists()
    # without checkpoints a killed run leaves nothing behind, and the next starts afresh
    with monkeypatch.context() as patch:
        patch.setattr(cli, "_progress", killed_at_5)
        assert main([*args[:-2], "--set", "checkpoint_every=0"]) == 130
    assert not checkpoint.exists()


def test_texture_with_save_every_keeps_its_spectrograms_beside_the_output(tmp_path):
    out = tmp_path / "t.wav"
    assert main(["texture", str(DEMO / "env_fire_furnace_minetest.ogg"), str(out), *TINY,
                 "--set", "input_duration=1", "--set", "save_every=3"]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"t.wav", "t.npy", "t.json", "t.loss.tsv", "t.iter00003.npy", "t.iter00006.npy", "t.style.npy"} <= names
    assert np.array_equal(np.load(tmp_path / "t.iter00006.npy"), np.load(tmp_path / "t.npy"))
    # the final spectrogram's sidecar names a style spectrogram that is still there: it inverts again
    assert main(["invert", str(tmp_path / "t.npy"), str(tmp_path / "again.wav"), "--n-iter", "4",
                 "--set", "refine_iterations=2", "--set", "refine_target=statistics"]) == 0
    # without save_every only the audio is written
    assert main(["texture", str(DEMO / "env_fire_furnace_minetest.ogg"), str(tmp_path / "only" / "t.wav"), *TINY,
                 "--set", "input_duration=1"]) == 0
    assert [p.name for p in (tmp_path / "only").iterdir()] == ["t.wav"]
