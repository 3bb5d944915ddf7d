"""The simulated catalogue (latent attributes) and the latent tastes of a batch of shoppers."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shelfwise.demo_store import LATENT_COLUMNS
from shelfwise.errors import CatalogError, EncoderError
from shelfwise.sim.config import SimConfig

QueryEncoder = Callable[[list[str]], np.ndarray]
"""Text -> ``float32 (m, d)`` vectors in the product-vector space (e.g. ``TextEncoder.encode``)."""


TASTE_GROUPS: tuple[str, ...] = ("category", "colour", "style", "material")
"""Attribute groups the shoppers hold affinities over (in this order)."""


@dataclass(frozen=True)
class SimCatalog:
    """Integer-coded latent attributes and vectors of the products the shoppers see.

    Attributes:
        product_ids: ``(P,)`` object array of product id strings; row ``i`` is product ``i``.
        vectors: ``float32 (P, d)`` L2-normalised product vectors.
        values: per taste group (``TASTE_GROUPS`` order), the sorted value names.
        codes: per taste group, ``int64 (P,)`` index into ``values[g]``.
        price: ``float64 (P,)`` prices (> 0).
        log_price: ``float64 (P,)`` ``log(price / median price)``.
        pair: ``int64 (P,)`` (category, colour) pair code used for boredom.
        n_pairs: number of (category, colour) pairs.
        category_price_cap: ``float64 (n_categories,)`` rounded median price per category,
            the cap of "<category> under <cap>" intents.
        cold_vector: ``float32 (d,)`` normalised catalogue mean, the state of a shopper with
            neither clicks nor a text intent.

    """

    product_ids: np.ndarray
    vectors: np.ndarray
    values: tuple[tuple[str, ...], ...]
    codes: tuple[np.ndarray, ...]
    price: np.ndarray
    log_price: np.ndarray
    pair: np.ndarray
    n_pairs: int
    category_price_cap: np.ndarray
    cold_vector: np.ndarray

    @property
    def n_products(self) -> int:
        """Number of products ``P``."""
        return int(self.price.shape[0])

    @property
    def dim(self) -> int:
        """Vector dimension ``d``."""
        return int(self.vectors.shape[1])

    @classmethod
    def from_latent(cls, latent: pd.DataFrame, product_vectors: np.ndarray) -> SimCatalog:
        """Validate and encode the latent table.

        Args:
            latent: one row per product with ``LATENT_COLUMNS``; row ``i`` ↔ vector row ``i``.
            product_vectors: ``(P, d)`` product vectors (normalised again here, to be safe).

        Raises:
            CatalogError: missing column, empty or non-finite values, non-positive price, or
                vectors whose row count or shape does not match; the message names it.

        """
        missing = [c for c in LATENT_COLUMNS if c not in latent.columns]
        if missing:
            raise CatalogError(f"latent table: missing column(s) {missing}")
        vectors = np.asarray(product_vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(latent) or vectors.shape[1] < 1:
            raise CatalogError(
                f"product_vectors: shape {vectors.shape} does not match the latent table "
                f"({len(latent)} rows); expected ({len(latent)}, d)"
            )
        if len(latent) == 0:
            raise CatalogError("latent table: no products")
        if not np.all(np.isfinite(vectors)):
            raise CatalogError("product_vectors: contains NaN or inf")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

        values: list[tuple[str, ...]] = []
        codes: list[np.ndarray] = []
        for group in TASTE_GROUPS:
            column = latent[group]
            if column.isna().any():
                row = int(np.flatnonzero(column.isna().to_numpy())[0])
                raise CatalogError(f"latent table: row {row}, column {group!r} is empty")
            cat = pd.Categorical(column.astype(str))
            values.append(tuple(str(v) for v in cat.categories))
            codes.append(np.asarray(cat.codes, dtype=np.int64))
        price = pd.to_numeric(latent["price"], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(price) | (price <= 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise CatalogError(
                f"latent table: row {row}, column 'price' must be a positive number, "
                f"got {latent['price'].iloc[row]!r}"
            )
        n_colours = len(values[1])
        pair = codes[0] * n_colours + codes[1]
        caps = np.empty(len(values[0]), dtype=np.float64)
        for c in range(len(values[0])):
            median = float(np.median(price[codes[0] == c]))
            caps[c] = max(10.0, round(median / 10.0) * 10.0)
        mean = vectors.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        cold = (mean / norm if norm > 1e-9 else np.zeros_like(mean)).astype(np.float32)
        return cls(
            product_ids=latent["product_id"].astype(str).to_numpy(dtype=object),
            vectors=vectors,
            values=tuple(values),
            codes=tuple(codes),
            price=price,
            log_price=np.log(price / float(np.median(price))),
            pair=pair,
            n_pairs=len(values[0]) * n_colours,
            category_price_cap=caps,
            cold_vector=cold,
        )


def product_quality(latent: pd.DataFrame, config: SimConfig) -> np.ndarray:
    """Latent quality of every product: price-band quality plus a fixed per-brand offset.

    ``q = config.quality_band[price_band] + config.quality_brand * (2 u(brand) - 1)`` where
    ``u(brand)`` in ``[0, 1)`` comes from a CRC32 of the brand name (stable across runs and
    machines). Unknown price bands count 0. The policies never see ``q``; they see product
    vectors whose text names the brand and the price.

    Args:
        latent: the latent table (``price_band`` and ``brand`` columns).
        config: simulator settings.

    Returns:
        ``float64 (P,)``.

    """
    band = latent["price_band"].astype(str).map(
        lambda b: float(config.quality_band.get(b, 0.0))).to_numpy(dtype=np.float64)
    unit = latent["brand"].astype(str).map(
        lambda b: (zlib.crc32(b.encode("utf-8")) % 10007) / 10007.0).to_numpy(dtype=np.float64)
    return band + config.quality_brand * (2.0 * unit - 1.0)


@dataclass
class Shoppers:
    """Latent state of ``b`` simulated shoppers (one per session); mutated as sessions run.

    Attributes:
        taste: per taste group, ``float64 (b, n_values_g)`` affinities (drift after clicks).
        price_sensitivity: ``float64 (b,)``.
        has_intent: ``bool (b,)`` whether the session has an explicit intent.
        intent_category: ``int64 (b,)`` category code, ``-1`` without intent.
        intent_colour: ``int64 (b,)`` colour code, ``-1`` when not part of the intent.
        intent_material: ``int64 (b,)`` material code, ``-1`` when not part of the intent.
        intent_max_price: ``float64 (b,)`` price cap, ``inf`` when none.
        intent_text: per session the query text, or ``None``.
        query_vector: ``float32 (b, d)`` encoded intent text; zeros when none or no encoder.
        has_query: ``bool (b,)`` whether ``query_vector`` row is set.

    """

    taste: list[np.ndarray]
    price_sensitivity: np.ndarray
    has_intent: np.ndarray
    intent_category: np.ndarray
    intent_colour: np.ndarray
    intent_material: np.ndarray
    intent_max_price: np.ndarray
    intent_text: list[str | None]
    query_vector: np.ndarray
    has_query: np.ndarray


def intent_text(
    catalog: SimCatalog, category: int, colour: int, material: int, max_price: float
) -> str:
    """Build the shopper's query, e.g. ``"red leather bags"`` or ``"jackets under 150"``.

    Args:
        catalog: the catalogue whose value names are used.
        category: category code (required).
        colour: colour code or ``-1``.
        material: material code or ``-1``.
        max_price: price cap or ``inf``.

    """
    words = []
    if colour >= 0:
        words.append(catalog.values[1][colour])
    if material >= 0:
        words.append(catalog.values[3][material])
    words.append(catalog.values[0][category])
    text = " ".join(words)
    if np.isfinite(max_price):
        text += f" under {max_price:g}"
    return text


def sample_shoppers(
    catalog: SimCatalog,
    config: SimConfig,
    n: int,
    rng: np.random.Generator,
    query_encoder: QueryEncoder | None = None,
    query_cache: dict[str, np.ndarray] | None = None,
) -> Shoppers:
    """Draw ``n`` shoppers: normal affinities, uniform price sensitivity, optional intents.

    The intent category is drawn from ``softmax(category affinity)`` (shoppers look for what
    they like); colour is added with probability 0.5, material 0.3, a price cap 0.3.

    Args:
        catalog: the simulated catalogue.
        config: simulator settings (``taste_scale``, ``price_sensitivity``, ``intent_share``).
        n: number of shoppers ``b``.
        rng: the only source of randomness.
        query_encoder: text -> ``(m, d)`` vectors; ``None`` leaves ``query_vector`` at zeros.
        query_cache: text -> vector memo shared across calls (filled here).

    Raises:
        EncoderError: the encoder returned the wrong shape.

    """
    taste = [rng.normal(0.0, config.taste_scale, size=(n, len(v))) for v in catalog.values]
    low, high = config.price_sensitivity
    sensitivity = rng.uniform(low, high, size=n)
    has_intent = rng.random(n) < config.intent_share
    logits = taste[0] - taste[0].max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    cum = np.cumsum(probs, axis=1)
    draw = rng.random((n, 1))
    category = np.minimum((cum < draw).sum(axis=1), len(catalog.values[0]) - 1)
    with_colour = rng.random(n) < 0.5
    with_material = rng.random(n) < 0.3
    with_cap = rng.random(n) < 0.3
    colour_draw = rng.integers(0, len(catalog.values[1]), size=n)
    material_draw = rng.integers(0, len(catalog.values[3]), size=n)

    intent_category = np.where(has_intent, category, -1).astype(np.int64)
    intent_colour = np.where(has_intent & with_colour, colour_draw, -1).astype(np.int64)
    intent_material = np.where(has_intent & with_material, material_draw, -1).astype(np.int64)
    caps = catalog.category_price_cap[np.maximum(intent_category, 0)]
    intent_max_price = np.where(has_intent & with_cap, caps, np.inf)

    texts: list[str | None] = [
        intent_text(
            catalog,
            int(intent_category[i]),
            int(intent_colour[i]),
            int(intent_material[i]),
            float(intent_max_price[i]),
        )
        if has_intent[i]
        else None
        for i in range(n)
    ]
    query_vector = np.zeros((n, catalog.dim), dtype=np.float32)
    has_query = np.zeros(n, dtype=bool)
    if query_encoder is not None and has_intent.any():
        cache = query_cache if query_cache is not None else {}
        todo = sorted({t for t in texts if t is not None and t not in cache})
        if todo:
            encoded = np.asarray(query_encoder(todo), dtype=np.float32)
            if encoded.shape != (len(todo), catalog.dim):
                raise EncoderError(
                    f"query_encoder: returned shape {encoded.shape} for {len(todo)} texts; "
                    f"expected ({len(todo)}, {catalog.dim})"
                )
            norms = np.maximum(np.linalg.norm(encoded, axis=1, keepdims=True), 1e-12)
            for text, vec in zip(todo, encoded / norms, strict=True):
                cache[text] = vec.astype(np.float32)
        for i, text in enumerate(texts):
            if text is not None:
                query_vector[i] = cache[text]
                has_query[i] = True
    return Shoppers(
        taste=taste,
        price_sensitivity=sensitivity,
        has_intent=has_intent,
        intent_category=intent_category,
        intent_colour=intent_colour,
        intent_material=intent_material,
        intent_max_price=intent_max_price,
        intent_text=texts,
        query_vector=query_vector,
        has_query=has_query,
    )


def matches_intent(
    catalog: SimCatalog, shoppers: Shoppers, sessions: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Whether each item is in its session's intent category.

    Args:
        catalog: the simulated catalogue.
        shoppers: the shoppers.
        sessions: ``int (m,)`` session indices.
        rows: ``int (m, c)`` product rows.

    Returns:
        ``bool (m, c)``; all False for sessions without intent.

    """
    target = shoppers.intent_category[sessions][:, None]
    return (catalog.codes[0][rows] == target) & (target >= 0)


