"""The dependency algebra: `&`, `|`, flattening and the errors of what cannot be expressed."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from lxm3 import xm
from lxm3.xm.dependencies import After, AllOf, AnyOf, Condition, DependencyError, describe, flatten


@attrs.frozen(eq=False)
class Unit:
    """Just what a condition reads of a unit."""

    work_unit_id: int
    experiment_id: int = 7

    # The methods under test live on xm.ExperimentUnit; borrow them.
    after_succeeded = xm.ExperimentUnit.after_succeeded
    after_finished = xm.ExperimentUnit.after_finished
    after_failed = xm.ExperimentUnit.after_failed
    after_started = xm.ExperimentUnit.after_started


def units(n: int) -> list[Any]:
    return [Unit(i + 1) for i in range(n)]


def test_each_condition_names_its_unit_and_state() -> None:
    [a] = units(1)
    assert flatten(a.after_succeeded()).conditions[0].condition is Condition.SUCCEEDED
    assert flatten(a.after_finished()).conditions[0].condition is Condition.FINISHED
    assert flatten(a.after_failed()).conditions[0].condition is Condition.FAILED
    assert flatten(a.after_started()).conditions[0].condition is Condition.STARTED
    assert flatten(a.after_succeeded(per_task=True)).conditions[0].per_task


def test_and_chains_flatten_to_one_all_of() -> None:
    a, b, c = units(3)
    flat = flatten(a.after_succeeded() & (b.after_succeeded() & c.after_failed()))
    assert flat.mode == "all"
    assert [(x.work_unit_id, x.condition.value) for x in flat.conditions] == [
        (1, "succeeded"),
        (2, "succeeded"),
        (3, "failed"),
    ]
    assert flat.describe(7) == "work unit 1 succeeded and work unit 2 succeeded and work unit 3 failed"


def test_or_flattens_to_any_of_and_duplicates_go() -> None:
    a, b = units(2)
    flat = flatten(a.after_failed() | b.after_failed() | a.after_failed())
    assert flat.mode == "any" and len(flat.conditions) == 2


def test_mixing_and_with_or_is_refused_not_reinterpreted() -> None:
    a, b, c = units(3)
    with pytest.raises(DependencyError, match=r"cannot mix `&` and `\|`"):
        flatten((a.after_succeeded() & b.after_succeeded()) | c.after_succeeded())


def test_combining_with_something_else_is_a_type_error() -> None:
    [a] = units(1)
    with pytest.raises(TypeError, match="combines dependencies"):
        a.after_succeeded() & "unit 2"  # type: ignore[operator]


def test_describe_shows_the_expression() -> None:
    a, b = units(2)
    assert describe(AnyOf((a.after_succeeded(), AllOf((b.after_finished(),))))) == (
        "(work unit 1 succeeded | (work unit 2 finished))"
    )
    assert (
        After(Unit(3, experiment_id=9), Condition.SUCCEEDED).describe(7)
        == "work unit 3 of experiment 9 succeeded"
    )
