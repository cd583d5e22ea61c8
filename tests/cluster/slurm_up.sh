#!/usr/bin/env bash
# Start a throw-away one-node SLURM cluster (munge + slurmctld + slurmd) bound to loopback.
#
# Usage: tests/cluster/slurm_up.sh DIR
#
# Everything lives under DIR: keys, sockets, state, spool, logs, slurm.conf, gres.conf and a fake GPU
# (a character device, because slurmd refuses plain files as GRES devices). It writes
#   DIR/pids    one PID per line of every daemon started here (tests/cluster/slurm_down.sh DIR stops them)
#   DIR/env.sh  source it to use the cluster: exports SLURM_CONF and puts DIR/bin (an srun wrapper) first
#               on PATH
# Needs root and the Debian packages slurmctld, slurmd, munge, slurm-client.
set -euo pipefail

dir=${1:?usage: slurm_up.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
host=$(hostname -s)
# At least 4 CPUs and 8 GB declared, whatever the machine has, so that the resources profiles/slurm asks
# for as shipped fit (slurmd takes these figures as given: SlurmdParameters=config_overrides).
cpus=$(( $(nproc) > 4 ? $(nproc) : 4 ))
memory_mb=8000
: > "$dir/pids"

mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/bin"
chmod 711 "$dir/munge"

# --- munge: the authentication every SLURM RPC carries ---------------------------------------------
head -c 1024 /dev/urandom > "$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket.2" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munge.seed"
for _ in $(seq 50); do [[ -s $dir/run/munged.pid ]] && break; sleep 0.1; done
cat "$dir/run/munged.pid" >> "$dir/pids"

# --- a fake GPU: slurmd only accepts a device node, any character device does ------------------------
rm -f "$dir/nvidia0"
mknod "$dir/nvidia0" c 1 3

cat > "$dir/gres.conf" <<EOF
AutoDetect=off
NodeName=$host Name=gpu Type=fake File=$dir/nvidia0
EOF

cat > "$dir/slurm.conf" <<EOF
ClusterName=audiotex-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket.2
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MpiDefault=none
SlurmdParameters=config_overrides
GresTypes=gpu
# Finished and cancelled jobs stay visible to squeue and scontrol for an hour: the workflow polls its jobs
# with squeue (no accounting database here), and the test inspects them after the run.
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb Gres=gpu:fake:1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

# --- srun wrapper: the plugin's job step drops SLURM_CONF from its inner srun's environment -----------
cat > "$dir/bin/srun" <<EOF
#!/bin/sh
export SLURM_CONF=$dir/slurm.conf
exec /usr/bin/srun "\$@"
EOF
chmod 755 "$dir/bin/srun"

cat > "$dir/env.sh" <<EOF
export SLURM_CONF=$dir/slurm.conf
export PATH=$dir/bin:\$PATH
EOF

export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for name in slurmctld slurmd; do
    for _ in $(seq 50); do [[ -s $dir/run/$name.pid ]] && break; sleep 0.1; done
    [[ -s $dir/run/$name.pid ]] || { echo "slurm_up: $name did not start; see $dir/log/$name.log" >&2; exit 1; }
    cat "$dir/run/$name.pid" >> "$dir/pids"
done

# Wait until the node is schedulable.
for _ in $(seq 100); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n1 || true)
    [[ $state == idle* ]] && break
    sleep 0.2
done
if [[ $state != idle* ]]; then
    echo "slurm_up: node is '${state:-unknown}', not idle; see $dir/log/" >&2
    exit 1
fi
echo "slurm_up: one-node cluster up (node $host, $cpus CPUs, gpu:fake:1, partition debug); source $dir/env.sh"
