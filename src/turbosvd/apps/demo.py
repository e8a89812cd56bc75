"""``turbosvd demo``: the talk on MovieLens 100k, end to end, in a few seconds.

Loads the data with ``Dataset.load_builtin('ml-100k')`` (downloading it when absent),
trains SVD with its default parameters on 75% of the ratings, and shows: training time and
test accuracy, next to Surprise's on the same split when scikit-surprise is installed
(``pip install ".[demo]"`` installs it; without it the demo says it shows turbosvd alone),
how one rating is predicted (global mean + biases + dot product), the movies most like
"Star Wars (1977)" and "Pulp Fiction (1994)" by the cosine of their vectors among movies
with at least ``MIN_SUPPORT`` ratings, beside their nearest neighbours by item-based k-NN
(``KNNBaseline``'s pearson_baseline similarity: shrunk correlations of the baseline
residuals over the users who rated both), and one user's top-10 (estimates shown clipped to
the rating scale, as ``predict`` shows them).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from urllib.error import URLError

from .. import SVD, Dataset, KNNBaseline, accuracy
from ..builtin_datasets import BUILTIN_DATASETS, _data_folder
from ..model_selection import train_test_split

__all__ = ["DemoDataError", "load_titles", "run"]

SEED = 0
QUERIES = ("Star Wars (1977)", "Pulp Fiction (1994)")
# The item-based k-NN beside SVD's vectors: Surprise's recommended similarity for it.
KNN_SIM = {"name": "pearson_baseline", "user_based": False, "shrinkage": 100}
TITLE_WIDTH = 38
USER = "196"  # the first user of u.data
# Movies rated fewer times have factors that barely moved from their random start, and
# dominate cosine lists by chance (a film with one rating next to Star Wars).
MIN_SUPPORT = 20


class DemoDataError(RuntimeError):
    """MovieLens 100k is neither on disk nor downloadable."""


def _load_data():
    path = BUILTIN_DATASETS["ml-100k"].path
    if not os.path.isfile(path):
        print(f"MovieLens 100k is not in {_data_folder()}: downloading it (4.9 MB)...")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        return Dataset.load_builtin("ml-100k", prompt=False), path
    except (URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise DemoDataError(
            f"MovieLens 100k is not in {_data_folder()} and could not be downloaded ({reason}).\n"
            "Point turbosvd at a local copy: put the ml-100k folder of "
            "https://files.grouplens.org/datasets/movielens/ml-100k.zip under a folder DIR "
            "(so that DIR/ml-100k/ml-100k/u.data exists) and run\n"
            "    TURBOSVD_DATA_FOLDER=DIR turbosvd demo\n"
            "(SURPRISE_DATA_FOLDER works too, and a folder Surprise already downloaded to is "
            "found by default)."
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def load_titles(u_data_path: str) -> dict[str, str]:
    """Movie id -> title, from the ``u.item`` next to ``u.data`` (Latin-1)."""
    path = os.path.join(os.path.dirname(u_data_path), "u.item")
    titles = {}
    with open(path, encoding="latin-1") as f:
        for line in f:
            fields = line.split("|")
            if len(fields) > 1:
                titles[fields[0]] = fields[1]
    return titles


def _surprise_run(path):
    """Surprise's SVD on the same split (same seed), or None when it is not installed."""
    try:
        import surprise
        from surprise.model_selection import train_test_split as s_split
    except ImportError:
        return None
    # The same file as ours (Surprise resolves its data folder differently).
    data = surprise.Dataset.load_from_file(path, surprise.Reader("ml-100k"))
    trainset, testset = s_split(data, test_size=0.25, random_state=SEED)
    start = time.perf_counter()
    algo = surprise.SVD(random_state=SEED).fit(trainset)
    seconds = time.perf_counter() - start
    predictions = algo.test(testset)
    return (
        surprise.__version__,
        seconds,
        surprise.accuracy.rmse(predictions, verbose=False),
        surprise.accuracy.mae(predictions, verbose=False),
    )


