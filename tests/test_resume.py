"""A synthesis killed mid-run resumes from its checkpoint and ends where an uninterrupted run ends.

The killed run is a real separate process, stopped with SIGKILL (what preemption or an out-of-time job
amounts to) as soon as its first checkpoint is on disk; the resumed run and the reference run are done
in this process with the same seed.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from audiotex import params as P
from audiotex import steps

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "data" / "demo" / "env_fire_furnace_minetest.ogg"

#: Tiny but real: a 1 s clip, a small bank, L-BFGS (whose history is the state most easily lost).
SETTINGS = {"preset": "fast", "input_duration": 1.0, "n_fft": 256, "hop_length": 64, "layers": "5x64",
            "optimizer": "lbfgs", "iterations": 12, "seed": 3}
CHECKPOINT_EVERY = 4

# Runs synthesize_file in a child process; the progress callback only sleeps, so the child is slow enough
# to be caught between its first checkpoint and its end, without changing what it computes.
CHILD = """
import sys, time
from audiotex import steps
style, dst, ckpt, every = sys.argv[1:5]
settings = {SETTINGS!r}
steps.synthesize_file(style, None, dst, settings, device="cpu", checkpoint=ckpt, checkpoint_every=int(every),
                      progress=lambda i, terms: time.sleep(0.25))
"""


@pytest.fixture(scope="module")
def style_npy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("resume") / "style.npy"
    steps.spectrogram_file(CLIP, path, P.resolve(SETTINGS))
    return path


def _checkpoint_iteration(path: Path) -> int:
    state = torch.load(path, map_location="cpu", weights_only=False)
    return int(state["iteration"])


@pytest.fixture(scope="module")
def killed_checkpoint(style_npy, tmp_path_factory) -> tuple[Path, int]:
    """A checkpoint left by a synthesis process killed with SIGKILL; returns (path, its iteration)."""
    folder = tmp_path_factory.mktemp("killed")
    ckpt, dst = folder / "killed.pt", folder / "killed.npy"
    code = CHILD.replace("{SETTINGS!r}", repr(SETTINGS))
    child = subprocess.Popen([sys.executable, "-c", code, str(style_npy), str(dst), str(ckpt),
                              str(CHECKPOINT_EVERY)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not ckpt.exists():
            if child.poll() is not None:
                pytest.fail(f"the synthesis process ended (rc {child.returncode}) before writing a checkpoint:\n"
                            + child.stdout.read().decode(errors="replace"))
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint after 120 s")
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not dst.exists(), "the killed run must not have produced a finished output"
    iteration = _checkpoint_iteration(ckpt)
    assert iteration % CHECKPOINT_EVERY == 0 and 0 < iteration < SETTINGS["iterations"]
    return ckpt, iteration


@pytest.fixture(scope="module")
def reference(style_npy, tmp_path_factory) -> tuple[np.ndarray, list[dict[str, float]]]:
    """An uninterrupted run with the same settings and seed: (spectrogram, loss log)."""
    dst = tmp_path_factory.mktemp("reference") / "reference.npy"
    steps.synthesize_file(style_npy, None, dst, SETTINGS, device="cpu")
    return np.load(dst), steps.read_loss_log(steps.loss_log_path(dst))


@pytest.mark.slow
def test_killed_run_resumes_at_its_checkpoint_and_matches_an_uninterrupted_run(
        style_npy, killed_checkpoint, reference, tmp_path):
    ckpt = tmp_path / "row.pt"
    shutil.copy(killed_checkpoint[0], ckpt)
    checkpointed_at = killed_checkpoint[1]
    dst = tmp_path / "row.npy"

    meta = steps.synthesize_file(style_npy, None, dst, SETTINGS, device="cpu", checkpoint=ckpt,
                                 checkpoint_every=CHECKPOINT_EVERY)

    assert meta["resumed_from"] == checkpointed_at
    assert steps.read_sidecar(dst)["resumed_from"] == checkpointed_at
    assert not ckpt.exists(), "the checkpoint must be removed once the output is written"

    log = steps.read_loss_log(steps.loss_log_path(dst))
    assert [int(row["iteration"]) for row in log] == list(range(1, SETTINGS["iterations"] + 1))

    resumed, (expected, expected_log) = np.load(dst), reference
    max_difference = float(np.max(np.abs(resumed - expected)))
    print(f"resumed at iteration {checkpointed_at} of {SETTINGS['iterations']}; "
          f"max |resumed - uninterrupted| = {max_difference:.3g}")
    assert np.allclose(resumed, expected, rtol=1e-5, atol=1e-5), max_difference
    assert np.allclose([row["loss"] for row in log], [row["loss"] for row in expected_log], rtol=1e-4)


@pytest.mark.slow
def test_changed_settings_discard_the_checkpoint(style_npy, killed_checkpoint, tmp_path):
    ckpt = tmp_path / "row.pt"
    shutil.copy(killed_checkpoint[0], ckpt)
    dst = tmp_path / "row.npy"

    meta = steps.synthesize_file(style_npy, None, dst, {**SETTINGS, "seed": SETTINGS["seed"] + 1}, device="cpu",
                                 checkpoint=ckpt, checkpoint_every=CHECKPOINT_EVERY)

    assert meta["resumed_from"] is None
    log = steps.read_loss_log(steps.loss_log_path(dst))
    assert int(log[0]["iteration"]) == 1 and len(log) == SETTINGS["iterations"]
    assert not ckpt.exists()


def test_checkpoint_is_written_while_running_and_removed_on_success(style_npy, tmp_path):
    ckpt = tmp_path / "checkpoints" / "row.pt"
    dst = tmp_path / "row.npy"
    seen: list[int] = []

    def progress(iteration: int, terms: dict[str, float]) -> None:
        # Checkpoints are saved after the progress call; the previous multiple must be on disk by now.
        if iteration > CHECKPOINT_EVERY:
            seen.append(_checkpoint_iteration(ckpt))

    short = {**SETTINGS, "iterations": 2 * CHECKPOINT_EVERY + 1}
    meta = steps.synthesize_file(style_npy, None, dst, short, device="cpu", checkpoint=ckpt,
                                 checkpoint_every=CHECKPOINT_EVERY, progress=progress)

    assert seen and seen[0] == CHECKPOINT_EVERY and seen[-1] == 2 * CHECKPOINT_EVERY
    assert meta["resumed_from"] is None
    assert dst.exists() and not ckpt.exists()
