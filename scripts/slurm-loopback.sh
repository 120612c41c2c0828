#!/usr/bin/env bash
# A one-node Slurm cluster on the loopback interface, for trying `ratlab run --executor slurm`
# on a laptop and for ratlab's own Slurm tests. Everything (munge key and socket, slurm.conf,
# state, logs, pids) lives in DIR; nothing under /etc is touched and no systemd is needed.
# Needs root (slurmd starts jobs as their user) and the Debian packages
# slurmctld slurmd slurm-client munge.
#
#   scripts/slurm-loopback.sh start DIR   start the daemons, wait for the node to be idle,
#                                         and print the `export SLURM_CONF=...` to use it
#   scripts/slurm-loopback.sh stop DIR    stop them (by the pids kept in DIR)
#
# Ports: RATLAB_SLURMCTLD_PORT (default 6817) and RATLAB_SLURMD_PORT (default 6818).
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,12p' "$0"; exit 2; }
mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"

stop() {
    for d in slurmd slurmctld munged; do
        if [ -f "$dir/$d.pid" ]; then
            pid="$(cat "$dir/$d.pid")"
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$dir/$d.pid"
        fi
    done
}

case "$cmd" in
stop) stop; exit 0 ;;
start) ;;
*) echo "unknown command '$cmd': start or stop"; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "the loopback Slurm cluster needs root (slurmd runs jobs as their user)"; exit 3; }
for b in munged slurmctld slurmd sbatch squeue scontrol sinfo; do
    command -v "$b" >/dev/null || { echo "'$b' is not installed: apt-get install slurmctld slurmd slurm-client munge"; exit 3; }
done
stop  # a cluster left from an earlier start in the same DIR
chmod 700 "$dir"
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
[ -f "$dir/munge.key" ] || { head -c 1024 /dev/urandom >"$dir/munge.key"; chmod 400 "$dir/munge.key"; }
ctld_port="${RATLAB_SLURMCTLD_PORT:-6817}"
d_port="${RATLAB_SLURMD_PORT:-6818}"
# The node advertises what slurmd finds on this machine (CPUs, sockets, cores, memory).
hw="$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //')"
cat >"$dir/slurm.conf" <<CONF
# One-node loopback cluster written by ratlab's scripts/slurm-loopback.sh
ClusterName=ratlab-loopback
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=1
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName=ratlab-node NodeAddr=127.0.0.1 NodeHostname=localhost $hw State=UNKNOWN
PartitionName=debug Nodes=ratlab-node Default=YES MaxTime=INFINITE State=UP
CONF

munged --force --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
    --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge.seed"
export SLURM_CONF="$dir/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
slurmd -D -N ratlab-node -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 &
for _ in $(seq 300); do
    state="$(sinfo -h -n ratlab-node -o %T 2>/dev/null || true)"
    [ "$state" = idle ] && { echo "export SLURM_CONF=$SLURM_CONF"; exit 0; }
    sleep 0.1
done
echo "the loopback Slurm node did not come up (state '${state:-none}'); logs in $dir/log:"
tail -n 5 "$dir"/log/*.log "$dir"/log/*.out 2>/dev/null
stop
exit 1
