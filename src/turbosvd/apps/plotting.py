"""Learning curves and benchmark charts (needs the optional ``plot`` extra: matplotlib).

Figures are drawn with matplotlib's object API on an off-screen canvas, so plotting works
without a display and never changes the user's pyplot state.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = [
    "MissingMatplotlibError",
    "check_plot_path",
    "plot_benchmark",
    "plot_learning_curve",
    "plot_learning_curves",
    "require_matplotlib",
]

INSTALL_HINT = 'pip install "turbosvd[plot]"'


class MissingMatplotlibError(ImportError):
    """Plotting was asked for but matplotlib is not installed."""


def require_matplotlib():
    """Import matplotlib, or raise ``MissingMatplotlibError`` with the install command."""
    try:
        import matplotlib
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        raise MissingMatplotlibError(
            f"plotting needs matplotlib, which is not installed: {INSTALL_HINT}"
        ) from None
    return matplotlib


def check_plot_path(path) -> str:
    """Validate an output image path before any long computation; returns it.

    Raises
    ------
    MissingMatplotlibError
        If matplotlib is missing.
    ValueError
        If the extension is not an image format matplotlib can write, or the folder does
        not exist.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    supported = Figure().canvas.get_supported_filetypes()
    if ext not in supported:
        raise ValueError(
            f"cannot write a plot to {path!r}: the extension must be one of "
            f"{', '.join('.' + e for e in sorted(supported))}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write a plot to {path!r}: folder {folder!r} does not exist")
    return path


def _new_figure(width=7.0, height=5.0):
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=120, layout="constrained")


def plot_learning_curve(history: dict, path, *, title: str = "Learning curve") -> str:
    """Plot one ``history_`` (train and, if present, validation RMSE per epoch) to ``path``."""
    return plot_learning_curves([history], path, title=title)


def plot_learning_curves(
    histories: Sequence[dict], path, *, title: str = "Learning curve", val_label: str = "validation"
) -> str:
    """Plot the RMSE per epoch of one or several fits (e.g. the folds of a CV) to ``path``.

    With several histories, each fold is a thin line and the mean a thick one.

    Parameters
    ----------
    histories : sequence of dict
        ``SVD.history_`` dicts (``epoch``, ``train_rmse``, optional ``val_rmse``).
    path : str or os.PathLike
        Image file; the format follows the extension.
    title : str
    val_label : str
        Legend name of ``val_rmse`` (``'validation'``, ``'test'``...).

    Returns
    -------
    str
        ``path``.
    """
    if not histories or not all(h and h.get("epoch") for h in histories):
        raise ValueError("nothing to plot: the learning curve is empty (n_epochs=0?)")
    fig = _new_figure()
    ax = fig.add_subplot()
    series = [("train_rmse", "training", "tab:blue"), ("val_rmse", val_label, "tab:orange")]
    several = len(histories) > 1
    epochs = np.asarray(histories[0]["epoch"])
    for key, label, color in series:
        curves = [np.asarray(h[key], dtype=float) for h in histories if key in h]
        if not curves:
            continue
        mean = np.mean(curves, axis=0)
        if several:
            for k, c in enumerate(curves):
                ax.plot(
                    epochs,
                    c,
                    color=color,
                    alpha=0.3,
                    linewidth=1,
                    label=f"{label}, each fold" if k == 0 else None,
                )
            label = f"{label}, mean of {len(curves)} folds"
        text = f"{label} (last {mean[-1]:.4f}"
        if key == "val_rmse":
            # Where the validation error bottoms out: more epochs past it overfit.
            best = int(np.argmin(mean))
            ax.plot(
                epochs[best],
                mean[best],
                marker="*",
                markersize=13,
                color=color,
                markeredgecolor="black",
                markeredgewidth=0.6,
                zorder=3,
                linestyle="none",
            )
            text += f", best {mean[best]:.4f} at epoch {epochs[best]}"
        ax.plot(
            epochs, mean, color=color, linewidth=2.2, marker="o", markersize=3, label=text + ")"
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("RMSE")
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # Below the axes: inside, it would hide some curve whatever the corner.
    handles, labels = ax.get_legend_handles_labels()
    fig.set_figheight(4.4 + 0.22 * len(labels))
    fig.legend(handles, labels, loc="outside lower center", fontsize=9, frameon=False)
    path = os.fspath(path)
    fig.savefig(path)
    return path


def plot_benchmark(rows: Sequence[dict], path, *, title: str = "Speed-up over Surprise") -> str:
    """Bar chart of fit and test speed-ups over Surprise, one group per turbosvd variant.

    Parameters
    ----------
    rows : sequence of dict
        ``benchmark.run_benchmark(...)["rows"]``: one per variant, with ``name``,
        ``fit_speedup`` and ``test_speedup`` (the Surprise row, with speed-ups of 1, may be
        included; it is drawn as the reference line).
    path : str or os.PathLike
    title : str

    Returns
    -------
    str
        ``path``.
    """
    variants = [r for r in rows if r.get("library") != "surprise"]
    if not variants:
        raise ValueError("nothing to plot: no turbosvd result in the benchmark")
    fig = _new_figure(width=max(5.0, 2.4 + 1.6 * len(variants)), height=4.4)
    ax = fig.add_subplot()
    x = np.arange(len(variants))
    w = 0.34
    measures = (("fit_speedup", "fit", "tab:blue"), ("test_speedup", "test()", "tab:orange"))
    top = 1.0
    for k, (key, label, color) in enumerate(measures):
        values = [r[key] for r in variants]
        top = max(top, *values)
        bars = ax.bar(x + (k - 0.5) * w, values, w, label=label, color=color)
        ax.bar_label(bars, labels=[f"{v:.1f}x" for v in values], padding=2, fontsize=9)
    ax.axhline(1.0, color="black", linewidth=1, linestyle="--")
    ax.annotate(
        "Surprise = 1x",
        xy=(0, 1.0),
        xycoords=("axes fraction", "data"),
        xytext=(4, 2),
        textcoords="offset points",
        va="bottom",
        fontsize=8,
    )
    ax.set_xticks(x, [r["name"] for r in variants])
    ax.set_xlim(-0.7, len(variants) - 0.3)
    ax.set_ylim(0, top * 1.15)
    ax.set_ylabel("speed-up over Surprise (x)")
    ax.set_title(title, fontsize=11)
    ax.legend(loc="upper left", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    path = os.fspath(path)
    fig.savefig(path)
    return path
