#!/usr/bin/env bash
# slurm-up.sh - a real one-node Slurm cluster (Debian 12's Slurm 22.05) on
# loopback for lxm3's end-to-end tests: munged, a private MariaDB, slurmdbd,
# slurmctld and slurmd, all started by hand (there is no systemd here).
#
# Idempotent: daemons already up are left alone, so a re-run with nothing to
# do takes well under a second or two; if the generated slurm.conf changed,
# slurmctld and slurmd are restarted to pick it up. Stop with slurm-down.sh.
#
# Where things go:
#   /etc/slurm/slurm.conf, /etc/slurm/slurmdbd.conf (the standard paths, so the
#     client commands need no SLURM_CONF)
#   state  /var/lib/lxm3-testbed/slurm/{slurmctld,slurmd/<node>,mysql}
#   logs   /var/log/lxm3-testbed/   (slurmctld.log, slurmd-<node>.log,
#          slurmdbd.log, mariadb.log, jobcomp.log)
#   pids   /run/lxm3-testbed/
#
# Knobs (environment):
#   TESTBED_ACCOUNTING=slurmdbd|none  slurmdbd (default): MariaDB on
#       127.0.0.1:$TESTBED_DB_PORT (3307) + slurmdbd, so plain `sacct` works.
#       none: no database; only `sacct -c` (the jobcomp file) and, for
#       MinJobAge seconds, `squeue -t all` / `scontrol show job`.
#   TESTBED_CPUS=4          CPUs the node advertises (real count: 2). More
#                           than the hardware, so that array throttles %3, %4
#                           really run that many tasks at once.
#   TESTBED_MAX_ARRAY_SIZE=101  largest array index + 1 (lxm3 must split
#                           bigger sweeps into several arrays)
#   TESTBED_MIN_JOB_AGE=300 seconds a finished job stays visible in slurmctld
#   TESTBED_SCHED_PARAMS    SchedulerParameters (default: the fast set below)
#   TESTBED_DEPENDENCY_PARAMS  e.g. kill_invalid_depend (default unset)
#   TESTBED_USER=hpcuser    unprivileged user that gets an accounting
#                           association
#   TESTBED_DB_PORT=3307, TESTBED_SKIP_INSTALL=1
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_TAG=slurm-up
# shellcheck source=common.sh
. "$HERE/common.sh"

ACCT=${TESTBED_ACCOUNTING:-slurmdbd}
CPUS=${TESTBED_CPUS:-4}
MAX_ARRAY=${TESTBED_MAX_ARRAY_SIZE:-101}
MIN_JOB_AGE=${TESTBED_MIN_JOB_AGE:-300}
# Measured on this 2-core VM (mean submit-to-start of a trivial sbatch job):
# stock backfill ~2.9 s, this set ~0.5 s. bf_interval=1 and batch_sched_delay=0
# are the two that matter; the 22.05 main loop ticks in whole seconds, so
# nothing gets much below ~0.45 s.
SCHED_PARAMS=${TESTBED_SCHED_PARAMS-sched_interval=1,sched_min_interval=0,batch_sched_delay=0,bf_interval=1}
# In 22.05 kill_invalid_depend only works here, not in SchedulerParameters.
DEP_PARAMS=${TESTBED_DEPENDENCY_PARAMS:-}
TUSER=${TESTBED_USER:-hpcuser}
DB_PORT=${TESTBED_DB_PORT:-3307}

STATE=/var/lib/lxm3-testbed/slurm
LOG=/var/log/lxm3-testbed
RUN=/run/lxm3-testbed
CONF=/etc/slurm/slurm.conf
DBCONF=/etc/slurm/slurmdbd.conf

case "$ACCT" in slurmdbd | none) ;; *) tb_die "TESTBED_ACCOUNTING must be slurmdbd or none, not '$ACCT'" ;; esac
tb_require_root

