"""Opening the SSH connection while the launcher is still starting up.

The slowest fixed cost of relaunching a sweep is Python importing the
launcher's modules (~0.2 s) followed by the SSH handshake (~0.2 s). The store
knows which cluster the previous launch of the same launcher went to, so
`lxm3 launch` starts that connection in the background first
(`lxm3.cli.preconnect.warm_up_for`), and the
launch picks it up when it needs it: the two costs overlap. A guess that turns
out wrong (the launcher now runs locally) costs one idle connection, closed at
the end. `LXM3_PRECONNECT=0` turns this off.
"""

from __future__ import annotations

import logging
import threading

from lxm3.config import ClusterConfig, Config
from lxm3.transport.base import Transport

log = logging.getLogger(__name__)

_WARM: dict[tuple[str, str], Transport] = {}
_LOCK = threading.Lock()


def _key(config: Config, cluster: ClusterConfig) -> tuple[str, str]:
    return (config.source or "", cluster.name)


def start(config: Config, cluster: ClusterConfig) -> None:
    """Starts connecting to `cluster` in the background (SSH clusters only)."""
    if not cluster.server:
        return
    from lxm3.transport.ssh import SSHTransport

    transport = SSHTransport.from_cluster_config(cluster)
    with _LOCK:
        if _key(config, cluster) in _WARM:
            return
        _WARM[_key(config, cluster)] = transport

    def connect() -> None:
        try:
            transport.connect()
        except Exception as error:  # noqa: BLE001 - the launch's first command reports it
            log.debug("pre-connect to %s failed: %s", cluster.name, error)

    threading.Thread(target=connect, name=f"lxm3-preconnect-{cluster.name}", daemon=True).start()


def take(config: Config, cluster: ClusterConfig) -> Transport | None:
    """The connection started for this cluster, if any (each is handed out once)."""
    with _LOCK:
        return _WARM.pop(_key(config, cluster), None)


def close_unused() -> None:
    """Closes connections the launch never picked up."""
    with _LOCK:
        unused = list(_WARM.values())
        _WARM.clear()
    for transport in unused:
        transport.close()
