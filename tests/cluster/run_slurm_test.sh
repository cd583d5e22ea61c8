#!/usr/bin/env bash
# End-to-end test of the workflow on a real (one-node, loopback-only) SLURM cluster.
#
#   tests/cluster/run_slurm_test.sh          # from anywhere; needs root and apt-get, else prints SKIPPED
#                                            # (under CI=true: FAILED, exit 1)
#   KEEP=1 tests/cluster/run_slurm_test.sh   # keep the temporary folder (logs, results) afterwards
#
# 1. Installs slurmctld, slurmd, munge and slurm-client from Debian if missing, and starts a one-node
#    cluster (tests/cluster/slurm_up.sh) with a fake GPU.
# 2. Runs the whole workflow on a two-row manifest (a texture and a style transfer on 1.5 s of real clips,
#    fast preset, a few iterations, `shards: 2`) with `--profile profiles/slurm`, and checks that every job
#    went through sbatch (SLURM job ids in Snakemake's log, COMPLETED in scontrol, synthesize holding the
#    GPU and nothing else), that synthesis was submitted per shard, and that the audio outputs are valid.
# 3. Preemption: adds a longer row to the shard of the style transfer, cancels that shard's SLURM job
#    (scancel) as soon as the new row's checkpoint is on disk, and checks that the profile's retries
#    resubmit it, that the finished row is not redone and that the new row resumes at the checkpointed
#    iteration (sidecar `resumed_from`, loss log continuous from 1).
# The daemons are stopped (by PID) on every exit path. Uses the TCP ports 16817-16818 on 127.0.0.1.
#
# Only the settings this throw-away cluster needs are given on the command line, not in the profile
# users get: squeue for status (no accounting database), no account, and a short first status check.
# Its only partition, `debug`, is the cluster default, which the executor picks when the profile names
# none (checked below in scontrol).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$repo/tests/cluster

# A prerequisite missing: SKIPPED (exit 0) on a workstation, FAILED (exit 1) under CI=true, where a green
# run must mean the cluster test ran.
cannot_run() {
    if [[ ${CI:-} == true ]]; then
        echo "FAILED: $1; CI=true needs the SLURM cluster test to run" >&2
        exit 1
    fi
    echo "SKIPPED: $1"
    exit 0
}
if [[ $(id -u) -ne 0 ]]; then
    cannot_run "the SLURM cluster test starts munge and SLURM daemons and needs root"
fi
if ! command -v apt-get >/dev/null; then
    cannot_run "no apt-get to install SLURM from (the test expects Debian/Ubuntu)"
fi

python=${PYTHON:-$repo/.venv/bin/python}
snakemake=${SNAKEMAKE:-$(dirname "$python")/snakemake}
[[ -x $python && -x $snakemake ]] || { echo "FAILED: no $python or $snakemake (set PYTHON=...)"; exit 1; }
"$python" -c "import snakemake_executor_plugin_slurm" \
    || { echo "FAILED: snakemake-executor-plugin-slurm is not installed (pip install 'audiotex[workflow]')"; exit 1; }

t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

packages=(slurmctld slurmd munge slurm-client)
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
        || ! command -v sbatch >/dev/null; then
    stamp "installing ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null; } \
        || fail "could not apt-get install ${packages[*]}"
fi

