#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests of `backend=slurm`.
#
# Installs Debian's slurm-wlm and munge when missing, writes /etc/slurm/slurm.conf for this
# machine (its hostname, cores and memory, as `slurmd -C` reports them), starts munged,
# slurmctld and slurmd, and waits until `sinfo` shows the node idle. Idempotent: when the
# cluster already answers, it returns at once. Needs root (or sudo).
#
# Made for containers: no cgroups and no systemd. Processes are tracked by /proc
# (proctrack/linuxproc), memory limits are enforced by polling every second
# (jobacct_gather/linux with OverMemoryKill), and finished jobs stay known to
# `scontrol show job` for an hour (MinJobAge): there is no accounting database, so
# `sacct` has no data; the sweep reads why a task ended from scontrol, then from the
# task's log.
#
#     scripts/slurm_local.sh        # prints "slurm: node <host> idle (<n> CPUs, <m> MB)"
set -euo pipefail

WAIT_SECONDS=${SLURM_LOCAL_WAIT:-60}
CONF=/etc/slurm/slurm.conf
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

node_state() { timeout 5 sinfo -h -N -o "%t" 2>/dev/null | head -1 || true; }

if command -v sinfo >/dev/null && [ "$(node_state)" = idle ]; then
  echo "slurm: up ($(sinfo -h -N -o '%N %t'))"
  exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v munged >/dev/null; then
  echo "slurm: installing slurm-wlm and munge (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    slurm-wlm munge >/dev/null
fi

host=$(hostname -s)
# "NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105": this machine as slurmd sees it
node=$(slurmd -C | head -1)
cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")
memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")

$SUDO mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
$SUDO tee "$CONF.new" >/dev/null <<EOF
# Written by scripts/slurm_local.sh: a one-node cluster on $host.
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
MinJobAge=3600
MaxArraySize=100001
MaxJobCount=200000
KillWait=5
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherParams=OverMemoryKill
JobAcctGatherFrequency=task=1
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
$node
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
$SUDO mv "$CONF.new" "$CONF"

if ! pgrep -x munged >/dev/null; then
  $SUDO chown munge:munge /run/munge
  $SUDO runuser -u munge -- /usr/sbin/munged
fi
# A controller this script starts begins with a clean state (-c): jobs saved by an earlier
# run on this machine (a killed sweep's array, say) would otherwise be resumed and hold the
# node. A controller already running keeps its jobs.
if pgrep -x slurmctld >/dev/null; then
  $SUDO scontrol reconfigure
else
  $SUDO slurmctld -c
fi
pgrep -x slurmd >/dev/null || $SUDO slurmd -c

deadline=$((SECONDS + WAIT_SECONDS))
state=$(node_state)
until [ "$state" = idle ]; do
  if [ $SECONDS -ge $deadline ]; then
    jobs=$(timeout 5 squeue -h -o %i 2>/dev/null | tr '\n' ' ' || true)
    echo "slurm: node $host is '${state:-not answering}' after ${WAIT_SECONDS} s" \
      "(jobs in the queue: ${jobs:-none}); see /var/log/slurm/slurmctld.log and slurmd.log" >&2
    exit 1
  fi
  case "$state" in  # a node down after a restart (or drained by an old run) is resumed
    down*|drain*|fail*) $SUDO scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
  esac
  sleep 1
  state=$(node_state)
done
echo "slurm: node $host idle ($cpus CPUs, $memory MB)"
