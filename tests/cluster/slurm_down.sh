#!/usr/bin/env bash
# Stop the daemons tests/cluster/slurm_up.sh DIR started (by the PIDs it recorded in DIR/pids).
#
# Usage: tests/cluster/slurm_down.sh DIR
# Jobs still running are cancelled first so no job step outlives the cluster. Safe to call twice.
set -uo pipefail

dir=${1:?usage: slurm_down.sh DIR}
[[ -f $dir/pids ]] || exit 0

if [[ -f $dir/slurm.conf ]]; then
    SLURM_CONF=$dir/slurm.conf timeout 10 scancel --full --user="$(id -un)" 2>/dev/null || true
    sleep 1
fi

# Reverse start order: slurmd, slurmctld, then munged (which the other two need to shut down cleanly).
mapfile -t pids < <(tac "$dir/pids")
for pid in "${pids[@]}"; do
    [[ $pid =~ ^[0-9]+$ ]] || continue
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
done
: > "$dir/pids"
echo "slurm_down: stopped ${#pids[@]} daemon(s)"
