"""Sponsored slots served by the recommender, logged with propensities, returned by the API."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from shelfwise.sponsored import SponsoredLayout


@pytest.fixture()
def ad_world(demo_copy):
    """The demo engine with every third product sponsored (bid 0.1 to 0.9) and an event log."""
    from shelfwise.catalog import CatalogStore
    from shelfwise.engine import Engine
    from shelfwise.events import SQLiteEventStore

    catalog = CatalogStore(demo_copy.catalog_db)
    products = catalog.all()
    catalog.merge([replace(p, sponsored=True, bid=0.1 + (i % 9) / 10)
                   for i, p in enumerate(products) if i % 3 == 0])
    catalog.close()
    engine = Engine.open(demo_copy)
    store = SQLiteEventStore(demo_copy.events_db)
    yield demo_copy, engine, store
    store.close()
    engine.close()


def test_ads_fill_only_the_sponsored_slots_and_are_logged(ad_world):
    from agent.policy.registry import make_policy
    from shelfwise.recommender import Recommender

    _, engine, store = ad_world
    rec = Recommender(engine, make_policy("greedy", dim=engine.dim, seed=0), store,
                      sponsored=SponsoredLayout((1, 3), bid_weight=0.5))
    for user, query in (("u1", "red leather bag"), ("u2", None)):
        slate = rec.recommend(user, query, k=6, rng=np.random.default_rng(0))
        flags = [it.sponsored for it in slate.items]
        assert flags == [False, True, False, True, False, False]
        assert all(it.product.sponsored == it.sponsored for it in slate.items)
        imp = store.impression(slate.slate_id)
        assert imp.item_ids == tuple(it.product.id for it in slate.items)
        np.testing.assert_allclose(imp.propensities, [it.propensity for it in slate.items])
        assert imp.ads == tuple(flags)
        assert all((b > 0) == a for a, b in zip(imp.ads, imp.ad_bids, strict=True))
        assert all(0 < p <= 1 for p in imp.propensities)


def test_positions_come_from_the_workspace_config_and_reach_the_api(ad_world):
    from fastapi.testclient import TestClient

    from agent.policy.registry import make_policy
    from shelfwise.recommender import Recommender
    from shelfwise.serve import RecommendationService, create_app

    ws, engine, store = ad_world
    ws.config_file.write_text("[sponsored]\npositions = [0]\nbid_weight = 1.0\n")
    rec = Recommender(engine, make_policy("linucb", dim=engine.dim, seed=0), store)
    assert rec.sponsored == SponsoredLayout((0,), 1.0)
    with TestClient(create_app(RecommendationService(rec))) as client:
        res = client.post("/recommend", json={"user_id": "u9", "query": "shoes", "k": 4})
        assert res.status_code == 200, res.text
        items = res.json()["items"]
        assert [it["sponsored"] for it in items] == [True, False, False, False]
        ad = items[0]["product"]
        assert ad["sponsored"] is True and ad["bid"] > 0
        assert not any(it["product"]["sponsored"] for it in items[1:])
        one = client.get(f"/products/{ad['id']}").json()
        assert (one["sponsored"], one["bid"]) == (True, ad["bid"])


def test_no_positions_serves_as_before(ad_world):
    from agent.policy.registry import make_policy
    from shelfwise.recommender import Recommender

    _, engine, store = ad_world
    rec = Recommender(engine, make_policy("greedy", dim=engine.dim, seed=0), store)
    slate = rec.recommend("u3", "wool scarf", k=8, rng=np.random.default_rng(1))
    assert not any(it.sponsored for it in slate.items)
