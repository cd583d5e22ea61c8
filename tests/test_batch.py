"""Batched synthesis: every row of a batch ends where it ends alone, and resumes alone after a kill.

Tolerances: batched convolutions may sum in another order than single-row ones, so results agree to
float rounding amplified by the optimisation, not bit for bit. With Adam, after 20 iterations with the
``fast`` preset's layers, a row batched and alone differ by less than 1e-4 in log-magnitude. L-BFGS's line
search decides on float32 losses: its first step is tiny against a loss in the thousands, so rounding that
depends on the batch size (the convolution a batch of 4 gets differs from a batch of 1's on an AVX-512 Xeon)
can tip a step's acceptance, and a row batched and alone then end 0.02-0.04 apart (0.3 after one
iteration; their losses a step ahead or behind), while two different rows end about 3.5 apart. So for
L-BFGS the exact check is that a row does not depend on what the other rows of its batch hold, and batched
and alone are compared against that 3.5.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audiotex import params as P
from audiotex import steps
from audiotex.errors import AudiotexError
from audiotex.spectrogram import load_spectrogram
from audiotex.synthesis import SynthesisProblem, SynthesisResult, synthesize, synthesize_batch

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
CLIPS = ("env_fire_furnace_minetest.ogg", "env_water_stream_minetest.ogg", "env_machinery_3dprinter_sonicpi.flac")
#: the fast preset (its layers, band and moment terms) at a low sample rate, so a test takes seconds
FAST = {"preset": "fast", "sr": 8000, "n_fft": 256, "iterations": 20}
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def styles(tmp_path_factory) -> list[np.ndarray]:
    folder = tmp_path_factory.mktemp("batch")
    specs = []
    for name in CLIPS:
        steps.spectrogram_file(DEMO / name, folder / f"{name}.npy", {**FAST, "input_duration": 1.5})
        specs.append(load_spectrogram(folder / f"{name}.npy")[0])
    return specs


def settings(**kw) -> dict:
    return P.stage_settings(P.resolve(FAST, kw), "synthesize")


def alone(problem: SynthesisProblem) -> SynthesisResult:
    return synthesize(problem.style, problem.content, n_frames=problem.n_frames, settings=problem.settings)


def assert_same_row(batched: SynthesisResult, single: SynthesisResult) -> None:
    difference = float(np.abs(batched.spectrogram - single.spectrogram).max())
    print(f"max |batched - single| = {difference:.3g}")
    assert difference < TOLERANCE, difference
    assert [r["iteration"] for r in batched.losses] == [r["iteration"] for r in single.losses]
    assert np.allclose([r["loss"] for r in batched.losses], [r["loss"] for r in single.losses], rtol=1e-3)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_each_batched_row_equals_its_single_row_result(styles, optimizer):
    s = settings(optimizer=optimizer)
    # three styles, and one row that stops earlier than the others in the same batch
    problems = [SynthesisProblem(style, None, 70, s) for style in styles]
    problems.append(SynthesisProblem(styles[0], None, 70, {**s, "iterations": 12}))
    seen_iterations: dict[int, list[int]] = {}

    def progress(row, iteration, terms):
        seen_iterations.setdefault(iteration, []).append(row)

    results = synthesize_batch(problems, progress=progress)
    assert seen_iterations[1] == [0, 1, 2, 3], "the rows must run as one batch, not one after another"
    assert seen_iterations[13] == [0, 1, 2]
    # different styles really made different rows (so the checks below are row by row)
    apart = float(np.abs(results[0].spectrogram - results[1].spectrogram).max())
    assert apart > 0.1
    # a row ends the same whatever the other rows of its batch hold: swap two of them
    swapped = synthesize_batch([problems[0], problems[2], problems[1], problems[3]])
    for row, position in ((0, 0), (1, 2), (2, 1), (3, 3)):
        assert_same_row(swapped[position], results[row])
    for problem, result in zip(problems, results):
        assert isinstance(result, SynthesisResult)
        assert len(result.losses) == problem.settings["iterations"]
        single = alone(problem)
        if optimizer == "adam":
            assert_same_row(result, single)
        else:
            difference = float(np.abs(result.spectrogram - single.spectrogram).max())
            print(f"max |batched - single| = {difference:.3g}, two different rows: {apart:.3g}")
            assert difference < 0.05 * apart, (difference, apart)


def test_a_texture_starting_from_its_missing_content_fails_alone(styles):
    """init=content on a row without a content is that row's error, found before any batch runs: raised
    inside its batch it stopped every row after it."""
    s = settings(iterations=3, init="content")
    results = synthesize_batch([SynthesisProblem(styles[0], None, 70, s),
                                SynthesisProblem(styles[1], styles[2][:, :70], 70, s)])
    assert isinstance(results[0], AudiotexError) and "needs a content clip" in str(results[0])
    assert isinstance(results[1], SynthesisResult) and results[1].iterations == 3


def test_rows_of_other_shapes_run_one_group_after_another(styles):
    s = settings(iterations=8)
    problems = [
        SynthesisProblem(styles[0], None, 70, s),
        SynthesisProblem(styles[1], None, 90, s),                    # other length
        SynthesisProblem(styles[1], styles[2][:, :40], 70, s),       # content: another objective
        SynthesisProblem(styles[2], None, 70, s),                    # batches with row 0
        SynthesisProblem(styles[0][:, :5], None, 70, s),             # too short for the kernels
        SynthesisProblem(styles[2], None, 70, settings(iterations=8, seed=7)),  # another bank
    ]
    order: list[tuple[int, int]] = []
    results = synthesize_batch(problems, progress=lambda row, iteration, terms: order.append((row, iteration)))

    assert isinstance(results[4], AudiotexError) and "too short: the largest kernel" in str(results[4])
    assert not any(row == 4 for row, _ in order)
    # rows 0 and 3 share a batch: their iterations interleave; each other row runs alone, start to end
    first_group = order[:16]
    assert sorted(first_group) == sorted([(r, i) for r in (0, 3) for i in range(1, 9)])
    rest = [row for row, _ in order[16:]]
    assert rest == sorted(rest, key=rest.index) and [rest.count(r) for r in (1, 2, 5)] == [8, 8, 8]
    assert [rest[0], rest[8], rest[16]] == [1, 2, 5]
    for row in (0, 1, 2, 3, 5):
        assert_same_row(results[row], alone(problems[row]))
    assert results[1].spectrogram.shape[1] == 90


class Killed(Exception):
    """What a kill amounts to for the loop: it stops between two iterations."""


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_killed_batch_resumes_each_row_from_its_checkpoint(styles, tmp_path, optimizer):
    s = settings(optimizer=optimizer, iterations=12)
    paths = [tmp_path / f"row{i}.pt" for i in range(3)]
    problems = [SynthesisProblem(styles[0], None, 70, s, paths[0]),
                SynthesisProblem(styles[1], None, 70, s, paths[1]),
                SynthesisProblem(styles[2], None, 70, {**s, "iterations": 9}, paths[2])]
    uninterrupted = synthesize_batch([SynthesisProblem(p.style, None, 70, p.settings) for p in problems])

    def kill_at(row_to_kill, at):
        def progress(row, iteration, terms):
            if (row, iteration) == (row_to_kill, at):
                raise Killed
        return progress

    # Checkpoints every 4 iterations; the kill comes at iteration 6, after every row saved its 4th.
    with pytest.raises(Killed):
        synthesize_batch(problems, checkpoint_every=4, progress=kill_at(1, 6))
    assert all(p.exists() for p in paths)
    saved = [torch.load(p, weights_only=False) for p in paths]
    assert [int(state["iteration"]) for state in saved] == [4, 4, 4]
    # each row's checkpoint holds its own row, not the storage of its whole batch
    tensors = [t for state in saved for t in (state["x"], *state["optimizer"].values()) if torch.is_tensor(t)]
    assert tensors and all(t.untyped_storage().nbytes() == t.numel() * t.element_size() for t in tensors)
    paths[2].unlink()  # this row lost its checkpoint: it starts afresh and must still end the same
    resumed = synthesize_batch(problems, checkpoint_every=4)

    assert [r.resumed_from for r in resumed] == [4, 4, None]
    for result, expected, problem in zip(resumed, uninterrupted, problems):
        assert [row["iteration"] for row in result.losses] == list(range(1, problem.settings["iterations"] + 1))
        difference = float(np.abs(result.spectrogram - expected.spectrogram).max())
        print(f"max |resumed - uninterrupted| = {difference:.3g}")
        assert difference < TOLERANCE, difference
        assert np.allclose([r["loss"] for r in result.losses], [r["loss"] for r in expected.losses], rtol=1e-4)


def test_synthesize_file_batch_writes_every_good_row_and_names_the_bad_ones(styles, tmp_path):
    from audiotex.spectrogram import save_spectrogram
    from audiotex.steps import SynthesisRow, read_sidecar, synthesize_file, synthesize_file_batch

    meta = {"sr": 8000, "n_fft": 256, "hop_length": 64}
    paths = []
    for k, spec in enumerate([styles[0], styles[1], styles[0][:, :5]]):
        paths.append(tmp_path / f"style{k}.npy")
        save_spectrogram(paths[-1], spec, {**meta, "source": f"clip{k}.wav"})
    s = {**FAST, "iterations": 6, "duration": 1.0}
    rows = [SynthesisRow(paths[0], None, tmp_path / "out0.npy", s),
            SynthesisRow(tmp_path / "missing.npy", None, tmp_path / "out1.npy", s),
            SynthesisRow(paths[1], None, tmp_path / "out2.npy", s, checkpoint=tmp_path / "row2.pt"),
            SynthesisRow(paths[2], None, tmp_path / "out3.npy", s)]
    results = synthesize_file_batch(rows, device="cpu", checkpoint_every=2)

    assert isinstance(results[1], AudiotexError) and "missing.npy" in str(results[1])
    assert isinstance(results[3], AudiotexError) and "clip2.wav" in str(results[3])
    assert not (tmp_path / "out1.npy").exists() and not (tmp_path / "out3.npy").exists()
    assert not (tmp_path / "row2.pt").exists(), "a finished row's checkpoint is removed"
    for k in (0, 2):
        assert read_sidecar(rows[k].output)["iterations"] == 6 == results[k]["iterations"]
        single = tmp_path / f"single{k}.npy"
        synthesize_file(rows[k].style, None, single, s, device="cpu")
        assert np.abs(np.load(rows[k].output) - np.load(single)).max() < TOLERANCE
        assert steps.read_loss_log(steps.loss_log_path(rows[k].output))[-1]["loss"] == pytest.approx(
            steps.read_loss_log(steps.loss_log_path(single))[-1]["loss"], rel=1e-4)


def test_a_row_that_ends_early_is_handed_over_before_its_batch_ends(styles):
    """on_done gets each row the moment it ends, so a shard writes a short row while a long one still runs
    (and a kill then loses only the unfinished rows)."""
    s = settings(iterations=8)
    problems = [SynthesisProblem(styles[0], None, 70, {**s, "iterations": 3}), SynthesisProblem(styles[1], None, 70, s)]
    events: list[tuple[str, int, int]] = []
    results = synthesize_batch(problems, progress=lambda row, i, terms: events.append(("iteration", row, i)),
                               on_done=lambda row, result: events.append(("done", row, result.iterations)))
    assert events.index(("done", 0, 3)) < events.index(("iteration", 1, 4)) < events.index(("done", 1, 8))
    assert [r.iterations for r in results] == [3, 8]
