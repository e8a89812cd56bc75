"""``GridSearchCV`` and ``RandomizedSearchCV``, as in Surprise.

Every parameter combination is scored on the same folds: the splits are materialised
once, before any fit, exactly as Surprise's ``itertools.product`` does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from itertools import product

import numpy as np

from .._parallel import run_tasks
from ..dataset import DatasetUserFolds
from ..utils import get_rng
from .split import get_cv
from .validation import _measure, fit_and_score

__all__ = ["BaseSearchCV", "GridSearchCV", "RandomizedSearchCV"]


class BaseSearchCV(ABC):
    """Base class of the parameter searches."""

    @abstractmethod
    def __init__(
        self,
        algo_class,
        measures=["rmse", "mae"],  # noqa: B006 - Surprise's signature
        cv=None,
        refit=False,
        return_train_measures=False,
        n_jobs=1,
        pre_dispatch="2*n_jobs",
        joblib_verbose=0,
    ):
        self.algo_class = algo_class
        self.measures = [measure.lower() for measure in measures]
        self.cv = cv
        if isinstance(refit, str):
            if refit.lower() not in self.measures:
                raise ValueError(
                    f"It looks like the measure you want to use with refit ({refit}) is not "
                    "in the measures parameter"
                )
            self.refit = refit.lower()
        elif refit is True:
            self.refit = self.measures[0]
        else:
            self.refit = False
        self.return_train_measures = return_train_measures
        self.n_jobs = n_jobs
        self.pre_dispatch = pre_dispatch
        self.joblib_verbose = joblib_verbose

    def _parse_options(self, params):
        # Dict-valued sim_options / bsl_options of lists become lists of dicts.
        for key in ("sim_options", "bsl_options"):
            if key in params:
                options = params[key]
                params[key] = [dict(zip(options, v)) for v in product(*options.values())]
        return params

    def fit(self, data):
        """Score every parameter combination on every fold of ``cv``."""
        if self.refit and isinstance(data, DatasetUserFolds):
            raise ValueError(
                "refit cannot be used when data has been loaded with load_from_folds()."
            )
        if not isinstance(self.algo_class, type):
            raise TypeError(
                f"algo_class must be a class such as SVD, not an instance ({self.algo_class!r})"
            )
        for m in self.measures:
            _measure(m)
        cv = get_cv(self.cv)
        tasks = (
            (
                self.algo_class(**params),
                trainset,
                testset,
                self.measures,
                self.return_train_measures,
            )
            for params, (trainset, testset) in product(self.param_combinations, cv.split(data))
        )
        out = run_tasks(fit_and_score, tasks, n_jobs=self.n_jobs, pre_dispatch=self.pre_dispatch)
        (test_measures_dicts, train_measures_dicts, fit_times, test_times) = zip(*out)

        test_measures = dict()
        train_measures = dict()
        new_shape = (len(self.param_combinations), cv.get_n_folds())
        for m in self.measures:
            test_measures[m] = np.asarray([d[m] for d in test_measures_dicts]).reshape(new_shape)
            if self.return_train_measures:
                train_measures[m] = np.asarray([d[m] for d in train_measures_dicts]).reshape(
                    new_shape
                )

        cv_results = dict()
        best_index = dict()
        best_params = dict()
        best_score = dict()
        best_estimator = dict()
        for m in self.measures:
            for split in range(cv.get_n_folds()):
                cv_results[f"split{split}_test_{m}"] = test_measures[m][:, split]
                if self.return_train_measures:
                    cv_results[f"split{split}_train_{m}"] = train_measures[m][:, split]
            mean_test_measures = test_measures[m].mean(axis=1)
            cv_results[f"mean_test_{m}"] = mean_test_measures
            cv_results[f"std_test_{m}"] = test_measures[m].std(axis=1)
            if self.return_train_measures:
                cv_results[f"mean_train_{m}"] = train_measures[m].mean(axis=1)
                cv_results[f"std_train_{m}"] = train_measures[m].std(axis=1)

            indices = cv_results[f"mean_test_{m}"].argsort()
            cv_results[f"rank_test_{m}"] = np.empty_like(indices)
            if m in ("mae", "rmse", "mse"):
                cv_results[f"rank_test_{m}"][indices] = np.arange(len(indices)) + 1
                best_index[m] = mean_test_measures.argmin()
            elif m in ("fcp",):
                cv_results[f"rank_test_{m}"][indices] = np.arange(len(indices), 0, -1)
                best_index[m] = mean_test_measures.argmax()
            best_params[m] = self.param_combinations[best_index[m]]
            best_score[m] = mean_test_measures[best_index[m]]
            best_estimator[m] = self.algo_class(**best_params[m])

        fit_times = np.array(fit_times).reshape(new_shape)
        test_times = np.array(test_times).reshape(new_shape)
        for s, times in zip(("fit", "test"), (fit_times, test_times)):
            cv_results[f"mean_{s}_time"] = times.mean(axis=1)
            cv_results[f"std_{s}_time"] = times.std(axis=1)

        cv_results["params"] = self.param_combinations
        for param in self.param_combinations[0]:
            cv_results["param_" + param] = [comb[param] for comb in self.param_combinations]

        if self.refit:
            best_estimator[self.refit].fit(data.build_full_trainset())

        self.best_index = best_index
        self.best_params = best_params
        self.best_score = best_score
        self.best_estimator = best_estimator
        self.cv_results = cv_results

    def test(self, testset, verbose=False):
        """``test`` with the refitted best estimator (needs ``refit``)."""
        if not self.refit:
            raise ValueError("refit is False, cannot use test()")
        return self.best_estimator[self.refit].test(testset, verbose)

    def predict(self, *args):
        """``predict`` with the refitted best estimator (needs ``refit``)."""
        if not self.refit:
            raise ValueError("refit is False, cannot use predict()")
        return self.best_estimator[self.refit].predict(*args)


class GridSearchCV(BaseSearchCV):
    """Exhaustive search over a grid of parameters.

    Parameters
    ----------
    algo_class : class
        The algorithm class, e.g. ``SVD`` (not an instance).
    param_grid : dict
        Parameter name -> list of values.
    measures : list of str, default ['rmse', 'mae']
        Accuracy measures (names of ``turbosvd.accuracy`` functions, any case).
    cv : int, cross-validation iterator or None, default None
        Folds: None is ``KFold(n_splits=5)``, an int ``KFold(n_splits=cv)``, or any
        iterator with a ``split(data)`` method (``KFold``, ``ShuffleSplit``, ...).
    refit : bool or str, default False
        Refit the best parameters on the whole data set (``best_estimator[measure]``):
        True uses the first measure, a measure name that one. Needed by ``test`` and
        ``predict`` of the search object; the data set must not use predefined folds.
    return_train_measures : bool, default False
        Also compute the measures on the training folds (``cv_results``'s
        ``mean_train_*`` entries).
    n_jobs : int, default 1
        Folds evaluated at the same time, in threads (-1: all CPUs); each fold's training
        gets its share of the CPUs. Results do not depend on it.
    pre_dispatch : int or str, default '2*n_jobs'
        Folds queued ahead of the workers (an expression of ``n_jobs``, as joblib's).
    joblib_verbose : int, default 0
        Accepted for Surprise compatibility and ignored (no joblib).

    Attributes
    ----------
    best_score, best_params, best_index, best_estimator : dict
        Per measure (lower case): the best mean test score, its parameters, their index in
        ``cv_results`` and (with ``refit``) the refitted algorithm.
    cv_results : dict of numpy.ndarray
        Per combination: split and mean test (and train) measures, fit and test times,
        ranks and parameters, as in scikit-learn and Surprise.
    """

    def __init__(
        self,
        algo_class,
        param_grid,
        measures=["rmse", "mae"],  # noqa: B006 - Surprise's signature
        cv=None,
        refit=False,
        return_train_measures=False,
        n_jobs=1,
        pre_dispatch="2*n_jobs",
        joblib_verbose=0,
    ):
        super().__init__(
            algo_class=algo_class,
            measures=measures,
            cv=cv,
            refit=refit,
            return_train_measures=return_train_measures,
            n_jobs=n_jobs,
            pre_dispatch=pre_dispatch,
            joblib_verbose=joblib_verbose,
        )
        self.param_grid = self._parse_options(param_grid.copy())
        self.param_combinations = [
            dict(zip(self.param_grid, v)) for v in product(*self.param_grid.values())
        ]


class RandomizedSearchCV(BaseSearchCV):
    """Search over ``n_iter`` parameter combinations sampled from distributions or lists."""

    def __init__(
        self,
        algo_class,
        param_distributions,
        n_iter=10,
        measures=["rmse", "mae"],  # noqa: B006 - Surprise's signature
        cv=None,
        refit=False,
        return_train_measures=False,
        n_jobs=1,
        pre_dispatch="2*n_jobs",
        random_state=None,
        joblib_verbose=0,
    ):
        super().__init__(
            algo_class=algo_class,
            measures=measures,
            cv=cv,
            refit=refit,
            return_train_measures=return_train_measures,
            n_jobs=n_jobs,
            pre_dispatch=pre_dispatch,
            joblib_verbose=joblib_verbose,
        )
        self.n_iter = n_iter
        self.random_state = random_state
        self.param_distributions = self._parse_options(param_distributions.copy())
        self.param_combinations = self._sample_parameters(
            self.param_distributions, self.n_iter, self.random_state
        )

    @staticmethod
    def _sample_parameters(param_distributions, n_iter, random_state=None):
        # Surprise's draws: with only lists, global np.random.choice over the full grid
        # (random_state is not used); otherwise keys in sorted order from random_state.
        all_lists = np.all([not hasattr(v, "rvs") for v in param_distributions.values()])
        rnd = get_rng(random_state)
        items = sorted(param_distributions.items())
        if all_lists:
            param_grid = [
                dict(zip(param_distributions, v)) for v in product(*param_distributions.values())
            ]
            combos = np.random.choice(param_grid, n_iter, replace=False)
        else:
            combos = []
            for _ in range(n_iter):
                params = dict()
                for k, v in items:
                    if hasattr(v, "rvs"):
                        params[k] = v.rvs(random_state=rnd)
                    else:
                        params[k] = v[rnd.randint(len(v))]
                combos.append(params)
        return combos
