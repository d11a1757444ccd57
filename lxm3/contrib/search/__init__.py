"""Hyperparameter search beyond grids: random and Bayesian (TPE) trials as work units.

    from lxm3.contrib import search

    study = search.Study(
        space={"lr": search.Float(1e-5, 1e-1, log=True), "layers": search.Int(1, 8),
               "opt": search.Categorical(["adam", "sgd"])},
        metric="loss", goal="minimize", algorithm="tpe",
        max_trials=50, max_concurrent=8, seed=0,
    )
    await study.run(experiment, job)
    study.best_params, study.best_value, study.trials

See docs/search.md.
"""

from typing import TYPE_CHECKING, Any

from lxm3.lazy import LazyNames

if TYPE_CHECKING:
    from lxm3.contrib.search.journal import Trial
    from lxm3.contrib.search.space import Categorical, Float, Int
    from lxm3.contrib.search.study import SearchError, Study

# Imported on first use (PEP 562): `lxm3 status` reads study journals (`journal`) and must
# not pay for the search spaces and the study driver.
_LAZY = LazyNames(
    __name__,
    {
        "Trial": "lxm3.contrib.search.journal",
        "Categorical": "lxm3.contrib.search.space",
        "Float": "lxm3.contrib.search.space",
        "Int": "lxm3.contrib.search.space",
        "SearchError": "lxm3.contrib.search.study",
        "Study": "lxm3.contrib.search.study",
    },
)


def __getattr__(name: str) -> Any:
    return _LAZY.get(name)


def __dir__() -> list[str]:
    return _LAZY.names()


__all__ = ["Categorical", "Float", "Int", "SearchError", "Study", "Trial"]
