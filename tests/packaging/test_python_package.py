"""Building a pip-installable project into a content-addressed zip, with a build cache."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lxm3.packaging import python_package
from lxm3.packaging.artifact import ArtifactCache
from lxm3.packaging.digest import file_digest
from lxm3.packaging.errors import PackagingError
from lxm3.packaging.python_package import build_python_package

PYPROJECT = """\
[build-system]
requires = ["flit_core>=3.2"]
build-backend = "flit_core.buildapi"

[project]
name = "tinyproj"
version = "0.1.0"
description = "a tiny project for lxm3's tests"
"""


def make_project(root: Path) -> Path:
    (root / "tinyproj").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "tinyproj" / "__init__.py").write_text("")
    (root / "tinyproj" / "main.py").write_text("print('tiny')\n")
    (root / "config.txt").write_text("lr = 0.1\n")
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The project built once (the slow part: pip), shared by the tests below."""
    root = make_project(tmp_path_factory.mktemp("proj") / "tinyproj")
    cache = ArtifactCache(tmp_path_factory.mktemp("cache"))
    resources = {str(root / "config.txt"): "configs/config.txt"}
    artifact = build_python_package(root, resources=resources, cache=cache)
    return {"root": root, "cache": cache, "resources": resources, "artifact": artifact}


def no_subprocess(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"pip was run although the build is cached: {args}")


def test_artifact_is_a_zip_named_by_its_digest_holding_the_importable_project(built: dict[str, Any]) -> None:
    artifact = built["artifact"]
    assert artifact.kind == "zip"
    assert artifact.path == built["cache"].artifacts / f"{artifact.digest}.zip"
    assert artifact.digest == file_digest(artifact.path) and artifact.size == artifact.path.stat().st_size
    with zipfile.ZipFile(artifact.path) as bundle:
        names = bundle.namelist()
        assert bundle.read("tinyproj/main.py") == b"print('tiny')\n"
        assert bundle.read("configs/config.txt") == b"lr = 0.1\n"
    assert any(name.startswith("tinyproj-0.1.0.dist-info/") for name in names)
    assert not any(name.startswith("bin/") or name.endswith(".pyc") for name in names)


def test_rebuilding_from_scratch_gives_the_same_digest(built: dict[str, Any], tmp_path: Path) -> None:
    again = build_python_package(
        built["root"], resources=built["resources"], cache=ArtifactCache(tmp_path / "fresh")
    )
    assert again.digest == built["artifact"].digest
    assert again.path.read_bytes() == built["artifact"].path.read_bytes()


def test_unchanged_sources_hit_the_fingerprint_cache_without_running_pip(
    built: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(python_package.subprocess, "run", no_subprocess)
    cached = build_python_package(built["root"], resources=built["resources"], cache=built["cache"])
    assert cached == built["artifact"]


def test_a_changed_source_file_is_rebuilt(built: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "tinyproj"
    shutil.copytree(built["root"], root)  # copy2 keeps mtimes: same fingerprint as the original
    cache = ArtifactCache(tmp_path / "cache")
    shutil.copytree(built["cache"].root, cache.root)
    (root / "tinyproj" / "main.py").write_text("print('changed')\n")
    calls: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(argv: list[str], **kwargs: Any) -> Any:
        calls.append(argv)
        return real_run(argv, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(python_package.subprocess, "run", counting_run)
        rebuilt = build_python_package(
            root, resources={str(root / "config.txt"): "configs/config.txt"}, cache=cache
        )
    assert len(calls) == 1 and "install" in calls[0]
    assert rebuilt.digest != built["artifact"].digest
    with zipfile.ZipFile(rebuilt.path) as bundle:
        assert bundle.read("tinyproj/main.py") == b"print('changed')\n"


def test_different_recipe_does_not_reuse_the_cached_build(
    built: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other resources or pip args mean another artifact: the cache must not answer."""
    monkeypatch.setattr(python_package.subprocess, "run", no_subprocess)
    with pytest.raises(AssertionError, match="pip was run"):
        build_python_package(built["root"], resources={}, cache=built["cache"])
    with pytest.raises(AssertionError, match="pip was run"):
        build_python_package(
            built["root"], resources=built["resources"], pip_args=["--no-index"], cache=built["cache"]
        )


def test_a_deleted_cached_artifact_is_rebuilt_not_returned(
    built: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ArtifactCache(tmp_path / "cache")
    shutil.copytree(built["cache"].fingerprints, cache.fingerprints)  # fingerprints without artifacts
    monkeypatch.setattr(python_package.subprocess, "run", no_subprocess)
    with pytest.raises(AssertionError, match="pip was run"):
        build_python_package(built["root"], resources=built["resources"], cache=cache)


def test_missing_path_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(PackagingError) as error:
        build_python_package(tmp_path / "nope", cache=ArtifactCache(tmp_path / "c"))
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "nope") in message and "does not exist" in message


def test_a_file_instead_of_a_directory_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "file.py").write_text("")
    with pytest.raises(PackagingError, match="is not a directory") as error:
        build_python_package(tmp_path / "file.py", cache=ArtifactCache(tmp_path / "c"))
    assert "\n" not in str(error.value)


def test_a_directory_without_project_files_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "main.py").write_text("")
    with pytest.raises(PackagingError) as error:
        build_python_package(tmp_path / "code", cache=ArtifactCache(tmp_path / "c"))
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / "code") in message and "pyproject.toml, setup.py or setup.cfg" in message


def test_a_failed_build_reports_pips_last_lines(tmp_path: Path) -> None:
    project = tmp_path / "broken"
    project.mkdir()
    noise = "".join(f"print('noise line {i}')\n" for i in range(40))
    (project / "setup.py").write_text(noise + "raise SystemExit('LXM3-BUILD-MARKER: missing compiler')\n")
    with pytest.raises(PackagingError) as error:
        # --no-build-isolation: no build env to set up, so the failure is quick.
        build_python_package(project, pip_args=["--no-build-isolation"], cache=ArtifactCache(tmp_path / "c"))
    lines = str(error.value).splitlines()
    assert lines[0].startswith(f"pip could not build {project} (exit ")
    assert any("LXM3-BUILD-MARKER: missing compiler" in line for line in lines[1:])
    assert 1 < len(lines) <= 16, "the tail of pip's output, not all of it"
    assert not (tmp_path / "c" / "artifacts").exists() or not any((tmp_path / "c" / "artifacts").iterdir())


def test_pip_is_found_on_path_when_the_interpreter_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pip = tmp_path / "bin" / "pip3"
    fake_pip.parent.mkdir()
    fake_pip.write_text("#!/bin/sh\n")
    fake_pip.chmod(0o755)
    monkeypatch.setattr(python_package.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("PATH", str(fake_pip.parent))
    assert python_package.pip_command() == [str(fake_pip)]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PackagingError, match="ensurepip"):
        python_package.pip_command()
