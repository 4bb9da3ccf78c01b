#!/usr/bin/env bash
# A one-machine SLURM cluster for the tests and for trying hydra/launcher=slurm on this machine:
# munged, MariaDB and slurmdbd (accounting, so sacct and submitit see real job states),
# slurmctld and slurmd, all on this host, configured for it (its CPUs and memory from slurmd -C).
#
#   cluster/slurm.sh start     install Debian's packages when missing (root), write the
#                              configuration under $MNISTLAB_SLURM_DIR, start the daemons
#   cluster/slurm.sh stop      stop every daemon it started (and nothing else)
#   cluster/slurm.sh status    whether it runs; the line that points SLURM's commands at it
#
# SLURM's commands find it through SLURM_CONF=$MNISTLAB_SLURM_DIR/slurm.conf (printed by start).
# Ports 16817-16819 and MariaDB's 16306 on 127.0.0.1, so a real installation is left alone.
set -euo pipefail

DIR=${MNISTLAB_SLURM_DIR:-/tmp/mnistlab-slurm}
PARTITION=${MNISTLAB_SLURM_PARTITION:-debug}
DB_PORT=16306
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)
DAEMONS=(slurmd slurmctld slurmdbd mariadbd munged)  # stopped in this order

say() { echo "cluster: $*"; }
fail() { echo "cluster: $*" >&2; exit 1; }
cannot() { echo "cluster: $*" >&2; exit 3; }  # this machine cannot run it (the tests skip)

install_packages() {
  local missing=()
  for command in slurmctld slurmd slurmdbd munged mariadbd sbatch; do
    command -v "$command" >/dev/null || missing+=("$command")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || cannot "needs root to install Debian's ${PACKAGES[*]} (missing: ${missing[*]})."
  command -v apt-get >/dev/null || cannot "needs apt-get to install ${PACKAGES[*]} (missing: ${missing[*]})."
  say "installing Debian's ${PACKAGES[*]}..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${PACKAGES[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q "${PACKAGES[@]}" >/dev/null; } \
    || fail "apt-get could not install ${PACKAGES[*]}."
}

pid_of() { [ -f "$DIR/$1.pid" ] && cat "$DIR/$1.pid" 2>/dev/null || true; }
running() { local pid; pid=$(pid_of "$1"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

wait_for() {  # wait_for <what> <seconds> <command...>
  local what=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "$what did not come up within $seconds s (logs in $DIR/log/)."
}

write_config() {
  local node cpus memory
  node=$(slurmd -C | head -1)               # NodeName=<host> CPUs=.. ... RealMemory=..
  cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")
  memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
  memory=$((memory * 9 / 10))               # leave the system its share
  node=$(sed "s/RealMemory=[0-9]*/RealMemory=$memory/" <<<"$node")
  mkdir -p "$DIR"/{state,spool,log,db,run}
  cat >"$DIR/slurm.conf" <<CONF
ClusterName=mnistlab
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
JobRequeue=1
KillWait=30
MinJobAge=600
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=16819
JobAcctGatherType=jobacct_gather/none
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  cat >"$DIR/slurmdbd.conf" <<CONF
DbdHost=$(hostname -s)
DbdAddr=127.0.0.1
DbdPort=16819
SlurmUser=root
AuthType=auth/munge
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
CONF
  chmod 600 "$DIR/slurmdbd.conf"
  say "node: $node ($cpus CPUs), partition $PARTITION"
}

start_munge() {
  running munged && return 0
  munge -n >/dev/null 2>&1 && return 0  # this machine's own munged serves
  mkdir -p /run/munge && chown munge:munge /run/munge
  [ -s /etc/munge/munge.key ] || { mungekey -c -f 2>/dev/null || /usr/sbin/create-munge-key -f; }
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$DIR/munged.pid"
  wait_for munged 10 munge -n
}

start_mariadb() {
  running mariadbd && return 0
  if [ ! -d "$DIR/db/mysql" ]; then
    mariadb-install-db --datadir="$DIR/db" --user=root --auth-root-authentication-method=socket \
      >"$DIR/log/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed ($DIR/log/mariadb-install.log)."
  fi
  mariadbd --user=root --datadir="$DIR/db" --socket="$DIR/run/mysqld.sock" --port=$DB_PORT \
    --bind-address=127.0.0.1 --pid-file="$DIR/mariadbd.pid" --log-error="$DIR/log/mariadb.log" \
    --innodb-buffer-pool-size=256M --innodb-lock-wait-timeout=900 --skip-log-bin >/dev/null 2>&1 &
  wait_for MariaDB 60 mariadb --socket="$DIR/run/mysqld.sock" -e "SELECT 1"
  mariadb --socket="$DIR/run/mysqld.sock" -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

start() {
  install_packages
  [ "$(id -u)" = 0 ] || cannot "needs root to start munged, slurmdbd, slurmctld and slurmd."
  if running slurmctld && running slurmd; then status; return 0; fi
  write_config
  export SLURM_CONF=$DIR/slurm.conf
  start_munge
  start_mariadb
  running slurmdbd || slurmdbd  # reads slurmdbd.conf beside $SLURM_CONF
  wait_for slurmdbd 60 sacctmgr -n list cluster
  sacctmgr -i add cluster mnistlab >/dev/null 2>&1 || true
  running slurmctld || slurmctld -f "$DIR/slurm.conf"
  running slurmd || slurmd -f "$DIR/slurm.conf"
  wait_for "the node" 60 bash -c "sinfo -h -N -o %t | grep -qE '^(idle|mix|alloc)'"
  say "running. Point SLURM's commands at it with:  export SLURM_CONF=$SLURM_CONF"
}

stop() {
  local daemon pid stopped=()
  for daemon in "${DAEMONS[@]}"; do
    pid=$(pid_of "$daemon")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    stopped+=("$daemon")
  done
  rm -f "$DIR"/*.pid
  say "stopped: ${stopped[*]:-nothing was running}"
}

status() {
  local daemon up=()
  for daemon in "${DAEMONS[@]}"; do running "$daemon" && up+=("$daemon"); done
  if [ ${#up[@]} -eq 0 ]; then say "not running"; return 1; fi
  say "running: ${up[*]}.  export SLURM_CONF=$DIR/slurm.conf"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
