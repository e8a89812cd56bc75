"""The ``turbosvd`` command line, end to end in subprocesses and in-process through main()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import turbosvd
from conftest import needs_ml100k, small_ratings
from turbosvd import SVD, Dataset, Reader, accuracy
from turbosvd.apps import cli
from turbosvd.model_selection import KFold, cross_validate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args, cwd=None, env=None, code=None) -> subprocess.CompletedProcess:
    """``python -m turbosvd ARGS`` (or ``python -c CODE``) in a fresh interpreter."""
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "turbosvd", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})},
        timeout=300,
    )  # fmt: skip


def call(capsys, *args) -> tuple[int, str, str]:
    """``turbosvd ARGS`` in this process; returns (status, stdout, stderr)."""
    try:
        status = cli.main([str(a) for a in args])
    except SystemExit as e:  # argparse
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *fragments, expected_status=1):
    assert status == expected_status
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("turbosvd")
    assert "error:" in lines[0]
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.fixture
def ratings_csv(tmp_path) -> Path:
    """ml-latest-small's layout: header userId,movieId,rating,timestamp; half stars."""
    df = small_ratings(n_users=50, n_items=30, density=0.5, seed=3, scale=(0.5, 5))
    df["user"] = df["user"].str[1:]
    df["item"] = df["item"].str[1:]
    df["timestamp"] = np.arange(len(df)) + 964982703
    path = tmp_path / "ratings.csv"
    df.to_csv(path, index=False, header=["userId", "movieId", "rating", "timestamp"])
    return path


@pytest.fixture
def model_file(ratings_csv, tmp_path, capsys) -> Path:
    path = tmp_path / "model.tsvd"
    status, _, _ = call(capsys, "fit", ratings_csv, "-o", path, "--n-factors", 4, "--n-epochs", 5)
    assert status == 0
    return path


def _python_model(ratings_csv, **params):
    """The same model through the Python API, for comparison."""
    df = pd.read_csv(ratings_csv, dtype=str)
    df["rating"] = df["rating"].astype(float)
    data = Dataset.load_from_df(df.iloc[:, :3], Reader(rating_scale=(0.5, 5)))
    return data, SVD(random_state=0, **params)


# ------------------------------------------------------------------- end to end
def test_fit_predict_evaluate_info_end_to_end(ratings_csv, tmp_path):
    model = tmp_path / "m.tsvd"
    fit = run("fit", ratings_csv, "-o", model, "--n-factors", "4", "--n-epochs", "6",
              "--reg-all", "0.05")  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    assert fit.stderr == ""
    out = fit.stdout.splitlines()
    assert out[0].startswith(f"Read {len(pd.read_csv(ratings_csv)):,} ratings")
    assert "comma-separated, header userId,movieId,rating,timestamp" in out[0]
    assert "rating scale 0.5 to 5 (inferred)" in out[0]
    assert out[1].startswith("Trained SVD(n_factors=4, n_epochs=6, lr_all=0.005, reg_all=0.05")
    assert out[2].startswith(f"Saved the model to {model}")

    data, ref = _python_model(ratings_csv, n_factors=4, n_epochs=6, reg_all=0.05)
    ref.fit(data.build_full_trainset())
    train_rmse = accuracy.rmse(ref.test(data.build_full_trainset().build_testset()), verbose=False)
    assert f"training RMSE {train_rmse:.4f}" in out[1]
    loaded = turbosvd.load(model)
    assert np.array_equal(loaded.pu, ref.pu)

    pred = run("predict", model, "1", "2", "3", "999")
    assert pred.returncode == 0, pred.stderr
    lines = pred.stdout.splitlines()
    assert lines == [f"1\t{i}\t{ref.predict('1', i).est:.4f}" for i in ("2", "3", "999")]
    assert pred.stderr.splitlines() == [
        "turbosvd: warning: item '999' is not in the model: its bias and factors are unknown"
    ]

    ev = run("evaluate", ratings_csv, "--cv", "3", "--n-factors", "4", "--n-epochs", "6")
    assert ev.returncode == 0, ev.stderr
    assert "Evaluating RMSE, MAE of algorithm SVD on 3 split(s)." in ev.stdout

    info = run("info", model)
    assert info.returncode == 0
    assert "n_factors = 4" in info.stdout and "reg_pu = 0.05" in info.stdout
    assert f"training file: {ratings_csv.resolve()}" in info.stdout