def sponsored_catalog(latent: pd.DataFrame, config: SimConfig) -> tuple[np.ndarray, np.ndarray]:
    """Which simulated products are sponsored and what they bid.

    A latent table with a ``sponsored`` column (booleans) and a ``bid`` column (numbers >= 0)
    is used as given. Otherwise a share ``config.sponsored_share`` of the products, drawn with
    ``config.sponsored_seed`` (the same products in every run), is sponsored with bids uniform
    in ``config.bid_range``.

    Args:
        latent: the latent table (row ``i`` = product ``i``).
        config: simulator settings.

    Returns:
        ``(sponsored bool (P,), bids float64 (P,))``; organic products bid 0.

    Raises:
        CatalogError: a ``sponsored``/``bid`` column with bad values (the row is named).

    """
    n = len(latent)
    if "sponsored" in latent.columns or "bid" in latent.columns:
        if "sponsored" not in latent.columns or "bid" not in latent.columns:
            raise CatalogError("latent table: give both 'sponsored' and 'bid' columns, or neither")
        flags = latent["sponsored"]
        if flags.isna().any() or not all(isinstance(v, bool | np.bool_) for v in flags):
            row = next(i for i, v in enumerate(flags) if not isinstance(v, bool | np.bool_))
            raise CatalogError(f"latent table: row {row}, column 'sponsored' must be True or "
                               f"False, got {flags.iloc[row]!r}")
        bids = pd.to_numeric(latent["bid"], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(bids) | (bids < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise CatalogError(f"latent table: row {row}, column 'bid' must be a finite number "
                               f">= 0, got {latent['bid'].iloc[row]!r}")
        sponsored = flags.to_numpy(dtype=bool)
        return sponsored, np.where(sponsored, bids, 0.0)
    rng = np.random.default_rng(config.sponsored_seed)
    n_sp = int(round(config.sponsored_share * n))
    sponsored = np.zeros(n, dtype=bool)
    sponsored[rng.choice(n, size=n_sp, replace=False)] = True
    low, high = config.bid_range
    bids = np.where(sponsored, rng.uniform(low, high, size=n), 0.0)
    return sponsored, bids


def irrelevant_ads(core_utility: np.ndarray, ads: np.ndarray, config: SimConfig) -> np.ndarray:
    """Irrelevant ads per session: ads whose core utility is below ``sponsored_relevance``.

    Args:
        core_utility: float ``(m, k)`` core utility of the shown items (no clickbait appeal).
        ads: bool ``(m, k)`` which shown items are ads.
        config: simulator settings.

    Returns:
        float64 ``(m,)`` counts; the budget each session loses is
        ``config.sponsored_annoyance`` times this.

    """
    irrelevant = np.asarray(ads, bool) & (np.asarray(core_utility) < config.sponsored_relevance)
    return irrelevant.sum(axis=1).astype(np.float64)
