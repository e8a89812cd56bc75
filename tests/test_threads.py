"""Thread policy and thread safety of a fitted model."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from turbosvd import SVD, Dataset, Reader
from turbosvd._threads import cpu_count, effective_n_threads, thread_budget


def test_effective_n_threads_policy():
    assert effective_n_threads(3) == 3
    assert effective_n_threads(-1) == cpu_count()
    assert effective_n_threads(-(cpu_count() + 5)) == 1
    assert 1 <= effective_n_threads(None) <= cpu_count()
    with pytest.raises(ValueError, match="n_jobs=0 is not valid"):
        effective_n_threads(0)
    with pytest.raises(TypeError, match="num_threads must be an int or None, got 2.0"):
        effective_n_threads(2.0, "num_threads")
    with thread_budget(1):
        assert effective_n_threads(8) == 1


def test_omp_num_threads_is_honoured():
    code = "from turbosvd._threads import effective_n_threads as f; print(f(None))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "1", out.stderr


def test_fitted_model_serves_many_threads(small_df):
    data = Dataset.load_from_df(small_df, Reader())
    trainset = data.build_full_trainset()
    algo = SVD(n_factors=6, n_epochs=3, random_state=0, schedule="exact").fit(trainset)
    queries = trainset.build_testset() + trainset.build_anti_testset()[:500]
    serial_test = algo.test(queries)
    serial_predict = [algo.predict(u, i) for (u, i, _) in queries[:200]]

    users = [trainset.to_raw_uid(u) for u in range(0, trainset.n_users, 7)]
    items = [trainset.to_raw_iid(i) for i in range(0, trainset.n_items, 5)]
    serial = {
        0: serial_predict,
        1: serial_test,
        2: [algo.recommend(u, n=5) for u in users],
        3: [algo.similar_items(i, k=4) for i in items],
        4: algo.recommend_all(n=3),
        5: [algo.similar_users(u, k=3) for u in users],
    }

    def work(k):
        kind = k % 6
        if kind == 0:
            return [algo.predict(u, i) for (u, i, _) in queries[:200]]
        if kind == 1:
            return algo.test(queries)
        if kind == 2:
            return [algo.recommend(u, n=5) for u in users]
        if kind == 3:
            return [algo.similar_items(i, k=4) for i in items]
        if kind == 4:
            return algo.recommend_all(n=3)
        return [algo.similar_users(u, k=3) for u in users]

    fresh = SVD(n_factors=6, n_epochs=3, random_state=0, schedule="exact")
    fresh.fit(data.build_full_trainset())
    algo = fresh  # lazily built state (id maps, seen items) is built under contention
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(24)))
    for k, res in enumerate(results):
        if k % 6 == 4:
            assert res.equals(serial[4])
        else:
            assert res == serial[k % 6]
