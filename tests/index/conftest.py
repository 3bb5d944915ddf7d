"""Seeded synthetic data for the index tests: clustered unit vectors with known neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from index import ItemMeta

CATEGORIES = [f"cat{i}" for i in range(10)]


def clustered(n: int, d: int, seed: int, n_clusters: int = 50, spread: float = 0.35) -> np.ndarray:
    """Unit vectors drawn from a gaussian mixture (``n_clusters`` centres), float32 ``(n, d)``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[rng.integers(0, n_clusters, n)] + spread * rng.normal(size=(n, d)) / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_items(n: int, seed: int = 1) -> tuple[list[str], list[ItemMeta]]:
    rng = np.random.default_rng(seed)
    ids = [f"p{i:06d}" for i in range(n)]
    metas = [
        ItemMeta(CATEGORIES[c], float(p), bool(s))
        for c, p, s in zip(
            rng.integers(0, len(CATEGORIES), n),
            np.round(rng.uniform(1, 200, n), 2),
            rng.random(n) < 0.8,
            strict=True,
        )
    ]
    return ids, metas


def brute_force(
    base: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k row positions and scores, optionally only among ``allowed`` rows (bool mask)."""
    sims = queries @ base.T
    if allowed is not None:
        sims = np.where(allowed[None, :], sims, -np.inf)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return top, np.take_along_axis(sims, top, axis=1)


@pytest.fixture(scope="session")
def small_data() -> tuple[list[str], np.ndarray, list[ItemMeta], np.ndarray]:
    """3,000 items at d=32 with metadata, plus 20 queries."""
    x = clustered(3000, 32, seed=0)
    ids, metas = make_items(3000)
    q = clustered(20, 32, seed=99)
    return ids, x, metas, q
