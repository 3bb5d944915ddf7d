"""Helpers for exploring embeddings in notebooks: vectors per modality, 2-D maps, neighbours.

Used by ``notebooks/01_explore_embeddings.ipynb``; every function returns data or a matplotlib
figure, so the same calls work in scripts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shelfwise.catalog import Product
from shelfwise.errors import ConfigError


@dataclass
class ModalityVectors:
    """Vectors of the same products per modality, row i ↔ ``products[i]``.

    Attributes:
        products: The products.
        text: float32 ``(n, d)`` text vectors.
        image: float32 ``(n, d)`` image vectors (zeros for products without an image).
        fused: float32 ``(n, d)`` the vectors in the index.
    """

    products: list[Product]
    text: np.ndarray
    image: np.ndarray
    fused: np.ndarray

    @property
    def categories(self) -> list[str]:
        return [p.category for p in self.products]


def modality_vectors(engine: Any, products: Sequence[Product]) -> ModalityVectors:
    """Text, image and fused vectors of ``products``, from the embedding cache where possible."""
    from shelfwise.pipeline import _cached, file_hash

    products = list(products)
    if not products:
        raise ConfigError("products must not be empty")
    enc = engine.encoders
    cache_dir = engine.workspace.cache_dir
    texts = [p.text() for p in products]
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    text, _ = _cached(
        cache_dir,
        f"text:{enc.text_name}",
        keys,
        lambda rows: enc.encode_texts([texts[i] for i in rows]),
    )
    image = np.zeros_like(text)
    with_image = [i for i, p in enumerate(products) if p.image]
    if with_image:
        paths = [products[i].image for i in with_image]
        part, _ = _cached(
            cache_dir,
            f"image:{enc.image.name}",
            [file_hash(p) for p in paths],
            lambda rows: enc.encode_images([paths[i] for i in rows]),
        )
        image[with_image] = part
    fused = engine.index.vectors([p.id for p in products])
    return ModalityVectors(products, text, image, fused)


def project_2d(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """A 2-D projection ``(n, 2)`` of ``(n, d)`` vectors: ``"pca"`` or ``"tsne"``."""
    from sklearn.decomposition import PCA

    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(vectors)
    if method == "tsne":
        from sklearn.manifold import TSNE

        reduced = PCA(n_components=min(50, vectors.shape[1]), random_state=seed).fit_transform(
            vectors
        )
        perplexity = float(min(30, max(5, (len(vectors) - 1) // 4)))
        return TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=seed
        ).fit_transform(reduced)
    raise ConfigError(f"unknown projection {method!r}; choose one of: pca, tsne")


def plot_maps(mv: ModalityVectors, method: str = "pca", seed: int = 0) -> Any:
    """Three scatter plots (text, image, fused) coloured by category; returns the figure."""
    import matplotlib.pyplot as plt

    cats = sorted(set(mv.categories))
    colour_of = {c: plt.get_cmap("tab10")(i % 10) for i, c in enumerate(cats)}
    colours = [colour_of[c] for c in mv.categories]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    for ax, (name, vecs) in zip(
        axes, (("text", mv.text), ("image", mv.image), ("fused", mv.fused)), strict=True
    ):
        xy = project_2d(vecs, method, seed)
        ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=6)
        ax.set_title(f"{name} vectors ({method})")
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour_of[c], label=c) for c in cats]
    fig.legend(handles=handles, loc="center right")
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    return fig


def category_separation(mv: ModalityVectors) -> dict[str, float]:
    """Per modality, the share of each product's 10 nearest neighbours in its own category."""
    cats = np.array(mv.categories)
    out = {}
    for name, vecs in (("text", mv.text), ("image", mv.image), ("fused", mv.fused)):
        sims = vecs @ vecs.T
        np.fill_diagonal(sims, -np.inf)
        top = np.argsort(-sims, axis=1)[:, :10]
        out[name] = float(np.mean(cats[top] == cats[:, None]))
    return out


def plot_neighbours(engine: Any, product_ids: Sequence[str], k: int = 5) -> Any:
    """For each product, its picture and its ``k`` nearest neighbours' pictures and scores."""
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, axes = plt.subplots(
        len(product_ids), k + 1, figsize=(2 * (k + 1), 2.2 * len(product_ids)), squeeze=False
    )
    for row, pid in enumerate(product_ids):
        query = engine.products([pid])[0]
        shown = [(query, None), *((h.product, h.score) for h in engine.similar(pid, k))]
        for col, (product, score) in enumerate(shown):
            ax = axes[row][col]
            if product.image:
                with Image.open(product.image) as img:
                    ax.imshow(img.convert("RGB"))
            label = product.title if len(product.title) < 28 else product.title[:26] + "…"
            ax.set_title(label if score is None else f"{label}\n{score:.2f}", fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    return fig


def session_path(engine: Any, clicks: Sequence[str], query: str | None = None) -> np.ndarray:
    """The shopper's state after each click: ``(len(clicks) + 1, d)`` (row 0: before any)."""
    d = engine.dim
    states = [engine.user_state([], query) if query else np.zeros(d, np.float32)]
    for i in range(1, len(clicks) + 1):
        states.append(engine.user_state(list(clicks[:i]), query))
    return np.stack(states)


def plot_session(mv: ModalityVectors, states: np.ndarray, labels: Sequence[str]) -> Any:
    """The product map (fused, PCA) with the shopper's state path drawn over it."""
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0).fit(mv.fused)
    xy = pca.transform(mv.fused)
    path = pca.transform(states)
    cats = sorted(set(mv.categories))
    fig, ax = plt.subplots(figsize=(7, 6))
    for i, c in enumerate(cats):
        mask = np.array(mv.categories) == c
        ax.scatter(
            xy[mask, 0], xy[mask, 1], s=5, alpha=0.4, color=plt.get_cmap("tab10")(i % 10), label=c
        )
    ax.plot(path[:, 0], path[:, 1], "-o", color="black", lw=2)
    for (x, y), label in zip(path, labels, strict=True):
        ax.annotate(label, (x, y), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.legend(fontsize=7, markerscale=3)
    ax.set_title("a shopper's state moving through the product space")
    return fig
