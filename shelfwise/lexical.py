"""Exact-word evidence for text search: which of the shopper's words a product really has.

Dense text embeddings rank "red canvas handbag" above "red leather clutch" for the query "red
leather handbag": the kind of bag outweighs the material. Text search therefore re-scores the
dense top-N by ``cosine + weight * overlap``, where ``overlap`` is the share of the query's
content words found in the product's title, category, attribute values or description (a
crude hybrid of dense and lexical retrieval; BM25 would need corpus statistics for little gain
on short product texts). Products missing every query word keep their cosine order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from agent.explain import singular
from shelfwise.catalog import Product

_WORD = re.compile(r"[a-z0-9][a-z0-9\-']*")
_STOPWORDS = frozenset(
    "a an the and or for with in on of to my me i im i'm want need looking some something "
    "show find please under below over above than less more like not no any good nice new "
    "one that this these those is are it its".split()
)


def query_terms(text: str) -> list[str]:
    """Content words of a query, singularised, in order, without repeats or numbers."""
    out: list[str] = []
    for w in _WORD.findall(text.lower()):
        s = singular(w)
        if w not in _STOPWORDS and len(w) > 2 and not w[0].isdigit() and s not in out:
            out.append(s)
    return out


def product_terms(product: Product) -> frozenset[str]:
    """Every word of the product's title, category, attribute values and description."""
    text = " ".join(
        [
            product.title,
            product.category,
            product.description or "",
            *(str(v) for v in dict(product.attributes or {}).values()),
        ]
    ).lower()
    words = _WORD.findall(text)
    return frozenset(words) | frozenset(singular(w) for w in words)


def term_overlap(query: str, products: Sequence[Product]) -> np.ndarray:
    """Share of the query's content words each product contains.

    Args:
        query: the shopper's words.
        products: ``n`` products.

    Returns:
        float64 ``(n,)`` in ``[0, 1]``; all zeros when the query has no content word.
    """
    terms = query_terms(query)
    if not terms or not products:
        return np.zeros(len(products), dtype=np.float64)
    found = [len(product_terms(p).intersection(terms)) for p in products]
    return np.asarray(found, dtype=np.float64) / len(terms)