def test_console_script_and_help():
    script = Path(sys.executable).parent / "turbosvd"
    if not script.exists():
        pytest.skip("the turbosvd console script is not installed next to this interpreter")
    res = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    for command in ("fit", "predict", "evaluate", "recommend", "similar", "info", "bench", "demo"):
        assert f"    {command} " in res.stdout
    assert "examples:" in res.stdout and "turbosvd fit" in res.stdout
    version = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == f"turbosvd {turbosvd.__version__}"


@pytest.mark.parametrize(
    "command", ["fit", "predict", "evaluate", "recommend", "similar", "info", "bench", "demo"]
)
def test_every_command_has_help_with_examples(capsys, command):
    status, out, _ = call(capsys, command, "--help")
    assert status == 0
    assert out.startswith(f"usage: turbosvd {command}")
    assert f"examples:\n  turbosvd {command}" in out


def test_progress_goes_to_stderr_only(ratings_csv, tmp_path):
    res = run("fit", ratings_csv, "-o", tmp_path / "m", "--n-epochs", "3", "--n-factors", "2",
              "--progress", "--holdout", "0.2")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "SVD fit" not in res.stdout and "\r" not in res.stdout
    err = res.stderr.splitlines()
    assert err[0].startswith("SVD fit: 1/3 epochs") and err[-1].startswith("SVD fit: 3/3 epochs")
    assert len(res.stdout.splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "fragments", "status"),
    [
        (["fit", "missing.csv", "-o", "m"], ["No such file or directory", "missing.csv"], 1),
        (["fit", "bad.csv", "-o", "m"], ["bad.csv: line 3: rating 'oops' is not a finite"], 1),
        (["fit", "ratings.csv", "-o", "m", "--n-factors", "-3"], ["--n-factors", "-3"], 2),
        (["fit", "ratings.csv", "-o", "m", "--lr-all", "1e6", "--n-epochs", "30"],
         ["training diverged"], 1),
    ],
)  # fmt: skip
def test_user_errors_give_one_line_in_a_subprocess(ratings_csv, tmp_path, args, fragments, status):
    (tmp_path / "bad.csv").write_text("user,item,rating\n1,2,3\n1,3,oops\n" + "2,3,4\n" * 30)
    res = run(*args, cwd=tmp_path)
    assert_one_line_error(res.returncode, res.stderr, *fragments, expected_status=status)
    assert res.stdout == "" or res.stdout.startswith("Read ")
    assert not (tmp_path / "m").exists()


