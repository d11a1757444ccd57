#!/bin/bash
# sge-up.sh - bring up a real one-host Son of Grid Engine (Debian's gridengine
# 8.1.9 packages: sge_qmaster + sge_execd) for lxm3's integration tests.
#
# Run as root.  Safe to run again at any time: packages are installed only
# when missing, daemons are started only when not running, and the cluster
# configuration is re-applied (about 1-2 s when everything is already up).
# sge-down.sh stops it again.
#
# What you get:
#   - queue all.q on this host, SGE_SLOTS slots (default 4), no load thresholds
#   - parallel environment "smp" ($pe_slots allocation)
#   - scheduler runs every second and 1 s after each submit / job end
#   - accounting written at once, so `qacct -j` sees a job as it leaves qstat
#   - min_uid/min_gid 0 (root may submit), max_aj_tasks 101 (bigger arrays are
#     refused at submit, so the launcher must split them)
#   - an ordinary user TESTBED_USER (default hpcuser) that can qsub and qacct
#
# Environment knobs:
#   SGE_SLOTS       slots of all.q on this host              (default 4)
#   SGE_UP_TIMEOUT  seconds to wait for each daemon/the queue (default 60)
#   TESTBED_USER    ordinary user to create, '' for none      (default hpcuser)
set -euo pipefail

