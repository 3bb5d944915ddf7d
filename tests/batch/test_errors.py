"""Bad inputs and settings of ``shelfwise batch`` fail early with a message that names them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shelfwise.batch import BatchConfig, read_users, run_batch, user_rng
from shelfwise.cli import main
from shelfwise.errors import ConfigError, IndexError_, PolicyError


def _write(tmp_path, name, frame):
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda d: d / "missing.parquet", ConfigError, "input file not found"),
    (lambda d: _touch(d / "users.txt", b"user_id\nu1\n"), ConfigError,
     "unsupported format '.txt'; use a .parquet or .csv file"),
    (lambda d: _touch(d / "broken.parquet", b"not parquet at all"), ConfigError,
     "cannot read input .*broken.parquet"),
    (lambda d: _write(d, "nouser.parquet", pd.DataFrame({"customer": ["a"]})), ConfigError,
     r"has no 'user_id' column \(columns: customer\)"),
    (lambda d: _write(d, "empty.parquet", pd.DataFrame({"user_id": pd.Series([], dtype=str)})),
     ConfigError, "has no rows"),
    (lambda d: _write(d, "blank.csv", pd.DataFrame({"user_id": ["a", ""]})), ConfigError,
     "row 1: user_id is empty"),
    (lambda d: _write(d, "badhist.parquet", pd.DataFrame({"user_id": ["a"], "history": [3.5]})),
     ConfigError, "row 0: history must be a list of product ids"),
])
def test_bad_input(tmp_path, make, error, match):
    with pytest.raises(error, match=match):
        read_users(make(tmp_path))


def _touch(path, data):
    path.write_bytes(data)
    return path


def test_reads_csv_and_parquet_histories(tmp_path):
    csv = tmp_path / "u.csv"
    csv.write_text("user_id,query,history\nu1,red bag,p0001 p0002\nu2,,\n")
    df = read_users(csv)
    assert df["user_id"].tolist() == ["u1", "u2"]
    assert df["query"].tolist() == ["red bag", None]
    assert df["history"].tolist() == [["p0001", "p0002"], []]
    pq = _write(tmp_path, "u.parquet", pd.DataFrame({"user_id": [7], "history": [["p1", "p2"]]}))
    df = read_users(pq)
    assert df["user_id"].tolist() == ["7"] and df["history"].tolist() == [["p1", "p2"]]
    assert df["query"].tolist() == [None]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"k": 0}, "--k must be a positive integer, got 0"),
    ({"partition_size": -1}, "--partition-size must be a positive integer"),
    ({"workers": 0}, "--workers must be a positive integer"),
    ({"seed": -3}, "--seed must be a non-negative integer"),
    ({"reasons": "poetry"}, "--reasons: unknown value 'poetry'; choose one of: none, "
                            "template, llm"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        BatchConfig(**kwargs)


@pytest.fixture()
def users_file(tmp_path):
    return _write(tmp_path, "users.parquet", pd.DataFrame({"user_id": ["a", "b"]}))


def test_output_is_a_file(demo_workspace, users_file, tmp_path):
    out = tmp_path / "slates.parquet"
    out.write_text("x")
    with pytest.raises(ConfigError, match="exists and is a file; give a folder"):
        run_batch(users_file, out, demo_workspace)


def test_output_folder_not_ours(demo_workspace, users_file, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not empty and holds no batch manifest"):
        run_batch(users_file, out, demo_workspace)


def test_unknown_policy(demo_workspace, users_file, tmp_path):
    with pytest.raises(PolicyError,
                       match="unknown policy 'slateQ'; choose one of: actor_critic, greedy"):
        run_batch(users_file, tmp_path / "out", demo_workspace, BatchConfig(policy="slateQ"))
    with pytest.raises(PolicyError, match="policy checkpoint not found: nowhere/p.npz"):
        run_batch(users_file, tmp_path / "out", demo_workspace,
                  BatchConfig(policy="nowhere/p.npz"))


def test_workspace_without_index(users_file, tmp_path):
    with pytest.raises(IndexError_, match="no product index yet"):
        run_batch(users_file, tmp_path / "out", tmp_path / "empty-ws")


def test_cli_prints_error_and_exits_2(demo_workspace, tmp_path, capsys):
    bad = _write(tmp_path, "u.parquet", pd.DataFrame({"uid": ["a"]}))
    code = main(["batch", str(bad), str(tmp_path / "out"), "--workspace",
                 str(demo_workspace.root)])
    assert code == 2
    assert "error: input" in capsys.readouterr().err
    code = main(["batch", str(bad), str(tmp_path / "out"), "--reasons", "poetry",
                 "--workspace", str(demo_workspace.root)])
    assert code == 2
    assert "--reasons: unknown value 'poetry'" in capsys.readouterr().err


def test_user_rng_depends_on_seed_and_user_only():
    a = user_rng(0, "u1").random(4)
    assert np.array_equal(a, user_rng(0, "u1").random(4))
    assert not np.array_equal(a, user_rng(1, "u1").random(4))
    assert not np.array_equal(a, user_rng(0, "u2").random(4))
