"""Builds lxm3 0.4.3's `PexBinary`: the project's code as a PEX file, without dependencies.

`pex` (https://docs.pex-tool.org) must be installed here. The PEX holds only
the named `packages`/`modules` and falls back to the running interpreter's
site-packages for everything else (`--inherit-path=fallback`), so large ML
dependencies come from the cluster's environment or container, as lxm3 0.4.3
designed it. The PEX and the `dependencies` filesets are zipped into one
content-addressed artifact; the task runs `python3 <name>.pex` with its PEX
cache in the task's own scratch work directory (`$PWD/.pex`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from lxm3.packaging.archive import write_zip
from lxm3.packaging.artifact import Artifact, ArtifactCache
from lxm3.packaging.errors import PackagingError

_TAIL_LINES = 10


def pex_command() -> list[str]:
    """`pex` on PATH ($LXM3_PEX_BINARY first); PackagingError naming how to get it."""
    override = os.environ.get("LXM3_PEX_BINARY")
    found = shutil.which(override or "pex")
    if found is None:
        raise PackagingError(
            f"PexBinary needs the `{override or 'pex'}` command on this machine, and it was not found; "
            "install it (pipx install pex) or set $LXM3_PEX_BINARY"
        )
    return [found]


def pex_file_name(name: str) -> str:
    return f"{name}.pex"


def run_command(name: str) -> str:
    """The task's command: run the PEX with its cache inside the task's work directory."""
    return f'PEX_ROOT="$PWD/.pex" exec python3 {shlex.quote(pex_file_name(name))} "$@"'


def build_pex_binary(
    path: Path,
    name: str,
    module: str,
    *,
    packages: Sequence[str] = (),
    modules: Sequence[str] = (),
    files: Mapping[str, str] | None = None,
    cache: ArtifactCache | None = None,
) -> Artifact:
    """Runs `pex` in `path` and stores the PEX plus `files` ({local: name in archive}) as a zip."""
    path = path.resolve()
    if not path.is_dir():
        raise PackagingError(f"PexBinary path {path} does not exist or is not a directory")
    if not packages and not modules:
        raise PackagingError("PexBinary needs packages=[...] or modules=[...] naming the code to include")
    command = pex_command()
    cache = cache or ArtifactCache()
    with tempfile.TemporaryDirectory(prefix="lxm3-pex-") as scratch:
        output = Path(scratch) / pex_file_name(name)
        argv = [*command, "--inherit-path=fallback", "--entry-point", module, "--output-file", str(output)]
        for package in packages:
            argv += ["--package", package]
        for extra in modules:
            argv += ["--module", extra]
        env = dict(os.environ, PEX_ROOT=str(Path(scratch) / "pex-root"))
        result = subprocess.run(argv, cwd=path, env=env, capture_output=True, text=True)
        if result.returncode != 0 or not output.is_file():
            tail = (result.stderr or result.stdout).strip().splitlines()[-_TAIL_LINES:]
            raise PackagingError(
                f"building {output.name} failed ({shlex.join(argv)}): "
                f"{' | '.join(tail) or f'exit code {result.returncode}'}"
            )
        entries = [(output, output.name)]
        for source, destination in (files or {}).items():
            if not os.path.isfile(source):
                raise PackagingError(f"PexBinary dependency {source} does not exist")
            entries.append((Path(source), destination.lstrip("/")))
        bundle = Path(scratch) / "package.zip"
        write_zip(bundle, entries)
        return cache.store(bundle, "zip")
