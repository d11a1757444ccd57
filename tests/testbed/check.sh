#!/usr/bin/env bash
# check.sh - smoke test of a running testbed, done the way lxm3 uses it: every
# Slurm command goes through `ssh -F $LXM3_TESTBED_SSH_CONFIG testcluster`, so
# it runs as the unprivileged user. Prints PASS/FAIL lines with timings and
# exits non-zero on any failure. Takes ~15-40 s (the 101-task array dominates).
#
#   1. sbatch --wrap 'echo hi' -> sacct says COMPLETED, User=hpcuser
#   2. --array=1-150 is refused (MaxArraySize=101)
#   3. --array=0-100%3 runs all 101 tasks, never more than 3 at once, and
#      exactly 3 at some point (possible only because the node advertises 4 CPUs)
#   4. rsync -e "ssh -F ..." push and pull round trip
#   5. sshd.log gains exactly one "Accepted publickey" line per ssh connection
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$HERE/env.sh"
CFG=$LXM3_TESTBED_SSH_CONFIG
A=$LXM3_TESTBED_ALIAS
# r CMD...: run CMD remotely over one new ssh connection. Connections are
# tallied in a file because r often runs inside $(...), a subshell.
tally=$(mktemp) src=$(mktemp -d) back=$(mktemp -d)
trap 'rm -rf "$tally" "$src" "$back"' EXIT
r() { echo >>"$tally"; ssh -F "$CFG" "$A" "$@"; }
accepted() { grep -c 'Accepted publickey for' "$LXM3_TESTBED_SSHD_LOG" || true; }
now() { date +%s%N; }
secs() { local ms=$(( ($2 - $1) / 1000000 )); printf '%d.%03ds' $((ms / 1000)) $((ms % 1000)); }
pass=0 fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

base=$(accepted)
# Remote helper: wait until a job has left squeue, then poll sacct until the
# allocation row shows a final state (sacct lags squeue by up to a few
# seconds, and for ~3 s after the end may still show User=root).
# shellcheck disable=SC2016  # expanded remotely
wait_final='j=$1
while [ -n "$(squeue -h -j "$j" 2>/dev/null)" ]; do sleep 0.1; done
for i in $(seq 100); do
  s=$(sacct -n -P -X -j "$j" -o state,user,exitcode | head -1)
  u=${s#*|}; u=${u%%|*}
  case "${s%%|*}" in COMPLETED|FAILED|CANCELLED*|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL) [ "$u" != root ] && break ;; esac
  sleep 0.1
done
echo "$s"'

# 1. plain job
t0=$(now)
jid=$(r sbatch --parsable -o /dev/null --wrap "'echo hi'")
res=$(r "bash -c '$wait_final' _ $jid")
t1=$(now)
if [ "${res%%|*}" = COMPLETED ] && [ "$(cut -d'|' -f2 <<<"$res")" = "$LXM3_TESTBED_USER" ]; then
  ok "sbatch job $jid -> sacct '$res' ($(secs "$t0" "$t1") submit to final sacct row)"
else
  bad "sbatch job $jid -> sacct '$res'"
fi

# 2. array larger than MaxArraySize
if out=$(r sbatch --parsable -o /dev/null --array=1-150 --wrap true 2>&1); then
  bad "--array=1-150 was accepted (job $out); MaxArraySize not in force"
else
  ok "--array=1-150 refused: $(tail -1 <<<"$out")"
fi

# 3. throttled 101-task array; each task stamps its start and end time
r 'rm -rf tb-check && mkdir tb-check'
t0=$(now)
# shellcheck disable=SC2016  # expanded by the job's shell
aid=$(r sbatch --parsable -D tb-check -o /dev/null --array=0-100%3 \
  --wrap "'echo \$(date +%s%N) 1 >> t.\$SLURM_ARRAY_TASK_ID; sleep 0.3; echo \$(date +%s%N) -1 >> t.\$SLURM_ARRAY_TASK_ID'")
r "bash -c 'while [ -n \"\$(squeue -h -j $aid 2>/dev/null)\" ]; do sleep 0.2; done'"
t1=$(now)
nfiles=$(r 'ls tb-check | grep -c "^t\."' || true)
maxc=$(r 'cat tb-check/t.*' | sort -n | awk '{c += $2; if (c > m) m = c} END {print m + 0}')
ncomp=0
for _ in $(seq 100); do   # sacct catches up with squeue a little later
  ncomp=$(r sacct -n -P -X -j "$aid" -o state | grep -c COMPLETED || true)
  [ "$ncomp" -ge 101 ] && break
  sleep 0.3
done
if [ "$nfiles" = 101 ] && [ "$ncomp" = 101 ] && [ "$maxc" = 3 ]; then
  ok "--array=0-100%3 job $aid: 101 tasks ran, 101 COMPLETED in sacct, max 3 at once ($(secs "$t0" "$t1") submit to done)"
else
  bad "--array=0-100%3 job $aid: files=$nfiles sacct_completed=$ncomp max_concurrent=$maxc"
fi
r 'rm -rf tb-check'

# 4. rsync round trip
mkdir -p "$src/pkg/sub"
head -c 200000 /dev/urandom >"$src/pkg/sub/blob.bin"
echo 'print("hi")' >"$src/pkg/main.py"
t0=$(now)
if rsync -az --delete -e "ssh -F $CFG" "$src/" "$A:tb-rsync/" &&
  rsync -az -e "ssh -F $CFG" "$A:tb-rsync/" "$back/" && diff -r "$src" "$back" >/dev/null; then
  ok "rsync -e 'ssh -F $CFG' push + pull round trip ($(secs "$t0" "$(now)"))"
else
  bad "rsync round trip"
fi
echo >>"$tally"; echo >>"$tally"   # the two rsync connections
out=$(r 'cd tb-rsync && python3 pkg/main.py && cd && rm -rf tb-rsync')
if [ "$out" = hi ]; then ok "remote python3 runs the synced code"; else bad "remote python3: '$out'"; fi

# 5. one Accepted line per connection
sleep 0.2   # sshd writes the line before the session starts, but be safe
got=$(( $(accepted) - base ))
nconn=$(wc -l <"$tally")
if [ "$got" = "$nconn" ]; then
  ok "sshd log: $got new 'Accepted publickey' lines for $nconn ssh connections"
else
  bad "sshd log: $got new 'Accepted publickey' lines, expected $nconn"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
