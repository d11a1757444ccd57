"""One render request for the scheduler tests (golden files, script runs): a job of experiment 7."""

from __future__ import annotations

from lxm3.schedulers.base import ArrayChunk, RenderRequest


def render_request(
    executor: object,
    *,
    chunk: ArrayChunk = ArrayChunk(0, 1),
    num_tasks: int = 1,
    label: str = "7_1_train",
    **overrides: object,
) -> RenderRequest:
    values: dict[str, object] = dict(
        job_name="train",
        label=label,
        executor=executor,
        chunk=chunk,
        num_tasks=num_tasks,
        job_dir="/scratch/me/lxm3/experiments/7/1/train",
        log_dir="/scratch/me/lxm3/experiments/7/1/train/logs",
        runner_path="/scratch/me/lxm3/runtime/task_runner-0123456789ab.py",
        spec_path="/scratch/me/lxm3/experiments/7/1/train/job.json",
    )
    values.update(overrides)
    return RenderRequest(**values)  # type: ignore[arg-type]