work=$(mktemp -d /tmp/audiotex-slurm.XXXXXX)
cluster=$work/cluster
snakemake_pid=
teardown() {
    local rc=$?
    if [[ -n $snakemake_pid ]] && kill -0 "$snakemake_pid" 2>/dev/null; then
        # SIGTERM makes snakemake wait for its running jobs; give it a moment, then stop it outright
        # (slurm_down.sh cancels whatever it left in the queue).
        kill -TERM "$snakemake_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$snakemake_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$snakemake_pid" 2>/dev/null || true
        wait "$snakemake_pid" 2>/dev/null || true
    fi
    "$here/slurm_down.sh" "$cluster" || true
    if [[ $rc -eq 0 && -z ${KEEP:-} ]]; then
        rm -rf "$work"
    else
        echo "logs and results kept in $work"
    fi
    echo "SLURM test total: $(( $(date +%s) - t0 )) s"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

stamp "starting the cluster in $cluster"
"$here/slurm_up.sh" "$cluster"
# shellcheck source=/dev/null
source "$cluster/env.sh"
sinfo -N -o '%N %P %c %m %G %T'
node=$(sinfo -h -N -o '%N' | head -n1)

# shards=2 replaces the profile's shards=100 (a command-line --config replaces the profile's list).
test_settings=(--slurm-status-command squeue --slurm-no-account --slurm-init-seconds-before-status-checks 2
               --config shards=2)
demo=$repo/data/demo

# Every "submitted with SLURM jobid" line of a Snakemake log, as "rule jobid".
submissions() {
    sed -n 's/.*submitted with SLURM jobid \([0-9]*\) (log: .*\/rule_\([a-z_]*\)\/.*/\2 \1/p' "$1"
}
job_field() {  # job_field JOBID KEY -> the value of KEY= in `scontrol show job`
    scontrol show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1
}

# ---------------------------------------------------------------------------------------------------------
# 1. The whole workflow, every job through sbatch
# ---------------------------------------------------------------------------------------------------------
wf=$work/workflow
mkdir -p "$wf"
cat > "$wf/config.yaml" <<EOF
manifest: $wf/manifest.tsv
preset: fast
input_duration: 1.5
iterations: 6
n_iter: 16
checkpoint_every: 2
EOF
# The iterations column (empty: config.yaml's value) is for the preemption row added in part 2.
printf 'id\tstyle\tcontent\titerations\n' > "$wf/manifest.tsv"
printf 'fire\t%s\t\t\n' "$demo/env_fire_furnace_minetest.ogg" >> "$wf/manifest.tsv"
printf 'speech_as_guitar\t%s\t%s\t\n' "$demo/mus_guitar_em9_sonicpi.flac" "$demo/sp_arctic_a0009.wav" \
    >> "$wf/manifest.tsv"

stamp "workflow run: snakemake --profile profiles/slurm ${test_settings[*]}"
t1=$(date +%s)
# In the background and waited for, so that a signal to this script reaches the trap (and snakemake) at once.
(cd "$repo" && exec "$snakemake" --profile profiles/slurm --directory "$wf" --configfile "$wf/config.yaml" \
    "${test_settings[@]}") > "$work/workflow.log" 2>&1 &
snakemake_pid=$!
wait "$snakemake_pid" \
    || { snakemake_pid=; tail -n 60 "$work/workflow.log"; fail "the workflow run failed (log: $work/workflow.log)"; }
snakemake_pid=
workflow_seconds=$(( $(date +%s) - t1 ))
stamp "workflow run finished in $workflow_seconds s"

mapfile -t jobs < <(submissions "$work/workflow.log")
echo "SLURM submissions (rule jobid): ${#jobs[@]}"
# rows fire and speech_as_guitar hash into the two shards of `shards: 2`: one synthesis job per shard
synth_shards=$(grep -o 'slurm_logs/rule_synthesize/shard-[0-9]-of-2/' "$work/workflow.log" | cut -d/ -f3 \
    | sort -u | tr '\n' ' ')
echo "synthesize shards submitted: $synth_shards"
[[ $(wc -w <<< "$synth_shards") -eq 2 ]] || fail "expected 2 synthesize shards, got: $synth_shards"
[[ ${#jobs[@]} -ge 8 ]] || fail "expected at least 8 SLURM submissions, found ${#jobs[@]}"
for rule in decode spectrogram synthesize invert; do
    printf '%s\n' "${jobs[@]}" | grep -q "^$rule " || fail "no $rule job was submitted to SLURM"
done
for entry in "${jobs[@]}"; do
    read -r rule id <<< "$entry"
    state=$(job_field "$id" JobState)
    partition=$(job_field "$id" Partition)
    gres=$(job_field "$id" TresPerJob)
    printf '  job %-4s %-16s %-10s partition=%s gres=%s\n' "$id" "$rule" "$state" "$partition" "${gres:--}"
    [[ $state == COMPLETED ]] || fail "SLURM job $id ($rule) is $state, not COMPLETED"
    [[ $partition == debug ]] || fail "SLURM job $id ($rule) ran in partition '$partition', not debug"
    if [[ $rule == synthesize ]]; then
        [[ $gres == *gpu:1* ]] || fail "synthesize job $id did not ask for a GPU (TresPerJob=$gres)"
    else
        [[ $gres != *gpu* ]] || fail "$rule job $id asked for a GPU (TresPerJob=$gres)"
    fi
done

"$python" - "$wf" <<'EOF' || fail "workflow outputs"
import json, sys
from pathlib import Path
import numpy as np
import soundfile as sf

wf = Path(sys.argv[1])
for row in ("fire", "speech_as_guitar"):
    wav = wf / "results" / "audio" / f"{row}.wav"
    info = sf.info(wav)
    y, sr = sf.read(wav, dtype="float32")
    assert info.format == "WAV" and sr == 16000 and y.ndim == 1, (wav, info)
    assert 0.5 < y.size / sr < 5, f"{wav}: {y.size / sr:.2f} s"
    assert np.isfinite(y).all() and np.abs(y).max() > 1e-3, f"{wav}: silent or not finite"
    sidecar = json.loads((wf / "results" / "synthesized" / f"{row}.json").read_text())
    assert sidecar["iterations"] == 6 and sidecar["resumed_from"] is None, sidecar
    assert not (wf / "results" / "checkpoints" / f"{row}.pt").exists(), "checkpoint left behind"
    print(f"  {wav.name}: {info.format} {info.subtype}, {sr} Hz, {y.size / sr:.2f} s, peak {np.abs(y).max():.3f}, "
          f"synthesized on {sidecar['device']}")
for extra in ("results/metrics.tsv", "results/report/index.html"):
    assert (wf / extra).stat().st_size > 0, extra
print("  results/metrics.tsv and results/report/index.html written")
EOF

# ---------------------------------------------------------------------------------------------------------
# 2. Preemption: cancel a synthesis job after its first checkpoint; the retry must resume from it
# ---------------------------------------------------------------------------------------------------------
# A new row in the same workflow folder: it reads a clip already decoded and analysed with the same
# settings, and it hashes into shard-0-of-2 beside speech_as_guitar, so only that shard's synthesis runs
# and it must redo the new row only; its iterations cell overrides config.yaml's.
iterations=60
every=2   # checkpoint_every in config.yaml above
printf 'long\t%s\t\t%s\n' "$demo/env_fire_furnace_minetest.ogg" "$iterations" >> "$wf/manifest.tsv"
checkpoint=$wf/results/checkpoints/long.pt

stamp "preemption run: synthesize $iterations iterations, checkpoint every $every"
t2=$(date +%s)
(cd "$repo" && exec "$snakemake" --profile profiles/slurm --directory "$wf" --configfile "$wf/config.yaml" \
    "${test_settings[@]}" -- results/shards/synthesize/shard-0-of-2.tsv) > "$work/preempt.log" 2>&1 &
snakemake_pid=$!

deadline=$(( $(date +%s) + 300 ))
while [[ ! -f $checkpoint ]]; do
    kill -0 "$snakemake_pid" 2>/dev/null \
        || { tail -n 40 "$work/preempt.log"; fail "snakemake ended before a checkpoint was written"; }
    [[ $(date +%s) -lt $deadline ]] || fail "no checkpoint after 300 s"
    sleep 0.2
done
first=$(squeue -h -t RUNNING -o '%i %k' | awk '$2 ~ /^rule_synthesize_wildcards_shard-0-of-2/ {print $1}' | head -n1)
[[ -n $first ]] || fail "checkpoint written but no running synthesize job in squeue"
# Drain the node first: the retry then stays pending until the checkpoint it will resume from has been
# read here (a fast retry could otherwise overwrite it before the read).
scontrol update NodeName="$node" State=DRAIN Reason=preemption-test
scancel "$first"
stamp "checkpoint appeared; node drained; scancel $first"
for _ in $(seq 300); do  # until the job has left the queue (COMPLETING included) and its processes are gone
    [[ -z $(squeue -h -j "$first" -o '%T' 2>/dev/null) ]] \
        && ! scontrol listpids "$first" 2>/dev/null | grep -q '^[0-9]' && break
    sleep 0.1
done
checkpointed=$("$python" -c "import sys, torch; print(int(torch.load(sys.argv[1], weights_only=False)['iteration']))" \
    "$checkpoint") || fail "could not read $checkpoint"
stamp "job $first is $(job_field "$first" JobState); its checkpoint holds iteration $checkpointed"
scontrol update NodeName="$node" State=RESUME

wait "$snakemake_pid" || { snakemake_pid=; tail -n 60 "$work/preempt.log"; fail "the retried run failed"; }
snakemake_pid=
preempt_seconds=$(( $(date +%s) - t2 ))
stamp "preemption run finished in $preempt_seconds s"

mapfile -t synth_jobs < <(submissions "$work/preempt.log" | awk '$1 == "synthesize" {print $2}')
echo "synthesize submissions: ${synth_jobs[*]}"
[[ ${#synth_jobs[@]} -eq 2 && ${synth_jobs[0]} == "$first" ]] \
    || fail "expected the cancelled job $first and one retry, got: ${synth_jobs[*]}"
for id in "${synth_jobs[@]}"; do
    echo "  job $id: $(job_field "$id" JobState) (gres $(job_field "$id" TresPerJob))"
done
[[ $(job_field "${synth_jobs[0]}" JobState) == CANCELLED ]] || fail "job ${synth_jobs[0]} is not CANCELLED"
[[ $(job_field "${synth_jobs[1]}" JobState) == COMPLETED ]] || fail "retry ${synth_jobs[1]} is not COMPLETED"
grep -o -E "SLURM-job '$first' failed, SLURM status is: '[A-Z]*'|Trying to restart job [0-9]+" "$work/preempt.log" \
    | sed 's/^/  snakemake: /' || true

"$python" - "$wf" "$checkpointed" "$iterations" <<'EOF' || fail "resume figures"
import json, sys
from pathlib import Path
from audiotex.steps import read_loss_log

wf, checkpointed, iterations = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
synthesized = wf / "results" / "synthesized"
sidecar = json.loads((synthesized / "long.json").read_text())
log = read_loss_log(synthesized / "long.loss.tsv")
steps = [int(row["iteration"]) for row in log]
print(f"  resumed_from={sidecar['resumed_from']} (checkpoint held {checkpointed}); loss log iterations "
      f"{steps[0]}..{steps[-1]} ({len(steps)} rows); final loss {log[-1]['loss']:.4g}")
assert sidecar["resumed_from"] == checkpointed, (sidecar["resumed_from"], checkpointed)
assert steps == list(range(1, iterations + 1)), "loss log is not one row per iteration"
assert sidecar["iterations"] == iterations
assert not (wf / "results" / "checkpoints" / "long.pt").exists(), "checkpoint not removed on success"
shard_log = (wf / "logs" / "synthesize" / "shard-0-of-2.log").read_text()
assert "row speech_as_guitar: up to date" in shard_log, shard_log
print("  shard-0-of-2 rerun: speech_as_guitar up to date, long resumed")
EOF

stamp "PASSED: workflow on SLURM (${#jobs[@]} jobs, $workflow_seconds s); preemption resumed at iteration $checkpointed ($preempt_seconds s)"