# ------------------------------------------------------------------ packages
pkgs=(munge slurmctld slurmd slurm-client)
[ "$ACCT" = slurmdbd ] && pkgs+=(slurmdbd mariadb-server)
tb_install_packages "${pkgs[@]}"
tb_log "packages present"

# A TCP port already bound by something we did not start (for instance a second
# copy of this testbed under other paths) would make our daemon die with a
# bind error deep in its log; say it up front instead.
port_free_or_die() {  # port_free_or_die PORT WHAT
  if ss -Hltn "sport = :$1" | grep . >/dev/null; then
    ss -Hltnp "sport = :$1" >&2 || true
    tb_die "port $1 (for $2) is taken by a process this script did not start"
  fi
}

# ------------------------------------------------------------------ host, user
HOST=$(hostname -s)
# slurmctld and slurmd look the node name up; make sure it resolves.
getent hosts "$HOST" >/dev/null || echo "127.0.0.1 $HOST" >>/etc/hosts
# Jobs run as this user, so it must exist on the "compute node" too.
tb_ensure_user "$TUSER"

mkdir -p "$STATE/slurmctld" "$STATE/slurmd" "$LOG" "$RUN"
chmod 755 "$STATE" "$LOG" "$RUN"

# ------------------------------------------------------------------ munge
# All Slurm daemons and clients authenticate through munged with a shared key.
install -d -o munge -g munge -m 700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 700 /var/lib/munge
install -d -o munge -g munge -m 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
if ! tb_alive /run/munge/munged.pid munged; then
  # a stale socket or pid file from a killed munged makes the new one refuse
  rm -f /run/munge/munged.pid /run/munge/munge.socket.2*
  runuser -u munge -- /usr/sbin/munged
fi
munge_ok() { munge -n </dev/null | unmunge >/dev/null; }
tb_wait_for 5 munge_ok || tb_die "munged is not working; see /var/log/munge/munged.log"
tb_log "munged up (pid $(cat /run/munge/munged.pid))"

# ------------------------------------------------------------------ slurm.conf
# Start from the hardware line `slurmd -C` prints, e.g.
#   NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
# Declaring only CPUs= makes slurmd complain that socket/core boundaries
# changed, so the full topology is copied.
HWLINE=$(slurmd -C | head -1)
REAL_CPUS=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$HWLINE")
REAL_MEM=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$HWLINE")
TOPO=$(grep -o 'CPUs=.*ThreadsPerCore=[0-9]*' <<<"$HWLINE")
# 5% slack: MemTotal moves a little, and a node whose real memory falls below
# its configured RealMemory gets drained.
MEM=$((REAL_MEM * 95 / 100))
OVERRIDES=""
if [ "$CPUS" != "$REAL_CPUS" ]; then
  # Advertising more CPUs than exist: without config_overrides slurmd reports
  # the real count and slurmctld drains the node ("Low socket*core*thread count").
  TOPO="CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1"
  OVERRIDES="SlurmdParameters=config_overrides"
fi

if [ "$ACCT" = slurmdbd ]; then
  ACCT_CONF="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819"
else
  ACCT_CONF="AccountingStorageType=accounting_storage/none"
fi
# Note: no AccountingStorageEnforce line at all. An empty value is a fatal
# parse error for every client command.

mkdir -p /etc/slurm
cat >"$CONF.new" <<EOF
# lxm3 testbed (generated by tests/testbed/slurm-up.sh): one node on loopback.
ClusterName=testbed
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
# slurmd binds to its NodeAddr (127.0.0.1) rather than 0.0.0.0. (slurmctld and
# slurmdbd in 22.05 still listen on all addresses.)
CommunicationParameters=NoInAddrAny
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd/%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info

# No cgroups: plain process tracking works in a VM/container without systemd,
# and then no cgroup.conf is needed either.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MpiDefault=none
$OVERRIDES

