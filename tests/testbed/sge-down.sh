#!/bin/bash
# sge-down.sh - stop the one-host Grid Engine that sge-up.sh started.
#
# Order: delete every job (SGE_KEEP_JOBS=1 keeps pending ones in the spool),
# ask the qmaster to stop the execd (qconf -kej) and itself (qconf -km), and
# only if a daemon outlives that, signal the PID recorded in its own pid file,
# after checking that the PID still belongs to a process of that name.  No
# kill by name pattern.  Packages, configuration and accounting are kept, so
# sge-up.sh brings the cluster back in a few seconds.  Run as root.
set -uo pipefail
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
HOST=$(hostname)
QM_SPOOL=/var/spool/gridengine/qmaster
EX_SPOOL=/var/spool/gridengine/execd
LIBEXEC=/usr/lib/gridengine
say() { echo "[sge-down] $*"; }
[ "$(id -u)" = 0 ] || { say "run me as root"; exit 1; }

# is_running PID NAME : PID exists, is not a zombie, and its comm is NAME
is_running() {
  [ -n "$1" ] && [ "$(cat /proc/"$1"/comm 2>/dev/null)" = "$2" ] &&
    [ "$(awk '{ print $3 }' /proc/"$1"/stat 2>/dev/null)" != Z ]
}
from_pidfile() {   # from_pidfile FILE NAME
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  is_running "$pid" "$2" && echo "$pid"
}
# from_exe NAME : live processes whose binary is $LIBEXEC/NAME.  Only used when
# there is no valid pid file: an execd that never reached its qmaster has not
# written one.
from_exe() {
  local pid
  for pid in $(pgrep -x "$1"); do
    [ "$(readlink /proc/"$pid"/exe 2>/dev/null)" = "$LIBEXEC/$1" ] && is_running "$pid" "$1" && echo "$pid"
  done
}
# wait_exit PID NAME SECONDS : true once PID is no longer a live NAME
wait_exit() {
  for _ in $(seq $(( $3 * 4 + 1 ))); do is_running "$1" "$2" || return 0; sleep 0.25; done
  return 1
}
# terminate PID NAME GRACE : SIGTERM, wait GRACE s, SIGKILL; name re-checked each time
terminate() {
  is_running "$1" "$2" || return 0
  say "$2 $1 still running: SIGTERM"; kill "$1" 2>/dev/null
  wait_exit "$1" "$2" "$3" && return 0
  is_running "$1" "$2" && { say "$2 $1 still running: SIGKILL"; kill -9 "$1" 2>/dev/null; }
  wait_exit "$1" "$2" 5
}

# Note the PIDs first: the daemons remove their pid files on the way out.
QM=$(from_pidfile "$QM_SPOOL/qmaster.pid" sge_qmaster || from_exe sge_qmaster | head -1)
EX=""
for f in "$EX_SPOOL"/*/execd.pid; do p=$(from_pidfile "$f" sge_execd) && EX="$EX $p"; done
[ -n "$EX" ] || EX=$(from_exe sge_execd | tr '\n' ' ')
# shellcheck disable=SC2086,SC2116  # word splitting squeezes the blanks
EX=$(echo $EX)
SHEPHERDS=""
for p in $EX; do SHEPHERDS="$SHEPHERDS $(pgrep -P "$p" -x sge_shepherd | tr '\n' ' ')"; done
# shellcheck disable=SC2086,SC2116
SHEPHERDS=$(echo $SHEPHERDS)

if [ -z "$QM$EX" ]; then say "nothing to stop (no sge_qmaster, no sge_execd)"; exit 0; fi
say "sge_qmaster: ${QM:-none}; sge_execd: ${EX:-none}; shepherds: ${SHEPHERDS:-none}"

asked_execd=0
if [ -n "$QM" ] && qconf -sh >/dev/null 2>&1; then
  if [ "${SGE_KEEP_JOBS:-0}" != 1 ]; then
    qdel -f -u '*' >/dev/null 2>&1 && say "deleted all jobs"
  fi
  if [ -n "$EX" ] && qconf -kej "$HOST" >/dev/null 2>&1; then
    asked_execd=1; say "qconf -kej $HOST: execd and its jobs asked to stop"
  fi
fi
for p in $EX; do
  grace=0; [ $asked_execd = 1 ] && grace=20
  wait_exit "$p" sge_execd $grace || terminate "$p" sge_execd 10
done
for p in $SHEPHERDS; do   # a job shepherd left behind by a killed execd
  is_running "$p" sge_shepherd && { say "sge_shepherd $p left over: SIGKILL"; kill -9 "$p" 2>/dev/null; }
done

if [ -n "$QM" ]; then
  # A controlled shutdown takes the qmaster about 10 s.
  qconf -km >/dev/null 2>&1 && say "qconf -km: qmaster asked to stop"
  wait_exit "$QM" sge_qmaster 30 || terminate "$QM" sge_qmaster 15
fi

left=""
is_running "$QM" sge_qmaster && left="$left sge_qmaster:$QM"
for p in $EX; do is_running "$p" sge_execd && left="$left sge_execd:$p"; done
if [ -n "$left" ]; then say "FAILED, still running:$left"; exit 1; fi
say "stopped"
