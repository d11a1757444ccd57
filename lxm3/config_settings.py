"""lxm3 0.4's read-only views of the configuration: `local_settings()`, `cluster_settings()`.

Launch scripts and helpers written for lxm3 0.4 read the configuration as
`config.default().cluster_settings().storage_root` and the like. These views
answer those names from lxm3's own `Config` (see `lxm3.config`); nothing here
is read from the file a second time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen
class LocalSettings:
    """This machine's settings: `[local]`."""

    storage_root: str
    env: Mapping[str, str] = attrs.field(factory=dict)
    python: str | None = None


@attrs.frozen
class ClusterSettings:
    """One `[[clusters]]` entry, under the names lxm3 0.4 used."""

    name: str
    storage_root: str
    hostname: str | None = None
    user: str | None = None
    port: int | None = None
    env: Mapping[str, str] = attrs.field(factory=dict)
    ssh_private_key: str | None = None
    proxycommand: str | None = None
    singularity_binary: str | None = None
    singularity_binds: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def ssh_config(self) -> dict[str, Any]:
        """Connection options as lxm3 0.4 passed them to its SSH client (`key_filename`, `port`, ...)."""
        options: dict[str, Any] = {}
        if self.ssh_private_key:
            options["key_filename"] = os.path.expanduser(self.ssh_private_key)
        if self.proxycommand:
            options["proxycommand"] = self.proxycommand
        if self.port:
            options["port"] = self.port
        return options

    @classmethod
    def of(cls, cluster: Any) -> ClusterSettings:
        """The view of a `lxm3.config.ClusterConfig`."""
        return cls(
            name=cluster.name,
            storage_root=cluster.staging,
            hostname=cluster.server,
            user=cluster.user,
            port=cluster.port,
            env=dict(cluster.env),
            ssh_private_key=cluster.ssh_private_key,
            proxycommand=cluster.proxycommand,
            singularity_binary=cluster.singularity_binary,
            singularity_binds=dict(cluster.singularity_binds),
        )
