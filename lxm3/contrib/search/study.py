"""A hyperparameter study: trials as work units, at most `max_concurrent` at once.

`Study.run(experiment, job)` asks the algorithm for a trial's params, adds a
work unit running `job` with those params merged into its args, and as soon
as any trial ends (no waves) reads the metric the program reported through
`$LXM_METRICS_FILE`, tells the algorithm, and asks for the next one. It runs
wherever the experiment runs: in the launcher (which then waits, printing a
line per trial) or inside the parameter controller on the cluster.

Every step is recorded in the study's journal before and after it happens, so
a search that is interrupted and run again with the same experiment
(`lxm3 launch --resume EXP launcher.py`, or a requeued controller) re-attaches
to the trials still running, adopts a trial whose submission was not yet
recorded (matched by its args), and never submits a trial twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from lxm3 import xm
from lxm3.contrib.search import journal as journal_module
from lxm3.contrib.search.algorithms import ALGORITHMS, make_algorithm
from lxm3.contrib.search.journal import CANCELLED, COMPLETED, FAILED, PENDING, RUNNING, Journal, Trial
from lxm3.contrib.search.space import Dimension, contains, validate_space

log = logging.getLogger("lxm3.search")


class SearchError(RuntimeError):
    """The study cannot go on (too many failed trials, or a changed study on resume)."""


def _format_params(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


class Study:
    """A search over `space` for the `goal` of `metric`; see the module docstring."""

    def __init__(
        self,
        space: Mapping[str, Any],
        metric: str,
        goal: str = "minimize",
        algorithm: str = "tpe",
        max_trials: int = 20,
        max_concurrent: int = 4,
        seed: int | None = None,
        *,
        name: str = "study",
    ) -> None:
        self.space: dict[str, Dimension] = validate_space(space)
        if not isinstance(metric, str) or not metric:
            raise ValueError("metric must be the name of a reported metric, e.g. metric='loss'")
        if goal not in ("minimize", "maximize"):
            raise ValueError(f"goal must be 'minimize' or 'maximize', got {goal!r}")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown search algorithm {algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
        if not isinstance(max_trials, int) or max_trials < 1:
            raise ValueError(f"max_trials must be a positive integer, got {max_trials!r}")
        if not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise ValueError(f"max_concurrent must be a positive integer, got {max_concurrent!r}")
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"study name {name!r} must be a plain file name")
        self.metric = metric
        self.goal = goal
        self.algorithm = algorithm
        self.max_trials = max_trials
        self.max_concurrent = max_concurrent
        self.seed = seed
        self.name = name
        self.trials: list[Trial] = []
        #: Largest number of trials that were running at once (progress and tests read it).
        self.peak_running = 0

    # ----- results -----
    def _completed(self) -> list[Trial]:
        return [t for t in self.trials if t.state == COMPLETED and t.value is not None]

    @property
    def best_trial(self) -> Trial | None:
        """The completed trial with the best value (None before any completed)."""
        done = self._completed()
        if not done:
            return None
        pick = min if self.goal == "minimize" else max
        return pick(done, key=lambda t: t.value)  # type: ignore[arg-type, return-value]

    @property
    def best_params(self) -> dict[str, Any] | None:
        best = self.best_trial
        return None if best is None else dict(best.params)

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return None if best is None else best.value

    def _settings(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "goal": self.goal,
            "algorithm": self.algorithm,
            "seed": self.seed,
            "space": {name: repr(dim) for name, dim in self.space.items()},
        }

    # ----- running -----
    async def run(self, experiment: xm.Experiment, job: xm.JobType) -> Study:
        """Runs trials until `max_trials` are finished (or the algorithm runs out)."""
        journal = Journal(journal_module.journal_path(experiment, self.name))
        algorithm = make_algorithm(self.algorithm, self.space, self.goal, self.seed, self.max_trials)
        recorded, self.trials = journal.load()
        if recorded and {k: v for k, v in recorded.items() if k != "space"} != {
            k: v for k, v in self._settings().items() if k != "space"
        }:
            raise SearchError(
                f"study {self.name!r} of experiment {experiment.experiment_id} was recorded with "
                f"{recorded}; run it with the same metric/goal/algorithm/seed or give it another name="
            )
        for trial in self.trials:
            if not contains(self.space, trial.params):
                raise SearchError(
                    f"trial {trial.number} of study {self.name!r} has params {trial.params} outside "
                    "the current space; give the changed study another name="
                )
        running: dict[asyncio.Future[Any], Trial] = {}
        units = _recorded_units(experiment) if self.trials else {}
        for trial in self.trials:
            algorithm.restore(trial.number, trial.params, trial.value, trial.finished)
        # A unit belongs to one trial: adopted units are matched only among the unclaimed ones.
        unclaimed = dict(units)
        for trial in self.trials:
            unclaimed.pop(trial.work_unit_id or -1, None)
        for trial in self.trials:
            if trial.state == PENDING:
                unit = _adopt(unclaimed, trial)
                if unit is None:
                    continue  # submitted below, with its recorded params
                trial.work_unit_id, trial.state = unit.work_unit_id, RUNNING
                del unclaimed[unit.work_unit_id]
            if trial.state == RUNNING:
                unit = units.get(trial.work_unit_id or -1)
                if unit is None:
                    trial.state, trial.message = FAILED, "its work unit is not in the experiment"
                    algorithm.tell(trial.number, None)
                    continue
                log.info("trial %d: re-attached to work unit %s", trial.number, trial.work_unit_id)
                running[asyncio.ensure_future(self._outcome(unit))] = trial
        journal.save(self._settings(), self.trials)

        pending = [t for t in self.trials if t.state == PENDING]
        exhausted = False
        try:
            while True:
                while len(running) < self.max_concurrent and not exhausted:
                    asked = pending.pop(0) if pending else self._ask(algorithm)
                    if asked is None:
                        exhausted = True
                        break
                    trial = asked
                    journal.save(self._settings(), self.trials)  # params recorded before submitting
                    unit = await _add(experiment, job, trial.params)
                    trial.work_unit_id, trial.state = unit.work_unit_id, RUNNING  # type: ignore[attr-defined]
                    trial.submitted_at = time.time()
                    journal.save(self._settings(), self.trials)
                    running[asyncio.ensure_future(self._outcome(unit))] = trial
                    self.peak_running = max(self.peak_running, len(running))
                if not running:
                    break
                done, _ = await asyncio.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    trial = running.pop(future)
                    trial.state, trial.value, trial.message, trial.metrics = future.result()
                    trial.ended_at = time.time()
                    algorithm.tell(trial.number, trial.value)
                    self._report(trial, len(running))
                journal.save(self._settings(), self.trials)
                self._check_failures()
        finally:
            for future in running:
                future.cancel()
            journal.save(self._settings(), self.trials)
        return self

    def _ask(self, algorithm: Any) -> Trial | None:
        number = len(self.trials)
        if number >= self.max_trials:
            return None
        params = algorithm.ask(number)
        if params is None:
            return None
        trial = Trial(number, params)
        self.trials.append(trial)
        return trial

    async def _outcome(self, unit: Any) -> tuple[str, float | None, str, dict[str, float]]:
        """(state, value, message, last metrics) of a finished trial's work unit."""
        try:
            await unit.wait_until_complete()
        except xm.ExperimentUnitNotCompletedError as error:
            return CANCELLED, None, str(error), {}
        except xm.ExperimentUnitError as error:
            return FAILED, None, str(error).splitlines()[0], {}
        metrics = await asyncio.to_thread(_last_metrics, unit, self.metric)
        value = metrics.get(self.metric)
        if value is None:
            return FAILED, None, f"reported no numeric {self.metric!r} to $LXM_METRICS_FILE", metrics
        return COMPLETED, value, "", metrics

    def _report(self, trial: Trial, still_running: int) -> None:
        finished = sum(1 for t in self.trials if t.finished)
        best = self.best_trial
        outcome = f"{self.metric}={trial.value:.6g}" if trial.value is not None else trial.state.lower()
        best_text = (
            f"best {best.value:.6g} (trial {best.number})"
            if best and best.value is not None
            else "no best yet"
        )
        log.info(
            "trial %d (work unit %s) %s -> %s | %s | %d running, %d/%d finished",
            trial.number,
            trial.work_unit_id,
            _format_params(trial.params),
            outcome,
            best_text,
            still_running,
            finished,
            self.max_trials,
        )

    def _check_failures(self) -> None:
        failed = [t for t in self.trials if t.state == FAILED]
        if len(failed) * 2 > self.max_trials:
            raise SearchError(
                f"study {self.name!r} stopped: {len(failed)} of {self.max_trials} trials failed "
                f"(more than half); last: trial {failed[-1].number}: {failed[-1].message}"
            )


