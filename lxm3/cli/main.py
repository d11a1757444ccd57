"""`lxm3` entry point: parses the subcommand and imports only what it needs.

Imports are lazy on purpose: `lxm3 version` must start in well under 0.1 s,
and `lxm3 launch` should not pay for the lifecycle commands' table code.
Each subcommand lives in its own module with `add_parser` and `run`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "launch": ("lxm3.cli.launch", "run a launch script (packages, deploys and submits its jobs)"),
    "version": ("lxm3.cli.version", "print lxm3's version"),
}


def register(name: str, module: str, help_text: str) -> None:
    """Adds a subcommand (used by modules that ship more commands)."""
    COMMANDS[name] = (module, help_text)


def _discover() -> None:
    import importlib

    try:
        importlib.import_module("lxm3.cli.commands")  # registers the lifecycle subcommands
    except ImportError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["version"] or args[:1] == ["--version"]:
        from lxm3 import __version__

        print(f"lxm3 {__version__}")
        return 0
    _discover()
    import argparse
    import importlib

    parser = argparse.ArgumentParser(
        prog="lxm3", description="Launch experiments on Slurm, Grid Engine or this machine."
    )
    parser.add_argument("--version", action="store_true", help="print lxm3's version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == "launch" or args[:1] == [name]:
            importlib.import_module(module).add_parser(sub)
    namespace = parser.parse_args(args)
    if namespace.command is None:
        parser.print_help()
        return 2
    command = importlib.import_module(COMMANDS[namespace.command][0])
    try:
        return int(command.run(namespace) or 0)
    finally:
        # `lxm3 status`, `list`, `cancel`...: close what the command opened, so with
        # `ssh_persist = 0` no master outlives it (a persistent one stays, on purpose).
        targets = sys.modules.get("lxm3.xm_cluster.targets")
        if targets is not None:
            targets.close_all(force=True)


def entry() -> None:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    # `python -m lxm3.cli.main`: run the importable module, where `lxm3.cli.commands` registers.
    from lxm3.cli.main import main as _main

    sys.exit(_main())
