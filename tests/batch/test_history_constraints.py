"""Batch leaves a shopper's own history out by default and applies every per-row constraint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shelfwise.batch import BatchConfig, read_users, run_batch
from shelfwise.cli import main
from shelfwise.errors import ConfigError


def _log_history(ws) -> list[str]:
    """alice: organic views of the 12 products nearest "waterproof jacket", plus a served click."""
    from agent.policy import make_policy
    from shelfwise.engine import Engine
    from shelfwise.events import Interaction, SQLiteEventStore
    from shelfwise.recommender import Recommender

    engine = Engine.open(ws)
    store = SQLiteEventStore(ws.events_db)
    try:
        near = [h.product.id for h in engine.search("waterproof jacket", k=12)]
        store.log_interactions([Interaction.create(user_id="alice", product_id=pid,
                                                   kind="view", time=1000.0 + i)
                                for i, pid in enumerate(near)])
        rec = Recommender(engine, make_policy("greedy"), store)
        slate = rec.recommend("alice", "rain coat", k=4, rng=np.random.default_rng(0))
        clicked = slate.items[0].product.id
        rec.feedback("e-alice", slate.slate_id, clicked, "click")
        history = store.user_history("alice", 100)
    finally:
        store.close()
        engine.close()
    assert set(near) | {clicked} == set(history)
    return history


@pytest.mark.ray
def test_history_excluded_by_default_included_on_request_and_row_constraints(
        demo_copy, local_ray, tmp_path):
    history = _log_history(demo_copy)
    users = pd.DataFrame({
        "user_id": ["alice", "bob", "carol", "dave"],
        "query": ["waterproof jacket", "jacket", "warm jacket under 90", None],
        "max_price": [None, 70.0, None, None],
        "category": [None, None, None, "bags"],
    })
    path = tmp_path / "users.parquet"
    users.to_parquet(path)
    config = BatchConfig(k=5, policy="greedy", partition_size=2, n_candidates=50)
    out = tmp_path / "default"
    res = run_batch(path, out, demo_copy, config, progress=False)
    assert res.computed == [0, 1] and res.users_computed == 4
    slates = pd.read_parquet(out)
    assert sorted(p.name for p in out.iterdir()) == ["_manifest.json", "part-00000.parquet",
                                                     "part-00001.parquet"]  # staging removed
    prices = {p.id: p for p in _products(demo_copy, slates["product_id"])}
    by_user = {u: list(g["product_id"]) for u, g in slates.groupby("user_id")}
    assert all(len(v) == 5 for v in by_user.values())
    assert not set(by_user["alice"]) & set(history)  # no served item is in her history
    assert all(prices[p].price <= 70.0 for p in by_user["bob"])  # the row's max_price
    assert all(prices[p].price <= 90.0 for p in by_user["carol"])  # the query's "under 90"
    assert all(prices[p].category == "jackets" for p in by_user["bob"] + by_user["carol"])
    assert all(prices[p].category == "bags" for p in by_user["dave"])  # the row's category

    out_b = tmp_path / "with-history"
    assert main(["batch", str(path), str(out_b), "--k", "5", "--policy", "greedy",
                 "--partition-size", "2", "--candidates", "50", "--include-history",
                 "--no-progress", "--workspace", str(demo_copy.root)]) == 0
    again = pd.read_parquet(out_b)
    mine = set(again.loc[again["user_id"] == "alice", "product_id"])
    assert mine & set(history), mine  # the nearest products are the ones she viewed


def _products(ws, ids):
    from shelfwise.catalog import CatalogStore

    cat = CatalogStore(ws.catalog_db)
    try:
        return [cat.get(i) for i in set(ids)]
    finally:
        cat.close()


@pytest.mark.parametrize(("frame", "match"), [
    ({"user_id": ["a"], "max_price": ["cheap"]}, "row 0: max_price must be a number"),
    ({"user_id": ["a", "b"], "min_price": [None, -1.0]}, "row 1: min_price must be a finite"),
    ({"user_id": ["a"], "min_price": [50.0], "max_price": [20.0]},
     "row 0: min_price 50 is above max_price 20"),
    ({"user_id": ["a"], "in_stock": ["maybe"]}, "row 0: in_stock must be true or false"),
    ({"user_id": ["a"], "category": [3.5]}, "row 0: category must be a name"),
    ({"user_id": ["a"], "exclude": [[None]]}, "row 0: exclude holds None"),
])
def test_bad_constraint_columns_are_named(tmp_path, frame, match):
    path = tmp_path / "users.parquet"
    pd.DataFrame(frame).to_parquet(path)
    with pytest.raises(ConfigError, match=match):
        read_users(path)


def test_constraint_columns_are_read(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("user_id,query,max_price,category,in_stock,exclude\n"
                    "u1,red bag,80,\"bags, shoes\",true,p0001 p0002\nu2,,,,,\n")
    df = read_users(path)
    assert df["max_price"].tolist() == [80.0, None]
    assert df["category"].tolist() == [("bags", "shoes"), None]
    assert df["in_stock"].tolist() == [True, None]
    assert df["exclude"].tolist() == [["p0001", "p0002"], []]