async def _add(experiment: xm.Experiment, job: xm.JobType, params: Mapping[str, Any]) -> Any:
    """Adds the trial's unit; an interrupt while it is submitted lets the submission finish.

    Cancelling a half-done launch could leave a job running that no record
    names; shielded, the unit is recorded and a resumed study adopts it.
    """

    async def add() -> Any:
        return await experiment.add(job, args={"args": dict(params)})

    return await asyncio.shield(asyncio.ensure_future(add()))


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _last_metrics(unit: Any, metric: str) -> dict[str, float]:
    """The last numeric metrics of the unit's first task that reported `metric` (else of its first task)."""
    metrics = unit.metrics()
    per_task: Sequence[Any] = (
        [metrics[key] for key in sorted(metrics)] if isinstance(metrics, Mapping) else list(metrics)
    )
    found: list[dict[str, float]] = []
    for task_metrics in per_task:
        if isinstance(task_metrics, Mapping) and isinstance(task_metrics.get("metrics"), Mapping):
            task_metrics = task_metrics["metrics"]
        if isinstance(task_metrics, Mapping):
            found.append({str(k): float(v) for k, v in task_metrics.items() if _numeric(v)})
    for candidate in found:
        if metric in candidate:
            return candidate
    return found[0] if found else {}


def _recorded_units(experiment: xm.Experiment) -> dict[int, Any]:
    """Work units of the experiment, including ones an earlier run of the launcher added."""
    units = _as_mapping(experiment.work_units)
    try:
        from lxm3.xm_cluster import get_experiment

        reloaded = get_experiment(experiment.experiment_id, store=getattr(experiment, "store", None))
    except (ImportError, xm.NotFoundError):
        return dict(units)
    return {**_as_mapping(reloaded.work_units), **units}


def _as_mapping(work_units: Any) -> Mapping[int, Any]:
    # `work_units` is a property in XManager; tolerate the older method form too.
    return work_units() if callable(work_units) else work_units


def _adopt(units: Mapping[int, Any], trial: Trial) -> Any:
    """The unit an earlier run submitted for `trial` without recording it (matched by args).

    A unit whose launch was interrupted before any job was submitted has no
    jobs: it ran nothing, so the trial is submitted again instead.
    """
    wanted = {"args": trial.params}
    for unit in units.values():
        if dict(unit.args or {}) == wanted and getattr(unit, "jobs", None) != []:
            return unit
    return None
