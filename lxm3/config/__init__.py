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

One module per concept: `model` (the values), `parsing` (checking a TOML
document), `loading` (finding and reading the file). Every name stays
importable from `lxm3.config`, where launch scripts and lxm3 0.4 code look.
"""

from lxm3.config.loading import define_flags, find_config_path, load_config, load_config_file
from lxm3.config.model import ClusterConfig, ClusterSettings, Config, ConfigError, LocalSettings
from lxm3.config.parsing import DEFAULT_PERSIST_SECONDS, parse_config, parse_persist

__all__ = [
    "DEFAULT_PERSIST_SECONDS",
    "ClusterConfig",
    "ClusterSettings",
    "Config",
    "ConfigError",
    "LocalSettings",
    "define_flags",
    "find_config_path",
    "load_config",
    "load_config_file",
    "parse_config",
    "parse_persist",
]
