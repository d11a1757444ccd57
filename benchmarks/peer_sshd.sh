#!/usr/bin/env bash
# peer_sshd.sh - a second OpenSSH server, on 127.0.0.1:22, for the benchmark.
#
# The peer (lxm3 0.4.2) can only reach a cluster at `server` on port 22
# (paramiko/fabric: no ssh alias, no port), so it needs a login node there.
# The benchmark points lxm3 0.5 at this same server (through its ssh alias,
# see benchmarks/run.py), so both tools talk to one sshd with one set of
# Slurm shims. Modelled on tests/testbed/sshd-up.sh; it reuses that testbed's
# user (hpcuser) and client key. The testbed's own server on port 2222 is
# never touched.
#
#   benchmarks/peer_sshd.sh          start (idempotent: a running server is kept)
#   benchmarks/peer_sshd.sh down     stop it (by its pid file)
#
# Sessions on this server get PATH=$DIR/bin:/usr/local/bin:/usr/bin:/bin
# (sshd_config SetEnv), where $DIR/bin holds shims for the Slurm commands:
#   - each logs one line `<epoch> <command> <args...>` to $DIR/calls.log and
#     execs the real /usr/bin binary, so the harness can count the scheduler
#     commands a status poll runs (P3);
#   - `sbatch`, given a script whose `#SBATCH --array=LO-HI` exceeds the
#     cluster's MaxArraySize (0.4.2 submits a 1,000-task sweep as ONE
#     `--array=1-1000`; the testbed allows indices 0..100 only), submits it as
#     consecutive arrays of at most MaxArraySize tasks, each a copy of the
#     script that adds the chunk's offset back to SLURM_ARRAY_TASK_ID, all
#     within the peer's one remote `sbatch` command, and prints the first job
#     id as `Submitted batch job N`, the line the peer parses. So the peer
#     makes as many sbatch calls as lxm3 0.5 (whose arrays always fit and
#     pass through untouched) instead of failing;
#   - when the file $DIR/sbatch-mode says `one-task` (the harness writes it;
#     default `full`), every array is submitted with its range cut to its
#     first index (`--array=LO-LO` on the command line, which overrides the
#     script's directive). Reason: every task of a pending array counts
#     against Slurm's MaxJobCount (10,000 on the testbed) until MinJobAge
#     (300 s) after it ended or was cancelled, so a benchmark submitting
#     dozens of 1,000-task sweeps would lock the shared testbed out for
#     minutes. sbatch still reads and checks the whole script and slurmctld
#     still creates the array's record, which is what a launch waits for.
#
# State (PEER_SSH_DIR, default /tmp/lxm3-bench/peer-ssh): sshd_config,
# ssh_host_ed25519_key, known_hosts, sshd.pid, sshd.log, ssh_config (Host
# peer-cluster), bin/, calls.log, sbatch-mode, max_array_size.
#
# Knobs: PEER_SSH_DIR, PEER_SSH_PORT (22), TESTBED_SSH_DIR (/tmp/lxm3-testbed/ssh),
# TESTBED_USER (hpcuser).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_TAG=peer-sshd
# shellcheck source=../tests/testbed/common.sh
. "$HERE/../tests/testbed/common.sh"

DIR=${PEER_SSH_DIR:-/tmp/lxm3-bench/peer-ssh}
PORT=${PEER_SSH_PORT:-22}
TB_DIR=${TESTBED_SSH_DIR:-/tmp/lxm3-testbed/ssh}
TUSER=${TESTBED_USER:-hpcuser}

if [ "${1:-up}" = down ]; then
  tb_stop peer-sshd "$DIR/sshd.pid" sshd 5
  rm -f "$DIR/sshd_config.running"
  exit 0
fi

tb_require_root
[ -x /usr/sbin/sshd ] || tb_die "/usr/sbin/sshd missing (run tests/testbed/up.sh first)"
[ -f "$TB_DIR/id_ed25519.pub" ] || tb_die "$TB_DIR/id_ed25519.pub missing (run tests/testbed/up.sh first)"
id "$TUSER" >/dev/null 2>&1 || tb_die "user $TUSER missing (run tests/testbed/up.sh first)"
mkdir -p /run/sshd && chmod 755 /run/sshd
mkdir -p "$DIR/bin"
chmod 755 "$(dirname "$DIR")" "$DIR" "$DIR/bin"

if [ ! -f "$DIR/ssh_host_ed25519_key" ]; then
  ssh-keygen -q -t ed25519 -N '' -C lxm3-bench-peer-host -f "$DIR/ssh_host_ed25519_key"
fi
chmod 600 "$DIR/ssh_host_ed25519_key"
install -m 644 "$TB_DIR/id_ed25519.pub" "$DIR/authorized_keys"
hostkey=$(cut -d' ' -f1,2 "$DIR/ssh_host_ed25519_key.pub")
if [ "$PORT" = 22 ]; then
  printf '127.0.0.1 %s\n' "$hostkey" >"$DIR/known_hosts"
else
  printf '[127.0.0.1]:%s %s\n' "$PORT" "$hostkey" >"$DIR/known_hosts"
fi
chmod 644 "$DIR/known_hosts"

# ----- Slurm command shims (see the header); each finds $DIR from its own path -----
touch "$DIR/calls.log"
chown "$TUSER" "$DIR/calls.log"
chmod 666 "$DIR/calls.log"
for cmd in sacct squeue scontrol scancel; do
  cat >"$DIR/bin/$cmd" <<'EOF'
#!/bin/bash
printf '%s %s %s\n' "$EPOCHREALTIME" "${0##*/}" "$*" >>"${0%/bin/*}/calls.log"
exec "/usr/bin/${0##*/}" "$@"
EOF
  chmod 755 "$DIR/bin/$cmd"
