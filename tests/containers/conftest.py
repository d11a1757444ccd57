"""Fixtures for the container tests: the test-only fake runtimes and a probe project.

`tests/fakes/apptainer` and `tests/fakes/docker` are stand-ins that record
their argv and run the command on the host. They are NOT Apptainer or Docker:
these tests check what lxm3 builds and hands to the runtime, not the runtime.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

# The testbed check (a down testbed fails, never skips), shared with tests/e2e.
from tests.e2e.conftest import slurm_testbed  # noqa: F401
from tests.hostile import HOSTILE_VALUES, hostile_env  # noqa: F401 - hostile_env: for the container tests

FAKES = Path(__file__).resolve().parents[1] / "fakes"

HOSTILE = HOSTILE_VALUES

PROBE_MAIN = textwrap.dedent(
    '''
    """Writes what it received (argv, env, cwd) as JSON for the test to compare."""
    import json
    import os
    import sys

    keys = sorted(k for k in os.environ if k.startswith(("HOSTILE_", "LXM_", "PROBE_")))
    data = {"argv": sys.argv[1:], "env": {k: os.environ[k] for k in keys}, "cwd": os.getcwd()}
    path = os.path.join(os.environ["PROBE_DIR"], "task-%s.json" % os.environ["LXM_TASK_ID"])
    with open(path, "w") as handle:
        json.dump(data, handle)
    print("probe ok")
    '''
)


def write_probe_project(root: Path) -> Path:
    """A pip-installable project whose module `probe.main` records its inputs."""
    project = root / "probe_project"
    (project / "probe").mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "probe"
            version = "0.1"
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"
            [tool.setuptools]
            packages = ["probe"]
            """
        )
    )
    (project / "probe" / "__init__.py").write_text("")
    (project / "probe" / "main.py").write_text(PROBE_MAIN)
    return project


def read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def actions(path: Path) -> list[dict]:
    """The recorded exec/run invocations (not `--version` probes or builds)."""
    return [entry for entry in read_log(path) if entry["argv"][1:2] in (["exec"], ["run"])]


class Sandbox:
    """An isolated lxm3 setup: config, store, caches and the fakes on PATH."""

    def __init__(self, root: Path, project: Path) -> None:
        #: The launcher's folder: relative image paths resolve here.
        self.root = root
        self.project = project
        self.out = root / "out"
        self.out.mkdir()
        self.apptainer_log = root / "apptainer.log"
        self.docker_log = root / "docker.log"
        self.staging = root / "staging"
        self.config_path = root / "lxm.toml"
        self.config_path.write_text(
            f'[local.storage]\nstaging = "{self.staging}"\n[store]\npath = "{root / "store.db"}"\n'
        )

    def outputs(self) -> dict[int, dict]:
        return {
            int(path.stem.split("-")[1]): json.loads(path.read_text())
            for path in sorted(self.out.glob("task-*.json"))
        }


@pytest.fixture(scope="session")
def probe_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_probe_project(tmp_path_factory.mktemp("probe"))


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build cache for the session, so the probe project is pip-built once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe_project: Path, shared_cache: Path
) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path, probe_project)
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("LXM_CONFIG", str(box.config_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    monkeypatch.setenv("LXM3_LAUNCHER_DIR", str(box.root))
    monkeypatch.setenv("LXM3_FAKE_APPTAINER_LOG", str(box.apptainer_log))
    monkeypatch.setenv("LXM3_FAKE_DOCKER_LOG", str(box.docker_log))
    monkeypatch.setenv("LXM3_LOCAL_ECHO", "0")
    for name in ("LXM3_SINGULARITY_BINARY", "LXM3_DOCKER_BINARY", "LXM_CLUSTER", "LXM3_DRY_RUN"):
        monkeypatch.delenv(name, raising=False)
    from lxm3.xm_cluster.containers import builders

    builders._memo.clear()
    yield box
    from lxm3.xm_cluster import targets

    targets.close_all()
