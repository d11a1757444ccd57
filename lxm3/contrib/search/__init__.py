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

from lxm3.contrib.search.journal import Trial
from lxm3.contrib.search.space import Categorical, Float, Int
from lxm3.contrib.search.study import SearchError, Study

__all__ = ["Categorical", "Float", "Int", "SearchError", "Study", "Trial"]
