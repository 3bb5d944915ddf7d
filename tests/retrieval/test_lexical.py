"""Exact-word re-scoring of text search (shelfwise.lexical) on hand-made and demo products."""

from __future__ import annotations

import numpy as np
import pytest

from shelfwise.catalog import Product
from shelfwise.engine import Engine
from shelfwise.errors import ConfigError
from shelfwise.lexical import query_terms, term_overlap


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
    # weight 0 is the plain dense ranking
    dense = Engine(demo_engine.workspace, demo_engine.catalog, demo_engine.index,
                   demo_engine.encoders, lexical_weight=0.0)
    want = demo_engine.search_vector(demo_engine.query_vector("waterproof jacket"), 10)
    assert [h.product.id for h in dense.search(text="waterproof jacket", k=10)] == \
        [h.product.id for h in want]


def test_lexical_weight_is_checked(demo_engine) -> None:
    with pytest.raises(ConfigError, match=r"lexical_weight must be in \[0, 1\], got 1.5"):
        Engine(demo_engine.workspace, demo_engine.catalog, demo_engine.index,
               demo_engine.encoders, lexical_weight=1.5)
