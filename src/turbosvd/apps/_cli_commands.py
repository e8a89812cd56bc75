"""The commands of the ``turbosvd`` command line (one ``_cmd_*`` function each)."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from ._cli_options import (
    CLIError,
    _check_epochs_for_plot,
    _check_model_output,
    _check_output_file,
    _check_plot,
    _describe_model,
    _fit,
    _load_data,
    _make_svd,
    _one_line,
    _scale,
    _user_errors,
    _warn,
)


# ------------------------------------------------------------------ commands
def _cmd_fit(args) -> int:
    from ..model_selection import train_test_split

    _check_model_output(args.output, args.ratings)
    _check_plot(args.plot)
    data, fmt, scale = _load_data(args)
    eval_set = None
    if args.holdout:
        trainset, eval_set = train_test_split(
            data, test_size=args.holdout, random_state=args.random_state
        )
    else:
        trainset = data.build_full_trainset()
    model = _make_svd(args, trainset)
    _check_epochs_for_plot(args, model)
    # The per-epoch curve costs a prediction pass per epoch: only for --plot.
    curve = args.plot is not None
    seconds = _fit(
        model, trainset, eval_set=eval_set if curve else None, history=curve, progress=args.progress
    )
    from ..train.monitor import fitted_rmse

    line = f"Trained {_describe_model(model)} on {trainset.n_ratings:,} ratings in {seconds:.2f} s"
    line += f": training RMSE {fitted_rmse(model):.4f}"
    if eval_set is not None:
        line += (
            f", validation RMSE {fitted_rmse(model, eval_set):.4f} on {len(eval_set):,} "
            "held-out ratings"
        )
    print(line)
    extra = {
        "source": {
            "path": "<stdin>" if args.ratings == "-" else os.path.abspath(args.ratings),
            "format": fmt.describe(),
            "holdout": args.holdout,
        }
    }
    with _user_errors("cannot save the model: "):
        model.save(args.output, compress=args.compress, extra=extra)
    size = os.path.getsize(args.output)
    print(f"Saved the model to {args.output} ({_size(size)})")
    if args.plot:
        from .plotting import plot_learning_curve

        title = (
            f"{_describe_model(model)}\non {os.path.basename(args.ratings)}, "
            f"{trainset.n_ratings:,} training ratings"
        )
        with _user_errors("cannot write the plot: ", (ValueError, OSError)):
            plot_learning_curve(model.history_, args.plot, title=title)
        print(f"Wrote the learning curve to {args.plot}")
    return 0


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)  # pragma: no cover


def _load_model(path):
    from ..persist import load

    with _user_errors():
        return load(path)


def _coerce_id(model, raw: str, kind: str):
    """The model's raw id for a command-line string: the string itself if the model knows
    it, else the int or float it spells if the model knows that (ids from a numeric
    DataFrame column), else the string (an unknown id)."""
    if _knows(model, raw, kind):
        return raw
    for convert in (int, float):
        try:
            value = convert(raw)
        except ValueError:
            continue
        if _knows(model, value, kind):
            return value
    return raw


def _knows(model, raw_id, kind: str) -> bool:
    ts = model.trainset
    return bool((ts.inner_uids if kind == "user" else ts.inner_iids)([raw_id])[0] >= 0)


def _cmd_predict(args) -> int:
    model = _load_model(args.model)
    uid = _coerce_id(model, args.user, "user")
    if not _knows(model, uid, "user"):
        _warn(f"user {args.user!r} is not in the model: its bias and factors are unknown")
    for item in args.items:
        iid = _coerce_id(model, item, "item")
        if not _knows(model, iid, "item"):
            _warn(f"item {item!r} is not in the model: its bias and factors are unknown")
        pred = model.predict(uid, iid)
        if pred.details.get("was_impossible"):
            _warn(f"{pred.details.get('reason', 'prediction impossible')} Using the global mean.")
        print(f"{args.user}\t{item}\t{pred.est:.{args.digits}f}")
    return 0


def _cmd_evaluate(args) -> int:
    from ..model_selection import KFold, cross_validate

    _check_plot(args.plot)
    data, fmt, scale = _load_data(args)
    with _user_errors():
        n_ratings = len(data.rating_table())
        if args.cv > n_ratings:
            raise ValueError(f"--cv {args.cv} is more folds than there are ratings ({n_ratings})")
    cv = KFold(n_splits=args.cv, random_state=args.random_state, shuffle=True)
    model = _make_svd(args, data.build_full_trainset())
    _check_epochs_for_plot(args, model)
    if not args.plot:
        with _user_errors("", (_fit_error(),)):
            cross_validate(model, data, measures=["rmse", "mae"], cv=cv, verbose=True)
        return 0
    # The learning curve: each fold's fit also scores its testset after every epoch.
    with _user_errors("", (_fit_error(),)):
        result = cross_validate(
            model,
            data,
            measures=["rmse", "mae"],
            cv=cv,
            verbose=True,
            fit_params=lambda _, testset: {"eval_set": testset, "progress": args.progress},
            return_estimator=True,
        )
    histories = [fold.history_ for fold in result["estimator"]]
    print("(fit times include the per-epoch evaluation drawn in the learning curve)")
    from .plotting import plot_learning_curves

    title = (
        f"{_describe_model(model)}\n{args.cv}-fold cross-validation on "
        f"{os.path.basename(args.ratings)}"
    )
    with _user_errors("cannot write the plot: ", (ValueError, OSError)):
        plot_learning_curves(histories, args.plot, title=title, val_label="test")
    print(f"Wrote the learning curves to {args.plot}")
    return 0


def _fit_error():
    from ..exceptions import ModelFitError

    return ModelFitError


def _titles_for(args, model_path: str, model=None):
    """Item titles (id string -> title) from --titles or found beside the model, or None.

    When fewer than 90 % of the model's items have a title, the file describes other items
    (e.g. ML-100k's u.item beside an ml-latest-small model, whose ids mean other films):
    a warning says so, and titles are still shown.
    """
    titles = _read_titles_for(args, model_path)
    if titles is not None and model is not None:
        ids = [str(i) for i in model.trainset.raw_item_ids.tolist()]
        found = sum(i in titles for i in ids)
        if ids and found < 0.9 * len(ids):
            _warn(
                f"the titles file does not match the model: only {found:,} of its "
                f"{len(ids):,} items have a title there, so the titles shown may name other "
                "items (pass the titles file of the model's data set with --titles)"
            )
    return titles


def _read_titles_for(args, model_path: str):
    from ..persist import read_metadata
    from .formats import find_titles_file, read_titles

    if args.titles:
        with _user_errors("cannot read titles: "):
            return read_titles(args.titles)
    folders = [os.path.dirname(os.path.abspath(model_path))]
    try:
        source = read_metadata(model_path).get("extra", {}).get("source", {}).get("path")
    except (ValueError, OSError, AttributeError):
        source = None
    if isinstance(source, str):
        folders.insert(0, os.path.dirname(source))
    found = find_titles_file(*folders)
    if found is None:
        return None
    try:
        return read_titles(found)
    except (ValueError, OSError) as e:
        _warn(f"ignoring titles file {found}: {_one_line(e)}")
        return None


def _print_ranked(rows, score_name: str, titles, id_header: str) -> None:
    ids = [str(i) for i, _ in rows]
    width = max([len(id_header)] + [len(i) for i in ids])
    head = f"{'rank':>4}  {id_header:<{width}}  {score_name:>10}"
    if titles is not None:
        head += "  title"
    print(head)
    for rank, (ident, score) in enumerate(rows, 1):
        line = f"{rank:>4}  {str(ident):<{width}}  {score:>10.4f}"
        if titles is not None:
            line += f"  {titles.get(str(ident), '?')}"
        print(line)


def _version() -> str:
    from .._version import __version__

    return __version__


def _fold_in_file(model, path: str, user):
    """Fold the users of a ratings file into ``model``; returns the user to recommend to."""
    import warnings

    from .formats import read_ratings

    with _user_errors():
        df = read_ratings(path)
    users = {u: _coerce_id(model, u, "user") for u in df["user"].unique().tolist()}
    if user is None:
        if len(users) != 1:
            shown = ", ".join(list(users)[:5]) + (", ..." if len(users) > 5 else "")
            raise CLIError(
                f"{path} has ratings of {len(users)} users ({shown}): name the one to "
                "recommend to (USER)"
            )
        user = next(iter(users))
    elif user not in users:
        raise CLIError(f"{path} has no ratings of user {user!r}")
    items = {i: _coerce_id(model, i, "item") for i in df["item"].unique().tolist()}
    triples = zip(
        map(users.get, df["user"].tolist()),
        map(items.get, df["item"].tolist()),
        df["rating"].tolist(),
        strict=True,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _user_errors(f"cannot fold in {path}: "):
            model.partial_fit_users(list(triples))
    for w in caught:
        _warn(str(w.message).replace("partial_fit_users: ", f"{path}: "))
    return users[user]


def _cmd_recommend(args) -> int:
    model = _load_model(args.model)
    if args.ratings is not None:
        if not hasattr(model, "partial_fit_users"):
            raise CLIError(f"--ratings: a {type(model).__name__} model cannot fold in new users")
        uid = _fold_in_file(model, args.ratings, args.user)
    elif args.user is None:
        raise CLIError("give USER, or --ratings FILE with the ratings of a new user")
    else:
        uid = _coerce_id(model, args.user, "user")
    try:
        rows = model.recommend(
            uid,
            args.n,
            exclude_seen=not args.include_seen,
            cold_start=args.cold_start,
            min_support=args.min_support,
        )
    except (ValueError, KeyError, TypeError) as e:
        # Speak in options, not keyword arguments.
        raise CLIError(
            _one_line(e).replace("pass cold_start='bias'", "use --cold-start bias")
        ) from e
    titles = _titles_for(args, args.model, model)
    _print_ranked(rows, "estimate", titles, "item")
    return 0


def _cmd_similar(args) -> int:
    model = _load_model(args.model)
    kind = "user" if args.users else "item"
    raw = _coerce_id(model, args.id, kind)
    titles = _titles_for(args, args.model, model) if kind == "item" else None
    if kind == "item" and not _knows(model, raw, "item"):
        raw = _item_by_title(model, args.id, titles)
    similar = model.similar_users if kind == "user" else model.similar_items
    with _user_errors():
        rows = similar(raw, args.n, min_support=args.min_support)
    _print_ranked(rows, "similarity", titles, kind)
    return 0


def _item_by_title(model, text: str, titles):
    """The model's item whose title is ``text`` (case-insensitive; else the only title
    containing it); the id itself when there are no titles or no match."""
    if not titles:
        return text
    needle = text.casefold().strip()
    known = {str(i): i for i in model.trainset.raw_item_ids.tolist()}
    exact = [i for i, t in titles.items() if t.casefold() == needle and i in known]
    matches = exact or [i for i, t in titles.items() if needle in t.casefold() and i in known]
    if len(matches) == 1:
        return known[matches[0]]
    if not matches:
        raise CLIError(f"{text!r} is neither an item id of the model nor part of a title")
    shown = "; ".join(f"{i}: {titles[i]}" for i in matches[:8])
    more = f"; ... ({len(matches)} in all)" if len(matches) > 8 else ""
    raise CLIError(f"{text!r} matches several titles, give the id: {shown}{more}")


def _cmd_info(args) -> int:
    from ..persist import read_metadata

    with _user_errors():
        meta = read_metadata(args.model)
    ts = meta["trainset"]
    print(
        f"{args.model}: {meta['format']} version {meta['format_version']}, written by "
        f"turbosvd {meta.get('turbosvd_version', '?')}"
    )
    print(f"model: {meta['class']}")
    arrays = meta.get("arrays") if isinstance(meta.get("arrays"), dict) else {}
    for name, value in meta["params"].items():
        text = _param_text(value)
        if name == "dtype" and value is None and isinstance(arrays.get("pu"), dict):
            # dtype=None means the schedule's type: say which one the model holds.
            text = f"{_dtype_name(arrays['pu'].get('dtype'))} (the schedule's default)"
        print(f"  {name} = {text}")
    print(
        f"trained on {ts['n_ratings']:,} ratings of {ts['n_users']:,} users and "
        f"{ts['n_items']:,} items; rating scale {_scale(ts['rating_scale'])}, "
        f"global mean {ts['global_mean']:.4f}"
    )
    source = meta.get("extra", {}).get("source") if isinstance(meta.get("extra"), dict) else None
    if isinstance(source, dict) and source.get("path"):
        print(f"training file: {source['path']} ({source.get('format', '?')})")
    history = meta.get("history")
    if history and history.get("epoch"):
        line = (
            f"learning curve: {len(history['epoch'])} epochs, last training RMSE "
            f"{history['train_rmse'][-1]:.4f}"
        )
        if history.get("val_rmse"):
            line += f", validation RMSE {history['val_rmse'][-1]:.4f}"
        print(line)
    return 0


def _dtype_name(descr) -> str:
    import numpy as np

    try:
        return np.dtype(descr).name
    except TypeError:
        return repr(descr)


def _param_text(value) -> str:
    from ..persist import _decode_param

    try:
        value = _decode_param(value)
    except (KeyError, TypeError, ValueError):
        return repr(value)
    if hasattr(value, "get_state"):
        return "a numpy RandomState"
    return getattr(value, "__name__", None) or repr(value)


def _cmd_bench(args) -> int:
    from . import benchmark

    _check_plot(args.plot)
    if args.json:
        _check_output_file(args.json, "results")
    with _user_errors("", (benchmark.MissingSurpriseError,)):
        benchmark._import_surprise()
    scale = (1, 5)
    if args.ratings:
        data, fmt, scale = _load_data(args)
        df = data.df
        name = os.path.basename(args.ratings)
    elif args.synthetic:
        n = args.synthetic
        side = math.sqrt(n / 100_000)
        n_users, n_items = max(10, math.ceil(943 * side)), max(10, math.ceil(1682 * side))
        while n_users * n_items < n:
            n_users, n_items = n_users * 2, n_items * 2
        df = benchmark.synthetic_ratings(n_users, n_items, n, random_state=args.random_state or 0)
        name = f"synthetic ({n:,} ratings)"
    else:
        df, name = _builtin_ml100k()
        if df is None:
            _warn(
                "MovieLens 100k is not in the data folder (set SURPRISE_DATA_FOLDER, or run "
                "'turbosvd demo' to download it): using synthetic ratings of the same shape"
            )
            df, name = benchmark.synthetic_ratings(), "synthetic (ml-100k shape)"

    def log(msg):
        print(f"[bench] {msg}", file=sys.stderr, flush=True)

    if args.test_size * len(df) < 1 or (1 - args.test_size) * len(df) < 1:
        raise CLIError(f"--test-size {args.test_size:g} leaves an empty train or test split")
    result = benchmark.run_benchmark(
        df,
        rating_scale=scale,
        dataset=name,
        n_factors=args.n_factors,
        n_epochs=args.n_epochs,
        repeat=args.repeat,
        test_size=args.test_size,
        random_state=0 if args.random_state is None else args.random_state,
        log=log,
    )
    print(benchmark.format_table(result))
    if args.json:
        with _user_errors("cannot write the results: ", (OSError,)):
            Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"Wrote the results to {args.json}")
    if args.plot:
        from .plotting import plot_benchmark

        title = (
            f"SVD k={args.n_factors}, {args.n_epochs} epochs on {name}\n"
            "speed-up over Surprise (higher is better)"
        )
        with _user_errors("cannot write the plot: ", (ValueError, OSError)):
            plot_benchmark(result["rows"], args.plot, title=title)
        print(f"Wrote the chart to {args.plot}")
    return 0


def _builtin_ml100k():
    import pandas as pd

    from ..builtin_datasets import BUILTIN_DATASETS

    path = BUILTIN_DATASETS["ml-100k"].path
    if not os.path.isfile(path):
        return None, None
    df = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2], dtype=str)
    df.columns = ["user", "item", "rating"]
    df["rating"] = df["rating"].astype(float)
    return df, "MovieLens 100k"


def _cmd_demo(args) -> int:
    from . import demo

    try:
        return demo.run(compare=not args.no_surprise)
    except demo.DemoDataError as e:
        raise CLIError(str(e)) from None
