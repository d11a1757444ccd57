"""Opening the SSH connection while the launcher is still starting up.

The slowest fixed cost of relaunching a sweep is Python importing the
launcher's modules (~0.2 s) followed by the SSH handshake (~0.2 s). The store
knows which cluster the previous launch of the same launcher went to, so
`lxm3 launch` starts that connection in the background first
(`lxm3.cli.preconnect.warm_up_for`), and the
launch picks it up when it needs it: the two costs overlap. A guess that turns
out wrong (the launcher now runs locally) costs one idle connection, closed at
the end. `LXM3_PRECONNECT=0` turns this off.

Once connected, the same background thread asks the launch's first questions
(the scheduler's limits, the home directory: `lxm3.transport.prefetch`) in one
remote command, so staging finds the answers there instead of asking them one
by one after the build.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from lxm3.config import ClusterConfig, Config
from lxm3.transport.base import CommandResult, Transport
from lxm3.transport.prefetch import Questions, parse

log = logging.getLogger(__name__)

_WARM: dict[tuple[str, str], Transport] = {}
#: Set once a connection's handshake has ended (either way).
_SHAKEN: dict[tuple[str, str], threading.Event] = {}
_LOCK = threading.Lock()
#: What to ask ahead, given the (not yet connected) transport: decided above this layer.
QuestionsFor = Callable[[Transport], Sequence[Questions]]


def _key(config: Config, cluster: ClusterConfig) -> tuple[str, str]:
    return (config.source or "", cluster.name)


def start(
    config: Config, cluster: ClusterConfig, *, batch: bool = False, questions: QuestionsFor | None = None
) -> None:
    """Starts connecting to `cluster` in the background (SSH clusters only), then asks `questions`.

    `batch`: prompt for nothing (a guess; see `SSHTransport.connect`).
    """
    if not cluster.server:
        return
    from lxm3.transport.ssh import SSHTransport

    transport = SSHTransport.from_cluster_config(cluster)
    with _LOCK:
        if _key(config, cluster) in _WARM:
            return
        _WARM[_key(config, cluster)] = transport
    if questions is not None:
        transport.answers.expect()  # from now on, the launch's commands wait for the answers
    shaken = threading.Event()
    with _LOCK:
        _SHAKEN[_key(config, cluster)] = shaken

    def connect() -> None:
        answers: dict[str, CommandResult] = {}
        try:
            try:
                transport.connect(batch=batch)
            finally:
                shaken.set()
            # Decided once connected: the imports it needs must not delay the handshake.
            groups = list(questions(transport)) if questions is not None else []
            script = transport.answers.plan(groups) if questions is not None else None
            if script is not None:
                result = transport.run(["bash", "-c", script], check=False)
                answers = parse(result.stdout, groups, transport.answers.boundary)
        except Exception as error:  # noqa: BLE001 - the launch's first command reports it
            log.debug("pre-connect to %s failed: %s", cluster.name, error)
        finally:
            if questions is not None:
                transport.answers.finish(answers)  # none on failure: each command asks itself

    threading.Thread(target=connect, name=f"lxm3-preconnect-{cluster.name}", daemon=True).start()


def take(config: Config, cluster: ClusterConfig) -> Transport | None:
    """The connection started for this cluster, if any (each is handed out once)."""
    with _LOCK:
        return _WARM.pop(_key(config, cluster), None)


def close_unused() -> None:
    """Closes connections the launch never picked up (and a master they started: `SSHTransport.discard`).

    One still in its handshake (a host that does not answer) is left to its
    thread rather than waited for: a launch that never needed it must not wait
    for its ConnectTimeout at exit.
    """
    with _LOCK:
        unused = list(_WARM.items())
        _WARM.clear()
        shaken = dict(_SHAKEN)
        _SHAKEN.clear()
    for key, transport in unused:
        if key in shaken and not shaken[key].is_set():
            continue
        getattr(transport, "discard", transport.close)()
