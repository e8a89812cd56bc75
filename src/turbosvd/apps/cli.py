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
import os
import sys

from ._cli_commands import (
    _cmd_bench,
    _cmd_demo,
    _cmd_evaluate,
    _cmd_fit,
    _cmd_info,
    _cmd_predict,
    _cmd_recommend,
    _cmd_similar,
    _version,
)
from ._cli_options import (
    _MODEL_HELP,
    PROG,
    CLIError,
    _add_data_options,
    _add_svd_options,
    _Formatter,
    _int_at_least,
    _one_line,
    _Parser,
    _real,
    _seed,
    _wrap,
)

__all__ = ["CLIError", "build_parser", "main"]


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
        "rated in training (unless --include-seen). With --ratings FILE, the users of FILE "
        "(a ratings file in any format fit reads) are folded into the model first, without "
        "retraining and without changing the model file, so USER may be new; USER may be "
        "omitted when FILE holds one user. Titles are shown when a titles file is given or "
        "found next to the model or its training file (MovieLens u.item, movies.csv, "
        "movies.dat).",
        "  turbosvd recommend model.tsvd 196\n"
        "  turbosvd recommend model.tsvd 196 -n 20 --titles ml-100k/u.item\n"
        "  turbosvd recommend model.tsvd --ratings new_user.csv\n",
        _cmd_recommend,
    )
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument(
        "user",
        metavar="USER",
        nargs="?",
        help="user id, as written in the ratings file (optional with --ratings for one user)",
    )
    p.add_argument(
        "-n", type=_int_at_least(1), default=10, metavar="N", help="number of items (default 10)"
    )
    p.add_argument(
        "--include-seen", action="store_true", help="also rank the items the user rated in training"
    )
    p.add_argument(
        "--ratings",
        metavar="FILE",
        help="ratings of users to fold into the model before recommending (new users welcome)",
    )
    p.add_argument(
        "--cold-start",
        choices=["error", "bias"],
        default="error",
        help="for a user not in the model: 'error' (the default) or 'bias' (rank items by "
        "their bias, which is what predict() estimates for an unknown user)",
    )
    p.add_argument("--titles", metavar="FILE", help="item titles (u.item, movies.csv, ...)")
    _add_min_support(p, "items")

    p = command(
        "similar",
        "items (or users) most similar to one, from a saved model",
        "The N items closest to ITEM in the model's factor space (cosine similarity); ITEM is "
        "an item id or, with titles (--titles or found beside the model), a title or a "
        "unique part of one. With --users, ID is a user and the closest users are listed.",
        "  turbosvd similar model.tsvd 50\n"
        "  turbosvd similar model.tsvd 'star wars' --min-support 20\n"
        "  turbosvd similar model.tsvd 1 -n 5 --titles movies.csv\n"
        "  turbosvd similar model.tsvd 196 --users\n",
        _cmd_similar,
    )
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument("id", metavar="ITEM", help="item id or title (a user id with --users)")
    p.add_argument(
        "-n",
        type=_int_at_least(1),
        default=10,
        metavar="N",
        help="number of neighbours (default 10)",
    )
    p.add_argument("--users", action="store_true", help="ID is a user: list similar users")
    p.add_argument("--titles", metavar="FILE", help="item titles (u.item, movies.csv, ...)")
    _add_min_support(p, "items (users with --users)")

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


class _GuardedOutput:
    """``sys.stdout`` during a command: a failed write is recorded, never raised mid-command.

    Output problems (the reader of a pipe went away, a full disk) must not cost the work:
    ``turbosvd fit ... | head -1`` still trains and saves the model. Once a write fails, the
    rest of the output is dropped (the real descriptor is pointed at the null device, so
    Python's final flush does not fail again) and ``main`` reports it when the command ends.
    """

    def __init__(self, stream):
        self._stream = stream
        self.error: OSError | None = None

    def write(self, text):
        if self.error is None:
            try:
                return self._stream.write(text)
            except OSError as e:
                self._lost(e)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self.error is None:
            try:
                self._stream.flush()
            except OSError as e:
                self._lost(e)

    def _lost(self, error: OSError) -> None:
        self.error = error
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            return  # not a real descriptor (a test's capture): nothing left to flush
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _add_min_support(p, what: str) -> None:
    p.add_argument(
        "--min-support",
        type=_int_at_least(0),
        default=0,
        metavar="M",
        help=f"list only {what} with at least M training ratings (default 0: all); rarely "
        "rated ones have noisy factors",
    )


def main(argv=None) -> int:
    """Run the command line; returns the exit status.

    Exit status: 0 on success, 1 for a user error (one line on stderr), 2 for option syntax,
    130 after Ctrl-C. When standard output is closed by its reader (a broken pipe), the
    command still finishes its work (a model is saved), drops the rest of its output and
    exits with status 1 without a message, as Unix tools stopped by SIGPIPE do; any other
    failure to write the output (a full disk) is reported on one line, status 1.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    out = _GuardedOutput(sys.stdout)
    sys.stdout = out
    try:
        status = args.func(args)
        out.flush()
    except CLIError as e:
        out.flush()
        print(f"{PROG}: error: {e}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        status = 130
    except BrokenPipeError as e:  # written around the guard (e.g. to sys.stdout.buffer)
        out._lost(e)
        status = 1
    finally:
        if sys.stdout is out:
            sys.stdout = out._stream
    if isinstance(out.error, BrokenPipeError):
        return status or 1
    if out.error is not None:
        reason = out.error.strerror or _one_line(out.error)
        print(f"{PROG}: error: cannot write the output: {reason}", file=sys.stderr)
        return status or 1
    return status
