"""`lxm3` entry point: parses the subcommand and imports only what it needs.

Imports are lazy on purpose: `lxm3 version` must start in well under 0.1 s,
and `lxm3 launch` should not pay for the lifecycle commands' table code.
Each subcommand lives in its own module with `add_parser` and `run`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: subcommand -> (module, one-line help): the whole command set, in `--help` order. Each module
#: is imported only when its command runs; a module that fails to import fails that command loudly.
COMMANDS: dict[str, tuple[str, str]] = {
    "launch": ("lxm3.cli.launch", "run a launch script (packages, deploys and submits its jobs)"),
    "version": ("lxm3.cli.version", "print lxm3's version"),
    "list": ("lxm3.cli.list", "list recent experiments with their tasks' states"),
    "status": ("lxm3.cli.status", "show the state of an experiment's work units and tasks"),
    "logs": ("lxm3.cli.logs", "print (or follow) a task's stdout or stderr"),
    "cancel": ("lxm3.cli.cancel", "cancel an experiment's unfinished tasks"),
    "rerun": ("lxm3.cli.rerun", "resubmit the failed or cancelled tasks of an experiment"),
    "clean": ("lxm3.cli.clean", "remove staged files that no kept experiment needs"),
    "shell": ("lxm3.cli.shell", "an interactive Python shell holding a client of the configured cluster"),
    "fetch": ("lxm3.cli.fetch", "bring task outputs (after-files, metrics) back here, only what changed"),
    "metrics": ("lxm3.cli.metrics", "show each task's args and last metric values; plot a metric"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["version"] or args[:1] == ["--version"]:
        from lxm3 import __version__

        print(f"lxm3 {__version__}")
        return 0
    import argparse
    import importlib

    parser = argparse.ArgumentParser(
        prog="lxm3", description="Launch experiments on Slurm, Grid Engine or this machine."
    )
    parser.add_argument("--version", action="store_true", help="print lxm3's version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    # A known command gets only its own parser (argparse makes each in ~1 ms, paid by every
    # command); anything else gets them all, for the help and the "invalid choice" list.
    chosen = args[:1] if args[:1] and args[0] in COMMANDS else list(COMMANDS)
    for name, (module, help_text) in COMMANDS.items():
        if name not in chosen:
            continue
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == "launch" or args[:1] == [name]:
            importlib.import_module(module).add_parser(sub)
    namespace = parser.parse_args(args)
    if namespace.command is None:
        parser.print_help()
        return 2
    from lxm3.cli.gc_tuning import tune_gc

    tune_gc()
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
    from lxm3.cli import warm

    servable = sys.argv[1:2] and sys.argv[1] in warm.SERVED
    if servable:
        # Handed to a warm lxm3 process when one is up (lxm3/cli/warm): no imports to wait for.
        from lxm3.cli.warm import client

        served = client.try_run(sys.argv[1:])
        if served is not None:
            sys.exit(served)
    from lxm3.cli import gc_tuning

    gc_tuning.enable()
    try:
        code = main()
    finally:
        if servable:
            from lxm3.cli.warm import spawn

            spawn.after_command()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
