"""Finding and reading the configuration file, by the documented lookup order.

The `--lxm_config` flag (absl launch scripts), `$LXM_CONFIG`, `./lxm.toml`,
then `$XDG_CONFIG_HOME/lxm3/config.toml`; no file at all gives `Config()`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lxm3.config.model import Config, ConfigError
from lxm3.config.parsing import parse_config, tomllib


def load_config_file(path: Path) -> Config:
    """The configuration in the TOML file at `path`; ConfigError naming the file when it cannot be."""
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
    """The configuration by the lookup order above (the defaults when no file is found)."""
    path = find_config_path(_flag_value())
    if path is None:
        return Config()
    return load_config_file(path)
