"""The configuration file, as `lxm3.xm_cluster.config` (where lxm3 0.4 kept it).

It lives in `lxm3.config` so that `lxm3 launch` can read it before importing
the backend (see `lxm3.transport.preconnect`).
"""

from lxm3.config import (
    ClusterConfig,
    ClusterSettings,
    Config,
    ConfigError,
    LocalSettings,
    define_flags,
    find_config_path,
    load_config,
    load_config_file,
    parse_config,
)


def default() -> Config:
    """The configuration this launch uses (lxm3 0.4's `config.default()`), by the usual lookup order."""
    return load_config()


__all__ = [
    "ClusterConfig",
    "ClusterSettings",
    "LocalSettings",
    "default",
    "Config",
    "ConfigError",
    "define_flags",
    "find_config_path",
    "load_config",
    "load_config_file",
    "parse_config",
]
