"""Checking a parsed TOML document into a `Config`, with one-line errors naming the key.

Every key is checked against the tables below (type and name), so a typo in a
config file fails with the file, the key and the valid keys, never later in a
launch. `parse_persist` reads the `ssh_persist` duration, also used by the
SSH transport for its own settings.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

from lxm3.config.model import ClusterConfig, Config, ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["DEFAULT_PERSIST_SECONDS", "parse_config", "parse_persist", "tomllib"]

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
_TOP_KEYS = {"project": str, "local": dict, "clusters": list, "store": dict, "keep_warm": object}


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
    return _duration(where, data, "ssh_persist", section)


def _duration(where: str, data: Mapping[str, Any], key: str, section: str = "") -> int:
    """A `"10m"`-style duration key (default ten minutes) -> seconds, or a one-line ConfigError."""
    try:
        return parse_persist(data.get(key, DEFAULT_PERSIST_SECONDS), f"{section}{key}")
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
        keep_warm=_duration(source, data, "keep_warm"),
    )
