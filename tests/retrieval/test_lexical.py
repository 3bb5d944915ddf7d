"""Exact-word re-scoring of text search (shelfwise.lexical) on hand-made and demo products."""

from __future__ import annotations

import numpy as np
import pytest

from shelfwise.catalog import CatalogStore, Product
from shelfwise.engine import Engine
from shelfwise.errors import ConfigError
from shelfwise.lexical import facet_match, has_value, query_facets, query_terms, term_overlap
from shelfwise.vocabulary import build_vocabulary


def _p(pid: str, title: str, **attrs: str) -> Product:
    return Product(id=pid, title=title, description="", category="bags", price=50.0,
                   attributes=attrs)


def test_query_terms_drop_stopwords_numbers_and_repeats() -> None:
    assert query_terms("I want a red leather handbag under 150, red bags please") == [
        "red", "leather", "handbag", "bag"]
    assert query_terms("under 50") == []


def test_term_overlap_counts_title_and_attribute_words() -> None:
    products = [
        _p("a", "City tote", colour="red", material="leather"),
        _p("b", "Red canvas handbag"),
        _p("c", "Blue clutch", colour="blue"),
    ]
    got = term_overlap("red leather totes", products)
    np.testing.assert_allclose(got, [1.0, 1 / 3, 0.0])
    np.testing.assert_array_equal(term_overlap("for the", products), np.zeros(3))


@pytest.mark.slow
def test_exact_words_come_first_on_the_demo_store(demo_engine) -> None:
    """"waterproof" is a description word of some jackets only: they should lead."""
    hits = demo_engine.search(text="waterproof jacket", k=10)
    assert np.mean(["waterproof" in (h.product.description or "").lower() for h in hits]) >= 0.9
    # weights 0 are the plain dense ranking
    dense = Engine(demo_engine.workspace, demo_engine.catalog, demo_engine.index,
                   demo_engine.encoders, lexical_weight=0.0, facet_weight=0.0)
    want = demo_engine.search_vector(demo_engine.query_vector("waterproof jacket"), 10)
    assert [h.product.id for h in dense.search(text="waterproof jacket", k=10)] == \
        [h.product.id for h in want]


def test_lexical_weight_is_checked(demo_engine) -> None:
    with pytest.raises(ConfigError, match=r"lexical_weight must be in \[0, 1\], got 1.5"):
        Engine(demo_engine.workspace, demo_engine.catalog, demo_engine.index,
               demo_engine.encoders, lexical_weight=1.5)
    with pytest.raises(ConfigError, match=r"facet_weight must be in \[0, 10\], got -1"):
        Engine(demo_engine.workspace, demo_engine.catalog, demo_engine.index,
               demo_engine.encoders, facet_weight=-1)


# -- facts named with the shop's vocabulary ---------------------------------------------------

def _bag(pid: str, title: str, category: str, **attrs: str) -> Product:
    return Product(id=pid, title=title, description="", category=category, price=50.0,
                   attributes=attrs)


# A small shop that is not the demo store. Dense similarity on titles prefers the short "Red
# canvas handbag" titles to "Red leather clutch bag with strap" for "red leather handbag".
LEATHER_SHOP = [
    _bag("b1", "Red canvas handbag", "Bags", colour="red", material="canvas", kind="handbag"),
    _bag("b2", "Red canvas handbag", "Bags", colour="red", material="canvas", kind="handbag"),
    _bag("b3", "Blue leather handbag with strap", "Bags", colour="blue", material="leather",
         kind="handbag"),
    _bag("b4", "Red leather clutch bag with strap", "Bags", colour="red", material="leather",
         kind="clutch"),
    _bag("b5", "Red leather tote bag with zip", "Bags", colour="red", material="leather",
         kind="tote"),
    _bag("b6", "Blue canvas tote bag with zip", "Bags", colour="blue", material="canvas",
         kind="tote"),
    _bag("b7", "Blue canvas clutch bag with strap", "Bags", colour="blue", material="canvas",
         kind="clutch"),
    _bag("w1", "Red leather wallet with zip", "Wallets", colour="red", material="leather",
         kind="wallet"),
    _bag("w2", "Black leather wallet", "Wallets", colour="black", material="leather",
         kind="wallet"),
    _bag("w3", "Black canvas card wallet", "Wallets", colour="black", material="canvas",
         kind="card wallet"),
]


