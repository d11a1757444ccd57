#!/usr/bin/env bash
# The main job on a fresh machine: install lxm3 in its own venv and launch
# examples/basic on the Local executor (no cluster needed).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .tools/demo/bin/lxm3 ]; then
  python3 -m venv .tools/demo
  .tools/demo/bin/pip install --quiet --disable-pip-version-check .
fi
exec .tools/demo/bin/lxm3 launch examples/basic/launcher.py "$@"