# Scheduling tuned for quick test turnaround (see the comment in slurm-up.sh).
SchedulerType=sched/backfill
${SCHED_PARAMS:+SchedulerParameters=$SCHED_PARAMS}
${DEP_PARAMS:+DependencyParameters=$DEP_PARAMS}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a small default, a job that asks for no memory gets the whole node
# and every other job waits.
DefMemPerCPU=100
MaxArraySize=$MAX_ARRAY
MinJobAge=$MIN_JOB_AGE
# Finished array tasks keep a record for MinJobAge; the default cap of 10000 records
# made sbatch stall (retrying quietly) after a few large sweeps.
MaxJobCount=100000
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
# A node that went DOWN (e.g. slurmd was stopped) comes back by itself.
ReturnToService=2

$ACCT_CONF
# Always on: the text file is what \`sacct -c\` reads when there is no slurmdbd.
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.log

NodeName=$HOST NodeAddr=127.0.0.1 $TOPO RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
# Replace the file only when its text changed: a change is what triggers the
# daemon restarts below, and an unchanged file keeps re-runs quick.
CONF_CHANGED=0
if cmp -s "$CONF.new" "$CONF"; then
  rm -f "$CONF.new"
else
  mv "$CONF.new" "$CONF"
  CONF_CHANGED=1
fi
chmod 644 "$CONF"
tb_log "slurm.conf ok (changed=$CONF_CHANGED cpus=$CPUS mem=${MEM}M acct=$ACCT max_array=$MAX_ARRAY)"

if [ "$CONF_CHANGED" = 1 ]; then
  # slurmctld and slurmd only read slurm.conf at start (scontrol reconfigure
  # does not cover node definitions), so restart the ones we own.
  tb_stop slurmd "$RUN/slurmd-$HOST.pid" slurmd
  tb_stop slurmctld "$RUN/slurmctld.pid" slurmctld
fi

# ------------------------------------------------------------------ accounting
if [ "$ACCT" = slurmdbd ]; then
  # A MariaDB of our own: own datadir, own socket, TCP on 127.0.0.1:$DB_PORT
  # (slurmdbd.conf has no socket option, so it has to be TCP). It never
  # touches the system's /var/lib/mysql or port 3306.
  DBRUN=$RUN/mysqld
  SOCK=$DBRUN/mysqld.sock
  install -d -o mysql -g mysql -m 755 "$DBRUN"
  db_ping() { mysqladmin --no-defaults --socket="$SOCK" ping; }
  if ! db_ping >/dev/null 2>&1; then
    port_free_or_die "$DB_PORT" mariadb
    if [ ! -d "$STATE/mysql/mysql" ]; then
      install -d -o mysql -g mysql -m 750 "$STATE/mysql"
      # root may log in over the socket only (unix_socket auth): no password.
      mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql" \
        --auth-root-authentication-method=socket --skip-test-db \
        >"$LOG/mariadb-install.log" 2>&1 || tb_die "mariadb-install-db failed; see $LOG/mariadb-install.log"
    fi
    rm -f "$DBRUN/mysqld.pid"
    # mariadbd opens its log after dropping to the mysql user, and the log dir
    # is root's: without this the log silently goes nowhere.
    touch "$LOG/mariadb.log"
    chown mysql:mysql "$LOG/mariadb.log"
    # --skip-name-resolve: grants are for '127.0.0.1', never a resolved name.
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" \
      --socket="$SOCK" --pid-file="$DBRUN/mysqld.pid" \
      --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve \
      --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 \
      --log-error="$LOG/mariadb.log" </dev/null >/dev/null 2>&1 &
    tb_wait_for 30 db_ping || tb_die "mariadb did not come up; see $LOG/mariadb.log"
  fi
  mysql --no-defaults --socket="$SOCK" -e "
    CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'testbed';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  tb_log "mariadb up (pid $(cat "$DBRUN/mysqld.pid"), 127.0.0.1:$DB_PORT)"

  cat >"$DBCONF.new" <<EOF
