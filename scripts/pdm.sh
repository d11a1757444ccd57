#!/usr/bin/env bash
# Runs PDM from a private venv (.tools/pdm), installing it on first use.
# Why pinned: on this package index, newer pdm/unearth/hishel releases mix two
# incompatible httpx lines and crash at start; these versions work together.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/pdm"
if [ ! -x "$venv/bin/pdm" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pdm==2.24.2" "unearth<0.18" "hishel<0.2"
fi
export PDM_CHECK_UPDATE=false
exec "$venv/bin/pdm" "$@"
