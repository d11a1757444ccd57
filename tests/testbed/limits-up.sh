#!/usr/bin/env bash
# limits-up.sh - per-user job limits for the dedicated user TESTBED_LIMITED_USER
# (hpclimited; its Unix account and ssh login `testcluster-limited` come from
# sshd-up.sh), so tests can show lxm3 packing a sweep past a user's limits.
#
#   Slurm        an association hpclimited/testbed with MaxSubmitJobs=40
#                (TESTBED_LIMITED_MAX_SUBMIT), set with sacctmgr: no daemon restarts.
#                The testbed runs with AccountingStorageEnforce=none, so slurmctld
#                records but does not enforce it; lxm3 reads it and stays under it.
#   Grid Engine  its per-user job cap (max_u_jobs) is global configuration, which
#                would limit every user, so nothing is set here; tests declare the
#                cap in lxm3's config instead (`[[clusters]] max_jobs`).
#
# The shared user hpcuser is never limited. Idempotent; needs slurmdbd up (slurm-up.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_TAG=limits-up
# shellcheck source=common.sh
. "$HERE/common.sh"
tb_require_root

LUSER=${TESTBED_LIMITED_USER:-hpclimited}
MAX_SUBMIT=${TESTBED_LIMITED_MAX_SUBMIT:-40}
tb_ensure_user "$LUSER"

if ! command -v sacctmgr >/dev/null || ! sacctmgr -n -P list cluster format=cluster >/dev/null 2>&1; then
  tb_log "no slurmdbd: no Slurm limits for $LUSER"
  exit 0
fi
current=$(sacctmgr -n -P list assoc where user="$LUSER" account=testbed cluster=testbed format=user,maxsubmit 2>/dev/null || true)
if [ -z "$current" ]; then
  sacctmgr -i add user "$LUSER" account=testbed cluster=testbed MaxSubmitJobs="$MAX_SUBMIT" >/dev/null
elif [ "$current" != "$LUSER|$MAX_SUBMIT" ]; then
  sacctmgr -i modify user where name="$LUSER" account=testbed cluster=testbed set MaxSubmitJobs="$MAX_SUBMIT" >/dev/null
fi
tb_log "Slurm: $LUSER/testbed MaxSubmitJobs=$MAX_SUBMIT ($(sacctmgr -n -P list assoc where user="$LUSER" format=user,maxsubmit))"
