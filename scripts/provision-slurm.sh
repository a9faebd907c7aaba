#!/usr/bin/env bash
# A one-node Slurm on this machine, idempotently; silent and well under a second when it answers.
#
# For CI and a developer's root Debian machine (a cluster has its own Slurm: there camp needs none
# of this). Installs Debian's slurm-wlm and munge, starts munged as munge, writes a one-node
# slurm.conf (cons_tres; this node's CPUs and memory) and starts slurmctld and slurmd as root.
# No accounting storage: `sacct` cannot answer here, so camp reads a job's end state from
# slurmctld (`scontrol show job`), which keeps finished jobs for MinJobAge, set to an hour.
#
# CAMP_REQUIRE_SLURM=1 (CI) turns "no Slurm and none can be started" into an error.
set -euo pipefail
CONF=/etc/slurm/slurm.conf
log() { echo "provision-slurm: $*" >&2; }
answers() { timeout 10 sinfo -h -o %T >/dev/null 2>&1 && timeout 10 srun -t 1 -Q true >/dev/null 2>&1; }
give_up() { log "$*"; [ "${CAMP_REQUIRE_SLURM:-}" = 1 ] && exit 1; exit 0; }

if command -v sinfo >/dev/null && timeout 10 sinfo -h -o %T 2>/dev/null | grep -qv -e down -e drain; then
  exit 0  # a Slurm answers (this script's, or a cluster's): nothing to do
fi
if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
  give_up "no Slurm answers; provisioning one needs root on Debian (camp's slurm executor needs a Slurm)"
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  log "installing Debian's slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# munge: the key the package made, a socket directory munge owns, the daemon as munge.
install -d -o munge -g munge -m 0755 /run/munge
if ! pgrep -u munge -x munged >/dev/null; then
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  log "starting munged"
  runuser -u munge -- munged
fi

node=$(hostname -s)
cpus=$(nproc)
memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
want=$(cat <<CONF
# Written by camp's scripts/provision-slurm.sh: one node, this machine.
ClusterName=camp
SlurmctldHost=${node}
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
MinJobAge=3600
ReturnToService=2
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
NodeName=${node} CPUs=${cpus} RealMemory=${memory_mb} State=UNKNOWN
PartitionName=camp Nodes=${node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
changed=0
if [ "$(cat "$CONF" 2>/dev/null)" != "$want" ]; then
  printf '%s\n' "$want" >"$CONF.tmp" && mv "$CONF.tmp" "$CONF"
  changed=1
fi
if [ "$changed" = 1 ]; then  # daemons that read an older file restart
  pkill -x slurmctld -F /run/slurmctld.pid 2>/dev/null || true
  pkill -x slurmd -F /run/slurmd.pid 2>/dev/null || true
  sleep 1
fi
# 9>&-: the daemons outlive this script and must not hold its callers' lock descriptors.
pgrep -x slurmctld >/dev/null || { log "starting slurmctld"; slurmctld 9>&-; }
pgrep -x slurmd >/dev/null || { log "starting slurmd"; slurmd 9>&-; }
for _ in $(seq 60); do
  if answers; then
    scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
    exit 0
  fi
  sleep 1
done
give_up "Slurm did not answer within 60 s; see /var/log/slurm/slurmctld.log and slurmd.log"
