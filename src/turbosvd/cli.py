"""The ``turbosvd`` command line (also ``python -m turbosvd``).

Commands: ``fit`` (train on a ratings file and save a model), ``predict``, ``evaluate``
(cross-validation), ``recommend`` and ``similar`` (top-N, when the installed SVD offers
them), ``info`` (describe a model file), ``bench`` (speed against Surprise) and ``demo``.

Errors caused by the user's input (a missing or malformed file, a bad option value, an
unknown id, training that diverges) print one line on stderr and exit with status 1
(2 for command-line syntax errors); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = ["CLIError", "build_parser", "main"]

PROG = "turbosvd"

EXAMPLES = """\
examples:
  turbosvd fit ml-latest-small/ratings.csv -o model.tsvd
  turbosvd fit u.data -o model.tsvd --n-factors 50 --n-epochs 30 --holdout 0.1 --plot curve.png
  turbosvd predict model.tsvd 196 302
  turbosvd evaluate ratings.csv --cv 5 --plot cv.png
  turbosvd recommend model.tsvd 196 -n 10 --titles u.item
  turbosvd similar model.tsvd 50 -n 10
  turbosvd info model.tsvd
  turbosvd bench --plot speedup.png

Rating files are detected: CSV/TSV/'::'/'|'/whitespace-separated, with or without a header
(userId,movieId,rating[,timestamp]); without a header the columns are user, item, rating.
Run 'turbosvd COMMAND --help' for the options of a command.
"""


_MODEL_HELP = "model file written by 'turbosvd fit' or SVD.save()"


class CLIError(Exception):
    """A mistake in the user's input: reported on one line, without a traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse, with syntax errors on one line (plus a pointer to --help)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Raw epilog (examples keep their lines); descriptions are wrapped by ``_wrap``."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=32, width=_help_width())

    def add_argument(self, action):
        super().add_argument(action)
        # argparse aligns help columns without the extra indent of sub-commands, which
        # pushes the help of longer command names onto their own line.
        if isinstance(action, argparse._SubParsersAction):
            for sub in action._get_subactions():
                length = len(self._format_action_invocation(sub)) + self._current_indent + 4
                self._action_max_length = max(self._action_max_length, length)


def _help_width() -> int:
    return max(60, min(100, _terminal_width() - 2))


def _wrap(text: str) -> str:
    import textwrap

    return "\n".join(textwrap.fill(par, _help_width()) for par in text.split("\n"))


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size(fallback=(100, 24)).columns


def _one_line(e: BaseException) -> str:
    text = str(e) if str(e) else type(e).__name__
    if isinstance(e, KeyError) and e.args:
        text = str(e.args[0])
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        text = f"{e.strerror}: {e.filename!r}"
    return " ".join(text.split())


@contextmanager
def _user_errors(prefix: str = "", types=(ValueError, KeyError, TypeError, OSError)):
    """Turn the listed exceptions, raised by code handling user input, into ``CLIError``."""
    try:
        yield
    except types as e:
        raise CLIError(prefix + _one_line(e)) from e


# ------------------------------------------------------------------ option types
def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is out of range: must be >= {low}")
        return value

    parse.__name__ = "integer"
    return parse


def _real(low: float | None = None, *, strict: bool = False, high: float | None = None):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if low is not None and (value <= low if strict else value < low):
            raise argparse.ArgumentTypeError(
                f"{value:g} is out of range: must be {'>' if strict else '>='} {low:g}"
            )
        if high is not None and value >= high:
            raise argparse.ArgumentTypeError(f"{value:g} is out of range: must be < {high:g}")
        return value

    parse.__name__ = "number"
    return parse


def _seed(text: str):
    if text.lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer or 'none'") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} is out of range: must be in [0, 2**32)")
    return value


def _n_jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value == 0:
        raise argparse.ArgumentTypeError("0 is not valid: use a positive count, or -1 for all CPUs")
    return value


def _sep(text: str) -> str:
    aliases = {
        "tab": "\t",
        "\\t": "\t",
        "comma": ",",
        "semicolon": ";",
        "space": " ",
        "whitespace": " ",
        "pipe": "|",
    }
    value = aliases.get(text.lower(), text)
    if not value or "\n" in value or "\r" in value:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid separator")
    return value


# ------------------------------------------------------------------ SVD options
def _svd_class():
    from .prediction_algorithms.matrix_factorization import SVD

    return SVD


def _svd_parameters() -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(_svd_class().__init__).parameters)


