"""The search space: what a trial's parameters may be.

Three kinds of dimension cover what ML sweeps need (XT and Optuna use the
same three): a float range (optionally log-scaled or stepped), an integer
range, and a list of choices. Each validates itself when built, so a bad space
fails at the line that wrote it, not after the first trial has been submitted.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any, Union

import attrs


def _check_range(kind: str, low: float, high: float, log: bool, step: float | None) -> None:
    if not low < high:
        raise ValueError(f"{kind}({low!r}, {high!r}): low must be smaller than high")
    if log and low <= 0:
        raise ValueError(f"{kind}({low!r}, {high!r}, log=True): a log scale needs low > 0")
    if log and step is not None:
        raise ValueError(f"{kind}: choose log=True or a step, not both")
    if step is not None and step <= 0:
        raise ValueError(f"{kind}: step must be positive, got {step!r}")


@attrs.frozen
class Float:
    """A float in [low, high]; `log=True` samples its logarithm uniformly."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __attrs_post_init__(self) -> None:
        _check_range("Float", self.low, self.high, self.log, self.step)

    def sample(self, rng: random.Random) -> float:
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        if self.step is not None:
            return self.low + self.step * rng.randint(0, int((self.high - self.low) // self.step))
        return rng.uniform(self.low, self.high)

    def grid(self) -> list[float]:
        if self.step is None:
            raise ValueError(
                f"grid search needs a step for Float({self.low!r}, {self.high!r}): "
                "write Float(low, high, step=...) or use Categorical([...])"
            )
        count = int(round((self.high - self.low) / self.step, 9)) + 1
        return [self.low + i * self.step for i in range(count)]


@attrs.frozen
class Int:
    """An integer in [low, high] (both included)."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __attrs_post_init__(self) -> None:
        if not (isinstance(self.low, int) and isinstance(self.high, int)):
            raise ValueError(f"Int({self.low!r}, {self.high!r}): bounds must be integers")
        _check_range("Int", self.low, self.high, self.log, None if self.step == 1 else self.step)

    def sample(self, rng: random.Random) -> int:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return min(self.high, math.floor(value))
        return rng.randrange(self.low, self.high + 1, self.step)

    def grid(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))


@attrs.frozen
class Categorical:
    """One of a list of choices (strings, numbers, booleans or None)."""

    choices: tuple[Any, ...] = attrs.field(converter=lambda c: (c,) if isinstance(c, str) else tuple(c))

    def __attrs_post_init__(self) -> None:
        if not self.choices or (len(self.choices) == 1 and isinstance(self.choices[0], str)):
            raise ValueError("Categorical needs a non-empty list of choices")
        for choice in self.choices:
            if not isinstance(choice, (str, int, float, bool, type(None))):
                raise ValueError(f"Categorical choices must be str, int, float, bool or None, got {choice!r}")

    def sample(self, rng: random.Random) -> Any:
        return self.choices[rng.randrange(len(self.choices))]

    def grid(self) -> list[Any]:
        return list(self.choices)


Dimension = Union[Float, Int, Categorical]


def validate_space(space: Mapping[str, Any]) -> dict[str, Dimension]:
    """The space as a plain dict, or a ValueError naming the bad entry."""
    if not isinstance(space, Mapping) or not space:
        raise ValueError("space must be a non-empty dict of name -> search.Float/Int/Categorical")
    checked: dict[str, Dimension] = {}
    for name, dimension in space.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"space names must be non-empty strings, got {name!r}")
        if isinstance(dimension, (list, tuple)):
            dimension = Categorical(dimension)
        if not isinstance(dimension, (Float, Int, Categorical)):
            raise ValueError(
                f"space[{name!r}] must be search.Float, search.Int or search.Categorical, got {dimension!r}"
            )
        checked[name] = dimension
    return checked


def contains(space: Mapping[str, Dimension], params: Mapping[str, Any]) -> bool:
    """Whether recorded params still fit the space (a resumed study may have changed it)."""
    if set(params) != set(space):
        return False
    for name, dimension in space.items():
        value = params[name]
        if isinstance(dimension, Categorical):
            if value not in dimension.choices:
                return False
        elif not (isinstance(value, (int, float)) and dimension.low <= value <= dimension.high):
            return False
    return True


def grid_points(space: Mapping[str, Dimension]) -> Sequence[dict[str, Any]]:
    """Every point of the grid, in a fixed order (the first dimension varies slowest)."""
    points: list[dict[str, Any]] = [{}]
    for name, dimension in space.items():
        points = [{**point, name: value} for point in points for value in dimension.grid()]
    return points
