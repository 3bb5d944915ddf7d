"""Retrieval quality on the demo store, checked against its latent attribute table.

Known answers: the latent table says each product's true category and colour, so precision@10
of "same category and same colour" is exact ground truth for attribute queries.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from shelfwise.demo_store import CATEGORY_WORDS, load_latent

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def latent(demo_workspace):
    return load_latent(demo_workspace).set_index("product_id")


def _precision(hits, latent, category, colour):
    rows = latent.loc[[h.product.id for h in hits]]
    return float(np.mean((rows.category == category) & (rows.colour == colour)))


def test_attribute_text_queries_precision_at_10(demo_engine, latent):
    rng = np.random.default_rng(7)
    colours = sorted(latent.colour.unique())
    scores = {}
    for category, word in CATEGORY_WORDS.items():
        for colour in rng.choice(colours, size=2, replace=False):
            query = f"{colour} {word}"
            scores[query] = _precision(
                demo_engine.search(text=query, k=10), latent, category, colour
            )
    mean = float(np.mean(list(scores.values())))
    assert mean >= 0.9, f"mean precision@10 {mean:.3f}; per query: {scores}"


def test_red_leather_handbag(demo_engine, latent):
    hits = demo_engine.search(text="red leather handbag", k=10)
    rows = latent.loc[[h.product.id for h in hits]]
    assert ((rows.category == "bags") & (rows.colour == "red")).mean() >= 0.9
    assert (rows.material == "leather").mean() >= 0.5  # "mostly red leather handbags"


def test_image_queries_precision_at_10(demo_engine, latent):
    from index import SearchFilter

    rng = np.random.default_rng(11)
    picks = rng.choice(demo_engine.index.ids, size=150, replace=False)
    precisions = []
    for pid in picks:
        product = demo_engine.products([pid])[0]
        hits = demo_engine.search(
            image=product.image, k=10, filters=SearchFilter(exclude_ids=frozenset({pid}))
        )
        assert pid not in [h.product.id for h in hits]
        truth = latent.loc[pid]
        precisions.append(_precision(hits, latent, truth.category, truth.colour))
    mean = float(np.mean(precisions))
    assert mean >= 0.7, f"image-query precision@10 {mean:.3f}"


def test_filters_keep_k_results(demo_engine, latent):
    from index import SearchFilter

    hits = demo_engine.search(
        text="waterproof jacket", k=10, filters=SearchFilter(max_price=150.0, in_stock_only=True)
    )
    assert len(hits) == 10
    assert all(h.product.price <= 150 and h.product.in_stock for h in hits)
    assert np.mean([h.product.category == "jackets" for h in hits]) >= 0.9
    # a very selective filter still gives k results when k items pass it
    hats = SearchFilter(categories=frozenset({"hats"}), max_price=20.0)
    n_pass = int(((latent.category == "hats") & (latent.price <= 20.0)).sum())
    got = demo_engine.search(text="red leather handbag", k=10, filters=hats)
    assert len(got) == min(10, n_pass) and all(h.product.category == "hats" for h in got)


def test_similar_excludes_itself_and_matches_category(demo_engine, latent):
    pid = demo_engine.index.ids[3]
    hits = demo_engine.similar(pid, k=10)
    assert pid not in [h.product.id for h in hits]
    assert (
        np.mean([latent.loc[h.product.id].category == latent.loc[pid].category for h in hits])
        >= 0.9
    )


def test_user_state_moves_toward_history(demo_engine, latent):
    red_bags = latent[(latent.category == "bags") & (latent.colour == "red")].index[:3].tolist()
    state = demo_engine.user_state(red_bags)
    ids, feats = demo_engine.candidates(state, n=20)
    assert feats.shape == (len(ids), demo_engine.dim) == (20, 384)
    assert latent.loc[ids].category.eq("bags").mean() >= 0.8
    cold_ids, _ = demo_engine.candidates(np.zeros(demo_engine.dim, np.float32), n=5)
    assert len(cold_ids) == 5


def test_search_json_output_carries_category_price_attributes(demo_workspace, capsys):
    from shelfwise.cli import main

    assert (
        main(
            [
                "search",
                "red leather handbag",
                "-k",
                "5",
                "--json",
                "--workspace",
                str(demo_workspace.root),
            ]
        )
        == 0
    )
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 5 and [r["rank"] for r in results] == [1, 2, 3, 4, 5]
    for r in results:
        assert r["category"] == "bags" and isinstance(r["price"], float)
        assert r["attributes"]["colour"] == "red" and "material" in r["attributes"]


def test_user_index_finds_lookalike_shoppers(demo_engine, latent, tmp_path):
    red_bags = latent[(latent.category == "bags") & (latent.colour == "red")].index.tolist()
    blue_shoes = latent[(latent.category == "shoes") & (latent.colour == "blue")].index.tolist()
    histories = {f"bag-fan-{i}": red_bags[i : i + 3] for i in range(5)}
    histories |= {f"shoe-fan-{i}": blue_shoes[i : i + 3] for i in range(5)}
    histories["nobody"] = ["not-a-product"]
    users = demo_engine.build_user_index(histories, save=False)
    assert len(users) == 10 and "nobody" not in users
    similar = demo_engine.lookalikes(users, "bag-fan-0", k=4)
    assert [u for u, _ in similar] and all(u.startswith("bag-fan-") for u, _ in similar)
