"""Printing what `lxm3 launch --dry-run` would do (produced by `lxm3.xm_cluster.dry_run`)."""

from __future__ import annotations

import sys

from lxm3.xm_cluster.dry_run import describe_dry_run
from lxm3.xm_cluster.staging import StagedJob
from lxm3.xm_cluster.targets import Target


def print_dry_run(staged: StagedJob, target: Target) -> None:
    """Prints a staged job's scripts and the deploy/submit commands, submitting nothing."""
    sys.stdout.write(describe_dry_run(staged, target))  # masked by describe_dry_run
    sys.stdout.flush()
