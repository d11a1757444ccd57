"""The packaged executable that cluster jobs run.

`Command` is what `experiment.package` returns for every spec: the code
artifact (a content-addressed zip), how to start it (entrypoint), the args and
env baked in by the `Packageable`, and optionally the container to run in.
"""

from __future__ import annotations

from typing import Any

import attrs

from lxm3.packaging.artifact import Artifact
from lxm3.xm import job_blocks
from lxm3.xm.args import SequentialArgs


@attrs.frozen
class Entrypoint:
    """How the task runner starts the program: a module, shell commands, or an argv."""

    kind: str  # "module" | "commands" | "argv"
    value: tuple[str, ...]

    def to_spec(self) -> dict[str, Any]:
        if self.kind == "module":
            return {"kind": "module", "module": self.value[0]}
        if self.kind == "commands":
            return {"kind": "commands", "commands": list(self.value)}
        return {"kind": "argv", "argv": list(self.value)}

    def describe(self) -> str:
        if self.kind == "module":
            return f"python3 -m {self.value[0]}"
        return " && ".join(self.value) if self.kind == "commands" else " ".join(self.value)


@attrs.frozen
class ContainerImage:
    """A Singularity/Apptainer image: a local file artifact, or a URI/remote path."""

    #: A local image deployed by digest, or None when `uri` names it.
    artifact: Artifact | None = None
    #: `docker://...`, `oras://...`, `library://...` or a path already on the cluster.
    uri: str | None = None

    def describe(self) -> str:
        return self.uri or (self.artifact.file_name if self.artifact else "")


@attrs.define
class Command(job_blocks.Executable):
    """A packaged executable: artifact + entrypoint (+ container)."""

    entrypoint: Entrypoint = attrs.field(kw_only=True)
    artifact: Artifact | None = attrs.field(default=None, kw_only=True)
    args: SequentialArgs = attrs.field(factory=SequentialArgs, kw_only=True)
    env_vars: dict[str, str] = attrs.field(factory=dict, kw_only=True)
    container: ContainerImage | None = attrs.field(default=None, kw_only=True)
    docker_image: str | None = attrs.field(default=None, kw_only=True)
