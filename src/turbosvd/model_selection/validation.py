"""``cross_validate``, ``fit_and_score`` and the summary table, as in Surprise."""

from __future__ import annotations

import copy
import time

import numpy as np

from .. import accuracy
from .._parallel import run_tasks
from .split import get_cv

__all__ = ["cross_validate", "fit_and_score", "print_summary"]


def cross_validate(
    algo,
    data,
    measures=["rmse", "mae"],  # noqa: B006 - Surprise's signature
    cv=None,
    return_train_measures=False,
    n_jobs=1,
    pre_dispatch="2*n_jobs",
    verbose=False,
    *,
    fit_params=None,
    return_estimator=False,
):
    """Run a cross-validation and return the measures and times of every fold.

    With ``n_jobs=1`` the folds run one after the other on ``algo`` itself (which ends up
    fitted on the last fold); otherwise each fold gets a copy of ``algo`` and folds run on
    threads, each with a share of the CPUs for the compiled kernels.

    Parameters
    ----------
    algo, data, measures, cv, return_train_measures, n_jobs, pre_dispatch, verbose
        As in Surprise.
    fit_params : dict or callable, optional
        Keyword arguments of every fold's ``algo.fit(trainset, **fit_params)``, or a
        function ``(trainset, testset) -> dict`` of them (e.g. ``{"eval_set": testset}``
        for a learning curve on each fold's test set). Not in Surprise.
    return_estimator : bool, default False
        Also return the model fitted on each fold (each fold then fits its own copy of
        ``algo``), under ``"estimator"``, as scikit-learn does. Not in Surprise.

    Returns
    -------
    dict
        ``test_<measure>`` (and ``train_<measure>``) arrays of shape (n_folds,), then
        ``fit_time`` and ``test_time`` tuples (seconds), and ``estimator`` (a list) when
        asked for.
    """
    measures = [m.lower() for m in measures]
    for m in measures:
        _measure(m)
    if fit_params is not None and not (callable(fit_params) or isinstance(fit_params, dict)):
        raise TypeError(f"fit_params must be a dict or a callable, got {type(fit_params).__name__}")
    cv = get_cv(cv)
    tasks = (
        (algo, trainset, testset, measures, return_train_measures, fit_params, return_estimator)
        for (trainset, testset) in cv.split(data)
    )
    out = run_tasks(_fold, tasks, n_jobs=n_jobs, pre_dispatch=pre_dispatch)
    (test_measures_dicts, train_measures_dicts, fit_times, test_times, estimators) = zip(*out)

    test_measures = dict()
    train_measures = dict()
    ret = dict()
    for m in measures:
        test_measures[m] = np.asarray([d[m] for d in test_measures_dicts])
        ret["test_" + m] = test_measures[m]
        if return_train_measures:
            train_measures[m] = np.asarray([d[m] for d in train_measures_dicts])
            ret["train_" + m] = train_measures[m]
    ret["fit_time"] = fit_times
    ret["test_time"] = test_times
    if return_estimator:
        ret["estimator"] = list(estimators)
    if verbose:
        print_summary(
            algo, measures, test_measures, train_measures, fit_times, test_times, cv.n_splits
        )
    return ret


_MEASURES = ("rmse", "mse", "mae", "fcp")


def _measure(name):
    if name not in _MEASURES:
        raise ValueError(f"unknown measure {name!r}: accepted measures are {', '.join(_MEASURES)}")
    return getattr(accuracy, name)


def _fold(algo, trainset, testset, measures, return_train, fit_params, return_estimator):
    """One fold of ``cross_validate``: fit_and_score's tuple, then the model or None."""
    if return_estimator:
        algo = copy.deepcopy(algo)
    params = fit_params(trainset, testset) if callable(fit_params) else fit_params
    out = fit_and_score(algo, trainset, testset, measures, return_train, fit_params=params)
    return (*out, algo if return_estimator else None)


def fit_and_score(
    algo, trainset, testset, measures, return_train_measures=False, *, fit_params=None
):
    """Fit ``algo`` on ``trainset`` and score it on ``testset``.

    ``fit_params`` (a dict, not in Surprise) are passed on to ``algo.fit``.

    Returns
    -------
    (test_measures, train_measures, fit_time, test_time)
    """
    start_fit = time.time()
    algo.fit(trainset, **(fit_params or {}))
    fit_time = time.time() - start_fit
    start_test = time.time()
    predictions = algo.test(testset)
    test_time = time.time() - start_test
    if return_train_measures:
        train_predictions = algo.test(trainset.build_testset())
    test_measures = dict()
    train_measures = dict()
    for m in measures:
        f = _measure(m.lower())
        test_measures[m] = f(predictions, verbose=0)
        if return_train_measures:
            train_measures[m] = f(train_predictions, verbose=0)
    return test_measures, train_measures, fit_time, test_time


def print_summary(algo, measures, test_measures, train_measures, fit_times, test_times, n_splits):
    """Print the table of ``cross_validate(..., verbose=True)`` (Surprise's layout)."""
    print(
        "Evaluating {} of algorithm {} on {} split(s).".format(
            ", ".join(m.upper() for m in measures), algo.__class__.__name__, n_splits
        )
    )
    print()
    row_format = "{:<18}" + "{:<8}" * (n_splits + 2)

    def row(label, vals, fmt):
        cells = [f"{v:{fmt}}" for v in vals] + [f"{np.mean(vals):{fmt}}", f"{np.std(vals):{fmt}}"]
        return row_format.format(label, *cells)

    s = row_format.format("", *[f"Fold {i + 1}" for i in range(n_splits)] + ["Mean"] + ["Std"])
    s += "\n"
    s += "\n".join(
        row(key.upper() + " (testset)", vals, "1.4f") for key, vals in test_measures.items()
    )
    if train_measures:
        s += "\n"
        s += "\n".join(
            row(key.upper() + " (trainset)", vals, "1.4f") for key, vals in train_measures.items()
        )
    s += "\n"
    s += row("Fit time", fit_times, ".2f")
    s += "\n"
    s += row("Test time", test_times, ".2f")
    print(s)
