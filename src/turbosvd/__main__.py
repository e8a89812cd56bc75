"""Command line: ``turbosvd demo`` (and ``python -m turbosvd``)."""

from __future__ import annotations

import argparse
import sys
import time


def _demo(args) -> int:
    from . import SVD, Dataset, accuracy
    from .model_selection import train_test_split

    data = Dataset.load_builtin("ml-100k", prompt=False)
    trainset, testset = train_test_split(data, test_size=0.25, random_state=0)
    start = time.perf_counter()
    algo = SVD(random_state=0).fit(trainset)
    fit_time = time.perf_counter() - start
    predictions = algo.test(testset)
    print(f"SVD trained on {trainset.n_ratings} MovieLens 100k ratings in {fit_time:.2f} s")
    accuracy.rmse(predictions)
    accuracy.mae(predictions)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="turbosvd", description="Fast SVD recommender.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train SVD on MovieLens 100k and print its accuracy")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
