"""lxm3's configuration file (TOML), compatible with lxm3 0.4's fields.

Looked up in order: the `--lxm_config` flag, `$LXM_CONFIG`, `./lxm.toml`,
`$XDG_CONFIG_HOME/lxm3/config.toml` (~/.config when unset). No file at all is
fine: the Local executor works with defaults. A bad file fails with one line
naming the file and the key.

    project = "my-project"
    [local.storage]
    staging = "~/.cache/lxm3/staging"
    [[clusters]]
    name = "myuni"
    server = "myuni-login"          # an ~/.ssh/config alias is enough
    ssh_persist = "10m"             # keep the SSH connection for the next launch (0: off)
    [clusters.storage]
    staging = "/scratch/me/lxm3"
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from lxm3.errors import LxmError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class ConfigError(LxmError, ValueError):
    """The configuration file is unreadable or holds a bad key or value."""


_CLUSTER_KEYS = {
    "name": str,
    "server": str,
    "user": str,
    "port": int,
    "ssh_private_key": str,
    "password": str,
    "proxycommand": str,
    "ssh_config": str,
    "storage": dict,
    "env": dict,
    "singularity": dict,
    "python": str,
    "scheduler": str,
    "ssh_persist": object,
    "max_jobs": int,
}
_LOCAL_KEYS = {"storage": dict, "env": dict, "singularity": dict, "python": str}
_TOP_KEYS = {"project": str, "local": dict, "clusters": list, "store": dict}


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
        return load_config_file(Path(os.path.expanduser(os.fspath(path))))

    @classmethod
    def from_string(cls, content: str, source: str = "<string>") -> Config:
        """The configuration in a TOML text."""
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


def _check_keys(where: str, section: str, data: Mapping[str, Any], allowed: Mapping[str, type]) -> None:
    for key, value in data.items():
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {section}{key!r}; valid keys: {', '.join(sorted(allowed))}"
            )
        expected = allowed[key]
        if expected is object:  # validated by the key's own parser
            continue
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            kind = {"str": "a string", "int": "an integer", "dict": "a table", "list": "an array of tables"}[
                expected.__name__
            ]
            raise ConfigError(f"{where}: {section}{key} must be {kind}, got {value!r}")


def _string_map(where: str, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: {key} must be a table of strings")
    return {str(k): str(v) for k, v in value.items()}


def _staging(where: str, section: str, data: Mapping[str, Any], default: str) -> str:
    storage = data.get("storage", {})
    unknown = set(storage) - {"staging"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {section}storage.{sorted(unknown)[0]}; valid keys: staging")
    staging = storage.get("staging", default)
    if not isinstance(staging, str):
        raise ConfigError(f"{where}: {section}storage.staging must be a string")
    return staging


def _singularity(where: str, section: str, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """`[...singularity] binary = "..."` and `binds = [{src = "...", dest = "..."}]` (lxm3 0.4's form)."""
    settings = data.get("singularity", {})
    unknown = sorted(set(settings) - {"binary", "binds"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {section}singularity.{unknown[0]}; valid keys: binary, binds"
        )
    binary = settings.get("binary")
    if binary is not None and not isinstance(binary, str):
        raise ConfigError(f"{where}: {section}singularity.binary must be a string")
    binds: dict[str, str] = {}
    entries = settings.get("binds", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: {section}singularity.binds must be an array of {{src, dest}} tables")
    for entry in entries:
        if not isinstance(entry, Mapping) or set(entry) != {"src", "dest"}:
            raise ConfigError(
                f"{where}: each {section}singularity.binds entry needs exactly src and dest, got {entry!r}"
            )
        binds[str(entry["src"])] = str(entry["dest"])
    return binary, binds


#: How long lxm3's SSH master outlives a launch unless `ssh_persist` says otherwise.
DEFAULT_PERSIST_SECONDS = 600
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_persist(value: object, where: str = "ssh_persist") -> int:
    """`600`, `"600"`, `"10m"`, `"1h"`, `0`, `"no"` -> seconds (0 disables persistence).

    Raises ValueError with a one-line message naming `where` for anything else.
    """
    if isinstance(value, bool):
        return DEFAULT_PERSIST_SECONDS if value else 0
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        if value.strip().lower() in ("no", "off", "false", "none"):
            return 0
        match = _DURATION.match(value)
        if match is not None:
            return int(match[1]) * _UNITS[match[2].lower()]
    raise ValueError(
        f'{where} must be a duration like "10m", "90s", "1h" or a number of seconds (0 disables), got {value!r}'
    )


def _ssh_persist(where: str, section: str, data: Mapping[str, Any]) -> int:
    """`ssh_persist = "10m"` (default), `"90s"`, `600` or `0` (off) -> seconds."""
    try:
        return parse_persist(data.get("ssh_persist", DEFAULT_PERSIST_SECONDS), f"{section}ssh_persist")
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None


def parse_config(data: Mapping[str, Any], source: str) -> Config:
    """Validates a parsed TOML document into a Config."""
    _check_keys(source, "", data, _TOP_KEYS)
    local = data.get("local", {})
    _check_keys(source, "local.", local, _LOCAL_KEYS)
    _singularity(
        source, "local.", local
    )  # validated; Local picks its runtime from PATH or $LXM3_SINGULARITY_BINARY
    clusters = []
    for position, entry in enumerate(data.get("clusters", [])):
        section = f"clusters[{position}]."
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{source}: {section[:-1]} must be a table")
        _check_keys(source, section, entry, _CLUSTER_KEYS)
        if "name" not in entry:
            raise ConfigError(f"{source}: {section}name is required")
        binary, binds = _singularity(source, section, entry)
        clusters.append(
            ClusterConfig(
                name=entry["name"],
                server=entry.get("server"),
                user=entry.get("user"),
                port=entry.get("port"),
                ssh_private_key=entry.get("ssh_private_key"),
                password=entry.get("password"),
                proxycommand=entry.get("proxycommand"),
                ssh_config=entry.get("ssh_config"),
                staging=_staging(source, section, entry, "~/lxm3-staging"),
                env=_string_map(source, f"{section}env", entry.get("env", {})),
                singularity_binary=binary,
                singularity_binds=binds,
                python=entry.get("python", "python3"),
                scheduler=entry.get("scheduler"),
                ssh_persist=_ssh_persist(source, section, entry),
                max_jobs=entry.get("max_jobs"),
            )
        )
    names = [c.name for c in clusters]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: cluster names must be unique, got {names}")
    store = data.get("store", {})
    if set(store) - {"path"}:
        raise ConfigError(f"{source}: unknown key store.{sorted(set(store) - {'path'})[0]}; valid keys: path")
    return Config(
        project=data.get("project"),
        local_staging=_staging(source, "local.", local, "~/.cache/lxm3/staging"),
        local_env=_string_map(source, "local.env", local.get("env", {})),
        local_python=local.get("python", sys.executable),
        clusters=tuple(clusters),
        store_path=store.get("path"),
        source=source,
    )


def load_config_file(path: Path) -> Config:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return parse_config(data, str(path))


def find_config_path(flag_value: str | None = None) -> Path | None:
    """The config file to use, by the documented lookup order (None: defaults)."""
    explicit = flag_value or os.environ.get("LXM_CONFIG")
    if explicit:
        return Path(os.path.expanduser(explicit))
    local = Path("lxm.toml")
    if local.is_file():
        return local.resolve()
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    user = Path(xdg) / "lxm3" / "config.toml"
    return user if user.is_file() else None


def _flag_value() -> str | None:
    if "absl.flags" not in sys.modules:
        return None  # never imported, so never parsed (and `lxm3 list` need not import it)
    try:
        from absl import flags

        if "lxm_config" in flags.FLAGS and flags.FLAGS.is_parsed():
            return flags.FLAGS.lxm_config  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - no absl or unparsed flags: use the env
        return None
    return None


def define_flags() -> None:
    """Defines `--lxm_config` for absl launch scripts (idempotent)."""
    from absl import flags

    if "lxm_config" not in flags.FLAGS:
        flags.DEFINE_string("lxm_config", None, "Path to the lxm3 configuration file (TOML).")


def load_config() -> Config:
    path = find_config_path(_flag_value())
    if path is None:
        return Config()
    return load_config_file(path)
