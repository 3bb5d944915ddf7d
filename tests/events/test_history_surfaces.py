"""Imported past interactions reach every surface that uses a shopper's history.

``shelfwise ingest-events`` into a copy of the demo store, then: the recommender (behind the
HTTP server and the chat) reads the imported history and builds its state from it; ``chat
--once --user`` logs a slate whose state carries it; ``shelfwise batch`` fills empty histories
from the log. Also: the examples/ interactions file loads against the examples/ catalog.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from shelfwise.cli import main
from shelfwise.events import SQLiteEventStore
from tests.conftest import repo_root


def _shoes(ws) -> list[str]:
    from shelfwise.catalog import CatalogStore

    store = CatalogStore(ws.catalog_db)
    try:
        return [p.id for p in store.all() if p.category == "shoes"][:6]
    finally:
        store.close()


def _import(ws, tmp_path, capsys, user: str, products: list[str]) -> dict:
    lines = ["user_id,product_id,time,kind"]
    lines += [f"{user},{pid},{1_700_000_000 + 60 * i},{'view' if i % 2 else 'purchase'}"
              for i, pid in enumerate(products)]
    path = tmp_path / f"{user}.csv"
    path.write_text("\n".join(lines) + "\n")
    code = main(["ingest-events", str(path), "--json", "--workspace", str(ws.root)])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def test_recommender_uses_imported_history(demo_copy, tmp_path, capsys):
    from agent.policy import make_policy
    from shelfwise.engine import Engine
    from shelfwise.recommender import Recommender

    shoes = _shoes(demo_copy)
    assert _import(demo_copy, tmp_path, capsys, "alice", shoes)["inserted"] == len(shoes)
    again = _import(demo_copy, tmp_path, capsys, "alice", shoes)
    assert (again["inserted"], again["duplicates"]) == (0, len(shoes))
    engine = Engine.open(demo_copy)
    store = SQLiteEventStore(demo_copy.events_db)
    try:
        rec = Recommender(engine, make_policy("greedy", dim=engine.dim, seed=0), store,
                          n_candidates=30)
        assert rec.history("alice") == shoes  # oldest first
        assert rec.history("bob") == []
        resp = rec.recommend("alice", k=5, rng=np.random.default_rng(0))
        imp = store.impression(resp.slate_id)
        np.testing.assert_allclose(imp.state, engine.user_state(shoes), rtol=1e-5, atol=1e-6)
        assert sum(it.product.category == "shoes" for it in resp.items) >= 4
        cold = rec.recommend("bob", k=5, rng=np.random.default_rng(0))
        assert sum(it.product.category == "shoes" for it in cold.items) <= 2
        # a reaction to a served slate joins the imported history at once
        pick = next(it.product.id for it in resp.items if it.product.id not in shoes)
        rec.feedback("fb-1", resp.slate_id, pick, "click")
        assert rec.history("alice") == [*shoes, pick]
    finally:
        store.close()
        engine.close()


def test_chat_with_user_sees_imported_history(demo_copy, tmp_path, capsys):
    shoes = _shoes(demo_copy)
    _import(demo_copy, tmp_path, capsys, "alice", shoes)
    states = {}
    for user in ("alice", "bob"):
        code = main(["chat", "--once", "show me something nice", "--no-llm", "--json",
                     "--user", user, "--workspace", str(demo_copy.root)])
        out = capsys.readouterr()
        assert code == 0, out.err
        data = json.loads(out.out)
        assert data["user_id"] == user
        with SQLiteEventStore(demo_copy.events_db) as events:
            states[user] = events.impression(data["slate_id"]).state
    from shelfwise.engine import Engine

    engine = Engine.open(demo_copy)
    try:
        taste = engine.index.vectors(shoes).mean(axis=0)
    finally:
        engine.close()
    assert not np.allclose(states["alice"], states["bob"])
    assert _cos(states["alice"], taste) > _cos(states["bob"], taste) + 0.1


def test_batch_fills_empty_histories_from_the_log(demo_copy, demo_engine, tmp_path, capsys):
    import pandas as pd

    from shelfwise.batch import SlateGenerator, read_users, resolve_policy
    from shelfwise.interactions.history import attach_history

    shoes = _shoes(demo_copy)
    _import(demo_copy, tmp_path, capsys, "alice", shoes)
    _import(demo_copy, tmp_path, capsys, "carol", shoes[:2])
    path = tmp_path / "users.csv"
    pd.DataFrame({"user_id": ["alice", "bob", "carol"],
                  "history": ["", "", "p0001"]}).to_csv(path, index=False)
    users, filled = attach_history(read_users(path), demo_copy.events_db)
    assert filled == 1
    # alice's history comes from the log; bob has none; carol's given history wins
    assert list(users["history"]) == [shoes, [], ["p0001"]]
    policy = resolve_policy("greedy", None, dim=demo_engine.dim, seed=0)
    slates = SlateGenerator(demo_engine, policy, k=5, seed=0).slates(users)
    alice = slates[slates["user_id"] == "alice"]["product_id"].tolist()
    got = {p.id: p.category for p in demo_engine.products(alice)}
    assert sum(got[p] == "shoes" for p in alice) >= 4


@pytest.mark.ray
@pytest.mark.slow
def test_batch_cli_sees_imported_history(demo_copy, tmp_path, capsys):
    import pandas as pd
    import pyarrow.parquet as pq

    shoes = _shoes(demo_copy)
    _import(demo_copy, tmp_path, capsys, "alice", shoes)
    users = tmp_path / "users.parquet"
    pd.DataFrame({"user_id": ["alice", "bob"]}).to_parquet(users)
    out = tmp_path / "slates"
    code = main(["batch", str(users), str(out), "--k", "5", "--no-progress", "--json",
                 "--workspace", str(demo_copy.root)])
    res = capsys.readouterr()
    assert code == 0, res.err
    table = pq.read_table(out).to_pandas()
    from shelfwise.catalog import CatalogStore

    store = CatalogStore(demo_copy.catalog_db)
    try:
        alice = store.by_ids(table[table["user_id"] == "alice"]["product_id"].tolist())
    finally:
        store.close()
    assert sum(p.category == "shoes" for p in alice) >= 4


def test_example_interactions_load_against_the_example_catalog(tmp_path, capsys):
    for name in ("merchant_products.tsv", "interactions.csv"):
        shutil.copy(repo_root() / "examples" / name, tmp_path / name)
    ws = str(tmp_path / "ws")
    code = main(["ingest", str(tmp_path / "merchant_products.tsv"), "-w", ws, "--json",
                 "--no-build-index"])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    code = main(["ingest-events", str(tmp_path / "interactions.csv"), "-w", ws, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    summary = json.loads(out.out)
    assert summary["columns"]["user"] == "customer_id" and summary["columns"]["product"] == "sku"
    assert summary["unknown_products"] == 1 and summary["invalid"] == 0
    assert summary["inserted"] == summary["read"] - 1
    assert set(summary["kinds"]) == {"view", "add_to_cart", "purchase"}
    with SQLiteEventStore(tmp_path / "ws" / "events.sqlite") as store:
        bought = [i for i in store.interactions() if i.kind == "purchase"]
    assert any(i.value == 89.5 for i in bought)  # "89.50 USD"
    assert all(i.value and i.value > 0 for i in bought)  # others: catalog price x qty
