#!/usr/bin/env bash
# slurm-down.sh - stop what slurm-up.sh started, each daemon by its pid file,
# in the reverse order. Job state, the accounting database and logs are kept,
# so a later slurm-up.sh continues with the next job id.
# TESTBED_PURGE=1 also deletes state and logs (job ids restart at 1).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_TAG=slurm-down
# shellcheck source=common.sh
. "$HERE/common.sh"

STATE=/var/lib/lxm3-testbed/slurm
LOG=/var/log/lxm3-testbed
RUN=/run/lxm3-testbed
tb_require_root

# Cancel leftover jobs first, so that no job processes (and their slurmstepd)
# outlive the slurmd that would have cleaned them up.
if tb_alive "$RUN/slurmctld.pid" slurmctld; then
  mapfile -t jobs < <(squeue -h -o %A 2>/dev/null || true)
  if [ ${#jobs[@]} -gt 0 ]; then
    scancel "${jobs[@]}" 2>/dev/null || true
    tb_log "cancelled ${#jobs[@]} leftover job(s)"
    no_running() { [ -z "$(squeue -h -t R,CG -o %A 2>/dev/null)" ]; }
    tb_wait_for 10 no_running || true
  fi
fi

for pf in "$RUN"/slurmd-*.pid; do
  [ -e "$pf" ] || continue
  tb_stop slurmd "$pf" slurmd
done
# Job steps end on their own shortly after their slurmd goes. Only wait and
# look: killing by name could hit a process this script does not own.
steps_gone() { ! ps -eo stat=,comm= | awk '$1 !~ /^Z/ && $2 == "slurmstepd"' | grep . >/dev/null; }
tb_wait_for 5 steps_gone || echo "slurm-down: some slurmstepd processes are still running" >&2
# slurmctld saves its state on TERM; that takes ~2 s.
tb_stop slurmctld "$RUN/slurmctld.pid" slurmctld 30
tb_stop slurmdbd "$RUN/slurmdbd.pid" slurmdbd 30
tb_stop mariadbd "$RUN/mysqld/mysqld.pid" mariadbd 60
tb_stop munged /run/munge/munged.pid munged

if [ "${TESTBED_PURGE:-0}" = 1 ]; then
  # the private MariaDB datadir lives under $STATE too
  rm -rf "$STATE" "$LOG"
  tb_log "purged $STATE and $LOG"
fi