def test_query_facets_read_the_shops_vocabulary() -> None:
    vocab = build_vocabulary(LEATHER_SHOP)
    got = query_facets("a red leather handbag, not canvas", vocab)
    assert got.values == (("colour", "red"), ("material", "leather"))
    assert got.categories == {"Bags"} and len(got) == 3  # "handbag" is a kind of bag
    assert len(query_facets("something nice", vocab)) == 0
    assert has_value(LEATHER_SHOP[3], "colour", "red", vocab)
    assert not has_value(LEATHER_SHOP[0], "material", "leather", vocab)
    # no attribute of that kind: the title stands in
    untagged = _bag("u1", "Red leather belt", "Belts")
    assert has_value(untagged, "colour", "red", vocab)
    assert not has_value(untagged, "material", "canvas", vocab)


def test_facet_match_counts_attribute_values_not_only_title_words() -> None:
    vocab = build_vocabulary(LEATHER_SHOP)
    got = facet_match("red leather handbag", LEATHER_SHOP, vocab)
    np.testing.assert_allclose(got, [2 / 3, 2 / 3, 2 / 3, 1, 1, 1 / 3, 1 / 3, 2 / 3, 1 / 3, 0])
    np.testing.assert_array_equal(facet_match("red leather handbag", LEATHER_SHOP, None),
                                  np.zeros(len(LEATHER_SHOP)))


class _BagOfWords:
    """A tiny deterministic text encoder: hashed word counts, unit norm (256-d)."""

    dim = 256

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import hashlib

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for w in text.lower().split():
                out[row, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@pytest.fixture()
def leather_engine(tmp_path):
    from index import ItemMeta, VectorIndex
    from shelfwise.workspace import Workspace

    ws = Workspace.resolve(tmp_path / "leather").ensure()
    store = CatalogStore(ws.catalog_db)
    store.upsert(LEATHER_SHOP)
    encoders = _BagOfWords()
    index = VectorIndex(encoders.dim, "Flat")
    index.add([p.id for p in LEATHER_SHOP], encoders.encode_texts([p.title for p in LEATHER_SHOP]),
              [ItemMeta(p.category, p.price) for p in LEATHER_SHOP])
    engine = Engine(ws, store, index, encoders)
    yield engine
    store.close()


def test_named_facts_rank_first_on_a_small_shop(leather_engine) -> None:
    hits = leather_engine.search(text="red leather handbag", k=4)
    assert {h.product.id for h in hits[:2]} == {"b4", "b5"}  # red, leather and a bag
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    # without the vocabulary the short "red canvas handbag" titles win (the bug this fixes)
    plain = Engine(leather_engine.workspace, leather_engine.catalog, leather_engine.index,
                   leather_engine.encoders, facet_weight=0.0)
    assert {h.product.id for h in plain.search(text="red leather handbag", k=2)} == {"b1", "b2"}
    # a product with only the category word ranks below all that have the named values
    ids = [h.product.id for h in leather_engine.search(text="red leather handbag", k=10)]
    assert ids.index("b6") > max(ids.index(i) for i in ("b4", "b5", "b1", "b2", "b3", "w1"))


@pytest.mark.slow
def test_red_leather_handbag_on_the_demo_store(demo_engine) -> None:
    """All named facts first: the top products are red leather bags, not red canvas ones."""
    hits = demo_engine.search(text="red leather handbag", k=10)
    facts = [(h.product.category, h.product.attributes["colour"],
              h.product.attributes["material"]) for h in hits]
    n_all = sum(1 for p in demo_engine.catalog.all()
                if (p.category, p.attributes["colour"], p.attributes["material"]) ==
                ("bags", "red", "leather"))
    assert n_all >= 2
    top = min(n_all, 10)
    assert facts[:top] == [("bags", "red", "leather")] * top, facts
    assert all(c == "bags" for c, _, _ in facts)
