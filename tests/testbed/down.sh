#!/usr/bin/env bash
# down.sh - stop the whole testbed, in the reverse order of up.sh. Keeps going
# when one part fails to stop, then exits non-zero naming it.
# TESTBED_PURGE=1 is passed through: it also deletes state, keys and logs.
set -uo pipefail   # no -e: one failure must not leave the others running
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_TAG=down
# shellcheck source=common.sh
. "$HERE/common.sh"
tb_require_root

failed=()
if [ -f "$HERE/sge-down.sh" ]; then
  bash "$HERE/sge-down.sh" || failed+=(sge-down.sh)
fi
"$HERE/slurm-down.sh" || failed+=(slurm-down.sh)
"$HERE/sshd-down.sh" || failed+=(sshd-down.sh)

ms=$(( ($(date +%s%N) - TB_T0) / 1000000 ))
if [ ${#failed[@]} -gt 0 ]; then
  echo "down.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
printf 'testbed down in %d.%03ds\n' $((ms / 1000)) $((ms % 1000))