def test_missing_matplotlib_is_reported_before_training(ratings_csv, tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from turbosvd.apps.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    res = run("fit", str(ratings_csv), "-o", "m", "--plot", "c.png", cwd=tmp_path, code=code)
    assert_one_line_error(res.returncode, res.stderr, 'pip install "turbosvd[plot]"')
    assert res.stdout == ""
    assert not (tmp_path / "m").exists()


def test_missing_surprise_for_bench(tmp_path):
    code = (
        "import sys; sys.modules['surprise'] = None\n"
        "from turbosvd.apps.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    res = run("bench", "--synthetic", "100", cwd=tmp_path, code=code)
    assert_one_line_error(res.returncode, res.stderr, 'pip install "turbosvd[bench]"')


# ------------------------------------------------------------------ in-process checks
@pytest.mark.parametrize(
    ("args", "fragments", "status"),
    [
        (["fit", "{csv}", "-o", "{tmp}/no/such/dir/m"], ["folder", "does not exist"], 1),
        (["fit", "{csv}", "-o", "{tmp}"], ["is a directory"], 1),
        (["fit", "{csv}", "-o", "{tmp}/m", "--plot", "{tmp}/c.xyz"], ["extension must be"], 1),
        (["fit", "{csv}", "-o", "{tmp}/m", "--plot", "{tmp}/c.png", "--n-epochs", "0"],
         ["--n-epochs is 0"], 1),
        (["fit", "{csv}", "-o", "{tmp}/m", "--rating-scale", "5", "1"], ["rating_scale=(5, 1)"], 1),
        (["fit", "{csv}", "-o", "{tmp}/m", "--sep", ";"], ["with separator ';'"], 1),
        (["evaluate", "{csv}", "--cv", "100000"], ["--cv 100000 is more folds"], 1),
        (["info", "{csv}"], ["not a turbosvd model file"], 1),
        (["predict", "{csv}", "1", "2"], ["not a turbosvd model file"], 1),
        (["predict", "{tmp}/nothing.tsvd", "1", "2"], ["model file not found"], 1),
        (["fit", "{csv}"], ["-o/--output"], 2),
        (["fit", "{csv}", "-o", "{tmp}/m", "--holdout", "1.5"], ["--holdout", "1.5"], 2),
        (["fit", "{csv}", "-o", "{tmp}/m", "--n-jobs", "0"], ["--n-jobs", "0 is not valid"], 2),
        (["bench", "--repeat", "0"], ["--repeat", ">= 1"], 2),
        (["frobnicate"], ["invalid choice"], 2),
    ],
)  # fmt: skip
def test_user_errors_in_process(capsys, ratings_csv, model_file, tmp_path, args, fragments, status):
    fill = {"csv": ratings_csv, "tmp": tmp_path, "model": model_file}
    args = [a.format(**fill) for a in args]
    got, out, err = call(capsys, *args)
    assert_one_line_error(got, err, *fragments, expected_status=status)
    assert not (tmp_path / "m").exists()


def test_bugs_keep_their_traceback(capsys, model_file, monkeypatch):
    def broken(self, *args, **kwargs):
        raise ValueError("internal invariant violated")

    monkeypatch.setattr(SVD, "predict", broken)
    with pytest.raises(ValueError, match="internal invariant"):
        cli.main(["predict", str(model_file), "1", "2"])


def test_holdout_and_plot(capsys, ratings_csv, tmp_path):
    pytest.importorskip("matplotlib")
    status, out, err = call(capsys, "fit", ratings_csv, "-o", tmp_path / "m", "--holdout", 0.2,
                            "--n-epochs", 4, "--plot", tmp_path / "c.png")  # fmt: skip
    assert status == 0, err
    assert "validation RMSE" in out and f"Wrote the learning curve to {tmp_path / 'c.png'}" in out
    assert (tmp_path / "c.png").read_bytes().startswith(PNG_MAGIC)
    model = turbosvd.load(tmp_path / "m")
    assert len(model.history_["val_rmse"]) == 4
    n_ratings = len(pd.read_csv(ratings_csv))
    assert model.trainset.n_ratings == n_ratings - int(np.ceil(0.2 * n_ratings))


def test_evaluate_matches_cross_validate(capsys, ratings_csv):
    status, out, err = call(capsys, "evaluate", ratings_csv, "--cv", 3, "--n-factors", 3,
                            "--n-epochs", 4, "--random-state", 5)  # fmt: skip
    assert status == 0, err
    data, algo = _python_model(ratings_csv, n_factors=3, n_epochs=4)
    algo.random_state = 5
    cross_validate(algo, data, cv=KFold(3, random_state=5, shuffle=True), verbose=True)
    expected = capsys.readouterr().out
    table = out.split("\n", 1)[1]
    strip = [ln for ln in table.splitlines() if "time" not in ln]
    assert strip == [ln for ln in expected.splitlines() if "time" not in ln]


def test_evaluate_with_plot_gives_the_same_table(capsys, ratings_csv, tmp_path):
    pytest.importorskip("matplotlib")
    args = ["evaluate", ratings_csv, "--cv", 3, "--n-factors", 3, "--n-epochs", 4]
    _, plain, _ = call(capsys, *args)
    status, plotted, err = call(capsys, *args, "--plot", tmp_path / "cv.png")
    assert status == 0, err
    rows = lambda text: [ln for ln in text.splitlines() if ln.startswith(("RMSE", "MAE"))]  # noqa: E731
    assert rows(plotted) == rows(plain) and len(rows(plain)) == 2
    assert (tmp_path / "cv.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("sep", "header"), [("\t", None), ("::", None), ("|", None), (",", "user,item,rating")]
)
def test_fit_detects_formats(capsys, tmp_path, sep, header):
    df = small_ratings(seed=5)
    lines = [header] if header else []
    lines += [sep.join([u, i, f"{r:g}"]) for u, i, r in df.itertuples(index=False)]
    path = tmp_path / "r.dat"
    path.write_text("\n".join(lines) + "\n")
    status, out, err = call(capsys, "fit", path, "-o", tmp_path / "m", "--n-epochs", 2)
    assert status == 0, err
    model = turbosvd.load(tmp_path / "m")
    assert model.trainset.n_ratings == len(df)
    assert model.trainset.to_inner_uid(df["user"].iloc[0]) == 0


def test_predict_coerces_ids_of_numeric_models(capsys, tmp_path):
    df = pd.DataFrame({"u": [1, 1, 2, 3], "i": [10, 20, 10, 30], "r": [4.0, 3.0, 5.0, 1.0]})
    algo = SVD(n_factors=2, n_epochs=3, random_state=0)
    algo.fit(Dataset.load_from_df(df, Reader(rating_scale=(1, 5))).build_full_trainset())
    algo.save(tmp_path / "m")
    status, out, err = call(capsys, "predict", tmp_path / "m", "1", "20", "--digits", "6")
    assert status == 0 and err == ""
    assert out == f"1\t20\t{algo.predict(1, 20).est:.6f}\n"


def test_unbiased_unknown_user_warns_impossible(capsys, ratings_csv, tmp_path):
    call(capsys, "fit", ratings_csv, "-o", tmp_path / "m", "--no-biased", "--n-epochs", 2)
    status, out, err = call(capsys, "predict", tmp_path / "m", "stranger", "2")
    assert status == 0
    assert "user 'stranger' is not in the model" in err
    assert "User and item are unknown. Using the global mean." in err
    gm = turbosvd.load(tmp_path / "m").trainset.global_mean
    assert out == f"stranger\t2\t{gm:.4f}\n"


# ------------------------------------------------------------------ top-N, end to end
def test_recommend_and_similar_on_a_real_model(capsys, model_file, ratings_csv):
    model = turbosvd.load(model_file)
    ts = model.trainset
    uid, iid = ts.to_raw_uid(0), ts.to_raw_iid(0)
    # Titles are found next to the training file (movies.csv, as in ml-latest-small).
    expected = model.recommend(uid, 3)
    first = expected[0][0]
    (ratings_csv.parent / "movies.csv").write_text(
        f'movieId,title,genres\n{first},"Heat (1995)",Action\n'
    )
    status, out, err = call(capsys, "recommend", model_file, uid, "-n", 3)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["rank", "item", "estimate", "title"]
    assert len(lines) == 4
    for rank, (line, (item, est)) in enumerate(zip(lines[1:], expected, strict=True), 1):
        fields = line.split()
        assert fields[:3] == [str(rank), str(item), f"{est:.4f}"]
    assert lines[1].endswith("Heat (1995)") and lines[2].endswith("?")
    # Seen items come back with --include-seen.
    status, out, _ = call(capsys, "recommend", model_file, uid, "-n", 3, "--include-seen")
    with_seen = model.recommend(uid, 3, exclude_seen=False)
    assert [ln.split()[1] for ln in out.splitlines()[1:]] == [str(i) for i, _ in with_seen]
    # Similar items and users: the model's own answers, in order.
    status, out, err = call(capsys, "similar", model_file, iid, "-n", 2)
    assert status == 0, err
    rows = [ln.split() for ln in out.splitlines()[1:]]
    assert [(r[1], r[2]) for r in rows] == [
        (str(i), f"{s:.4f}") for i, s in model.similar_items(iid, 2)
    ]
    status, out, err = call(capsys, "similar", model_file, uid, "--users", "-n", 2)
    assert status == 0, err
    rows = [ln.split() for ln in out.splitlines()[1:]]
    assert out.splitlines()[0].split() == ["rank", "user", "similarity"]
    assert [(r[1], r[2]) for r in rows] == [
        (str(u), f"{s:.4f}") for u, s in model.similar_users(uid, 2)
    ]
    status, out, _ = call(capsys, "similar", model_file, uid, "--users", "--include-seen")
    assert status == 2  # --include-seen belongs to recommend


def test_recommend_to_unknown_users(capsys, model_file, ratings_csv, tmp_path):
    status, _, err = call(capsys, "recommend", model_file, "nobody")
    assert_one_line_error(
        status, err, "'nobody' is not part of the trainset; use --cold-start bias"
    )
    model = turbosvd.load(model_file)
    status, out, err = call(capsys, "recommend", model_file, "nobody", "-n", 2,
                            "--cold-start", "bias")  # fmt: skip
    assert status == 0, err
    cold = model.recommend("nobody", 2, cold_start="bias")
    assert [ln.split()[1:3] for ln in out.splitlines()[1:]] == [
        [str(i), f"{e:.4f}"] for i, e in cold
    ]
    call(capsys, "fit", ratings_csv, "-o", tmp_path / "u", "--no-biased", "--n-epochs", 2)
    status, _, err = call(capsys, "recommend", tmp_path / "u", "nobody", "--cold-start", "bias")
    assert_one_line_error(status, err, "unbiased model")
    status, _, err = call(capsys, "similar", model_file, "no-such-item")
    assert_one_line_error(status, err, "item 'no-such-item' is not part of the trainset")


# --------------------------------------------------------------------------- bench, demo
def test_bench_small_synthetic(capsys, tmp_path, surprise):
    pytest.importorskip("matplotlib")
    status, out, err = call(capsys, "bench", "--synthetic", 3000, "--n-factors", 4, "--n-epochs",
                            2, "--repeat", 1, "--json", tmp_path / "b.json", "--plot",
                            tmp_path / "b.png")  # fmt: skip
    assert status == 0, err
    assert "| Surprise |" in out and "| turbosvd exact |" in out
    result = json.loads((tmp_path / "b.json").read_text())
    assert result["n_train"] + result["n_test"] == 3000
    rows = {r["name"]: r for r in result["rows"]}
    # Same split and the exact schedule: the same RMSE as Surprise, to noise.
    assert abs(rows["Surprise"]["rmse"] - rows["turbosvd exact"]["rmse"]) < 1e-10
    assert rows["Surprise"]["fit_speedup"] == 1.0
    assert (tmp_path / "b.png").read_bytes().startswith(PNG_MAGIC)
    assert "[bench] Surprise: fitting" in err


@needs_ml100k
def test_demo_tour_in_a_subprocess():
    """The README's main job, as a user runs it (with the shared MovieLens copy)."""
    proc = run("demo")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "MovieLens 100k: 100,000 ratings of 1,682 movies by 943 users" in out
    assert "turbosvd is" in out and "x faster" in out  # Surprise is in the test extra
    star_wars = out.split('Most similar to "Star Wars (1977)"')[1].split("Most similar to")[0]
    neighbours = [line.split(". ", 1)[1] for line in star_wars.strip().splitlines()[1:]]
    assert len(neighbours) == 10
    assert any(n.startswith("Return of the Jedi (1983)") for n in neighbours[:2])
    assert any(n.startswith("Empire Strikes Back, The (1980)") for n in neighbours[:2])
    assert 'Most similar to "Pulp Fiction (1994)"' in out
    assert "Top 10 for user 196" in out
    assert "+ user . movie vectors" in out


@needs_ml100k
def test_demo_accuracy_matches_surprise_with_the_exact_schedule(capsys, monkeypatch):
    monkeypatch.setenv("TURBOSVD_SCHEDULE", "exact")
    status, out, _ = call(capsys, "demo")
    assert status == 0
    ours, theirs = [line.split() for line in out.splitlines() if line.startswith(
        ("  turbosvd ", "  Surprise "))]  # fmt: skip
    assert ours[-2:] == ["0.9467", "0.7462"]
    assert theirs[3:5] == ["0.9467", "0.7462"]


def test_demo_without_data_or_network_says_how_to_fix_it(capsys, monkeypatch, tmp_path):
    from urllib.error import URLError

    import turbosvd.builtin_datasets as bd

    def offline(url, dest):
        raise URLError("no network")

    monkeypatch.setenv("TURBOSVD_DATA_FOLDER", str(tmp_path / "empty"))
    monkeypatch.setattr(bd, "urlretrieve", offline)
    status, out, err = call(capsys, "demo", "--no-surprise")
    assert status == 1
    assert "Traceback" not in err
    assert "could not be downloaded (no network)" in err
    assert "TURBOSVD_DATA_FOLDER=DIR turbosvd demo" in err
    assert "DIR/ml-100k/ml-100k/u.data" in err


def test_recommend_for_a_new_user_from_a_ratings_file(capsys, model_file, tmp_path):
    """--ratings folds the file's user into the model (not into the file) and recommends."""
    new = tmp_path / "new_user.csv"
    new.write_text("userId,movieId,rating\nnewbie,2,5\nnewbie,3,4.5\nnewbie,999999,3\n")
    status, out, err = call(capsys, "recommend", model_file, "--ratings", new, "-n", 3)
    assert status == 0, err
    assert "1 rating(s) of 1 item(s) unknown" in err and "new_user.csv" in err
    rows = [line.split() for line in out.splitlines()[1:]]
    assert len(rows) == 3 and {"2", "3"}.isdisjoint(r[1] for r in rows)
    model = turbosvd.load(model_file)
    assert "newbie" not in model.trainset._raw2inner_id_users  # the model file is unchanged
    model.partial_fit_users([("newbie", "2", 5.0), ("newbie", "3", 4.5)])
    expected = model.recommend("newbie", n=3)
    assert [r[1] for r in rows] == [i for i, _ in expected]
    assert [float(r[2]) for r in rows] == pytest.approx([e for _, e in expected], abs=1e-4)
    # Several users in the file: USER picks one; without it, a one-line error.
    new.write_text("userId,movieId,rating\na,2,5\nb,3,1\n")
    status, out, err = call(capsys, "recommend", model_file, "b", "--ratings", new, "-n", 2)
    assert status == 0, err
    status, _, err = call(capsys, "recommend", model_file, "--ratings", new)
    assert_one_line_error(status, err, "has ratings of 2 users", "USER")
    status, _, err = call(capsys, "recommend", model_file)
    assert_one_line_error(status, err, "--ratings")
    new.write_text("userId,movieId,rating\nc,2,50\n")
    status, _, err = call(capsys, "recommend", model_file, "--ratings", new)
    assert_one_line_error(status, err, "outside the model's rating scale")
