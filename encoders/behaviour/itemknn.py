"""Item-kNN: cosine similarity of item co-occurrence, top-k neighbours kept (sparse).

The baseline a data team runs first (Sarwar et al. 2001; Deshpande & Karypis 2004), the
same scoring as implicit's ``CosineRecommender``: with the 0/1 user-item matrix ``X``,
``S_ij = (X'X)_ij / (|x_i| |x_j| + shrink)`` for ``i != j``; each row ``i`` keeps its ``k``
largest entries; a shopper with history row ``x`` scores ``x S`` (the summed similarity of
each item to the items in the history). Offline evaluation uses this class as its item-kNN
baseline, so the baseline and the model are one implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders.behaviour.base import (
    BaseBehaviourModel,
    BehaviourConfig,
    Interactions,
    check_array,
    check_number,
    history_matrix,
)
from encoders.errors import ConfigError, EncoderError


@dataclass
class ItemKNNConfig(BehaviourConfig):
    """Hyperparameters of :class:`ItemKNNModel`."""

    k: int = 100
    """Neighbours kept per item (the rest of its similarity row is dropped)."""
    shrink: float = 0.0
    """Added to the cosine's denominator; > 0 lowers similarities backed by few shoppers."""
    weighted: bool = False
    """Use summed event weights instead of a 0/1 matrix."""

    def validate(self) -> None:  # noqa: D102
        check_number(self, "k", low=1, integer=True)
        check_number(self, "shrink", low=0.0)
        if not isinstance(self.weighted, bool):
            raise ConfigError(f"weighted must be a bool, got {self.weighted!r}")


class ItemKNNModel(BaseBehaviourModel):
    """Cosine item-kNN; ``S`` is a sparse ``(n_items, n_items)`` matrix, ``score = x S``."""

    name = "itemknn"
    config_cls = ItemKNNConfig

    def __init__(self, config: ItemKNNConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.S: Any = None  # scipy.sparse.csr_matrix float32 (n_items, n_items)

    def _fit(self, data: Interactions, *, progress: bool) -> None:
        import scipy.sparse as sp

        cfg: ItemKNNConfig = self.config  # type: ignore[assignment]
        X = data.csr(binary=not cfg.weighted).astype(np.float64).tocsc()
        co = (X.T @ X).tocsr()
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel())
        co.setdiag(0.0)
        co.eliminate_zeros()
        coo = co.tocoo()
        denom = norms[coo.row] * norms[coo.col] + cfg.shrink
        vals = np.divide(coo.data, denom, out=np.zeros_like(coo.data), where=denom > 0)
        sim = sp.csr_matrix((vals, (coo.row, coo.col)), shape=co.shape)
        self.S = _top_k_rows(sim, cfg.k, progress=progress).astype(np.float32)

    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
        X = history_matrix(histories, self.n_items)
        return np.asarray((X @ self.S).toarray(), dtype=np.float32)

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` nearest neighbours of ``item``.

        Returns:
            ``(indices int64 (m,), scores float32 (m,))``, best first, ``m <= n`` (only the
            stored neighbours).
        """
        self.check_histories([np.array([item])])
        row = self.S.getrow(item)
        order = np.argsort(-row.data, kind="stable")[:n]
        return row.indices[order].astype(np.int64), row.data[order].astype(np.float32)

    def _arrays(self) -> dict[str, np.ndarray]:
        S = self.S
        return {"S_data": S.data.astype(np.float32), "S_indices": S.indices.astype(np.int64),
                "S_indptr": S.indptr.astype(np.int64)}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], folder: Path) -> None:
        import scipy.sparse as sp

        n = self.n_items
        data = check_array(arrays, "S_data", (None,), folder)
        indices = check_array(arrays, "S_indices", (data.shape[0],), folder)
        indptr = check_array(arrays, "S_indptr", (n + 1,), folder)
        if (indptr[0] != 0 or indptr[-1] != data.shape[0] or np.any(np.diff(indptr) < 0)
                or (indices.size and (indices.min() < 0 or indices.max() >= n))):
            raise EncoderError(f"{folder}: sparse similarity arrays are inconsistent "
                               f"(indptr/indices do not describe a {n}x{n} matrix)")
        self.S = sp.csr_matrix((data, indices, indptr), shape=(n, n))


def _top_k_rows(m: Any, k: int, *, progress: bool = False) -> Any:
    """Keep the ``k`` largest entries of each row of a CSR matrix (ties: lower column first)."""
    import scipy.sparse as sp

    m = m.tocsr()
    m.sort_indices()
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= k:
        return m
    rows = range(m.shape[0])
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc="item-kNN neighbours", unit="item")
    keep = np.zeros(m.data.shape[0], bool)
    for r in rows:
        a, b = m.indptr[r], m.indptr[r + 1]
        if b - a <= k:
            keep[a:b] = True
            continue
        top = np.argsort(-m.data[a:b], kind="stable")[:k]
        keep[a + top] = True
    row_of = np.repeat(np.arange(m.shape[0]), counts)
    return sp.csr_matrix((m.data[keep], (row_of[keep], m.indices[keep])), shape=m.shape)
