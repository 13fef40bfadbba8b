#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the Slurm executor's test and benchmark.
#
#   scripts/slurm-cluster.sh start   install (apt, when missing) and start munge, slurmctld
#                                    and slurmd; wait until the node is idle
#   scripts/slurm-cluster.sh stop    stop the daemons this script started
#   scripts/slurm-cluster.sh env     print `export SLURM_CONF=…` for the cluster's clients
#
# Everything lives under $AUGFLOW_SLURM_DIR (default /tmp/augflow-slurm): slurm.conf, state,
# spool, logs and pid files; /etc/slurm is not touched. Clients (sbatch, squeue, augflow)
# find the cluster through SLURM_CONF=$AUGFLOW_SLURM_DIR/slurm.conf. Ports default to 6817
# (slurmctld) and 6818 (slurmd); override with AUGFLOW_SLURM_PORT (slurmd uses port + 1).
# Needs root (it starts daemons as root and installs packages).
#
# AUGFLOW_SLURM_ETC=1 also links /etc/slurm/slurm.conf to the cluster's config (only when
# /etc/slurm/slurm.conf does not exist; `stop` removes the link): for tools that drop
# SLURM_CONF from their jobs' environment, such as Snakemake's Slurm job-step plugin.
set -euo pipefail

DIR="${AUGFLOW_SLURM_DIR:-/tmp/augflow-slurm}"
PORT="${AUGFLOW_SLURM_PORT:-6817}"
NODE=augflow-node
CONF="$DIR/slurm.conf"

log() { echo "slurm-cluster: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    [ "$(id -u)" = 0 ] || die "slurm is not installed and installing it needs root"
    log "installing slurm-wlm, slurmctld, slurmd, munge with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends slurm-wlm slurmctld slurmd munge >&2
}

write_config() {
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    local cpus mem_mb
    cpus="$(nproc)"
    # AUGFLOW_SLURM_CPUS=N declares N CPUs (more than the machine has: for benchmarks of
    # trivial jobs, where the cluster's job starts, not the cores, are what is measured).
    local overrides=""
    if [ -n "${AUGFLOW_SLURM_CPUS:-}" ]; then
        cpus="$AUGFLOW_SLURM_CPUS"
        overrides="SlurmdParameters=config_overrides"
    fi
    # Leave a quarter of the memory to the system; jobs that ask for more stay pending.
    mem_mb="$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 3 / 4 }' /proc/meminfo)"
    cat >"$CONF" <<EOF
# Written by scripts/slurm-cluster.sh: one node at 127.0.0.1, for tests and benchmarks.
ClusterName=augflow
SlurmctldHost=$(hostname)(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# The scheduler reacts to new jobs at once; finished jobs stay visible to squeue a while.
SchedulerParameters=sched_min_interval=0
MinJobAge=300
$overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$NODE NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$DIR/cgroup.conf" <<EOF
CgroupPlugin=autodetect
EOF
}

start_munge() {
    if pgrep -x munged >/dev/null; then
        return
    fi
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating /etc/munge/munge.key"
        mungekey --create --keyfile=/etc/munge/munge.key >&2 ||
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- munged || die "munged did not start (see /var/log/munge/munged.log)"
}

pid_alive() {
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

start() {
    install_packages
    if pid_alive "$DIR/slurmctld.pid" && pid_alive "$DIR/slurmd.pid"; then
        log "already running ($CONF)"
        wait_idle
        return
    fi
    write_config
    start_munge
    export SLURM_CONF="$CONF"
    # -c: clear old jobs and state (a fresh cluster each start).
    slurmctld -c -f "$CONF" || die "slurmctld did not start (see $DIR/log/slurmctld.log)"
    slurmd -c -f "$CONF" -N "$NODE" || die "slurmd did not start (see $DIR/log/slurmd.log)"
    wait_idle
    if [ "${AUGFLOW_SLURM_ETC:-}" = 1 ] && [ ! -e /etc/slurm/slurm.conf ]; then
        mkdir -p /etc/slurm
        ln -s "$CONF" /etc/slurm/slurm.conf
        log "linked /etc/slurm/slurm.conf to $CONF"
    fi
    log "up: export SLURM_CONF=$CONF"
}

wait_idle() {
    export SLURM_CONF="$CONF"
    local state=""
    for _ in $(seq 1 120); do
        state="$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)"
        case "$state" in
        idle | mix | alloc) return ;;
        down* | drain*)
            scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
            ;;
        esac
        sleep 0.5
    done
    log "node state: ${state:-none}"
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    die "the node did not become idle within 60 s"
}

stop_daemon() {
    local name="$1" pidfile="$DIR/$1.pid"
    if pid_alive "$pidfile"; then
        local pid
        pid="$(cat "$pidfile")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$pid" 2>/dev/null || true
        log "stopped $name"
    fi
    rm -f "$pidfile"
}

stop() {
    if [ -f "$CONF" ]; then
        SLURM_CONF="$CONF" scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
    fi
    stop_daemon slurmd
    stop_daemon slurmctld
    if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$CONF" ]; then
        rm -f /etc/slurm/slurm.conf
        log "removed the /etc/slurm/slurm.conf link"
    fi
    # munged is left running: it is a machine-wide service other Slurm users may rely on.
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) echo "export SLURM_CONF=$CONF" ;;
*)
    echo "usage: $0 {start|stop|env}" >&2
    exit 2
    ;;
esac
