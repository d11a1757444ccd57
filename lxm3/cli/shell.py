"""`lxm3 shell`: an interactive Python shell holding `client`, a client of the configured cluster.

As in lxm3 0.4: IPython when it is installed, else Python's own console.
`client.queue()`, `client.run([...])`, `client.cancel([...])`; `xm` and
`xm_cluster` are imported too. The cluster is `--cluster`, else
`$LXM_CLUSTER`, else the first `[[clusters]]` entry.
"""

from __future__ import annotations

import argparse
from typing import Any

from lxm3.cli.common import add_config_arg, run_reporting


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_config_arg(parser)
    parser.add_argument(
        "--cluster", metavar="NAME", help="the [[clusters]] entry (default: $LXM_CLUSTER or the first)"
    )
    parser.add_argument(
        "--scheduler",
        choices=("slurm", "sge"),
        help="the cluster's scheduler (default: its config, else asked)",
    )


def run(namespace: argparse.Namespace) -> int:
    return run_reporting(lambda: _run(namespace))


def _run(namespace: argparse.Namespace) -> int:
    import os

    if namespace.lxm_config:
        os.environ["LXM_CONFIG"] = namespace.lxm_config
    from lxm3 import xm, xm_cluster
    from lxm3.xm_cluster.cluster_client import ClusterClient

    client = ClusterClient.connect(namespace.cluster, kind=namespace.scheduler)
    banner = f"lxm3 shell: `client` is {client!r}; try client.queue()"
    namespace_vars: dict[str, Any] = {"client": client, "xm": xm, "xm_cluster": xm_cluster}
    try:
        _interact(banner, namespace_vars)
    finally:
        client.close()
    return 0


def _interact(banner: str, user_ns: dict[str, Any]) -> None:
    try:
        import IPython
    except ImportError:
        import code

        code.interact(banner=banner, local=user_ns, exitmsg="")
        return
    print(banner)
    IPython.start_ipython(argv=["--no-banner"], user_ns=user_ns)
