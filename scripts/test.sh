#!/usr/bin/env bash
# The test command: bring up the real testbed (Slurm, Grid Engine, sshd on
# loopback), install lxm3 with its locked test dependencies, run every test.
# Extra arguments go to pytest (e.g. `scripts/test.sh -k local`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/testbed/up.sh
scripts/pdm.sh install --frozen-lockfile -G test -G lint --quiet
# Standards first: formatted, lint-clean, typed.
scripts/pdm.sh run ruff format --check --quiet .
scripts/pdm.sh run ruff check --quiet .
scripts/pdm.sh run mypy lxm3
set +e
# The slowest tests are listed at the end, to keep the suite under its 30 minutes.
scripts/pdm.sh run pytest --durations=25 "$@"
code=$?
set -e
exit "$code"
