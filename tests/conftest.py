"""Shared fixtures: every test runs against throwaway state, never the user's.

`isolated_env` (autouse) points the experiment store, caches and config dirs
at temporary directories. The build cache is shared by the whole session so
that a project is built by pip once, not once per test. `lxm_config` writes a
`lxm.toml` whose Local staging is a temporary directory and selects it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """XDG_CACHE_HOME for the session (artifact and fingerprint cache)."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, session_cache: Path
) -> None:
    home = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("LXM3_STORE", str(home / "store.sqlite3"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(session_cache))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("LXM3_LOCAL_ECHO", "0")
    monkeypatch.setenv("LXM3_POLL_MAX_INTERVAL", "0.5")
    # No warm server is left behind by the `lxm3` processes tests start (tests/cli/test_warm.py
    # turns it on, in a runtime dir of its own). `TEST_KEEP_WARM=1` runs the suite with warm
    # serving on instead: every `lxm3` a test starts after the first is then served.
    monkeypatch.setenv("LXM3_KEEP_WARM", os.environ.get("TEST_KEEP_WARM", "0"))
    for name in (
        "LXM_CONFIG",
        "LXM_CLUSTER",
        "LXM_PROJECT",
        "LXM3_DRY_RUN",
        "LXM3_RESUME_EXPERIMENT",
        "LXM3_LAUNCHER_DIR",
        "LXM3_DEBUG",
    ):
        monkeypatch.delenv(name, raising=False)
    # As in an activated venv: `python3` in tasks is this interpreter (and starts fast).
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


@pytest.fixture
def lxm_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `lxm.toml` with a temporary Local staging dir, selected through $LXM_CONFIG."""
    config = tmp_path / "lxm.toml"
    config.write_text(f'project = "tests"\n[local.storage]\nstaging = "{tmp_path / "staging"}"\n')
    monkeypatch.setenv("LXM_CONFIG", str(config))
    return config
