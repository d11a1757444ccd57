"""`lxm3 launch` pre-connects to the clusters the last launch of the same launcher used.

The connection itself is `lxm3.transport.preconnect`'s; which clusters to
connect to is the store's knowledge, looked up here, above both.
"""

from __future__ import annotations

import os
from pathlib import Path

from lxm3.config import load_config
from lxm3.store.db import ExperimentStore, default_store_path
from lxm3.transport import preconnect


def warm_up_for(launcher: str) -> None:
    """Starts connections to the clusters the last launch of `launcher` used."""
    if os.environ.get("LXM3_PRECONNECT", "1") == "0" or os.environ.get("LXM3_DRY_RUN") == "1":
        return
    config = load_config()
    path = Path(config.store_path).expanduser() if config.store_path else default_store_path()
    if not path.exists():
        return
    names = ExperimentStore(path).last_cluster_targets(launcher)
    for cluster in config.clusters:
        if cluster.name in names:
            preconnect.start(config, cluster)