done
cat >"$DIR/bin/sbatch" <<'EOF'
#!/bin/bash
# Logs; splits an --array larger than MaxArraySize; with sbatch-mode
# `one-task`, cuts every array to its first index (see peer_sshd.sh).
dir=${0%/bin/*}
printf '%s %s %s\n' "$EPOCHREALTIME" sbatch "$*" >>"$dir/calls.log"
mode=full
[ -r "$dir/sbatch-mode" ] && read -r mode <"$dir/sbatch-mode"
script="${*: -1}"
range=""
[ -f "$script" ] && range=$(sed -n 's/^#SBATCH --array=\([0-9]*\)-\([0-9]*\)\(%[0-9]*\)\{0,1\}$/\1 \2/p' "$script" | head -n 1)
[ -n "$range" ] || exec /usr/bin/sbatch "$@"
read -r lo hi <<<"$range"
read -r max <"$dir/max_array_size"
one=()
if [ "$hi" -lt "$max" ]; then
  [ "$mode" = one-task ] && one=("--array=$lo-$lo")
  exec /usr/bin/sbatch "${one[@]}" "$@"
fi
[ "$mode" = one-task ] && one=("--array=0-0")
set -- "${@:1:$#-1}"
first=""
for ((start = lo; start <= hi; start += max)); do
  count=$(( hi - start + 1 < max ? hi - start + 1 : max ))
  part="$script.part$start"
  awk -v n="$count" -v off="$start" '
    /^#SBATCH --array=/ { print "#SBATCH --array=0-" (n - 1); next }
    !done && NR > 1 && !/^#/ && !/^[[:space:]]*$/ {
      print "SLURM_ARRAY_TASK_ID=$((SLURM_ARRAY_TASK_ID + " off ")); export SLURM_ARRAY_TASK_ID"; done = 1 }
    { print }' "$script" >"$part"
  out=$(/usr/bin/sbatch "${one[@]}" "$@" "$part") || { echo "$out" >&2; exit 1; }
  [ -n "$first" ] || first=$(printf '%s\n' "$out" | sed -n 's/.*job \([0-9]*\).*/\1/p' | head -n 1)
done
echo "Submitted batch job $first"
EOF
chmod 755 "$DIR/bin/sbatch"
/usr/bin/scontrol show config | sed -n 's/^MaxArraySize *= *\([0-9]*\).*/\1/p' >"$DIR/max_array_size"
[ -s "$DIR/max_array_size" ] || tb_die "cannot read MaxArraySize from scontrol show config"
[ -f "$DIR/sbatch-mode" ] || echo full >"$DIR/sbatch-mode"
chmod 644 "$DIR/max_array_size" "$DIR/sbatch-mode"

cat >"$DIR/sshd_config" <<EOF
# lxm3 benchmark sshd (generated by benchmarks/peer_sshd.sh). Loopback, keys only.
Port $PORT
ListenAddress 127.0.0.1
HostKey $DIR/ssh_host_ed25519_key
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
AllowUsers $TUSER
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
X11Forwarding no
Subsystem sftp internal-sftp
MaxStartups 200:30:400
MaxSessions 100
SetEnv PATH=$DIR/bin:/usr/local/bin:/usr/bin:/bin
LogLevel INFO
EOF

# Client config for ssh-based tools (the harness; lxm3 0.5 gets its own copy).
cat >"$DIR/ssh_config" <<EOF
# generated by benchmarks/peer_sshd.sh
Host peer-cluster
  HostName 127.0.0.1
  Port $PORT
  User $TUSER
  IdentityFile $TB_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $DIR/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  PasswordAuthentication no
  ConnectTimeout 10
  LogLevel ERROR
EOF
chmod 644 "$DIR/ssh_config"

/usr/sbin/sshd -t -f "$DIR/sshd_config"
if tb_alive "$DIR/sshd.pid" sshd; then
  if ! cmp -s "$DIR/sshd_config" "$DIR/sshd_config.running" 2>/dev/null; then
    kill -HUP "$(cat "$DIR/sshd.pid")"
    sleep 0.2
    tb_log "peer sshd reloaded (pid $(cat "$DIR/sshd.pid"))"
  fi
else
  rm -f "$DIR/sshd.pid"
  if ss -Hltn "sport = :$PORT" | grep . >/dev/null; then
    ss -Hltnp "sport = :$PORT" >&2 || true
    tb_die "port $PORT is already taken by another process (see above)"
  fi
  /usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log"
  tb_wait_for 5 tb_alive "$DIR/sshd.pid" sshd || tb_die "peer sshd did not start; see $DIR/sshd.log"
  tb_log "peer sshd started (pid $(cat "$DIR/sshd.pid"))"
fi
cp "$DIR/sshd_config" "$DIR/sshd_config.running"

# shellcheck disable=SC2016  # expanded remotely
probe='[ "$(id -un)" = '"$TUSER"' ] && [ "$(command -v sacct)" = '"$DIR/bin/sacct"' ]'
ok=0
for _ in $(seq 50); do
  if ssh -F "$DIR/ssh_config" peer-cluster "$probe" 2>/dev/null; then ok=1; break; fi
  sleep 0.1
done
if [ "$ok" != 1 ]; then
  ssh -F "$DIR/ssh_config" peer-cluster "$probe" || true
  tail -5 "$DIR/sshd.log" >&2 || true
  tb_die "login as $TUSER on 127.0.0.1:$PORT failed (or the PATH shims are not active)"
fi
tb_log "peer sshd ready on 127.0.0.1:$PORT (user $TUSER, Slurm shims in $DIR/bin, sbatch-mode $(cat "$DIR/sbatch-mode"))"
