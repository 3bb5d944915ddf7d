"""A simulator catalog from product vectors alone, and a small seeded built-in one.

The shopper model (:mod:`shelfwise.sim.vector_env`) needs latent attributes per product
(category, colour, material, pattern, style, price band, brand, price). A shop that only has
product vectors (or none: ``gymnasium.make("shelfwise/Shopper-v0")`` with no arguments) gets
them from :func:`latent_from_vectors`: each attribute value is a seeded random direction in
the vector space and a product takes the value whose direction it is closest to, so shoppers'
tastes over attributes are tastes over regions of the vector space (learnable from vectors).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from shelfwise.errors import CatalogError

__all__ = ["ATTRIBUTE_SIZES", "builtin_catalog", "latent_from_vectors"]

ATTRIBUTE_SIZES: dict[str, int] = {"category": 8, "colour": 10, "material": 6, "pattern": 4,
                                   "style": 5, "brand": 12}
"""Number of synthetic values per latent attribute."""

BANDS: tuple[str, ...] = ("budget", "mid", "premium", "luxury")


def latent_from_vectors(vectors: np.ndarray, product_ids: Sequence[str] | None = None, *,
                        prices: np.ndarray | None = None, seed: int = 0) -> pd.DataFrame:
    """A latent table (``shelfwise.demo_store.LATENT_COLUMNS``) derived from product vectors.

    Args:
        vectors: float ``(P, d)`` product vectors.
        product_ids: ``P`` ids (default ``p00000, p00001, ...``).
        prices: float ``(P,)`` positive prices (default: seeded log-normal by price band).
        seed: seed of the attribute directions and default prices.

    Returns:
        One row per product, row ``i`` ↔ ``vectors[i]``.

    Raises:
        CatalogError: bad shapes, NaN, or non-positive prices (named).

    """
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 1 or v.shape[1] < 1:
        raise CatalogError(f"product vectors must be a non-empty (P, d) matrix, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise CatalogError("product vectors contain NaN or inf")
    p, d = v.shape
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {
        "product_id": (list(product_ids) if product_ids is not None
                       else [f"p{i:05d}" for i in range(p)])}
    if len(cols["product_id"]) != p:  # type: ignore[arg-type]
        raise CatalogError(f"product_ids has {len(cols['product_id'])} entries for {p} "  # type: ignore[arg-type]
                           "vectors")
    for name, m in ATTRIBUTE_SIZES.items():
        dirs = rng.normal(size=(m, d))
        codes = np.argmax(v @ dirs.T, axis=1)
        cols[name] = pd.Categorical([f"{name}{c}" for c in codes])
    proj = v @ rng.normal(size=d)
    band = np.digitize(proj, np.quantile(proj, [0.25, 0.5, 0.75]))
    cols["price_band"] = pd.Categorical([BANDS[b] for b in band])
    if prices is None:
        price = np.round(np.exp(rng.normal(3.0 + 0.7 * band, 0.3)), 2)
    else:
        price = np.asarray(prices, dtype=np.float64).reshape(-1)
        if price.shape != (p,) or not np.all(np.isfinite(price)) or np.any(price <= 0):
            raise CatalogError(f"prices must be {p} positive finite numbers")
    cols["price"] = price
    from shelfwise.demo_store import LATENT_COLUMNS

    return pd.DataFrame(cols)[list(LATENT_COLUMNS)]


def builtin_catalog(n_products: int = 400, dim: int = 16, seed: int = 0
                    ) -> tuple[pd.DataFrame, np.ndarray]:
    """A small seeded catalog: clustered unit vectors ``float32 (P, dim)`` and their latent table.

    No files, no encoder: what ``gymnasium.make("shelfwise/Shopper-v0")`` uses without a
    workspace.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(24, dim))
    vectors = centres[rng.integers(0, 24, n_products)] + 0.6 * rng.normal(size=(n_products, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors.astype(np.float32)
    return latent_from_vectors(vectors, seed=seed), vectors
