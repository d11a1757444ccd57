# shellcheck shell=bash
# Helpers shared by the testbed scripts in this folder. Sourced, never run.
#
# The machine these run on (Debian 12 in a Firecracker VM) has no init system:
# PID 1 is a small agent, not systemd. So every daemon is started by hand and
# stopped by its pid file, and the helpers below encode what we learned about
# doing that safely.

# Timestamped progress line: "[tag  1.234s] message".
TB_T0=${TB_T0:-$(date +%s%N)}
tb_log() {
  local ms=$(( ($(date +%s%N) - TB_T0) / 1000000 ))
  printf '[%s %3d.%03ds] %s\n' "${TB_TAG:-testbed}" $((ms / 1000)) $((ms % 1000)) "$*"
}
tb_die() { echo "${TB_TAG:-testbed}: ERROR: $*" >&2; exit 1; }

tb_require_root() { [ "$(id -u)" = 0 ] || tb_die "must run as root (it installs packages and starts daemons)"; }

# tb_running PID [COMM]
# True when PID is a live process that is not a zombie and, if COMM is given,
# whose /proc/PID/comm equals COMM.
#  - The zombie test matters because PID 1 here reaps orphans late (~2 s) and
#    kill -0 happily succeeds on a zombie, which made every stop look slow.
#  - The comm test matters because /run is on the root disk, not a tmpfs: a pid
#    file can outlive a reboot and then name some unrelated process. We never
#    signal a pid whose name does not match.
tb_running() {
  local pid=$1 want=${2:-}
  [ -n "$pid" ] && [ "$pid" -gt 1 ] 2>/dev/null || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # field 3 of /proc/PID/stat is the state; comm (field 2) may contain spaces
  # but is wrapped in parentheses, so match up to the closing one.
  if grep -q '^[0-9]* (.*) Z' "/proc/$pid/stat" 2>/dev/null; then return 1; fi
  [ -z "$want" ] || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$want" ]
}

# tb_alive PIDFILE COMM: the pid file exists and names a live COMM process.
tb_alive() { [ -s "$1" ] && tb_running "$(cat "$1")" "$2"; }

# tb_stop NAME PIDFILE COMM [TIMEOUT_S]
# TERM the process named by PIDFILE (only if its comm matches), wait for it to
# go, KILL it if it ignores TERM, and remove the pid file. Quiet when there is
# nothing to do.
tb_stop() {
  local name=$1 pf=$2 comm=$3 timeout=${4:-10} pid i
  [ -s "$pf" ] || { rm -f "$pf"; return 0; }
  pid=$(cat "$pf")
  if tb_running "$pid" "$comm"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 20; i++)); do tb_running "$pid" "$comm" || break; sleep 0.05; done
    if tb_running "$pid" "$comm"; then
      echo "$name (pid $pid) ignored TERM for ${timeout}s, sending KILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    tb_log "stopped $name (pid $pid)"
  fi
  rm -f "$pf"
}

# tb_wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
tb_wait_for() {
  local secs=$1 i; shift
  for ((i = 0; i < secs * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@" >/dev/null 2>&1
}

# tb_install_packages PKG...: apt-get install the ones not installed yet.
# Only ever installs. Purge/autoremove is off limits on a shared machine: it
# once removed another helper's gridengine packages through a shared dependency.
# TESTBED_SKIP_INSTALL=1 turns this into a no-op.
tb_install_packages() {
  [ "${TESTBED_SKIP_INSTALL:-0}" = 1 ] && return 0
  local p missing=() rm_policy=0 rc=0
  for p in "$@"; do
    # `grep >/dev/null` rather than `grep -q`: under pipefail, grep -q exiting
    # early can SIGPIPE the writer and turn a match into a failure.
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep '^install ok installed$' >/dev/null || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  tb_log "apt-get install ${missing[*]}"
  # No init system, and we start the daemons ourselves: keep package postinst
  # scripts from trying. Most images already ship this file; add it only when
  # missing, and take away only what we added.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    rm_policy=1
  fi
  # Another process may be running apt at the same time: wait for the dpkg
  # lock instead of failing.
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends)
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null)" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq update || rc=$?
  fi
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >/dev/null; then
    # stale package lists (a point release moved on): refresh once and retry
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq update || true
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >/dev/null || rc=$?
  fi
  [ "$rm_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || tb_die "apt-get install ${missing[*]} failed (rc=$rc)"
}

# tb_ensure_user NAME: an ordinary login user that sshd will accept with a key.
tb_ensure_user() {
  local u=$1
  [ -n "$u" ] || return 0
  if ! id "$u" >/dev/null 2>&1; then
    # another helper may create the same user at the same moment
    useradd -m -s /bin/bash "$u" 2>/dev/null || id "$u" >/dev/null 2>&1 || tb_die "useradd $u failed"
  fi
  # useradd leaves the password as "!" (locked). Without PAM, sshd refuses a
  # locked account even for key logins ("account is locked"). "*" means "no
  # password can match" without counting as locked.
  case "$(getent shadow "$u" | cut -d: -f2)" in '!'*) usermod -p '*' "$u" ;; esac
}
