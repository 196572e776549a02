#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the test of `attnlab submit --slurm`
# (Tests/attnlabTests/SlurmTests.swift, which starts and stops it; Tools/setup.sh installs Slurm for make test):
#
#   Tools/slurm-cluster.sh start    installs slurmctld, slurmd, munge and the client with apt when
#                                   missing, writes a minimal slurm.conf, starts munged, slurmctld
#                                   and slurmd, and waits until the node takes jobs
#   Tools/slurm-cluster.sh stop     stops what start started, by the pids it recorded
#
# Everything lives in $ATTNLAB_SLURM_DIR (default /tmp/attnlab-slurm); clients find the cluster
# through SLURM_CONF=$ATTNLAB_SLURM_DIR/slurm.conf, which the test reads too. Runs as root, as CI does.
set -euo pipefail

DIR=${ATTNLAB_SLURM_DIR:-/tmp/attnlab-slurm}
CONF=$DIR/slurm.conf
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Runs a daemon with its standard streams on /dev/null (it logs to files) and without the other
# descriptors this script inherited (a caller's pipes, or the socket by which Foundation's Process
# sees a child end): a daemon holding them keeps its caller waiting for an end that never comes.
detached() {
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
        done
        exec "$@" </dev/null >/dev/null 2>&1
    )
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
    for name in slurmd slurmctld munged; do
        local pidfile=$DIR/$name.pid
        if alive "$pidfile"; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
            for _ in $(seq 50); do alive "$pidfile" || break; sleep 0.1; done
            alive "$pidfile" && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
    echo "slurm-cluster: stopped"
}

start() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v munged >/dev/null || missing+=(munge)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "slurm-cluster: installing ${missing[*]} with apt"
        sudo_if_needed apt-get update -qq
        sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    stop >/dev/null
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/munge"
    chmod 700 "$DIR/munge"

    # munge: its own key and socket in $DIR, so another munged on the machine is left alone.
    if [ ! -f "$DIR/munge/munge.key" ]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$DIR/munge/munge.key"
    fi
    detached munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
        --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munge/munge.seed"
    for _ in $(seq 50); do [ -S "$DIR/munge/munge.socket" ] && break; sleep 0.1; done

    local host cpus memory
    host=$(hostname -s)
    cpus=$(nproc)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
    cat > "$CONF" <<EOF
ClusterName=attnlab
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$CONF
    detached slurmctld -f "$CONF"
    detached slurmd -f "$CONF"
    for _ in $(seq 100); do
        if sinfo -h -o %t 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; then
            echo "slurm-cluster: up ($host, $cpus CPUs); SLURM_CONF=$CONF"
            return 0
        fi
        sleep 0.2
    done
    echo "slurm-cluster: the node did not come up; the logs:" >&2
    tail -n 20 "$DIR"/slurmctld.log "$DIR"/slurmd.log >&2 || true
    stop
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
