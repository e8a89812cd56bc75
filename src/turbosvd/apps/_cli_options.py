"""Shared pieces of the command line: errors, option types, the SVD and data options."""

from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
import time
from contextlib import contextmanager

from ..prediction_algorithms.matrix_factorization import SVD
from ..train.schedule import SCHEDULES

PROG = "turbosvd"

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
def _svd_defaults() -> dict[str, object]:
    """SVD's constructor defaults, for the help texts."""
    return {p.name: p.default for p in inspect.signature(SVD.__init__).parameters.values()}


def _add_svd_options(parser: argparse.ArgumentParser) -> None:
    """SVD hyperparameters as options."""
    defaults = _svd_defaults()

    def default(name):
        d = defaults[name]
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
    group.add_argument(
        "--schedule",
        choices=list(SCHEDULES),
        help="training schedule: 'exact' reproduces Surprise's numbers; others trade that "
        "for speed (default: $TURBOSVD_SCHEDULE if set, else 'blocked')",
    )
    group.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        help="floating type of the model (default: the schedule's)",
    )
    group.add_argument(
        "--n-jobs",
        type=_n_jobs,
        metavar="J",
        help="threads (-1: all CPUs; default: OpenMP's default)",
    )


def _svd_kwargs(args) -> dict:
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
        if value is not None:
            kwargs[name] = value
    kwargs["random_state"] = args.random_state
    return kwargs


def _make_svd(args, trainset):
    """Build the SVD and validate its parameters against ``trainset`` (user errors)."""
    with _user_errors("invalid model options: ", (ValueError, TypeError)):
        model = SVD(**_svd_kwargs(args))
        model._validate(trainset)
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
        value = getattr(model, name)
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

    from ..exceptions import ModelFitError, ModelFitWarning

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
    table = data.rating_table()
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


def _check_model_output(output: str, ratings: str) -> None:
    """Before any work: ``-o`` must be a new path or a regular file, and not the input."""
    from .._files import check_save_path

    with _user_errors("cannot save the model: ", (ValueError, OSError)):
        check_save_path(output)
    try:
        same = ratings != "-" and os.path.samefile(output, ratings)
    except OSError:  # the output does not exist yet (or the input is unreadable)
        same = False
    if same:
        raise CLIError(
            f"the output {output!r} is the ratings file {ratings!r} (the same file): "
            "refusing to overwrite the ratings with the model"
        )


def _check_plot(path):
    if path is None:
        return
    from .plotting import MissingMatplotlibError, check_plot_path

    with _user_errors("", (ValueError, MissingMatplotlibError)):
        check_plot_path(path)