def _add_svd_options(parser: argparse.ArgumentParser) -> None:
    """SVD hyperparameters as options; the ones SVD does not accept are left out."""
    params = _svd_parameters()

    def default(name):
        d = params[name].default
        return "None" if d is None else d

    group = parser.add_argument_group("model options (default: SVD's own defaults)")
    group.add_argument(
        "--n-factors",
        type=_int_at_least(0),
        metavar="K",
        help=f"number of latent factors (default {default('n_factors')})",
    )
    group.add_argument(
        "--n-epochs",
        type=_int_at_least(0),
        metavar="N",
        help=f"SGD passes over the ratings (default {default('n_epochs')})",
    )
    group.add_argument(
        "--lr-all",
        type=_real(0),
        metavar="LR",
        help=f"learning rate of every parameter (default {default('lr_all')})",
    )
    group.add_argument(
        "--reg-all",
        type=_real(0),
        metavar="REG",
        help=f"regularisation of every parameter (default {default('reg_all')})",
    )
    group.add_argument(
        "--init-std-dev",
        type=_real(0),
        metavar="STD",
        help=f"standard deviation of the initial factors (default {default('init_std_dev')})",
    )
    group.add_argument(
        "--biased",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="learn user and item biases (default: yes)",
    )
    group.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        metavar="SEED",
        help="seed of the initial factors (and of data splits); 'none' for a "
        "fresh random seed (default 0, so runs are reproducible)",
    )
    if "schedule" in params:
        from .prediction_algorithms import matrix_factorization as mf

        choices = list(getattr(mf, "_SCHEDULES", ("exact",)))
        group.add_argument(
            "--schedule",
            choices=choices,
            help="training schedule: 'exact' reproduces Surprise's numbers"
            + ("" if len(choices) == 1 else "; others trade that for speed")
            + f" (default {default('schedule')})",
        )
    if "dtype" in params:
        group.add_argument(
            "--dtype",
            choices=["float32", "float64"],
            help="floating type of the model (default: the schedule's)",
        )
    if "n_jobs" in params:
        group.add_argument(
            "--n-jobs",
            type=_n_jobs,
            metavar="J",
            help="threads (-1: all CPUs; default: OpenMP's default)",
        )


def _svd_kwargs(args) -> dict:
    params = _svd_parameters()
    kwargs = {}
    for name in (
        "n_factors",
        "n_epochs",
        "lr_all",
        "reg_all",
        "init_std_dev",
        "biased",
        "schedule",
        "dtype",
        "n_jobs",
    ):
        value = getattr(args, name, None)
        if value is not None and name in params:
            kwargs[name] = value
    kwargs["random_state"] = args.random_state
    return kwargs


def _make_svd(args, trainset):
    """Build the SVD and validate its parameters against ``trainset`` (user errors)."""
    with _user_errors("invalid model options: ", (ValueError, TypeError)):
        model = _svd_class()(**_svd_kwargs(args))
        validate = getattr(model, "_validate", None)
        if validate is not None:
            validate(trainset)
        model._n_threads()
    return model


def _describe_model(model) -> str:
    parts = [f"n_factors={model.n_factors}", f"n_epochs={model.n_epochs}"]
    for kind in ("lr", "reg"):
        values = {getattr(model, f"{kind}_{p}") for p in ("bu", "bi", "pu", "qi")}
        if len(values) == 1:
            parts.append(f"{kind}_all={values.pop():g}")
        else:
            parts += [
                f"{kind}_{p}={getattr(model, f'{kind}_{p}'):g}" for p in ("bu", "bi", "pu", "qi")
            ]
    if not model.biased:
        parts.append("biased=False")
    for name in ("schedule", "dtype"):
        value = getattr(model, name, None)
        if value is not None:
            parts.append(f"{name}={getattr(value, '__name__', value)}")
    return f"{type(model).__name__}({', '.join(parts)})"


def _check_epochs_for_plot(args, model) -> None:
    if args.plot and model.n_epochs == 0:
        raise CLIError("--plot draws RMSE per epoch, but --n-epochs is 0")


def _fit(model, trainset, **kwargs):
    """Train; divergence is the user's input (learning rate too high), other errors bugs.

    The exact schedule only warns on divergence (Surprise keeps a NaN model); a command
    line must not save one, so the warning is an error here.
    """
    import warnings

    from .exceptions import ModelFitError, ModelFitWarning

    with _user_errors("", (ModelFitError, ModelFitWarning)), warnings.catch_warnings():
        warnings.simplefilter("error", ModelFitWarning)
        start = time.perf_counter()
        model.fit(trainset, **kwargs)
    return time.perf_counter() - start


