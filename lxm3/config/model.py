"""lxm3's configuration as values: the whole file, one cluster, and lxm3 0.4's read-only views.

Reading and checking the TOML is `lxm3.config.parsing`; finding the file is
`lxm3.config.loading`. These classes are what the rest of lxm3 is given.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import attrs

from lxm3.errors import LxmError


class ConfigError(LxmError, ValueError):
    """The configuration file is unreadable or holds a bad key or value."""


# ----- lxm3 0.4's read-only views (`config.local_settings()`, `config.cluster_settings()`) -----
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


@attrs.frozen
class ClusterConfig:
    """One `[[clusters]]` entry."""

    name: str
    server: str | None = None
    user: str | None = None
    port: int | None = None
    ssh_private_key: str | None = None
    password: str | None = None
    proxycommand: str | None = None
    ssh_config: str | None = None
    staging: str = "~/lxm3-staging"
    env: Mapping[str, str] = attrs.field(factory=dict)
    singularity_binary: str | None = None
    singularity_binds: Mapping[str, str] = attrs.field(factory=dict)
    python: str = "python3"
    scheduler: str | None = None
    #: Seconds lxm3's SSH master stays up after a launch, for the next one to reuse (0: off).
    ssh_persist: int = 600
    #: Jobs you may have queued at once by the site's policy, when stricter than the scheduler says.
    max_jobs: int | None = None


@attrs.frozen
class Config:
    """The whole configuration; `Config()` is the no-file default."""

    project: str | None = None
    local_staging: str = "~/.cache/lxm3/staging"
    local_env: Mapping[str, str] = attrs.field(factory=dict)
    local_python: str = sys.executable
    clusters: tuple[ClusterConfig, ...] = ()
    store_path: str | None = None
    source: str | None = None
    #: Seconds a warm `lxm3` process waits for the next command (`keep_warm`; 0: off).
    keep_warm: int = 600

    def cluster(self, name: str | None = None) -> ClusterConfig:
        """The named cluster, else `$LXM_CLUSTER`, else the first one."""
        name = name or os.environ.get("LXM_CLUSTER")
        if not self.clusters:
            where = self.source or "no config file was found"
            raise ConfigError(
                f"no [[clusters]] entry in the configuration ({where}); add one with a server and storage.staging"
            )
        if name is None:
            return self.clusters[0]
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        known = ", ".join(c.name for c in self.clusters)
        raise ConfigError(f"cluster {name!r} is not in {self.source}; known clusters: {known}")

    @property
    def project_name(self) -> str | None:
        return os.environ.get("LXM_PROJECT") or self.project

    # ----- lxm3 0.4's names (xm_cluster.config.Config), answered from the fields above -----
    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Config:
        """The configuration in the TOML file at `path`."""
        from pathlib import Path

        from lxm3.config.loading import load_config_file

        return load_config_file(Path(os.path.expanduser(os.fspath(path))))

    @classmethod
    def from_string(cls, content: str, source: str = "<string>") -> Config:
        """The configuration in a TOML text."""
        from lxm3.config.parsing import parse_config, tomllib

        try:
            data = tomllib.loads(content)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{source}: not valid TOML: {error}") from None
        return parse_config(data, source)

    def default_cluster(self) -> str:
        """The name of the cluster launches use: `$LXM_CLUSTER`, else the first one."""
        return self.cluster().name

    def cluster_settings(self, name: str | None = None) -> ClusterSettings:
        """The (named, else default) cluster's settings, under lxm3 0.4's names."""
        return ClusterSettings.of(self.cluster(name))

    def get_cluster_settings(self, name: str | None = None) -> ClusterSettings:
        """lxm3 0.4.0's name of `cluster_settings`."""
        return self.cluster_settings(name)

    def local_settings(self) -> LocalSettings:
        """This machine's settings, under lxm3 0.4's names."""
        return LocalSettings(
            storage_root=self.local_staging, env=dict(self.local_env), python=self.local_python
        )
