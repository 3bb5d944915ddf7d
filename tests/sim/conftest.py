"""Synthetic store for the simulator tests: attributes -> vectors through a random projection."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

CATEGORIES = ["shoes", "jackets", "bags", "shirts", "trousers", "dresses", "hats", "watches"]
COLOURS = ["red", "blue", "green", "black", "white", "grey", "brown", "pink", "yellow", "navy"]
MATERIALS = ["leather", "cotton", "wool", "denim", "silk", "linen"]
STYLES = ["casual", "formal", "sporty", "vintage", "minimal"]
PATTERNS = ["plain", "striped", "checked", "floral"]
BANDS = ["budget", "mid", "premium", "luxury"]
VOCAB = CATEGORIES + COLOURS + MATERIALS + STYLES
DIM = 16


def make_store(n_products: int = 600, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Latent table, (n, 16) vectors and the (len(VOCAB), 16) word projection."""
    rng = np.random.default_rng(seed)
    cat = rng.integers(0, len(CATEGORIES), n_products)
    col = rng.integers(0, len(COLOURS), n_products)
    mat = rng.integers(0, len(MATERIALS), n_products)
    sty = rng.integers(0, len(STYLES), n_products)
    band = rng.integers(0, len(BANDS), n_products)
    price = np.round(np.exp(rng.normal(3.0 + 0.7 * band, 0.3)), 2)
    latent = pd.DataFrame(
        {
            "product_id": [f"p{i:05d}" for i in range(n_products)],
            "category": pd.Categorical([CATEGORIES[i] for i in cat]),
            "colour": pd.Categorical([COLOURS[i] for i in col]),
            "material": pd.Categorical([MATERIALS[i] for i in mat]),
            "pattern": pd.Categorical([PATTERNS[i] for i in rng.integers(0, 4, n_products)]),
            "style": pd.Categorical([STYLES[i] for i in sty]),
            "price_band": pd.Categorical([BANDS[i] for i in band]),
            "brand": pd.Categorical([f"brand{i}" for i in rng.integers(0, 12, n_products)]),
            "price": price,
        }
    )
    proj = rng.normal(size=(len(VOCAB), DIM))
    offsets = np.cumsum([0, len(CATEGORIES), len(COLOURS), len(MATERIALS)])
    onehot = np.zeros((n_products, len(VOCAB)))
    for off, codes in zip(offsets, (cat, col, mat, sty), strict=True):
        onehot[np.arange(n_products), off + codes] = 1.0
    vectors = onehot @ proj + 0.3 * rng.normal(size=(n_products, DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return latent, vectors.astype(np.float32), proj


@pytest.fixture(scope="session")
def store() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    return make_store()


@pytest.fixture(scope="session")
def latent(store: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> pd.DataFrame:
    return store[0]


@pytest.fixture(scope="session")
def vectors(store: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> np.ndarray:
    return store[1]


@pytest.fixture(scope="session")
def query_encoder(
    store: tuple[pd.DataFrame, np.ndarray, np.ndarray],
) -> Callable[[list[str]], np.ndarray]:
    """Bag of known attribute words projected like the products (a stand-in text encoder)."""
    proj = store[2]
    index = {w: i for i, w in enumerate(VOCAB)}

    def encode(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            words = [index[w] for w in text.split() if w in index]
            vec = proj[words].sum(axis=0) if words else np.ones(DIM)
            out[i] = vec / np.linalg.norm(vec)
        return out

    return encode