# ------------------------------------------------------------------ data options
def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("input options (detected when not given)")
    group.add_argument(
        "--sep", type=_sep, metavar="SEP", help="field separator: ',', 'tab', '::', '|', 'space'..."
    )
    group.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether the first line names the columns",
    )
    group.add_argument(
        "--rating-scale",
        nargs=2,
        type=_real(),
        metavar=("LO", "HI"),
        help="lowest and highest possible ratings (default: the data's min and max)",
    )


def _load_data(args):
    from .formats import load_dataset

    scale = tuple(args.rating_scale) if args.rating_scale else None
    if scale is not None:
        scale = tuple(int(x) if float(x).is_integer() else x for x in scale)
    with _user_errors():
        data, fmt, scale_used = load_dataset(
            args.ratings, rating_scale=scale, sep=args.sep, header=args.header
        )
    table = data._table
    n_out = 0
    if scale is not None:
        lo, hi = scale
        n_out = int(((table.ratings < lo) | (table.ratings > hi)).sum())
    print(
        f"Read {len(table):,} ratings ({len(table.user_ids):,} users, {len(table.item_ids):,} "
        f"items) from {args.ratings}: {fmt.describe()}; rating scale {_scale(scale_used)} "
        f"({'given' if scale is not None else 'inferred'})"
    )
    if n_out:
        _warn(f"{n_out:,} ratings lie outside the rating scale {_scale(scale_used)}")
    return data, fmt, scale_used


