"""A client of one configured cluster's scheduler, for interactive use (`lxm3 shell`).

    client = ClusterClient.connect()            # $LXM_CLUSTER, else the first [[clusters]] entry
    client.queue()                              # your jobs, as the scheduler lists them
    client.run(["sinfo"])                       # any command on the cluster (argv, no shell)
    client.cancel(["123"])

It holds ONE transport (an SSH connection when the cluster has a server),
the same one a launch would use, so what works here works in a launch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lxm3.config import ClusterConfig, Config, ConfigError, load_config
from lxm3.schedulers.base import Scheduler
from lxm3.transport.base import Transport
from lxm3.xm_cluster.cluster_target import make_transport

#: Scheduler kind -> (command that exists only there, listing of the user's own jobs).
_KINDS = {
    "slurm": ("sbatch", ["squeue", "--me"]),
    "sge": ("qsub", ["qstat"]),
}


def _scheduler(kind: str, cluster: ClusterConfig) -> Scheduler:
    if kind == "slurm":
        from lxm3.schedulers.slurm import SlurmScheduler

        return SlurmScheduler(cluster_name=cluster.name)
    from lxm3.schedulers.sge import GridEngineScheduler

    return GridEngineScheduler()


class ClusterClient:
    """The configured cluster's scheduler, reached through one transport."""

    def __init__(self, cluster: ClusterConfig, kind: str, transport: Transport) -> None:
        self.cluster = cluster
        self.kind = kind
        self.transport = transport
        self.scheduler = _scheduler(kind, cluster)

    @classmethod
    def connect(
        cls, name: str | None = None, config: Config | None = None, kind: str | None = None
    ) -> ClusterClient:
        """Opens the named (else default) cluster; the scheduler kind is asked of the cluster when not set."""
        config = config or load_config()
        cluster = config.cluster(name)
        transport = make_transport(cluster)
        kind = kind or cluster.scheduler or _detect(transport, cluster.name)
        if kind not in _KINDS:
            raise ConfigError(
                f"cluster {cluster.name}: unknown scheduler {kind!r}; valid: {', '.join(_KINDS)}"
            )
        return cls(cluster, kind, transport)

    def run(self, argv: Sequence[str]) -> str:
        """Runs a command on the cluster (argv, quoted) and returns its stdout; raises on failure."""
        return str(self.transport.run(list(argv)).stdout)

    def queue(self) -> str:
        """Your jobs, as the scheduler lists them (`squeue --me` / `qstat`)."""
        return self.run(_KINDS[self.kind][1])

    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancels scheduler jobs by id."""
        self.scheduler.cancel(self.transport, [str(job) for job in job_ids])

    def close(self) -> None:
        self.transport.close()

    def __repr__(self) -> str:
        return f"ClusterClient({self.cluster.name!r}, scheduler={self.kind!r})"

    def __enter__(self) -> ClusterClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _detect(transport: Transport, name: str) -> str:
    """Which scheduler the cluster runs, from the commands it has (one remote command)."""
    probe = "; ".join(
        f"command -v {command} >/dev/null 2>&1 && echo {kind}" for kind, (command, _) in _KINDS.items()
    )
    found = str(transport.run(["bash", "-c", probe + "; true"]).stdout).split()
    if not found:
        raise ConfigError(
            f'cluster {name}: found neither sbatch nor qsub there; set scheduler = "slurm" or "sge" in its [[clusters]] entry'
        )
    return found[0]
