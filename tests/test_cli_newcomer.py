"""Command-line points of issue 17: similar by title, titles that do not match the model,
--min-support, the dtype shown by info, --schedule's help, the divergence epoch."""

from __future__ import annotations

import numpy as np
import pytest

import turbosvd
from conftest import small_ratings
from test_cli import call


@pytest.fixture
def model_and_titles(tmp_path, capsys):
    df = small_ratings(n_users=60, n_items=30, density=0.4, seed=4, scale=(1, 5))
    df["user"] = df["user"].str[1:]
    df["item"] = df["item"].str[1:]
    ratings = tmp_path / "ratings.csv"
    df.to_csv(ratings, index=False, header=["userId", "movieId", "rating"])
    model_path = tmp_path / "model.tsvd"
    status, _, err = call(capsys, "fit", ratings, "-o", model_path, "--n-factors", 4,
                          "--n-epochs", 3)  # fmt: skip
    assert status == 0, err
    model = turbosvd.load(model_path)
    ids = [str(i) for i in model.trainset.raw_item_ids.tolist()]
    titles = tmp_path / "titles.csv"
    names = {i: f"Film number {i} ({1990 + int(i) % 10})" for i in ids}
    names[ids[0]] = "Star Wars (1977)"
    names[ids[1]] = "Return of the Jedi (1983)"
    rows = "".join(f'{i},"{t}",Drama\n' for i, t in names.items())
    titles.write_text("movieId,title,genres\n" + rows)
    return model_path, model, titles, ids


def test_similar_by_title(capsys, model_and_titles):
    model_path, model, titles, ids = model_and_titles
    by_id = call(capsys, "similar", model_path, ids[0], "-n", 3, "--titles", titles)
    for text in ("Star Wars (1977)", "star wars", "STAR"):
        status, out, err = call(capsys, "similar", model_path, text, "-n", 3, "--titles", titles)
        assert status == 0, err
        assert out == by_id[1]
    status, _, err = call(capsys, "similar", model_path, "Film number", "--titles", titles)
    assert status == 1 and "matches several titles" in err
    status, _, err = call(capsys, "similar", model_path, "Casablanca", "--titles", titles)
    assert status == 1 and "neither an item id of the model nor part of a title" in err


def test_titles_that_do_not_match_the_model_warn(capsys, model_and_titles, tmp_path):
    model_path, model, _, ids = model_and_titles
    other = tmp_path / "u.item"  # ML-100k's format, ids of another data set
    other.write_text("".join(f"{1000 + k}|Other film {k}|01-Jan-1995||\n" for k in range(40))
                     + f"{ids[0]}|Not Star Wars|01-Jan-1995||\n", encoding="latin-1")  # fmt: skip
    status, out, err = call(capsys, "similar", model_path, ids[1], "--titles", other)
    assert status == 0
    assert "the titles file does not match the model: only 1 of its 30 items" in err
    status, out, err = call(capsys, "recommend", model_path, "1", "--titles", other)
    assert status == 0 and "does not match the model" in err
    _, _, titles, _ = model_and_titles
    status, _, err = call(capsys, "similar", model_path, ids[1], "--titles", titles)
    assert status == 0 and err == ""


def test_min_support_option(capsys, model_and_titles):
    model_path, model, _, ids = model_and_titles
    support = np.bincount(model.trainset.rating_arrays()[1])
    m = int(np.median(support)) + 1
    status, out, err = call(capsys, "similar", model_path, ids[2], "-n", 5, "--min-support", m)
    assert status == 0, err
    got = [ln.split()[1] for ln in out.splitlines()[1:]]
    assert got == [str(i) for i, _ in model.similar_items(ids[2], 5, min_support=m)]
    status, out, err = call(capsys, "recommend", model_path, "1", "-n", 5, "--min-support", m)
    assert status == 0, err
    got = [ln.split()[1] for ln in out.splitlines()[1:]]
    assert got == [str(i) for i, _ in model.recommend("1", 5, min_support=m)]
    status, _, err = call(capsys, "recommend", model_path, "1", "--min-support", -1)
    assert status == 2 and "--min-support" in err


def test_info_shows_the_model_dtype(capsys, model_and_titles):
    model_path, *_ = model_and_titles
    status, out, _ = call(capsys, "info", model_path)
    assert status == 0
    assert "  dtype = float32 (the schedule's default)" in out.splitlines()
    assert "dtype = None" not in out


def test_schedule_help_names_the_default(capsys):
    status, out, _ = call(capsys, "fit", "--help")
    assert status == 0
    text = " ".join(out.split())
    assert "(default: $TURBOSVD_SCHEDULE if set, else 'blocked')" in text
    assert "default None" not in text


def test_divergence_names_the_first_epoch_as_1(capsys, model_and_titles, tmp_path):
    ratings = model_and_titles[0].parent / "ratings.csv"
    status, _, err = call(capsys, "fit", ratings, "-o", tmp_path / "x.tsvd", "--lr-all", 1e6)
    assert status == 1
    assert "training diverged at epoch 1 (the first is 1)" in err
