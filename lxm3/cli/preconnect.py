"""`lxm3 launch` pre-connects to the clusters it expects the launch to use.

Which ones: those the last launch of the same launcher used (the store's
record). A launcher never launched before (a first launch) gets the config's
only cluster, or the one `$LXM_CLUSTER` names: a first launch spends seconds
building the project before it needs the cluster, and the handshake and the
cluster's first questions (`lxm3.schedulers.first_questions`) fit in that
time. Such a guess connects without prompting (BatchMode): a launcher that
runs only locally must not ask for a 2FA code it does not need; a cluster that
wants one is then connected to by the launch itself, as before.

The connection itself is `lxm3.transport.preconnect`'s; which clusters to
connect to is the store's and the config's knowledge, looked up here, above both.
"""

from __future__ import annotations

import os
from pathlib import Path

from lxm3.config import ClusterConfig, Config, load_config
from lxm3.store.db import ExperimentStore, default_store_path
from lxm3.transport import preconnect
from lxm3.transport.base import Transport
from lxm3.transport.prefetch import Questions


def warm_up_for(launcher: str) -> None:
    """Starts connections to the clusters the launch of `launcher` is expected to use."""
    if os.environ.get("LXM3_PRECONNECT", "1") == "0" or os.environ.get("LXM3_DRY_RUN") == "1":
        return
    config = load_config()
    path = Path(config.store_path).expanduser() if config.store_path else default_store_path()
    names = ExperimentStore(path).last_cluster_targets(launcher) if path.exists() else None
    if names is not None:
        for cluster in config.clusters:
            if cluster.name in names:
                preconnect.start(config, cluster, questions=_questions_for(cluster))
        return
    guess = _first_launch_cluster(config)
    if guess is not None:
        # A configured password needs no prompt; BatchMode would refuse to use it.
        batch = not guess.password
        preconnect.start(config, guess, batch=batch, questions=_questions_for(guess))


def _first_launch_cluster(config: Config) -> ClusterConfig | None:
    """The cluster a launcher with no history most likely uses: `$LXM_CLUSTER`'s, else the only one."""
    wanted = os.environ.get("LXM_CLUSTER")
    if wanted:
        return next((cluster for cluster in config.clusters if cluster.name == wanted), None)
    return config.clusters[0] if len(config.clusters) == 1 else None


def _questions_for(cluster: ClusterConfig) -> preconnect.QuestionsFor:
    def questions(transport: Transport) -> list[Questions]:
        from lxm3.schedulers.first_questions import first_questions
        from lxm3.transport.base import HOME_ARGV

        groups = first_questions(cluster.name, cluster.scheduler, transport)
        if cluster.staging.startswith("~"):
            groups.append(Questions((HOME_ARGV,)))
        return groups

    return questions
