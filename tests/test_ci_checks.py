"""CI's prerequisite checks: skip on a workstation, fail under CI=true (a green CI run must have run them).

Each script is run with a PATH that has the few tools it needs before its checks but no apt-get, and (for
the browser) with $CHROMIUM naming a file that does not exist, so both always stop at their first check.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import browser_check  # tests/browser_check.py
import pytest

TESTS = Path(__file__).parent


def _run(script: Path, tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("bash", "dirname", "id"):  # nothing else: no apt-get, no chromium
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "CHROMIUM": str(tmp_path / "no-chromium")}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([str(bin_dir / "bash"), str(script)], env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("script", ["setup_browser.sh", "cluster/run_slurm_test.sh"])
def test_missing_prerequisite_fails_under_ci_and_skips_elsewhere(script, tmp_path):
    under_ci = _run(TESTS / script, tmp_path, "true")
    assert under_ci.returncode == 1, under_ci
    assert "FAILED" in under_ci.stderr and "CI=true" in under_ci.stderr, under_ci.stderr
    for ci in (None, "false"):
        workstation = _run(TESTS / script, tmp_path, ci)
        assert workstation.returncode == 0, workstation
        assert "skip" in (workstation.stdout + workstation.stderr).lower()
        assert "FAILED" not in workstation.stdout + workstation.stderr


def test_browser_tests_fail_rather_than_skip_under_ci_without_chromium(tmp_path, monkeypatch):
    monkeypatch.setattr(browser_check, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and .*no-chromium not found"):
        browser_check.require_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no-chromium not found"):
        browser_check.require_chromium()
    monkeypatch.setattr(browser_check, "CHROMIUM", Path(shutil.which("bash")))  # present: neither
    browser_check.require_chromium()


def test_ci_entry_point_runs_under_ci_true():
    text = (TESTS.parent / ".ci" / "run").read_text()
    assert "export CI=${CI:-true}" in text and text.index("export CI=") < text.index("make test")
    assert os.access(TESTS.parent / ".ci" / "run", os.X_OK)
