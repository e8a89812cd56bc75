"""The talk notebook (``examples/talk.ipynb``) runs from top to bottom (issue 17, item 8)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import needs_ml100k

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "talk.ipynb"


def _visible_lines(cell) -> list[str]:
    """The lines of a cell's stream outputs as a notebook shows them (``\r`` overwrites)."""
    text = "".join(o["text"] for o in cell.get("outputs", []) if o["output_type"] == "stream")
    return [line.rsplit("\r", 1)[-1] for line in text.split("\n") if line.strip()]


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


@needs_ml100k
@pytest.mark.slow
def test_talk_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    cells = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors == []
    # The fit cell: an RMSE, and a progress bar that did not flood the output.
    fit = next(c for c in cells if "progress=True" in c.source)
    assert "0.9" in _text(fit)
    shown = _visible_lines(fit)
    assert len(shown) <= 3, shown  # the bar (one line) and the RMSE
    assert any("SVD fit" in line and "20/20" in line for line in shown), shown
    # Star Wars is closer to Return of the Jedi than to Aladdin.
    cosine = next(c for c in cells if "cosine_distance" in c.source)
    namespace = {}
    exec("d = " + _text(cosine), namespace)  # the dict's repr
    d = namespace["d"]
    assert d["Return of the Jedi (1983)"] < d["Aladdin (1992)"]
    similar = next(c for c in cells if "similar_items" in c.source)
    assert "Return of the Jedi (1983)" in _text(similar)
    recs = next(c for c in cells if "recommend(" in c.source)
    assert _text(recs).count("\n") >= 10
    curve = cells[-1]
    assert any("image/png" in o.get("data", {}) for o in curve["outputs"])
