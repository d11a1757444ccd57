#!/usr/bin/env bash
# sshd-down.sh - stop the testbed sshd started by sshd-up.sh, by its pid file.
# Keys, configs and the log stay (a later sshd-up.sh reuses them, so the host
# key pinned in known_hosts stays valid). TESTBED_PURGE=1 deletes the state dir.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_TAG=sshd-down
# shellcheck source=common.sh
. "$HERE/common.sh"

DIR=${TESTBED_SSH_DIR:-/tmp/lxm3-testbed/ssh}

# Only the listening server is stopped; sessions already open have their own
# sshd processes and end when their clients disconnect.
tb_stop sshd "$DIR/sshd.pid" sshd 5
rm -f "$DIR/sshd_config.running"
if [ "${TESTBED_PURGE:-0}" = 1 ]; then
  rm -rf "$DIR"
  tb_log "purged $DIR"
fi
