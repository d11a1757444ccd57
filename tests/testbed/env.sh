# shellcheck shell=sh
# env.sh - source this (`. tests/testbed/env.sh`) to point tests at the
# testbed that up.sh started. POSIX sh, sets no shell options, only exports.
#
#   LXM3_TESTBED_SSH_CONFIG  ssh_config that defines the host alias (pass as -F)
#   LXM3_TESTBED_ALIAS       the host alias: testcluster
#   LXM3_TESTBED_SSHD_LOG    the server log; count "Accepted publickey for"
#                            lines (relative to a baseline) to know how many
#                            ssh connections were made
#   LXM3_TESTBED_USER        the remote (unprivileged) user: hpcuser
#   LXM3_TESTBED_SSH_DIR     the directory holding all of the above
#
# Honours the same TESTBED_SSH_DIR / TESTBED_USER knobs as sshd-up.sh.
LXM3_TESTBED_SSH_DIR=${TESTBED_SSH_DIR:-/tmp/lxm3-testbed/ssh}
LXM3_TESTBED_SSH_CONFIG=$LXM3_TESTBED_SSH_DIR/ssh_config
LXM3_TESTBED_ALIAS=testcluster
LXM3_TESTBED_SSHD_LOG=$LXM3_TESTBED_SSH_DIR/sshd.log
LXM3_TESTBED_USER=${TESTBED_USER:-hpcuser}
export LXM3_TESTBED_SSH_DIR LXM3_TESTBED_SSH_CONFIG LXM3_TESTBED_ALIAS \
  LXM3_TESTBED_SSHD_LOG LXM3_TESTBED_USER