# lxm3 testbed (generated by tests/testbed/slurm-up.sh)
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
DebugLevel=info
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=testbed
EOF
  # slurmdbd insists that its config (it holds a password) is private.
  chmod 600 "$DBCONF.new"
  if cmp -s "$DBCONF.new" "$DBCONF"; then rm -f "$DBCONF.new"; else
    mv "$DBCONF.new" "$DBCONF"
    tb_stop slurmdbd "$RUN/slurmdbd.pid" slurmdbd
  fi
  if ! tb_alive "$RUN/slurmdbd.pid" slurmdbd; then
    rm -f "$RUN/slurmdbd.pid"
    port_free_or_die 6819 slurmdbd
    slurmdbd
  fi
  # One query serves as the readiness probe and tells what is registered
  # (each sacctmgr call costs 0.2-0.4 s, which dominated quick re-runs).
  assocs="" dbd_ok=0
  for _ in $(seq 150); do
    if assocs=$(sacctmgr -n -P list assoc format=cluster,account,user 2>/dev/null); then dbd_ok=1; break; fi
    sleep 0.1
  done
  [ "$dbd_ok" = 1 ] || tb_die "slurmdbd is not answering; see $LOG/slurmdbd.log"
  # The cluster must be registered before slurmctld starts, or slurmctld
  # keeps its records queued until the next restart.
  if ! grep '^testbed|' <<<"$assocs" >/dev/null; then
    sacctmgr -i add cluster testbed >/dev/null
  fi
  # Without an association, sacct shows $TUSER's jobs as User=root (uid 0)
  # for the first few seconds after they end.
  if ! grep -x "testbed|testbed|$TUSER" <<<"$assocs" >/dev/null; then
    if ! grep -x 'testbed|testbed|' <<<"$assocs" >/dev/null; then
      sacctmgr -i add account testbed Cluster=testbed Description=lxm3-testbed Organization=lxm3 >/dev/null
    fi
    sacctmgr -i add user "$TUSER" account=testbed cluster=testbed >/dev/null
  fi
  tb_log "slurmdbd up (pid $(cat "$RUN/slurmdbd.pid")), association $TUSER/testbed"
fi

# ------------------------------------------------------------------ slurmctld
if ! tb_alive "$RUN/slurmctld.pid" slurmctld; then
  rm -f "$RUN/slurmctld.pid"
  port_free_or_die 6817 slurmctld
  slurmctld
fi
ctld_up() { scontrol ping | grep 'is UP' >/dev/null; }
tb_wait_for 15 ctld_up || tb_die "slurmctld is not answering; see $LOG/slurmctld.log"
tb_log "slurmctld up (pid $(cat "$RUN/slurmctld.pid"))"
# jobcomp/filetxt opens its file for append even inside `sacct -c`, so an
# ordinary user gets "Permission denied" unless it is world-writable.
# slurmctld resets the mode to 0644 whenever it (re)opens the file, so this
# has to come after the daemon is up.
tb_wait_for 5 test -e "$LOG/jobcomp.log" || touch "$LOG/jobcomp.log"
chmod 666 "$LOG/jobcomp.log"

# ------------------------------------------------------------------ slurmd
if ! tb_alive "$RUN/slurmd-$HOST.pid" slurmd; then
  rm -f "$RUN/slurmd-$HOST.pid"
  port_free_or_die 6818 slurmd
  mkdir -p "$STATE/slurmd/$HOST"
  slurmd -N "$HOST"
fi

# ------------------------------------------------------------------ node ready
node_ready() {
  local st
  st=$(sinfo -h -n "$HOST" -o '%t' 2>/dev/null | head -1)
  case "$st" in
    idle | mix | alloc) return 0 ;;
    # left down/drained by an earlier run that was interrupted: bring it back
    down* | drain* | drng*) scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;;
  esac
  return 1
}
if ! tb_wait_for 30 node_ready; then
  sinfo -N -l >&2 || true
  tb_die "node $HOST did not become idle; see $LOG/slurmd-$HOST.log and $LOG/slurmctld.log"
fi
tb_log "slurm ready: node $HOST $(sinfo -h -n "$HOST" -o '%t cpus=%c mem=%mM')"
