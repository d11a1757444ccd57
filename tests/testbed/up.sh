#!/usr/bin/env bash
# up.sh - bring up the whole lxm3 testbed on this machine: the loopback sshd
# (the "login node"), Slurm, and Grid Engine when sge-up.sh is present here.
# Safe to run again: components already up are left alone.
#
# Prints one summary line at the end and exits non-zero, naming the part that
# failed, if anything did not come up. Then `. tests/testbed/env.sh` gives the
# LXM3_TESTBED_* variables that point tests at it.
#
# Knobs: TESTBED_SGE=0 skips Grid Engine even if sge-up.sh exists; every knob
# of sshd-up.sh and slurm-up.sh passes through (see their headers).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_TAG=up
# shellcheck source=common.sh
. "$HERE/common.sh"
tb_require_root

fail() {
  echo "up.sh: FAILED: $*" >&2
  echo "up.sh: the testbed is NOT ready (the output above says why; tests/testbed/down.sh cleans up)" >&2
  exit 1
}

# One apt-get run for everything up front: dpkg setup cost is per run, so this
# is clearly quicker from a bare machine than letting each script install its
# own share. The scripts then find nothing missing.
pkgs=(openssh-server openssh-client rsync python3 munge slurmctld slurmd slurm-client)
[ "${TESTBED_ACCOUNTING:-slurmdbd}" = slurmdbd ] && pkgs+=(slurmdbd mariadb-server)
( tb_install_packages "${pkgs[@]}" ) || fail "package installation"

"$HERE/sshd-up.sh" || fail "sshd-up.sh (exit $?)"
"$HERE/slurm-up.sh" || fail "slurm-up.sh (exit $?)"
"$HERE/limits-up.sh" || fail "limits-up.sh (exit $?)"
sge="absent"
if [ -f "$HERE/sge-up.sh" ] && [ "${TESTBED_SGE:-1}" != 0 ]; then
  bash "$HERE/sge-up.sh" || fail "sge-up.sh (exit $?)"
  sge="up"
elif [ -f "$HERE/sge-up.sh" ]; then
  sge="skipped"
fi

# Cross-check from the point of view of a test: log in through the alias and
# ask Slurm for the node state as the unprivileged user.
# shellcheck source=env.sh
. "$HERE/env.sh"
node=$(ssh -F "$LXM3_TESTBED_SSH_CONFIG" "$LXM3_TESTBED_ALIAS" "sinfo -h -o '%n %t cpus=%c'" 2>&1) \
  || fail "ssh $LXM3_TESTBED_ALIAS sinfo: $node"
case "$node" in *" idle "* | *" mix "* | *" alloc "*) ;; *) fail "Slurm node not usable over ssh: $node" ;; esac

ms=$(( ($(date +%s%N) - TB_T0) / 1000000 ))
printf 'testbed up in %d.%03ds: ssh %s (%s@127.0.0.1:%s, -F %s) | slurm %s acct=%s | sge %s | source %s/env.sh\n' \
  $((ms / 1000)) $((ms % 1000)) "$LXM3_TESTBED_ALIAS" "$LXM3_TESTBED_USER" "${TESTBED_SSH_PORT:-2222}" \
  "$LXM3_TESTBED_SSH_CONFIG" "$node" "${TESTBED_ACCOUNTING:-slurmdbd}" "$sge" "$HERE"
