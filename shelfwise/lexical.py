"""Exact-word evidence for text search: which of the shopper's words and facts a product has.

Dense text embeddings rank "red canvas handbag" above "red leather clutch" for the query "red
leather handbag": the kind of bag outweighs the material. Text search therefore re-scores the
dense top-N by ``cosine + lexical_weight * overlap + facet_weight * facets`` where

- ``overlap`` (:func:`term_overlap`) is the share of the query's content words found anywhere
  in the product's title, category, attribute values or description (a crude hybrid of dense
  and lexical retrieval; BM25 would need corpus statistics for little gain on short texts);
- ``facets`` (:func:`facet_match`) is the share of the facts the query names, read with the
  shop's vocabulary (:mod:`shelfwise.vocabulary`), that the product really has: each named
  attribute value ("red" → colour, "leather" → material, a brand) must be a value of the
  product's attribute of that kind (its title stands in when it has no such attribute), and a
  named category ("handbag" → bags) must be the product's category. Its weight is large next
  to the spread of cosine scores, so products having all named facts come first, then those
  having most; cosine and overlap order products within a tier.

Products missing every query word keep their cosine order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.words import singular  # not agent.explain: that imports LangChain (0.5 s)
from shelfwise.catalog import Product
from shelfwise.feeds.columns import normalize_header
from shelfwise.vocabulary import ShopVocabulary, phrase, tokens

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


@dataclass(frozen=True)
class QueryFacets:
    """The facts a query names, read with the shop's vocabulary."""

    values: tuple[tuple[str, str], ...] = ()
    """``(attribute, value)`` per named attribute value (normalised attribute name)."""
    categories: frozenset[str] = frozenset()
    """Canonical categories named."""

    def __len__(self) -> int:
        return len(self.values) + (1 if self.categories else 0)


def query_facets(query: str, vocabulary: ShopVocabulary) -> QueryFacets:
    """Attribute values and categories a query names (a value negated by "not"/"no" is not).

    Args:
        query: the shopper's words.
        vocabulary: the shop's vocabulary.

    Returns:
        The named facts (empty when the vocabulary knows none of the words).
    """
    words = tokens(query)
    values: list[tuple[str, str]] = []
    cats: set[str] = set()
    for m in vocabulary.find(words):
        if m.start > 0 and words[m.start - 1] in ("not", "no", "without", "except", "non"):
            continue
        if m.kind == "category":
            cats.add(m.name)
        elif (m.attribute or "", m.name) not in values:
            values.append((m.attribute or "", m.name))
    return QueryFacets(tuple(values), frozenset(cats))


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def has_value(product: Product, attribute: str, value: str,
              vocabulary: ShopVocabulary) -> bool:
    """Whether the product has ``value`` for ``attribute`` (or an attribute of its kind).

    The value's words must appear, in order, in one of the product's values of that kind
    ("red" is in "dark red"); a product with no attribute of that kind is judged by its title.
    """
    group = vocabulary.attribute_group(attribute)
    want = value.split(" ")
    own = [v for k, v in dict(product.attributes or {}).items() if normalize_header(k) in group]
    if not own:
        return _contains(tokens(product.title), want) or \
            _contains([singular(w) for w in tokens(product.title)], [singular(w) for w in want])
    return any(_contains(tokens(v), want) for v in own)


def facet_match(query: str, products: Sequence[Product],
                vocabulary: ShopVocabulary | None) -> np.ndarray:
    """Share of the query's named facts (:func:`query_facets`) each product has.

    Args:
        query: the shopper's words.
        products: ``n`` products.
        vocabulary: the shop's vocabulary (None: no facts, all zeros).

    Returns:
        float64 ``(n,)`` in ``[0, 1]``; all zeros when the query names no fact.
    """
    facets = query_facets(query, vocabulary) if vocabulary is not None else QueryFacets()
    if not len(facets) or not products:
        return np.zeros(len(products), dtype=np.float64)
    cats = {phrase(c) for c in facets.categories}
    found = []
    for p in products:
        n = sum(has_value(p, attr, value, vocabulary) for attr, value in facets.values)
        n += 1 if facets.categories and (p.category in facets.categories
                                         or phrase(p.category) in cats) else 0
        found.append(n)
    return np.asarray(found, dtype=np.float64) / len(facets)
