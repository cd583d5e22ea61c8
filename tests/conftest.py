"""Shared fixtures: a private copy of the workflow to run Snakemake in, and its plan parser."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What a copy of the workflow needs (data/ is linked, not copied).
WORKFLOW_FILES = ("Snakefile", "config.yaml", "rules", "scripts", "schemas", "profiles", "envs", "report")
#: Real recordings in the repository (see data/demo/CREDITS.md).
DEMO = REPO / "data" / "demo"


def copy_workflow(dst: Path) -> Path:
    """Copy the workflow into ``dst`` (with data/ linked) so a test can run Snakemake there in private."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dst / name)
    (dst / "data").symlink_to(REPO / "data", target_is_directory=True)
    return dst


def write_manifest(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    """Write a manifest TSV (None and "" cells stay empty)."""
    lines = ["\t".join(header)] + ["\t".join("" if c is None else str(c) for c in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def snakemake(workdir: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run Snakemake (this interpreter's) in ``workdir``; stdout and stderr are captured as text."""
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True,
                          text=True, timeout=timeout)


_JOB = re.compile(r"^(?:local)?rule (\w+):\n((?:    .*\n?)*)", re.MULTILINE)
_WILDCARDS = re.compile(r"^    wildcards: (.*)$", re.MULTILINE)


def planned_jobs(output: str) -> list[tuple[str, dict[str, str]]]:
    """The (rule, wildcards) of every job a ``snakemake -n`` run lists."""
    jobs = []
    for match in _JOB.finditer(output):
        wildcards: dict[str, str] = {}
        found = _WILDCARDS.search(match.group(2))
        if found:
            for item in found.group(1).split(", "):
                key, _, value = item.partition("=")
                wildcards[key] = value
        jobs.append((match.group(1), wildcards))
    return jobs


@pytest.fixture
def workflow_dir(tmp_path: Path) -> Path:
    """A private copy of the workflow (without a manifest: each test writes its own)."""
    return copy_workflow(tmp_path / "workflow")