START_NS=$(date +%s%N)
since() { awk -v a="$START_NS" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
say() { printf '[sge-up %6ss] %s\n' "$(since)" "$*"; }
fail() { say "ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run me as root"

export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
HOST=$(hostname)
SLOTS=${SGE_SLOTS:-4}
TIMEOUT=${SGE_UP_TIMEOUT:-60}
TUSER=${TESTBED_USER-hpcuser}
MAX_AJ_TASKS=101
COMMON=$SGE_ROOT/$SGE_CELL/common
SPOOLDB=/var/spool/gridengine/spooldb
QM_SPOOL=/var/spool/gridengine/qmaster
EX_SPOOL=/var/spool/gridengine/execd
LIBEXEC=/usr/lib/gridengine
PKGS=(gridengine-master gridengine-exec gridengine-client)
TMPD=$(mktemp -d /tmp/sge-up.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT

# ------------------------------------------------------------------ helpers
# poll DESC CMD... : retry CMD every 0.25 s until it succeeds or TIMEOUT runs out
poll() {
  local desc=$1 deadline=$(( $(date +%s) + TIMEOUT ))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "gave up after ${TIMEOUT}s waiting for $desc"
    sleep 0.25
  done
}
# is_running PID NAME : PID exists, is not a zombie, and its comm is NAME
is_running() {
  [ "$(cat /proc/"$1"/comm 2>/dev/null)" = "$2" ] &&
    [ "$(awk '{ print $3 }' /proc/"$1"/stat 2>/dev/null)" != Z ]
}
# from_pidfile FILE NAME : print the PID stored in FILE if it is a live NAME
from_pidfile() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && is_running "$pid" "$2" && echo "$pid"
}
# from_exe NAME : PID of a live process whose binary is $LIBEXEC/NAME.  Needed
# because an execd that has not yet reached its qmaster keeps retrying in the
# background without ever writing its pid file.
from_exe() {
  local pid
  for pid in $(pgrep -x "$1" || true); do
    if [ "$(readlink /proc/"$pid"/exe 2>/dev/null)" = "$LIBEXEC/$1" ] && is_running "$pid" "$1"; then
      echo "$pid"; return 0
    fi
  done
  return 1
}
qmaster_pid() { from_pidfile "$QM_SPOOL/qmaster.pid" sge_qmaster || from_exe sge_qmaster; }
execd_pid() {   # the execd spool dir is named after what the host resolves to
  local f
  for f in "$EX_SPOOL"/*/execd.pid; do from_pidfile "$f" sge_execd && return 0; done
  from_exe sge_execd
}
# stop_daemon PID NAME : SIGTERM, up to 20 s grace, then SIGKILL (name re-checked)
stop_daemon() {
  is_running "$1" "$2" || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 80); do is_running "$1" "$2" || return 0; sleep 0.25; done
  if is_running "$1" "$2"; then kill -9 "$1" 2>/dev/null || true; fi
}
# run_quiet CMD... : run CMD, print its output only when it fails
run_quiet() {
  local out
  out=$("$@" 2>&1) || { printf '%s\n' "$out" >&2; fail "command failed: $*"; }
}

# --------------------------------------------------- 1. host name resolution
# SGE refuses to work when the host's own name does not resolve.  Debian
# normally maps it to 127.0.1.1; add that line only if nothing maps it.
if ! getent ahostsv4 "$HOST" >/dev/null 2>&1; then
  say "'$HOST' does not resolve; adding '127.0.1.1 $HOST' to /etc/hosts"
  echo "127.0.1.1 $HOST" >> /etc/hosts
fi
HOST_IP=$(getent ahostsv4 "$HOST" | awk '{ print $1; exit }')
say "host $HOST ($HOST_IP), all.q slots $SLOTS"

# ---------------------------------------------------------------- 2. packages
missing=""
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -x 'install ok installed' >/dev/null || missing="$missing $p"
done
if [ -n "$missing" ]; then
  say "installing:$missing"
  # Answer the packages' debconf questions up front (template names are
  # shared/...): configure automatically, cell "default", master = this host.
  for p in gridengine-common gridengine-client gridengine-master gridengine-exec; do
    echo "$p shared/gridengineconfig boolean true"
    echo "$p shared/gridenginecell string $SGE_CELL"
    echo "$p shared/gridenginemaster string $HOST"
  done > "$TMPD/debconf"
  # A concurrent apt/dpkg run can hold the debconf database lock for a while.
  for _ in $(seq 120); do debconf-set-selections "$TMPD/debconf" 2>/dev/null && break; sleep 5; done
  debconf-set-selections "$TMPD/debconf"
  # Keep maintainer scripts from starting the daemons: they would come up
  # before host_aliases exists (step 4).  Only add a policy if none is there.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
  fi
  for _ in $(seq 60); do apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && break; sleep 10; done
  # gridengine-common needs "bsd-mailx | mailx"; apt's default pick brings the
  # exim4 mail daemon along.  mailutils provides mailx without any daemon.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends "${PKGS[@]}" mailutils
  [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
say "packages: $(dpkg-query -W -f='${Package}=${Version} ' "${PKGS[@]}")"

# --------------------------------------------------------- 3. cluster spool
# With shared/gridengineconfig=true the master's postinst already ran
# init_cluster (berkeleydb spool, global config, manager sgeadmin).  Redo it
# only if that did not happen.
if [ ! -e "$SPOOLDB/sge" ]; then
  say "creating the cluster spool (init_cluster)"
  install -d -o sgeadmin -g sgeadmin "$SPOOLDB" "$QM_SPOOL" "$QM_SPOOL/job_scripts" "$EX_SPOOL" \
    "$SGE_ROOT/$SGE_CELL" "$COMMON"
  [ -e "$COMMON/bootstrap" ] ||
    install -m 0644 -o sgeadmin -g sgeadmin /usr/share/gridengine/default-bootstrap "$COMMON/bootstrap"
  runuser -u sgeadmin -- /usr/share/gridengine/scripts/init_cluster "$SGE_ROOT" "$SGE_CELL" "$SPOOLDB" sgeadmin
fi
if [ "$(cat "$COMMON/act_qmaster" 2>/dev/null)" != "$HOST" ]; then
  echo "$HOST" > "$COMMON/act_qmaster"
  chown sgeadmin:sgeadmin "$COMMON/act_qmaster"
fi

# ----------------------------------------------------------- 4. host_aliases
# Every loopback connection arrives from 127.0.0.1, which reverse-resolves to
# "localhost" (the first name /etc/hosts gives that address).  commlib then
# rejects every client: 'access denied (client IP resolved to host name
# "localhost". This is not identical to clients host name "vm")'.  SGE's own
# alias file maps such names onto $HOST; /etc/hosts stays as it is.  The
# daemons read the file only when they start, so a change means a restart.
extra=""
for ip in "$HOST_IP" 127.0.0.1; do
  n=$("$LIBEXEC/gethostbyaddr" -name "$ip" 2>/dev/null || true)
  if [ -z "$n" ] || [ "$n" = "$HOST" ]; then continue; fi
  case " $extra " in *" $n "*) ;; *) extra="$extra $n" ;; esac
done
want=""
[ -z "$extra" ] || want="$HOST$extra"
if [ "$want" != "$(cat "$COMMON/host_aliases" 2>/dev/null || true)" ]; then
  if [ -n "$want" ]; then
    echo "$want" > "$COMMON/host_aliases"
    chown sgeadmin:sgeadmin "$COMMON/host_aliases"
    say "host_aliases: '$want'"
  else
    rm -f "$COMMON/host_aliases"
  fi
  if pid=$(execd_pid); then say "restarting sge_execd $pid (aliases changed)"; stop_daemon "$pid" sge_execd; fi
  if pid=$(qmaster_pid); then say "restarting sge_qmaster $pid (aliases changed)"; stop_daemon "$pid" sge_qmaster; fi
fi

# ---------------------------------------------------------------- 5. qmaster
install -d -o sgeadmin -g sgeadmin /var/run/gridengine
if pid=$(qmaster_pid); then
  say "sge_qmaster already running (pid $pid)"
else
  say "starting sge_qmaster"
  /usr/sbin/sge_qmaster   # forks into the background as sgeadmin, writes $QM_SPOOL/qmaster.pid
fi
poll "the qmaster to answer" qconf -sh
say "sge_qmaster answers (pid $(qmaster_pid || echo '?'))"

# ---------------------------------------------------------- 6. configuration
# qconf -m* wants an interactive editor, so everything goes through files
# (-M*/-A*).  Everything is re-applied on each run.  (No `grep -q` after a
# pipe here: under pipefail an early exit of grep can fail the producer.)
qconf -sh 2>/dev/null | grep -x "$HOST" >/dev/null || run_quiet qconf -ah "$HOST"
qconf -ss 2>/dev/null | grep -x "$HOST" >/dev/null || run_quiet qconf -as "$HOST"
if ! qconf -se "$HOST" >/dev/null 2>&1; then
  printf '%-16s %s\n' hostname "$HOST" load_scaling NONE complex_values NONE user_lists NONE \
    xuser_lists NONE projects NONE xprojects NONE usage_scaling NONE report_variables NONE \
    > "$TMPD/exechost"
  run_quiet qconf -Ae "$TMPD/exechost"
fi

# Global configuration.  qconf -Mconf needs a file named like the config.
#   min_uid/min_gid 0         root may submit (Debian's 1000 refuses uid 0)
#   max_aj_tasks 101          the largest array qsub accepts
#   load_report_time 5 s      the queue leaves its "-NA-" load state sooner
#   accounting_flush_time 0   qacct sees a job as soon as it leaves qstat
qconf -sconf global | sed -e ':j' -e '/\\$/{N;s/\\\n *//;bj}' | grep -v '^#' | awk -v maxaj=$MAX_AJ_TASKS '
  BEGIN {
    set["min_uid"] = "0"; set["min_gid"] = "0"; set["max_aj_tasks"] = maxaj
    set["load_report_time"] = "00:00:05"
    set["reporting_params"] = "accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00"
  }
  ($1 in set) { print $1, set[$1]; done[$1] = 1; next }
  { print }
  END { for (k in set) if (!(k in done)) print k, set[k] }' > "$TMPD/global"
run_quiet qconf -Mconf "$TMPD/global"

# Scheduler: a pass every second plus 1 s after each submit and each job end
# (1 is the smallest useful flush value: 0 switches the flush off).
qconf -ssconf | awk '
  $1 == "schedule_interval"          { $0 = "schedule_interval 0:0:1" }
  $1 == "flush_submit_sec"           { $0 = "flush_submit_sec 1" }
  $1 == "flush_finish_sec"           { $0 = "flush_finish_sec 1" }
  $1 == "job_load_adjustments"       { $0 = "job_load_adjustments NONE" }
  $1 == "load_adjustment_decay_time" { $0 = "load_adjustment_decay_time 0:0:0" }
  { print }' > "$TMPD/sched"
run_quiet qconf -Msconf "$TMPD/sched"

cat > "$TMPD/smp" <<'EOF'
pe_name            smp
slots              999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    $pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
EOF
if qconf -sp smp >/dev/null 2>&1; then run_quiet qconf -Mp "$TMPD/smp"; else run_quiet qconf -Ap "$TMPD/smp"; fi

# all.q.  Compared with Debian's template: no load_thresholds (np_load_avg on
# a busy 2-core box would put the queue into alarm state and stall jobs),
# only PEs that exist, and unix_behavior so a script's #! line picks its shell.
{
  printf '%-20s %s\n' qname all.q hostlist "$HOST" seq_no 0 load_thresholds NONE \
    suspend_thresholds NONE nsuspend 1 suspend_interval 00:05:00 priority 0 \
    min_cpu_interval 00:05:00 processors UNDEFINED qtype "BATCH INTERACTIVE" ckpt_list NONE \
    pe_list smp rerun FALSE slots "$SLOTS" tmpdir /tmp shell /bin/sh prolog NONE epilog NONE \
    shell_start_mode unix_behavior starter_method NONE suspend_method NONE resume_method NONE \
    terminate_method NONE notify 00:00:60 owner_list NONE user_lists NONE xuser_lists NONE \
    subordinate_list NONE complex_values NONE projects NONE xprojects NONE calendar NONE \
    initial_state default
  for l in rt cpu fsize data stack core rss vmem; do
    printf '%-20s %s\n' "s_$l" INFINITY "h_$l" INFINITY
  done
} > "$TMPD/all.q"
if qconf -sq all.q >/dev/null 2>&1; then run_quiet qconf -Mq "$TMPD/all.q"; else run_quiet qconf -Aq "$TMPD/all.q"; fi
say "configured: $HOST admin/submit/exec host, PE smp, all.q $SLOTS slots, 1 s scheduler, max_aj_tasks $MAX_AJ_TASKS"

# ------------------------------------------------------------ 7. test user
# An ordinary account for non-root tests (the sshd testbed uses it too, so
# whichever script comes first creates it).  uid 1001 when that is free.
if [ -n "$TUSER" ] && ! id "$TUSER" >/dev/null 2>&1; then
  uidopt=()
  getent passwd 1001 >/dev/null || uidopt=(-u 1001)
  useradd -m -s /bin/bash "${uidopt[@]}" "$TUSER" 2>/dev/null || id "$TUSER" >/dev/null 2>&1 ||
    fail "could not create user $TUSER"
  say "created user $TUSER ($(id "$TUSER"))"
fi
# useradd locks the password with "!"; the sshd testbed (no PAM) refuses
# locked accounts even with a key, so use "*" (no password matches) instead.
if [ -n "$TUSER" ]; then
  case "$(getent shadow "$TUSER" | cut -d: -f2)" in '!'*) usermod -p '*' "$TUSER" ;; esac
fi

# ------------------------------------------------------------------ 8. execd
if pid=$(execd_pid); then
  say "sge_execd already running (pid $pid)"
else
  say "starting sge_execd"
  /usr/sbin/sge_execd     # forks into the background, writes $EX_SPOOL/<name>/execd.pid
fi

# ------------------------------------------------------- 9. queue is usable
qmod -cq all.q >/dev/null 2>&1 || true   # drop a stale E(rror) state
qmod -e all.q >/dev/null 2>&1 || true    # and a stale d(isabled) state
# Ready = the instance reports a load value and carries no state letters.
queue_ready() {
  qstat -f -q all.q 2>/dev/null |
    awk -v q="all.q@$HOST" '$1 == q && $4 != "-NA-" && NF == 5 { ok = 1 } END { exit !ok }'
}
poll "all.q@$HOST to become ready" queue_ready
say "sge_execd up (pid $(execd_pid || echo '?')); queue:"
qstat -f -q all.q | sed 's/^/    /'
say "SGE is up"
