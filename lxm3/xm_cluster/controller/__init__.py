"""The parameter controller: a launch coroutine that runs as an auxiliary unit ON the cluster.

    bundle.py    lxm3 + its pure-Python deps as ONE content-addressed zip (sent once per version)
    boot.py      stdlib bootstrap run by the cluster's python3: version check, unpack the bundle
    launch.py    workstation side: package the launcher, record the digest manifest, submit the unit
    runtime.py   controller side: re-run the launcher, replay the journal, add units with local commands
    journal.py   the journal the controller keeps in the experiment's dir (what it added, how it ended)
    sync.py      workstation side: import the journal into the store (riding on the status query)
    stop.py      workstation side: stop a controller before cancelling its units

The public API is `lxm3.contrib.parameter_controller`. See docs/controller.md.
"""

from __future__ import annotations

#: Set in the controller process only (not its environment, which its units inherit):
#: "spec" is the path of its spec (JSON) — "we are the controller" — and "cluster" the
#: cluster it runs on, reached with local commands.
_ACTIVE: dict[str, str] = {}


def activate(spec_path: str, cluster: str | None) -> None:
    """Makes this process a controller (`runtime.main`)."""
    _ACTIVE.update(spec=spec_path, cluster=cluster or "")


def active_spec_path() -> str | None:
    """The running controller's spec, or None outside a controller."""
    return _ACTIVE.get("spec")


def active_cluster() -> str | None:
    """The cluster this controller runs on (None outside a controller, "" on Local)."""
    return _ACTIVE.get("cluster")


from lxm3.store.controller_rows import ARGS_KEY, AUX_BASE  # noqa: E402 - re-exported

__all__ = ["ARGS_KEY", "AUX_BASE", "activate", "active_cluster", "active_spec_path"]
