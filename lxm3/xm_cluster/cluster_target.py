"""Targets for cluster executors (Slurm, Grid Engine): config -> transport + scheduler.

A cluster entry with `server` is reached over ONE SSH connection; without it
the scheduler commands run on this machine (launching from a login node).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxm3.config import ClusterConfig, Config
from lxm3.schedulers.base import Scheduler
from lxm3.transport.base import Transport
from lxm3.xm_cluster import targets


def make_transport(cluster: ClusterConfig, config: Config | None = None) -> Transport:
    """SSH (one multiplexed connection) when the cluster has a server, else local.

    A parameter controller reaches the cluster it runs on with local commands (no SSH hop).
    """
    from lxm3.xm_cluster.controller import active_cluster

    if cluster.name and active_cluster() == cluster.name:
        from lxm3.transport.local import LocalTransport

        return LocalTransport()
    if config is not None:
        from lxm3.transport import preconnect

        warm = preconnect.take(config, cluster)
        if warm is not None:
            return warm
    if cluster.server:
        from lxm3.transport.ssh import SSHTransport

        return SSHTransport.from_cluster_config(cluster)
    from lxm3.transport.local import LocalTransport

    return LocalTransport()


def cluster_target(
    kind: str, scheduler_factory: Callable[[ClusterConfig], Scheduler], executor: Any, config: Config
) -> targets.Target:
    """The shared target of `kind` ("slurm", "sge") on the selected cluster."""
    cluster = config.cluster(getattr(executor, "cluster", None))
    return targets.cached_target(
        targets.target_key(kind, config, cluster.name),
        lambda: targets.Target(
            name=cluster.name,
            scheduler=scheduler_factory(cluster),
            transport_factory=lambda: make_transport(cluster, config),
            staging=cluster.staging,
            python=cluster.python,
            env=dict(cluster.env),
            cluster_config=cluster,
        ),
    )
