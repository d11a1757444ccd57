"""The task runner's container functions (stdlib code that runs on the cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxm3.runtime import task_runner as runner


def _which(available: dict[str, str]):  # type: ignore[no-untyped-def]
    def which(name: str, path: str | None = None) -> str | None:
        return available.get(name)

    return which


SING = {"runtime": "singularity", "image": "/img.sif", "verb": "exec", "bind": [], "options": [], "nv": False}


def test_binary_precedence_env_then_config_then_path() -> None:
    on_path = _which(
        {
            "apptainer": "/usr/bin/apptainer",
            "singularity": "/usr/bin/singularity",
            "/opt/s": "/opt/s",
            "/env/a": "/env/a",
        }
    )
    assert runner.find_container_binary(SING, {}, which=on_path) == "/usr/bin/apptainer"
    assert runner.find_container_binary(dict(SING, binary="/opt/s"), {}, which=on_path) == "/opt/s"
    env = {"LXM3_SINGULARITY_BINARY": "/env/a"}
    assert runner.find_container_binary(dict(SING, binary="/opt/s"), env, which=on_path) == "/env/a"
    only_singularity = _which({"singularity": "/usr/bin/singularity"})
    assert runner.find_container_binary(SING, {}, which=only_singularity) == "/usr/bin/singularity"


def test_binary_errors_name_the_source() -> None:
    with pytest.raises(runner.ContainerError, match=r"'/opt/x' \(from the cluster config\)"):
        runner.find_container_binary(dict(SING, binary="/opt/x"), {}, which=_which({"apptainer": "/a"}))
    with pytest.raises(
        runner.ContainerError, match=r"none of apptainer, singularity is on PATH.*LXM3_SINGULARITY_BINARY"
    ):
        runner.find_container_binary(SING, {}, which=_which({}))
    docker = {"runtime": "docker"}
    assert (
        runner.find_container_binary(docker, {}, which=_which({"podman": "/usr/bin/podman"}))
        == "/usr/bin/podman"
    )
    with pytest.raises(runner.ContainerError, match="LXM3_DOCKER_BINARY"):
        runner.find_container_binary(docker, {}, which=_which({}))


def test_env_prefix_follows_the_real_binary(tmp_path: Path) -> None:
    apptainer = tmp_path / "apptainer"
    apptainer.write_text("")
    link = tmp_path / "singularity"
    link.symlink_to(apptainer)
    plain = tmp_path / "bin" / "singularity"
    plain.parent.mkdir()
    plain.write_text("")
    assert runner.singularity_env_prefix(str(apptainer)) == "APPTAINERENV_"
    assert runner.singularity_env_prefix(str(link)) == "APPTAINERENV_"
    assert runner.singularity_env_prefix(str(plain)) == "SINGULARITYENV_"


@pytest.mark.parametrize(
    ("text", "supported"),
    [
        ("apptainer version 1.3.0\n", True),
        ("apptainer version 1.1.0-1.el8", True),
        ("apptainer version 1.0.3", False),
        ("singularity-ce version 3.11.4-jammy", True),
        ("singularity-ce version 3.9.9", False),
        ("singularity version 3.8.7-1.el7", False),
        ("", False),
        ("garbage", False),
    ],
)
def test_no_eval_support_by_version(text: str, supported: bool) -> None:
    assert runner.version_supports_no_eval(text) is supported


def test_singularity_argv_and_env() -> None:
    container = dict(SING, nv=True, bind=[["/data", "/data:ro"]], options=["--cleanenv"])
    argv = runner.container_argv(container, "/b/apptainer", "/w", ["K"], ["prog", "a b"], no_eval=True)
    assert argv == [
        "/b/apptainer",
        "exec",
        "--nv",
        "--no-eval",
        "--bind",
        "/w:/w",
        "--pwd",
        "/w",
        "--bind",
        "/data:/data:ro",
        "--cleanenv",
        "/img.sif",
        "prog",
        "a b",
    ]
    # --no-eval given by the user is not repeated; an old runtime gets none.
    assert (
        runner.container_argv(dict(SING, options=["--no-eval"]), "/b/apptainer", "/w", [], ["p"]).count(
            "--no-eval"
        )
        == 1
    )
    assert "--no-eval" not in runner.container_argv(SING, "/b/singularity", "/w", [], ["p"], no_eval=False)
    env = runner.container_env(SING, "/b/apptainer", {"K": "v\n$x", "HOST": "h"}, ["K", "MISSING"])
    assert env == {"K": "v\n$x", "HOST": "h", "APPTAINERENV_K": "v\n$x"}


def test_run_verb_runs_the_image_entrypoint() -> None:
    argv = runner.container_argv(
        dict(SING, verb="run", image="docker://busybox"), "/b/apptainer", "/w", [], ["echo", "x"]
    )
    assert argv[:2] == ["/b/apptainer", "run"] and argv[-3:] == ["docker://busybox", "echo", "x"]
    docker = {"runtime": "docker", "image": "busybox", "verb": "run"}
    assert runner.container_argv(docker, "/b/podman", "/w", [], ["echo"])[-2:] == ["busybox", "echo"]


def test_docker_user_flag_is_not_doubled() -> None:
    docker = {"runtime": "docker", "image": "img", "verb": "exec", "options": ["--user=0:0"]}
    argv = runner.container_argv(docker, "/b/docker", "/w", [], ["p"])
    assert "--user" not in argv and "--user=0:0" in argv
    assert "--user" not in runner.container_argv(dict(docker, options=[]), "/b/podman", "/w", [], ["p"])


@pytest.mark.parametrize("bind", [["/a:b", "/c"], ["/a,b", "/c"], ["/a", "/c,d"]])
def test_unparseable_binds_are_refused(bind: list[str]) -> None:
    with pytest.raises(runner.ContainerError, match="':' or ','"):
        runner.container_argv(dict(SING, bind=[bind]), "/b/apptainer", "/w", [], ["p"])


def test_task_env_keys() -> None:
    spec = {"env": {"SITE": "1"}, "entrypoint": {"kind": "module", "module": "m"}}
    record = {"env": {"MINE": "2"}}
    assert runner.task_env_keys(spec, record) == [
        "LXM_METRICS_FILE",
        "LXM_NUM_TASKS",
        "LXM_OUTPUT_DIR",
        "LXM_TASK_ID",
        "LXM_WORKDIR",
        "MINE",
        "PYTHONPATH",
        "SITE",
    ]
    spec["entrypoint"] = {"kind": "commands", "commands": ["x"]}
    assert "PYTHONPATH" not in runner.task_env_keys(spec, record)
