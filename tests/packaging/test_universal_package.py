"""UniversalPackage: the user's build script fills $BUILDDIR, which becomes the artifact."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from lxm3 import xm_cluster
from lxm3.packaging.artifact import ArtifactCache
from lxm3.packaging.errors import PackagingError
from lxm3.packaging.universal_package import build_universal_package

BUILD_SH = """\
#!/bin/bash
set -eu
test -n "$BUILDDIR" && test -d "$BUILDDIR"
cp main.sh "$BUILDDIR/run.sh"
chmod +x "$BUILDDIR/run.sh"
mkdir -p "$BUILDDIR/share"
printf '%s\\n' "$@" > "$BUILDDIR/share/build-args.txt"
printf '%s\\n' "$(pwd)" > "$BUILDDIR/share/built-in.txt"
"""


def make_package(root: Path, script: str = BUILD_SH, executable: bool = True) -> Path:
    root.mkdir(parents=True)
    (root / "main.sh").write_text("#!/bin/sh\necho main\n")
    (root / "build.sh").write_text(script)
    if executable:
        (root / "build.sh").chmod(0o755)
    return root


def test_builddir_contents_become_the_artifact_with_exec_bits(tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkg")
    artifact = build_universal_package(
        package, "build.sh", build_args=["--opt", "two words"], cache=ArtifactCache(tmp_path / "c")
    )
    assert artifact.kind == "zip" and artifact.path.name == f"{artifact.digest}.zip"
    with zipfile.ZipFile(artifact.path) as bundle:
        assert sorted(bundle.namelist()) == ["run.sh", "share/build-args.txt", "share/built-in.txt"]
        assert bundle.getinfo("run.sh").external_attr >> 16 == stat.S_IFREG | 0o755
        assert bundle.read("share/build-args.txt") == b"--opt\ntwo words\n"
        assert bundle.read("share/built-in.txt").decode().strip() == str(package.resolve())
    assert not (package / "run.sh").exists(), "the build writes into BUILDDIR, not the package"


def test_rebuilding_unchanged_sources_gives_the_same_digest(tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkg")
    first = build_universal_package(package, "build.sh", cache=ArtifactCache(tmp_path / "c1"))
    (package / "main.sh").write_text("#!/bin/sh\necho main\n")  # same content, new mtime
    second = build_universal_package(package, "build.sh", cache=ArtifactCache(tmp_path / "c2"))
    assert first.digest == second.digest
    (package / "main.sh").write_text("#!/bin/sh\necho changed\n")
    assert (
        build_universal_package(package, "build.sh", cache=ArtifactCache(tmp_path / "c3")).digest
        != first.digest
    )


def test_non_executable_build_script_says_how_to_fix_it(tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkg", executable=False)
    script = package.resolve() / "build.sh"
    with pytest.raises(PackagingError) as error:
        build_universal_package(package, "build.sh", cache=ArtifactCache(tmp_path / "c"))
    message = str(error.value)
    assert "\n" not in message
    assert f"{script} is not executable" in message and f"chmod +x {script}" in message


def test_spec_rejects_a_non_executable_build_script_where_it_is_written(tmp_path: Path) -> None:
    package = make_package(tmp_path / "pkg", executable=False)
    with pytest.raises(ValueError, match="is not executable; run: chmod \\+x"):
        xm_cluster.UniversalPackage(entrypoint=["./run.sh"], build_script="build.sh", path=str(package))
    with pytest.raises(ValueError, match="does not exist"):
        xm_cluster.UniversalPackage(entrypoint=["./run.sh"], build_script="missing.sh", path=str(package))


def test_missing_package_dir_or_script(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="does not exist or is not a directory"):
        build_universal_package(tmp_path / "nope", "build.sh", cache=ArtifactCache(tmp_path / "c"))
    package = make_package(tmp_path / "pkg")
    with pytest.raises(PackagingError, match=r"build script .*missing\.sh does not exist"):
        build_universal_package(package, "missing.sh", cache=ArtifactCache(tmp_path / "c"))


def test_failing_build_script_reports_its_last_lines(tmp_path: Path) -> None:
    script = (
        "#!/bin/sh\n"
        + "".join(f"echo step {i}\n" for i in range(30))
        + "echo 'gcc: fatal error: no input files' >&2\nexit 4\n"
    )
    package = make_package(tmp_path / "pkg", script=script)
    with pytest.raises(PackagingError) as error:
        build_universal_package(package, "build.sh", cache=ArtifactCache(tmp_path / "c"))
    lines = str(error.value).splitlines()
    assert lines[0].endswith("failed (exit 4):") and "build.sh" in lines[0]
    assert lines[-1] == "gcc: fatal error: no input files"
    assert "step 0" not in str(error.value), "only the tail of the output"
