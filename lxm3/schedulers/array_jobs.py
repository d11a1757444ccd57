"""A sweep as scheduler jobs: the chunks it is cut into and the jobs that run them.

Split from `base.py`: these values are what submission returns, what the
watcher polls and what the store records, with no rendering or scheduler
dialect in them. A sweep larger than the cluster's array limit becomes
several `ArrayChunk`s, each submitted as one scheduler job (`SubmittedJob`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

import attrs

from lxm3.runtime.job_paths import JobPaths


@attrs.frozen
class ArrayChunk:
    """A contiguous slice of a sweep submitted as one scheduler job/array.

    Global task ids `offset .. offset + count - 1`; the scheduler sees array
    indices starting at its own base (0 on Slurm, 1 on Grid Engine), and the
    job script adds `offset` back, so a sweep larger than the cluster's
    maximum array size still gives every task its own args.
    """

    offset: int
    count: int
    #: Sweep tasks run one after another by each array task (see `lxm3.schedulers.packing`).
    pack: int = 1

    @property
    def task_ids(self) -> range:
        return range(self.offset, self.offset + self.count)

    @property
    def array_size(self) -> int:
        """How many array tasks the scheduler sees: `count` unpacked, ceil(count / pack) packed."""
        return -(-self.count // self.pack)

    def positions(self, element: int) -> range:
        """The positions (0-based, within the chunk) that array task `element` runs."""
        return range(element * self.pack, min((element + 1) * self.pack, self.count))


def split_into_chunks(num_tasks: int, max_array_size: int, pack: int = 1) -> list[ArrayChunk]:
    """Cuts `num_tasks` into arrays of at most `max_array_size` array tasks of `pack` tasks each."""
    if max_array_size < 1:
        raise ValueError(f"max_array_size must be >= 1, got {max_array_size}")
    if pack < 1:
        raise ValueError(f"pack must be >= 1, got {pack}")
    per_chunk = max_array_size * pack
    return [
        ArrayChunk(offset, min(per_chunk, num_tasks - offset), pack)
        for offset in range(0, num_tasks, per_chunk)
    ]


@attrs.frozen
class SubmittedJob:
    """One scheduler job (usually an array) that runs a chunk of a sweep."""

    job_id: str
    chunk: ArrayChunk
    script_path: str

    def to_record(self) -> dict[str, Any]:
        """The JSON form the experiment store keeps (see `from_record`)."""
        record: dict[str, Any] = {
            "job_id": self.job_id,
            "offset": self.chunk.offset,
            "count": self.chunk.count,
            "script": self.script_path,
        }
        if self.chunk.pack > 1:
            record["pack"] = self.chunk.pack
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SubmittedJob:
        return cls(
            str(record["job_id"]),
            ArrayChunk(int(record.get("offset", 0)), int(record.get("count", 1)), int(record.get("pack", 1))),
            record.get("script") or "",
        )


def parse_index_ranges(text: str) -> list[int]:
    """Array index ranges as schedulers print them, `1`, `3-10:1`, `4,5,7-10:2`, `0-9%2` -> indices."""
    text = text.split("%", 1)[0]
    indices: list[int] = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        step = 1
        if ":" in part:
            part, step_text = part.split(":", 1)
            step = max(1, int(step_text))
        first, _, last = part.partition("-")
        indices.extend(range(int(first), int(last or first) + 1, step))
    return indices


def job_log_dir(job: SubmittedJob) -> str:
    """The log dir of a submitted job (its script sits in the job dir)."""
    return JobPaths(posixpath.dirname(job.script_path)).log_dir
