"""Search algorithms: which parameters the next trial gets.

Every algorithm answers `ask(number)` with the params of trial `number` (or
None when it has no more points) and learns from `tell(number, value)`.
Grid and random are pure functions of the trial number (random seeds one
generator per trial from the study seed), so a resumed study asks for exactly
the points it would have asked for. TPE is Optuna's (an optional extra:
`pip install 'lxm3[search]'`); a resumed study replays its finished trials into
a fresh Optuna study before asking for more.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Protocol

from lxm3.contrib.search.space import Categorical, Dimension, Float, Int, grid_points

ALGORITHMS = ("grid", "random", "tpe")


class Algorithm(Protocol):
    """What a study asks of a search algorithm."""

    def ask(self, number: int) -> dict[str, Any] | None:
        """Params for trial `number`, or None when the algorithm has no more points."""

    def tell(self, number: int, value: float | None) -> None:
        """Trial `number` ended with `value` (None: it failed)."""

    def restore(self, number: int, params: Mapping[str, Any], value: float | None, finished: bool) -> None:
        """Replays a trial recorded by an earlier run of the same study."""


class GridSearch:
    """Every point of the grid once, in order."""

    def __init__(self, space: Mapping[str, Dimension]) -> None:
        self._points = grid_points(space)

    def __len__(self) -> int:
        return len(self._points)

    def ask(self, number: int) -> dict[str, Any] | None:
        return dict(self._points[number]) if number < len(self._points) else None

    def tell(self, number: int, value: float | None) -> None:
        """A grid does not learn."""

    def restore(self, number: int, params: Mapping[str, Any], value: float | None, finished: bool) -> None:
        """A grid point depends only on the trial number."""


class RandomSearch:
    """Independent uniform samples; trial n's params depend only on (seed, n)."""

    def __init__(self, space: Mapping[str, Dimension], seed: int | None) -> None:
        self._space = dict(space)
        self._seed = random.randrange(2**32) if seed is None else seed

    def ask(self, number: int) -> dict[str, Any] | None:
        rng = random.Random(f"{self._seed}/{number}")
        return {name: dimension.sample(rng) for name, dimension in self._space.items()}

    def tell(self, number: int, value: float | None) -> None:
        """Random search does not learn."""

    def restore(self, number: int, params: Mapping[str, Any], value: float | None, finished: bool) -> None:
        """Random params depend only on the seed and the trial number."""


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ImportError(
            "algorithm='tpe' needs Optuna: install it with `pip install 'lxm3[search]'` "
            "(or use algorithm='random')"
        ) from None
    return optuna


class TPESearch:
    """Optuna's Tree-structured Parzen Estimator, asked and told trial by trial.

    With several trials running at once, `constant_liar` makes TPE treat the
    running ones as bad results so that it does not propose the same region
    `max_concurrent` times.
    """

    def __init__(self, space: Mapping[str, Dimension], goal: str, seed: int | None, max_trials: int) -> None:
        optuna = _optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._distributions = {name: self._distribution(dim) for name, dim in space.items()}
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=max(2, min(10, max_trials // 3)), constant_liar=True
        )
        self._study = optuna.create_study(direction=goal, sampler=sampler)
        self._trials: dict[int, Any] = {}

    def _distribution(self, dimension: Dimension) -> Any:
        distributions = self._optuna.distributions
        if isinstance(dimension, Float):
            return distributions.FloatDistribution(
                dimension.low, dimension.high, log=dimension.log, step=dimension.step
            )
        if isinstance(dimension, Int):
            return distributions.IntDistribution(
                dimension.low, dimension.high, log=dimension.log, step=dimension.step
            )
        assert isinstance(dimension, Categorical)
        return distributions.CategoricalDistribution(list(dimension.choices))

    def ask(self, number: int) -> dict[str, Any] | None:
        trial = self._study.ask(self._distributions)
        self._trials[number] = trial
        return dict(trial.params)

    def tell(self, number: int, value: float | None) -> None:
        trial = self._trials.pop(number, None)
        if trial is None:
            return
        if value is None:
            self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        else:
            self._study.tell(trial, value)

    def restore(self, number: int, params: Mapping[str, Any], value: float | None, finished: bool) -> None:
        if not finished:
            # Still running: asked again with its own params so TPE counts it as running.
            self._study.enqueue_trial(dict(params), skip_if_exists=False)
            self._trials[number] = self._study.ask(self._distributions)
            return
        state = self._optuna.trial.TrialState
        self._study.add_trial(
            self._optuna.trial.create_trial(
                params=dict(params),
                distributions=self._distributions,
                value=value,
                state=state.COMPLETE if value is not None else state.FAIL,
            )
        )


def make_algorithm(
    name: str, space: Mapping[str, Dimension], goal: str, seed: int | None, max_trials: int
) -> Algorithm:
    """The algorithm called `name` for this space."""
    if name == "grid":
        return GridSearch(space)
    if name == "random":
        return RandomSearch(space, seed)
    if name == "tpe":
        return TPESearch(space, goal, seed, max_trials)
    raise ValueError(f"unknown search algorithm {name!r}: choose one of {', '.join(ALGORITHMS)}")