def run(compare: bool = True, out=None) -> int:
    """Run the demo, printing to ``out`` (stdout by default). Returns the exit status."""
    out = out or sys.stdout

    def say(text=""):
        print(text, file=out)

    data, path = _load_data()
    titles = load_titles(path)

    def title(iid):
        return titles.get(iid, iid)

    by_title = {}
    for iid, t in titles.items():
        by_title.setdefault(t, iid)

    n_users = len({r[0] for r in data.raw_ratings})
    say(
        f"MovieLens 100k: {len(data.raw_ratings):,} ratings of {len(titles):,} movies by "
        f"{n_users:,} users ({path})"
    )
    trainset, testset = train_test_split(data, test_size=0.25, random_state=SEED)

    start = time.perf_counter()
    algo = SVD(random_state=SEED).fit(trainset)
    seconds = time.perf_counter() - start
    predictions = algo.test(testset)
    rmse = accuracy.rmse(predictions, verbose=False)
    mae = accuracy.mae(predictions, verbose=False)
    say()
    say(
        f"SVD with the default parameters ({algo.n_factors} factors, {algo.n_epochs} epochs, "
        f"{algo.schedule} schedule), trained on {trainset.n_ratings:,} ratings, "
        f"tested on {len(testset):,}:"
    )
    say(f"  {'':16}{'fit time':>10}{'RMSE':>9}{'MAE':>9}")
    say(f"  {'turbosvd':16}{seconds:>9.2f}s{rmse:>9.4f}{mae:>9.4f}")
    theirs = _surprise_run(path) if compare else None
    if theirs is None:
        say(
            "  (turbosvd alone: scikit-surprise is not installed here, so Surprise's time "
            'and accuracy on this split are not shown; pip install ".[demo]" or '
            "scikit-surprise adds them)"
            if compare
            else "  (turbosvd alone: the comparison with Surprise was turned off)"
        )
    else:
        version, s_seconds, s_rmse, s_mae = theirs
        say(
            f"  {'Surprise ' + version:16}{s_seconds:>9.2f}s{s_rmse:>9.4f}{s_mae:>9.4f}"
            f"   turbosvd is {s_seconds / seconds:.1f}x faster"
        )

    # How one rating is predicted.
    star_wars = by_title[QUERIES[0]]
    u_raw, i_raw, r_ui = next(
        t for t in testset if t[1] == star_wars and trainset.inner_uids([t[0]])[0] >= 0
    )
    u = trainset.to_inner_uid(u_raw)
    i = trainset.to_inner_iid(i_raw)
    mu = float(trainset.global_mean)
    bu, bi = float(algo.bu[u]), float(algo.bi[i])
    dot = float(algo.pu[u].astype(float) @ algo.qi[i].astype(float))
    pred = algo.predict(u_raw, i_raw, r_ui)
    say()
    say(f'How SVD predicts user {u_raw}\'s rating of "{title(i_raw)}":')
    rows = [
        ("global mean", f"{mu:8.3f}"),
        (f"+ user {u_raw}'s bias", f"{bu:+8.3f}"),
        ("+ the movie's bias", f"{bi:+8.3f}"),
        ("+ user . movie vectors", f"{dot:+8.3f}   ({algo.n_factors}-dimensional dot product)"),
    ]
    for label, value in rows:
        say(f"  {label:<24}{value}")
    say(
        f"  = {mu + bu + bi + dot:.3f}: predicted {float(pred.est):.2f} on the 1-5 scale; "
        f"the held-out rating was {r_ui:g}"
    )

    # Deploy: refit on every rating, then use the vectors.
    start = time.perf_counter()
    algo = SVD(random_state=SEED).fit(data.build_full_trainset())
    say()
    say(
        f"Refitted on all {len(data.raw_ratings):,} ratings in "
        f"{time.perf_counter() - start:.2f} s for the rest of the tour."
    )
    start = time.perf_counter()
    knn = KNNBaseline(sim_options=dict(KNN_SIM), verbose=False).fit(algo.trainset)
    say(
        f"Item-based k-NN (KNNBaseline, {KNN_SIM['name']} similarity) fitted in "
        f"{time.perf_counter() - start:.2f} s: {knn.trainset.n_items:,} x "
        f"{knn.trainset.n_items:,} similarities."
    )

    def short(iid):
        t = title(iid)
        return t if len(t) <= TITLE_WIDTH else t[: TITLE_WIDTH - 3] + "..."

    for query in QUERIES:
        say()
        say(
            f'Most similar to "{query}" (cosine of the movie vectors, movies with at least '
            f"{MIN_SUPPORT} ratings | k-NN {KNN_SIM['name']}):"
        )
        svd_list = algo.similar_items(by_title[query], k=10, min_support=MIN_SUPPORT)
        inner = knn.trainset.to_inner_iid(by_title[query])
        knn_list = [
            (knn.trainset.to_raw_iid(j), float(knn.sim[inner, j]))
            for j in knn.get_neighbors(inner, k=10)
        ]
        for rank, ((iid, cosine), (kid, s)) in enumerate(zip(svd_list, knn_list), 1):
            say(
                f"  {rank:2d}. {short(iid):<{TITLE_WIDTH}} {cosine:6.3f} | "
                f"{short(kid):<{TITLE_WIDTH}} {s:6.3f}"
            )

    say()
    say(
        f"Top 10 for user {USER} (movies they have not rated with at least {MIN_SUPPORT} "
        "ratings, by predicted rating, shown on the 1-5 scale):"
    )
    recs = algo.recommend(USER, n=10, min_support=MIN_SUPPORT)
    for rank, (iid, est) in enumerate(recs, 1):
        say(f"  {rank:2d}. {title(iid):<52} {est:5.2f}")
    return 0
