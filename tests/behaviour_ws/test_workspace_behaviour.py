"""Behaviour models of a workspace: `shelfwise train --model`, serving with them, the demo."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shelfwise.cli import main


@pytest.fixture()
def with_history(demo_copy):
    """The demo copy with a small simulated shopping history in its event log."""
    from shelfwise.demo_store import write_demo_history
    from shelfwise.engine import Engine

    engine = Engine.open(demo_copy)
    try:
        n = write_demo_history(engine, n_sessions=60, seed=0)
    finally:
        engine.close()
    assert n > 100
    return demo_copy


def test_train_unknown_model_exits_2_with_the_valid_names(demo_copy, capsys):
    code = main(["train", "--model", "ease2", "--workspace", str(demo_copy.root)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: unknown behaviour model 'ease2'")
    for name in ("ease", "als", "itemknn", "sasrec"):
        assert name in err
    assert "Traceback" not in err


def test_train_without_interactions_exits_2(demo_copy, capsys):
    code = main(["train", "--model", "ease", "--workspace", str(demo_copy.root)])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and "no interactions" in err


def test_train_model_json_and_recommend_with_behaviour(with_history, capsys):
    from agent.policy import make_policy
    from shelfwise.engine import Engine
    from shelfwise.events import SQLiteEventStore
    from shelfwise.recommender import Recommender

    ws = with_history
    code = main(["train", "--model", "ease", "--json", "--workspace", str(ws.root)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    (m,) = report["models"]
    assert m["name"] == "ease" and m["role"] == "item" and m["n_items"] == 2000
    assert m["by_source"] == {"organic": m["n_events"]}
    manifest = json.loads((ws.models_dir / "behaviour" / "manifest.json").read_text())
    assert manifest["item"] == "ease"

    engine = Engine.open(ws)
    store = SQLiteEventStore(ws.events_db)
    try:
        assert engine.candidate_sources.behaviour is not None
        rec = Recommender(engine, make_policy("linucb", dim=engine.dim, seed=0), store,
                          n_candidates=40)
        user = "sim-0001"
        history = rec.history(user)
        assert history
        resp = rec.recommend(user, None, k=5, rng=np.random.default_rng(0))
        shown = [it.product.id for it in resp.items]
        assert len(shown) == 5 and not set(shown) & set(history)  # history excluded
        imp = store.impression(resp.slate_id)
        assert imp.candidate_sources is not None and len(imp.candidate_sources) == \
            len(imp.candidate_ids)
        assert imp.source_names == ("content", "behaviour", "item2item", "popular")
        assert imp.source_scores.shape == (len(imp.candidate_ids), 4)
        labels = {s for lab in imp.candidate_sources for s in lab.split("+")}
        assert "item2item" in labels
        assert all(0 < p <= 1 for p in imp.propensities)
        # a brand-new visitor with no query gets the popular products
        fresh = rec.recommend("never-seen", None, k=5, rng=np.random.default_rng(0))
        imp2 = store.impression(fresh.slate_id)
        assert set(imp2.candidate_sources) == {"popular"}
        # a query still constrains through filters on every source
        from index import SearchFilter

        flt = SearchFilter(categories=frozenset({"jackets"}), max_price=150.0)
        q = rec.recommend(user, "waterproof jacket", flt, k=5, rng=np.random.default_rng(0))
        assert q.items and all(it.product.category == "jackets" and it.product.price <= 150
                               for it in q.items)
    finally:
        store.close()
        engine.close()


def test_demo_trains_behaviour_models(demo_copy, capsys, monkeypatch):
    from shelfwise import demo_store
    from shelfwise.cli import catalog_cmds

    monkeypatch.setattr(demo_store, "DEMO_HISTORY_SESSIONS", 60)
    monkeypatch.setattr(catalog_cmds, "DEMO_SASREC", {"max_epochs": 1})
    code = main(["demo", "--json", "--workspace", str(demo_copy.root)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["behaviour"]["history_events"] > 100
    assert "ease" in out["behaviour"]["trained"]
    manifest = json.loads((demo_copy.models_dir / "behaviour" / "manifest.json").read_text())
    assert manifest["item"] == "ease"
    assert (demo_copy.models_dir / "behaviour" / "ease" / "config.json").is_file()
