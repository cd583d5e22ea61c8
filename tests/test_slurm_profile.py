"""Cheap checks of profiles/slurm: Snakemake accepts it, and only the jobs that use a GPU ask SLURM for one.

The real cluster run is tests/cluster/run_slurm_test.sh; these run anywhere, without SLURM.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
WORKFLOW_PROFILE = ROOT / "profiles" / "default" / "config.yaml"
DEMO = ROOT / "data" / "demo"


def _parsed(*profiles: Path):
    """The command-line arguments Snakemake derives from ``profiles`` (later ones win, as in a real run)."""
    from snakemake.cli import get_argument_parser

    return get_argument_parser(profiles=[str(p) for p in profiles]).parse_args([])


def test_profile_is_accepted_by_snakemake():
    args = _parsed(PROFILE)
    assert args.executor == "slurm"
    assert args.jobs > 1
    assert args.retries >= 1, "a preempted or timed-out synthesis must be resubmitted to resume its checkpoint"
    assert args.latency_wait >= 10
    for key in ("runtime", "mem_mb", "cpus_per_task"):
        assert key in args.default_resources, key
    # the cluster gets shards of rows, not one sbatch job per row and stage
    shards = [int(item.split("=", 1)[1]) for item in args.config or [] if str(item).startswith("shards=")]
    assert shards and shards[0] > 1, args.config


def test_cluster_specific_names_are_left_to_the_user():
    raw = yaml.safe_load(PROFILE.read_text())
    defaults = raw["default-resources"]
    for key in ("slurm_partition", "slurm_account"):
        assert key not in defaults, f"{key} depends on the cluster; keep it a commented example"
        assert re.search(rf"#\s*{key}:", PROFILE.read_text()), f"no commented {key} example for users"
    # Test-only settings of the throw-away cluster must not leak into the users' profile.
    assert "slurm-status-command" not in raw and "slurm-no-account" not in raw


def test_profile_gives_a_gpu_to_synthesize_and_leaves_invert_to_its_rule():
    """invert's gpu is a function of its rows (rules/invert.smk); a profile value would override it."""
    raw = yaml.safe_load(PROFILE.read_text())
    per_rule = raw["set-resources"]
    assert int(per_rule["synthesize"]["gpu"]) >= 1
    assert "gpu" not in raw["default-resources"] and "gres" not in raw["default-resources"]
    for rule, resources in per_rule.items():
        if rule != "synthesize":
            assert not {"gpu", "gres", "gpu_model"} & set(resources), rule


@pytest.mark.parametrize("profiles", [(PROFILE,), (PROFILE, WORKFLOW_PROFILE)], ids=["slurm", "slurm+workflow"])
def test_no_global_gpu_cap(profiles):
    """A global `resources: gpu=N` would let only N synthesis jobs run at once on the whole cluster.

    Snakemake stacks the workflow profile (profiles/default) on top of ``--profile``, so check both.
    """
    profiles = tuple(p for p in profiles if p.exists())
    args = _parsed(*profiles)
    assert "gpu" not in (args.resources or {})
    assert args.executor == "slurm" and args.retries >= 1, "the workflow profile overrides the SLURM profile"


def _gpu(resources_line: str) -> int:
    found = re.search(r"\bgpu=(\d+)", resources_line)
    return int(found.group(1)) if found else 0


@pytest.mark.slow
@pytest.mark.parametrize("preset, device, invert_gpu", [("fast", "auto", 0), ("default", "auto", 1),
                                                        ("default", "cpu", 0)])
def test_dry_run_gives_the_gpu_to_the_jobs_that_use_it(tmp_path, preset, device, invert_gpu):
    """The effective resources of each job (rule + profile), as Snakemake plans them for sbatch: synthesis
    always asks for a GPU; inversion only when it refines the waveform with torch (`default`: 200
    iterations) on a device that may be a GPU."""
    (tmp_path / "manifest.tsv").write_text(
        "id\tstyle\tcontent\n"
        f"tex\t{DEMO / 'env_fire_furnace_minetest.ogg'}\t\n"
        f"xfer\t{DEMO / 'mus_guitar_em9_sonicpi.flac'}\t{DEMO / 'sp_arctic_a0009.wav'}\n")
    (tmp_path / "config.yaml").write_text(f"manifest: {tmp_path / 'manifest.tsv'}\npreset: {preset}\n"
                                          f"device: {device}\n")
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--profile", str(PROFILE.parent),
         "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = done.stdout + done.stderr
    resources: dict[str, list[str]] = {}
    for rule, line in re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", text, re.M):
        resources.setdefault(rule, []).append(line)
    assert resources.get("synthesize"), sorted(resources)
    assert all(_gpu(line) == 1 for line in resources["synthesize"]), resources["synthesize"]
    # a transfer row inverts with the preset's transfer values, which may not refine
    from audiotex import params as P

    transfer_refines = P.resolve({"preset": preset}, kind="transfer")["refine_iterations"] > 0
    expected = sorted([invert_gpu, invert_gpu if transfer_refines else 0])
    assert resources.get("invert") and sorted(_gpu(line) for line in resources["invert"]) == expected, resources
    for rule in ("decode", "spectrogram", "metrics", "plot"):
        assert resources.get(rule), f"no {rule} job planned"
        assert all(_gpu(line) == 0 for line in resources[rule]), f"{rule}: {resources[rule]}"
    assert not re.search(r"Provided resources:.*\bgpu=", text)
