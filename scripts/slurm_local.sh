#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, to try and test `qmoe sweep ... launcher=slurm`.
#
#   scripts/slurm_local.sh start    # munge + slurmctld + slurmd; one partition "debug" with every core
#   scripts/slurm_local.sh status   # sinfo
#   scripts/slurm_local.sh stop     # ends the daemons this script started (by their pid files)
#
# Needs root and Debian's slurm-wlm and munge (scripts/setup.sh installs them); no systemd is
# needed. Everything lives in $QMOE_SLURM_DIR (default /tmp/qmoe-slurm): slurm.conf, state, spool,
# logs, pid files. Client commands find the config through /etc/slurm/slurm.conf when that file is
# absent or was written by this script; otherwise `export SLURM_CONF=$QMOE_SLURM_DIR/slurm.conf`.
# GPUs: the node offers the devices in $QMOE_SLURM_GPUS (space-separated device files; default every
# /dev/nvidia<N>) as gres gpu, so `launcher.gres=gpu:1` jobs run here too.
# QMOE_SLURM_NO_ETC=1 leaves /etc/slurm alone (tests export SLURM_CONF instead).
# Ports: $QMOE_SLURM_PORT (slurmctld, default 6817) and the next one (slurmd).
set -euo pipefail
trap 'echo "slurm_local: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

dir=${QMOE_SLURM_DIR:-/tmp/qmoe-slurm}
port=${QMOE_SLURM_PORT:-6817}
conf=$dir/slurm.conf
etc_conf=/etc/slurm/slurm.conf
marker="# written by qmoe scripts/slurm_local.sh"

die() { echo "slurm_local: $*" >&2; exit 1; }

pid_of() {  # pid_of FILE: the pid in FILE if that process is alive
  local p
  [[ -f $1 ]] || return 1
  p=$(cat "$1" 2>/dev/null) || return 1
  [[ -n $p ]] && kill -0 "$p" 2>/dev/null && echo "$p"
}

stop_pid_file() {  # stop_pid_file NAME FILE
  local p
  if p=$(pid_of "$2"); then
    kill "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
    echo "slurm_local: stopped $1 (pid $p)"
  fi
}

start() {
  [[ $(id -u) -eq 0 ]] || die "needs root (the daemons run as root here; SlurmUser=root)"
  for cmd in munged munge unmunge slurmctld slurmd sinfo sbatch; do
    command -v "$cmd" >/dev/null || die "'$cmd' not found: install Slurm and MUNGE (scripts/setup.sh, or apt-get install -y slurm-wlm munge)"
  done
  if [[ -f $dir/slurmctld.pid ]] && pid_of "$dir/slurmctld.pid" >/dev/null; then
    die "already running (pid $(cat "$dir/slurmctld.pid")); run '$0 stop' first"
  fi
  mkdir -p "$dir"/{state,spool,log}
  export SLURM_CONF=$conf

  # 1. MUNGE: reuse a running munged, else start one (and remember that we did).
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [[ -f /etc/munge/munge.key ]] || mungekey -c >/dev/null 2>&1 || die "cannot create /etc/munge/munge.key (mungekey -c)"
    mkdir -p /run/munge
    munged --force >"$dir/log/munged.out" 2>&1 || die "munged did not start: $(cat "$dir/log/munged.out")"
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    cp /run/munge/munged.pid "$dir/munged.pid" 2>/dev/null || pgrep -o -x munged >"$dir/munged.pid" || true
  fi
  munge -n | unmunge 2>&1 | grep -q "STATUS: *Success" || die "munge -n | unmunge does not succeed; see $dir/log/munged.out"

  # 2. slurm.conf for this host.
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  local gpus gres_node=""
  gpus=${QMOE_SLURM_GPUS-$(ls /dev/nvidia[0-9]* 2>/dev/null | tr '\n' ' ' || true)}
  rm -f "$dir/gres.conf"
  if [[ -n ${gpus// /} ]]; then
    for g in $gpus; do echo "Name=gpu File=$g"; done >"$dir/gres.conf"  # read from slurm.conf's folder
    gres_node=" Gres=gpu:$(wc -l <"$dir/gres.conf")"
  fi
  cat >"$conf" <<EOF
$marker; state in $dir
ClusterName=qmoe-local
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((mem / cpus))
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MpiDefault=none
GresTypes=gpu
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/spool
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem$gres_node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  if [[ ${QMOE_SLURM_NO_ETC:-0} == 1 ]]; then
    :
  elif [[ ! -e $etc_conf ]] || grep -q "^$marker" "$etc_conf" 2>/dev/null; then
    mkdir -p "$(dirname "$etc_conf")"
    cp "$conf" "$etc_conf"
  else
    echo "slurm_local: $etc_conf belongs to another cluster; export SLURM_CONF=$conf to use this one" >&2
  fi

  # 3. The controller, then the node daemon (each forks into the background and writes its pid file).
  slurmctld -f "$conf" || die "slurmctld did not start: $(tail -5 "$dir/log/slurmctld.log" 2>/dev/null)"
  sleep 1
  slurmd -f "$conf" || die "slurmd did not start: $(tail -5 "$dir/log/slurmd.log" 2>/dev/null)"
  for _ in $(seq 150); do
    if sinfo --noheader --format=%T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "slurm_local: started: partition debug on $host with $cpus CPUs, $mem MiB${gres_node:+,$gres_node} (SLURM_CONF=$conf)"
      return 0
    fi
    sleep 0.2
  done
  echo "slurm_local: the node did not become idle in 30 s; sinfo says: $(sinfo 2>&1 | tail -2)" >&2
  tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 2>/dev/null || true
  stop
  exit 1
}

stop() {
  stop_pid_file slurmd "$dir/slurmd.pid"
  stop_pid_file slurmctld "$dir/slurmctld.pid"
  stop_pid_file munged "$dir/munged.pid"  # only when this script started it
  if grep -q "^$marker; state in $dir" "$etc_conf" 2>/dev/null; then rm -f "$etc_conf"; fi
  rm -rf "$dir"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) SLURM_CONF=$conf sinfo ;;
  *) die "usage: $0 start|stop|status" ;;
esac
