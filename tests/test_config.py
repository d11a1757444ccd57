"""The configuration file: lookup order, lxm3 0.4 compatibility, one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from absl import flags

from lxm3 import xm_cluster  # noqa: F401 - defines --lxm_config
from lxm3.config import (
    Config,
    ConfigError,
    find_config_path,
    load_config,
    load_config_file,
    parse_config,
)


def write(path: Path, project: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'project = "{project}"\n')
    return path


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """One config file in every place lxm3 looks, each with a different project name."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return {
        "flag": write(tmp_path / "flag.toml", "from-flag"),
        "env": write(tmp_path / "env.toml", "from-env"),
        "cwd": write(workdir / "lxm.toml", "from-cwd"),
        "xdg": write(tmp_path / "xdg" / "lxm3" / "config.toml", "from-xdg"),
    }


@pytest.fixture
def parsed_flag(places: dict[str, Path]) -> Iterator[None]:
    flags.FLAGS(["launcher.py", f"--lxm_config={places['flag']}"])
    try:
        yield
    finally:
        flags.FLAGS.unparse_flags()


def test_flag_wins_over_everything(
    places: dict[str, Path], parsed_flag: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LXM_CONFIG", str(places["env"]))
    config = load_config()
    assert config.project == "from-flag" and config.source == str(places["flag"])


def test_env_wins_over_cwd_and_xdg(places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXM_CONFIG", str(places["env"]))
    assert load_config().project == "from-env"


def test_cwd_lxm_toml_wins_over_xdg(places: dict[str, Path]) -> None:
    config = load_config()
    assert config.project == "from-cwd"
    assert Path(config.source or "") == places["cwd"].resolve()


def test_xdg_config_is_the_last_resort(places: dict[str, Path]) -> None:
    places["cwd"].unlink()
    assert load_config().project == "from-xdg"


def test_xdg_defaults_to_dot_config_in_home(
    places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    places["cwd"].unlink()
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write(tmp_path / "home" / ".config" / "lxm3" / "config.toml", "from-home")
    assert load_config().project == "from-home"


def test_no_file_anywhere_gives_working_defaults(places: dict[str, Path]) -> None:
    places["cwd"].unlink()
    places["xdg"].unlink()
    assert find_config_path() is None
    config = load_config()
    assert config == Config()
    assert config.local_staging == "~/.cache/lxm3/staging" and config.local_python == sys.executable
    with pytest.raises(ConfigError, match=r"no \[\[clusters\]\] entry"):
        config.cluster()


def test_explicit_path_that_does_not_exist_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LXM_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml does not exist"):
        load_config()


def test_explicit_path_expands_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / "mine.toml", "tilde")
    assert find_config_path("~/mine.toml") == tmp_path / "mine.toml"


LXM3_04_CONFIG = """\
project = "" # Optional project name
# Configuration for running in local mode.
[local]
[local.storage]
staging = ".cache/lxm"

[local.env]
BAR = "FOO"

# Configuration for running on clusters.
[[clusters]]
name = "cs"
server = "beaker.cs.ucl.ac.uk"
user = "foo"
ssh_private_key = "~/.ssh/id_cs"
password = "hunter2"
proxycommand = "ssh -W %h:%p jump"

[clusters.storage]
staging = "/home/foo/lxm3-staging"

[[clusters]]
name = "myriad"
server = "myriad.rc.ucl.ac.uk"
user = "ucaby36"

[clusters.storage]
staging = "/home/bar/Scratch/lxm3-staging"
"""


def test_lxm3_0_4_config_file_is_read_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_text(LXM3_04_CONFIG)
    config = load_config_file(path)
    assert (
        config.project == ""
        and config.local_staging == ".cache/lxm"
        and dict(config.local_env) == {"BAR": "FOO"}
    )
    assert [c.name for c in config.clusters] == ["cs", "myriad"]
    cs = config.cluster()
    assert (cs.server, cs.user, cs.ssh_private_key, cs.password, cs.proxycommand, cs.staging) == (
        "beaker.cs.ucl.ac.uk",
        "foo",
        "~/.ssh/id_cs",
        "hunter2",
        "ssh -W %h:%p jump",
        "/home/foo/lxm3-staging",
    )
    assert config.cluster("myriad").staging == "/home/bar/Scratch/lxm3-staging"
    monkeypatch.setenv("LXM_CLUSTER", "myriad")
    assert config.cluster().user == "ucaby36"
    monkeypatch.setenv("LXM_PROJECT", "override")
    assert config.project_name == "override"


def test_cluster_defaults_and_extras() -> None:
    config = parse_config(
        {
            "clusters": [
                {"name": "a"},
                {
                    "name": "b",
                    "port": 2222,
                    "ssh_config": "~/.ssh/other",
                    "env": {"OMP_NUM_THREADS": 1},
                    "python": "/opt/py/bin/python3",
                    "scheduler": "slurm",
                    "singularity": {"binary": "apptainer", "binds": [{"src": "/data", "dest": "/mnt/data"}]},
                },
            ],
            "store": {"path": "/tmp/x.sqlite3"},
        },
        "inline",
    )
    a, b = config.clusters
    assert (a.staging, a.python, a.port, dict(a.env)) == ("~/lxm3-staging", "python3", None, {})
    assert (b.port, b.ssh_config, dict(b.env), b.python, b.scheduler) == (
        2222,
        "~/.ssh/other",
        {"OMP_NUM_THREADS": "1"},
        "/opt/py/bin/python3",
        "slurm",
    )
    assert (b.singularity_binary, dict(b.singularity_binds)) == ("apptainer", {"/data": "/mnt/data"})
    assert config.store_path == "/tmp/x.sqlite3"


def test_unknown_cluster_name_lists_the_known_ones() -> None:
    config = parse_config({"clusters": [{"name": "a"}, {"name": "b"}]}, "cfg.toml")
    with pytest.raises(ConfigError, match=r"cluster 'c' is not in cfg\.toml; known clusters: a, b"):
        config.cluster("c")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('projct = "x"\n', "'projct'"),
        ('[local]\nstagin = "x"\n', "local.'stagin'"),
        ('[local.storage]\nstageing = "x"\n', "local.storage.stageing"),
        ('[[clusters]]\nname = "a"\nsever = "h"\n', "clusters[0].'sever'"),
        (
            '[[clusters]]\nname = "a"\n[[clusters]]\nname = "b"\nport = "22"\n',
            "clusters[1].port must be an integer",
        ),
        ('[[clusters]]\nname = "a"\nport = true\n', "clusters[0].port must be an integer"),
        (
            '[[clusters]]\nname = "a"\n[clusters.storage]\nstaging = 3\n',
            "clusters[0].storage.staging must be a string",
        ),
        ('[[clusters]]\nname = "a"\n[clusters.storage]\nroot = "/x"\n', "clusters[0].storage.root"),
        ('[[clusters]]\nserver = "h"\n', "clusters[0].name is required"),
        ('[[clusters]]\nname = "a"\n[[clusters]]\nname = "a"\n', "cluster names must be unique"),
        ('[store]\ndir = "/x"\n', "store.dir"),
        ("project = \n", "not valid TOML"),
    ],
)
def test_bad_file_is_one_line_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, key: str
) -> None:
    path = tmp_path / "lxm.toml"
    path.write_text(text)
    monkeypatch.setenv("LXM_CONFIG", str(path))
    with pytest.raises(ConfigError) as error:
        load_config()
    message = str(error.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}:"), message
    assert key in message, message


def test_unknown_key_error_lists_valid_keys(tmp_path: Path) -> None:
    path = tmp_path / "lxm.toml"
    path.write_text('[[clusters]]\nname = "a"\nhostname = "h"\n')
    with pytest.raises(ConfigError, match=r"valid keys: .*server.*user"):
        load_config_file(path)


def test_lxm3_0_4_import_path_still_works() -> None:
    """Launch scripts written for lxm3 0.4 import the config from `lxm3.xm_cluster.config`."""
    from lxm3 import config
    from lxm3.xm_cluster import config as legacy

    assert legacy.Config is config.Config and legacy.load_config is config.load_config