def _scale(scale) -> str:
    lo, hi = scale
    return f"{lo:g} to {hi:g}"


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _check_output_file(path: str, what: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CLIError(f"cannot write the {what} to {path!r}: it is a directory")
    if not os.path.isdir(folder):
        raise CLIError(f"cannot write the {what} to {path!r}: folder {folder!r} does not exist")


def _check_plot(path):
    if path is None:
        return
    from .plotting import MissingMatplotlibError, check_plot_path

    with _user_errors("", (ValueError, MissingMatplotlibError)):
        check_plot_path(path)


# ------------------------------------------------------------------ commands
def _cmd_fit(args) -> int:
    from .model_selection import train_test_split

    _check_output_file(args.output, "model")
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
    from ._monitor import fitted_rmse

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
            "path": os.path.abspath(args.ratings),
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
    from .persist import load

    with _user_errors():
        return load(path)


def _coerce_id(model, raw: str, kind: str):
    """The model's raw id for a command-line string: the string itself if the model knows
    it, else the int or float it spells if the model knows that (ids from a numeric
    DataFrame column), else the string (an unknown id)."""
    trainset = model.trainset
    known = trainset._raw2inner_id_users if kind == "user" else trainset._raw2inner_id_items
    if raw in known:
        return raw
    for convert in (int, float):
        try:
            value = convert(raw)
        except ValueError:
            continue
        if value in known:
            return value
    return raw


def _cmd_predict(args) -> int:
    model = _load_model(args.model)
    uid = _coerce_id(model, args.user, "user")
    if uid not in model.trainset._raw2inner_id_users:
        _warn(f"user {args.user!r} is not in the model: its bias and factors are unknown")
    for item in args.items:
        iid = _coerce_id(model, item, "item")
        if iid not in model.trainset._raw2inner_id_items:
            _warn(f"item {item!r} is not in the model: its bias and factors are unknown")
        pred = model.predict(uid, iid)
        if pred.details.get("was_impossible"):
            _warn(f"{pred.details.get('reason', 'prediction impossible')} Using the global mean.")
        print(f"{args.user}\t{item}\t{pred.est:.{args.digits}f}")
    return 0


def _cmd_evaluate(args) -> int:
    from .model_selection import KFold, cross_validate

    _check_plot(args.plot)
    data, fmt, scale = _load_data(args)
    with _user_errors():
        n_ratings = len(data._table)
        if args.cv > n_ratings:
            raise ValueError(f"--cv {args.cv} is more folds than there are ratings ({n_ratings})")
    cv = KFold(n_splits=args.cv, random_state=args.random_state, shuffle=True)
    model = _make_svd(args, data.build_full_trainset())
    _check_epochs_for_plot(args, model)
    if not args.plot:
        with _user_errors("", (_fit_error(),)):
            cross_validate(model, data, measures=["rmse", "mae"], cv=cv, verbose=True)
        return 0
    # The learning curve needs each fold's testset inside fit: the same folds and table as
    # cross_validate, with fit(trainset, eval_set=testset).
    from . import accuracy
    from .model_selection.validation import print_summary

    histories, rmse, mae, fit_times, test_times = [], [], [], [], []
    for trainset, testset in cv.split(data):
        fit_times.append(_fit(model, trainset, eval_set=testset, progress=args.progress))
        start = time.perf_counter()
        predictions = model.test(testset)
        test_times.append(time.perf_counter() - start)
        rmse.append(accuracy.rmse(predictions, verbose=False))
        mae.append(accuracy.mae(predictions, verbose=False))
        histories.append(model.history_)
    import numpy as np

    print_summary(
        model,
        ["rmse", "mae"],
        {"rmse": np.asarray(rmse), "mae": np.asarray(mae)},
        {},
        tuple(fit_times),
        tuple(test_times),
        cv.n_splits,
    )
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
    from .exceptions import ModelFitError

    return ModelFitError


def _normalise_topn(result, kind: str) -> list[tuple[object, float]]:
    """``[(raw id, score), ...]`` from a top-N method's result, whatever its container.

    Accepts a DataFrame (the id column is named ``kind``, ``kind[0] + 'id'`` or
    ``'raw_' + kind[0] + 'id'``, else the first; the score is the first float column), a
    pair of arrays ``(ids, scores)``, a dict ``{id: score}``, or a sequence of
    ``(id, score)`` pairs or of ``Prediction``-like records (``iid``/``uid`` and ``est``).
    """
    import numpy as np
    import pandas as pd

    names = (kind, kind[0] + "id", "raw_" + kind[0] + "id")
    if isinstance(result, pd.DataFrame):
        id_col = next((c for c in result.columns if str(c) in names), result.columns[0])
        scores = [c for c in result.columns if c != id_col and result[c].dtype.kind == "f"]
        if not scores:
            raise TypeError(f"no score column in the result's columns {list(result.columns)}")
        return list(zip(result[id_col].tolist(), map(float, result[scores[0]].tolist())))
    if isinstance(result, dict):
        return [(k, float(v)) for k, v in result.items()]
    if (
        isinstance(result, tuple)
        and len(result) == 2
        and all(isinstance(x, np.ndarray) for x in result)
    ):
        ids, scores = result
        return list(zip(ids.tolist(), map(float, scores.tolist())))
    out = []
    for entry in result:
        if hasattr(entry, "est"):
            out.append((getattr(entry, kind[0] + "id"), float(entry.est)))
        else:
            out.append((entry[0], float(entry[1])))
    return out


def _titles_for(args, model_path: str):
    from .formats import find_titles_file, read_titles
    from .persist import read_metadata

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


def _require_method(model, name: str):
    method = getattr(model, name, None)
    if method is None:
        raise CLIError(
            f"this turbosvd ({_version()}) has no {type(model).__name__}.{name}(): top-N "
            "recommendations are not available in this build"
        )
    return method


def _version() -> str:
    from . import __version__

    return __version__


def _cmd_recommend(args) -> int:
    model = _load_model(args.model)
    recommend = _require_method(model, "recommend")
    uid = _coerce_id(model, args.user, "user")
    kwargs = {"exclude_seen": not args.include_seen}
    if args.cold_start is not None:
        if "cold_start" not in inspect.signature(recommend).parameters:
            raise CLIError("--cold-start is not supported by this turbosvd's SVD.recommend()")
        kwargs["cold_start"] = args.cold_start
    try:
        result = recommend(uid, args.n, **kwargs)
        rows = _normalise_topn(result, "item")
    except (ValueError, KeyError, TypeError) as e:
        # Speak in options, not keyword arguments.
        raise CLIError(
            _one_line(e).replace("pass cold_start='bias'", "use --cold-start bias")
        ) from e
    titles = _titles_for(args, args.model)
    _print_ranked(rows, "estimate", titles, "item")
    return 0


def _cmd_similar(args) -> int:
    model = _load_model(args.model)
    kind = "user" if args.users else "item"
    method = _require_method(model, f"similar_{kind}s")
    raw = _coerce_id(model, args.id, kind)
    with _user_errors():
        result = method(raw, args.n)
        rows = _normalise_topn(result, kind)
    titles = _titles_for(args, args.model) if kind == "item" else None
    _print_ranked(rows, "similarity", titles, kind)
    return 0


def _cmd_info(args) -> int:
    from .persist import read_metadata

    with _user_errors():
        meta = read_metadata(args.model)
    ts = meta["trainset"]
    print(
        f"{args.model}: {meta['format']} version {meta['format_version']}, written by "
        f"turbosvd {meta.get('turbosvd_version', '?')}"
    )
    print(f"model: {meta['class']}")
    for name, value in meta["params"].items():
        print(f"  {name} = {_param_text(value)}")
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


def _param_text(value) -> str:
    from .persist import _decode_param

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

    from .builtin_datasets import BUILTIN_DATASETS

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


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``turbosvd`` command."""
    parser = _Parser(
        prog=PROG,
        description=_wrap(
            "turbosvd: fast SVD recommender (a drop-in for Surprise's SVD). Train on a "
            "ratings file, evaluate, predict and recommend from the command line."
        ),
        epilog=EXAMPLES,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    def command(name, help_, description, examples, func):
        p = sub.add_parser(
            name,
            help=help_,
            description=_wrap(description),
            epilog="examples:\n" + examples,
            formatter_class=_Formatter,
        )
        p.set_defaults(func=func)
        return p

    p = command(
        "fit",
        "train SVD on a ratings file and save the model",
        "Train SVD on every rating of RATINGS (or all but a held-out share with --holdout) "
        "and save the fitted model to MODEL, a safe file (no pickle) that 'turbosvd predict' "
        "and turbosvd.load() read. Prints the training (and validation) RMSE.",
        "  turbosvd fit ratings.csv -o model.tsvd\n"
        "  turbosvd fit u.data -o model.tsvd --n-factors 50 --n-epochs 30 --reg-all 0.05\n"
        "  turbosvd fit ratings.csv -o model.tsvd --holdout 0.1 --plot curve.png\n",
        _cmd_fit,
    )
    p.add_argument("ratings", metavar="RATINGS", help="ratings file (user, item, rating)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="MODEL",
        help="where to save the model (replaced atomically if it exists)",
    )
    p.add_argument(
        "--holdout",
        type=_real(0, strict=True, high=1),
        metavar="FRACTION",
        help="hold out this share of the ratings (chosen with --random-state) to "
        "record a validation RMSE per epoch; the model is trained on the rest",
    )
    p.add_argument("--plot", metavar="FILE.png", help="draw the learning curve (needs matplotlib)")
    p.add_argument("--compress", action="store_true", help="compress the model file")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal and the "
        "fit takes over a second)",
    )
    _add_data_options(p)
    _add_svd_options(p)

    p = command(
        "predict",
        "predict ratings with a saved model",
        "Print USER<TAB>ITEM<TAB>ESTIMATE for each ITEM. Unknown users or items get "
        "Surprise's fallback (biases only, or the global mean) with a warning on stderr.",
        "  turbosvd predict model.tsvd 196 302\n  turbosvd predict model.tsvd 196 302 377 51\n",
        _cmd_predict,
    )
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument("user", metavar="USER", help="user id, as written in the ratings file")
    p.add_argument("items", metavar="ITEM", nargs="+", help="item id(s)")
    p.add_argument(
        "--digits",
        type=_int_at_least(0),
        default=4,
        metavar="D",
        help="decimals printed (default 4)",
    )

    p = command(
        "evaluate",
        "cross-validate SVD on a ratings file (RMSE, MAE, times)",
        "K-fold cross-validation of SVD on RATINGS; prints Surprise's summary table of RMSE, "
        "MAE, fit and test times per fold.",
        "  turbosvd evaluate ratings.csv\n"
        "  turbosvd evaluate u.data --cv 3 --n-factors 20 --plot cv.png\n",
        _cmd_evaluate,
    )
    p.add_argument("ratings", metavar="RATINGS", help="ratings file (user, item, rating)")
    p.add_argument(
        "--cv", type=_int_at_least(2), default=5, metavar="K", help="number of folds (default 5)"
    )
    p.add_argument(
        "--plot", metavar="FILE.png", help="draw the training and test RMSE per epoch of every fold"
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr for each fold's fit (with --plot)",
    )
    _add_data_options(p)
    _add_svd_options(p)

    p = command(
        "recommend",
        "top-N recommendations for a user from a saved model",
        "The N items with the highest estimates for USER, excluding the items the user "
        "rated in training (unless --include-seen). Titles are shown when a titles file is "
        "given or found next to the model or its training file (MovieLens u.item, "
        "movies.csv, movies.dat).",
        "  turbosvd recommend model.tsvd 196\n"
        "  turbosvd recommend model.tsvd 196 -n 20 --titles ml-100k/u.item\n",
        _cmd_recommend,
    )
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument("user", metavar="USER", help="user id, as written in the ratings file")
    p.add_argument(
        "-n", type=_int_at_least(1), default=10, metavar="N", help="number of items (default 10)"
    )
    p.add_argument(
        "--include-seen", action="store_true", help="also rank the items the user rated in training"
    )
    p.add_argument(
        "--cold-start",
        choices=["error", "bias"],
        help="for a user not in the model: 'error' (the default) or 'bias' (rank items by "
        "their bias, which is what predict() estimates for an unknown user)",
    )
    p.add_argument("--titles", metavar="FILE", help="item titles (u.item, movies.csv, ...)")

    p = command(
        "similar",
        "items (or users) most similar to one, from a saved model",
        "The N items closest to ITEM in the model's factor space (cosine similarity); with "
        "--users, ID is a user and the closest users are listed.",
        "  turbosvd similar model.tsvd 50\n"
        "  turbosvd similar model.tsvd 1 -n 5 --titles movies.csv\n"
        "  turbosvd similar model.tsvd 196 --users\n",
        _cmd_similar,
    )
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument("id", metavar="ITEM", help="item id (a user id with --users)")
    p.add_argument(
        "-n",
        type=_int_at_least(1),
        default=10,
        metavar="N",
        help="number of neighbours (default 10)",
    )
    p.add_argument("--users", action="store_true", help="ID is a user: list similar users")
    p.add_argument("--titles", metavar="FILE", help="item titles (u.item, movies.csv, ...)")

    p = command(
        "info",
        "describe a saved model",
        "Print a model file's parameters, sizes, training file and learning curve summary "
        "(reads only its metadata).",
        "  turbosvd info model.tsvd\n",
        _cmd_info,
    )
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)

    p = command(
        "bench",
        "time SVD against Surprise (needs scikit-surprise)",
        "Fit and test SVD with scikit-surprise and with every turbosvd schedule on the same "
        "train/test split, in this process, and print times, speed-ups and RMSEs. Uses "
        "RATINGS if given, else MovieLens 100k from the data folder if present, else "
        'synthetic ratings. Needs scikit-surprise: pip install "turbosvd[bench]".',
        "  turbosvd bench\n"
        "  turbosvd bench ratings.csv --repeat 5 --plot speedup.png --json bench.json\n"
        "  turbosvd bench --synthetic 1000000 --n-epochs 5\n",
        _cmd_bench,
    )
    p.add_argument(
        "ratings",
        metavar="RATINGS",
        nargs="?",
        help="ratings file (default: MovieLens 100k if present, else synthetic)",
    )
    p.add_argument(
        "--synthetic",
        type=_int_at_least(10),
        metavar="N",
        help="use N synthetic ratings instead of a file",
    )
    p.add_argument(
        "--n-factors",
        type=_int_at_least(0),
        default=100,
        metavar="K",
        help="latent factors (default 100)",
    )
    p.add_argument(
        "--n-epochs", type=_int_at_least(1), default=20, metavar="N", help="epochs (default 20)"
    )
    p.add_argument(
        "--repeat",
        type=_int_at_least(1),
        default=3,
        metavar="R",
        help="timings per measurement; the median is reported (default 3)",
    )
    p.add_argument(
        "--test-size",
        type=_real(0, strict=True, high=1),
        default=0.2,
        metavar="F",
        help="share of ratings in the test split (default 0.2)",
    )
    p.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        metavar="SEED",
        help="seed of the split and the models (default 0)",
    )
    p.add_argument("--plot", metavar="FILE.png", help="bar chart of the speed-ups")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    _add_data_options(p)

    p = command(
        "demo",
        "the tour: MovieLens 100k, accuracy vs Surprise, similar movies, recommendations",
        "Train SVD with its default parameters on 75% of MovieLens 100k (downloaded on first "
        "use; set TURBOSVD_DATA_FOLDER or SURPRISE_DATA_FOLDER to use a local copy) and "
        "print: fit time and test RMSE/MAE next to Surprise's (when scikit-surprise is "
        "installed), how one rating is predicted, the movies most similar to Star Wars and "
        "Pulp Fiction, and one user's top-10 recommendations.",
        "  turbosvd demo\n  TURBOSVD_DATA_FOLDER=~/data turbosvd demo --no-surprise\n",
        _cmd_demo,
    )
    p.add_argument("--no-surprise", action="store_true", help="skip the comparison with Surprise")
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CLIError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. '| head'): stop quietly, without a second error when
        # Python flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
