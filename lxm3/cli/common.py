"""What the lifecycle commands share: options, opening the store and experiments, state styles.

Rich and the experiment machinery are imported inside functions, so a
command's parser costs nothing until it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from lxm3.store.db import ExperimentStore
    from lxm3.xm_cluster.reloaded import ReloadedExperiment

#: Display order and colour of task states.
STATE_STYLES = {
    "RUNNING": "cyan",
    "PENDING": "bright_black",
    "UNKNOWN": "magenta",
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELLED": "yellow",
}


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lxm_config",
        metavar="PATH",
        help="configuration file (for the store path); default: $LXM_CONFIG, ./lxm.toml, ~/.config/lxm3/config.toml",
    )


def add_experiment_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", metavar="EXP", help="experiment id (`last` for the newest)")
    add_config_arg(parser)


def open_store(namespace: argparse.Namespace) -> ExperimentStore:
    # The config and the store only: `lxm3 list` must not pay for the experiment machinery.
    from lxm3.config import load_config
    from lxm3.store.db import open_store as open_configured_store

    if getattr(namespace, "lxm_config", None):
        os.environ["LXM_CONFIG"] = namespace.lxm_config
    return open_configured_store(load_config().store_path)


def open_experiment(namespace: argparse.Namespace) -> ReloadedExperiment:
    """The experiment named on the command line; xm.NotFoundError if the store lacks it."""
    from lxm3 import xm
    from lxm3.xm_cluster.reloaded import get_experiment

    store = open_store(namespace)
    text = str(namespace.experiment)
    if text in ("last", "latest"):
        newest = store.experiments(limit=1)
        if not newest:
            raise xm.NotFoundError(f"the store {store.path} holds no experiment yet")
        return get_experiment(int(newest[0]["id"]), store=store)
    if not text.isdigit():
        raise xm.NotFoundError(f"{text!r} is not an experiment id (a number, or `last`)")
    if int(text) >= 2**63:  # beyond SQLite's integers: no such experiment, not an OverflowError
        raise xm.NotFoundError(f"experiment {text} does not exist in {store.path}")
    return get_experiment(int(text), store=store)


def run_reporting(body: Callable[[], int]) -> int:
    """Runs a command body; an error becomes one line and a non-zero exit code."""
    from lxm3.cli.errors import fail, report

    try:
        return body()
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except OverflowError as error:  # an absurd number given for an id or a count
        return fail(f"a number given is too large: {error}", 2)
    except BrokenPipeError:
        # `lxm3 logs ... | head`: the reader left; nothing to report (and nothing to flush at exit).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # noqa: BLE001 - shown as one line with an exit code
        if os.environ.get("LXM3_DEBUG") == "1":
            return report(error)
        return report(error)  # an LxmError (config, store, not found, reload...) as its one line
    finally:
        # No SSH master left running after `lxm3 list/status/...` (nor its control dir). Only a
        # command that loaded the backend can have opened one: `lxm3 list` need not load it.
        targets = sys.modules.get("lxm3.xm_cluster.targets")
        if targets is not None:
            targets.close_all(force=True)


def console(stderr: bool = False) -> Console:
    """A rich console; when piped, wide enough that tables are not cut to 80 columns."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 200
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def print_json(value: Any) -> None:
    import json

    sys.stdout.write(json.dumps(value, indent=1) + "\n")
    sys.stdout.flush()


def literal(value: object) -> str:
    """`value` shown as written: user text (titles, job names, args, error lines) is not markup.

    Rich reads `[...]` in a printed string as a style: a title `sweep [lr=0.1]`
    lost its brackets, and an error line holding `[/]` crashed `lxm3 status`.
    """
    from rich.markup import escape

    return escape(str(value))


def state_text(state: str) -> str:
    """Rich markup for a state name."""
    return f"[{STATE_STYLES.get(state, 'white')}]{state}[/]"


def counts_text(counts: dict[str, int]) -> str:
    """`9 completed, 1 failed`, coloured, in a stable order."""
    parts = []
    for state, style in STATE_STYLES.items():
        if counts.get(state):
            parts.append(f"[{style}]{counts[state]} {state.lower()}[/]")
    return ", ".join(parts) or "-"


def public_state(state: Any) -> str:
    """The state shown to scripts: UNKNOWN (not yet reported) counts as PENDING."""
    name = getattr(state, "value", str(state))
    return "PENDING" if name == "UNKNOWN" else name


def iso_time(timestamp: float | None) -> str | None:
    import datetime

    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


def local_time(timestamp: float | None) -> str:
    import datetime

    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def ranges(numbers: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> `0-2,5`."""
    values = sorted(set(numbers))
    parts: list[str] = []
    start = previous = None
    for value in values:
        if start is None:
            start = previous = value
        elif previous is not None and value == previous + 1:
            previous = value
        else:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = previous = value
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}-{previous}")
    return ",".join(parts)
