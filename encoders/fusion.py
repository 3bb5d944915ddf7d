"""Product fusion (text + image) and the shopper's state vector."""

from __future__ import annotations

import math

import numpy as np

from encoders.errors import ConfigError


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


def _as_matrix(x: object, arg: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{arg} must be a numeric array, got {type(x).__name__}") from exc
    if a.ndim != 2:
        raise ConfigError(f"{arg} must have shape (n, d), got {a.shape}")
    if not np.isfinite(a).all():
        raise ConfigError(f"{arg} contains NaN or infinite values")
    return a


def _check_weight(value: object, arg: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ConfigError(f"{arg} must be a number in [0, 1], got {value!r}")
    w = float(value)
    if not (math.isfinite(w) and 0.0 <= w <= 1.0):
        raise ConfigError(f"{arg} must be in [0, 1], got {value!r}")
    return w


def fuse(
    text_vecs: np.ndarray, image_vecs: np.ndarray | None, image_weight: float
) -> np.ndarray:
    """Blend text and image embeddings of the same products.

    ``normalise((1 - w) * text + w * image)`` row by row; without images the result is the
    normalised text vectors.

    Args:
        text_vecs: float (n, d), one row per product.
        image_vecs: float (n, d) in the same space and order, or None.
        image_weight: w in [0, 1]; 0 ignores images, 1 ignores texts.

    Returns:
        float32 (n, d), rows L2-normalised (an all-zero row stays zero).

    Raises:
        ConfigError: shapes differ, values are not finite, or ``image_weight`` is out of range.

    """
    w = _check_weight(image_weight, "image_weight")
    t = _as_matrix(text_vecs, "text_vecs")
    if image_vecs is None:
        return _unit_rows(t)
    i = _as_matrix(image_vecs, "image_vecs")
    if i.shape != t.shape:
        raise ConfigError(
            f"image_vecs has shape {i.shape} but text_vecs has shape {t.shape}; "
            "they must match (one row per product, same width)"
        )
    return _unit_rows((1.0 - w) * t + w * i)


class UserStateBuilder:
    """Turn a shopper's history and current query into one unit vector.

    The history is a recency-weighted mean (the newest item has age 0 and weight 1; weight
    halves every ``half_life`` items), blended with the query as
    ``(1 - query_weight) * history + query_weight * query`` when both exist.

    Args:
        half_life: items after which a history entry's weight halves (> 0).
        query_weight: weight of the query in [0, 1] when both history and query are given.

    Raises:
        ConfigError: an argument is out of range.

    """

    def __init__(self, half_life: float = 5.0, query_weight: float = 0.5) -> None:
        if isinstance(half_life, bool) or not isinstance(half_life, int | float):
            raise ConfigError(f"half_life must be a positive number, got {half_life!r}")
        if not (math.isfinite(half_life) and half_life > 0):
            raise ConfigError(f"half_life must be a positive number, got {half_life!r}")
        self.half_life = float(half_life)
        self.query_weight = _check_weight(query_weight, "query_weight")

    def __repr__(self) -> str:
        return f"UserStateBuilder(half_life={self.half_life}, query_weight={self.query_weight})"

    def recency_weights(self, m: int) -> np.ndarray:
        """Weights of m history items, oldest first: ``0.5 ** (age / half_life)``, shape (m,)."""
        ages = np.arange(m - 1, -1, -1, dtype=np.float64)
        return (0.5 ** (ages / self.half_life)).astype(np.float32)

    def build(self, history: np.ndarray | None, query: np.ndarray | None = None) -> np.ndarray:
        """Build the state of one shopper.

        Args:
            history: float (m, d) item vectors, oldest first (m may be 0), or None.
            query: float (d,) query vector, or None.

        Returns:
            float32 (d,), L2-normalised; zeros when there is neither history nor query.

        Raises:
            ConfigError: shapes are wrong or the widths of history and query differ.

        """
        h = None
        h_dim = 0
        if history is not None:
            h = _as_matrix(history, "history")
            if h.shape[0] == 0:
                h_dim = h.shape[1]
                h = None
        q = None
        if query is not None:
            q = np.asarray(query, dtype=np.float32)
            if q.ndim != 1:
                raise ConfigError(f"query must have shape (d,), got {q.shape}")
            if not np.isfinite(q).all():
                raise ConfigError("query contains NaN or infinite values")
        if h is not None and q is not None and h.shape[1] != q.shape[0]:
            raise ConfigError(
                f"query has width {q.shape[0]} but history has width {h.shape[1]}; they must match"
            )
        if h is None and q is None:
            if history is None:
                raise ConfigError(
                    "history is empty and query is None: pass history of shape (0, d) "
                    "so that the width of the zero state is known"
                )
            return np.zeros(h_dim, dtype=np.float32)
        if h is None:
            return _unit_rows(q)
        w = self.recency_weights(h.shape[0])
        hist = _unit_rows((w[:, None] * h).sum(axis=0) / w.sum())
        if q is None:
            return hist
        return _unit_rows((1.0 - self.query_weight) * hist + self.query_weight * _unit_rows(q))

    def build_many(
        self, histories: list[np.ndarray], queries: list[np.ndarray | None] | None = None
    ) -> np.ndarray:
        """Build states for many shoppers.

        Args:
            histories: u arrays of shape (m_j, d) (m_j may be 0).
            queries: u query vectors (d,) or None each; None means no queries.

        Returns:
            float32 (u, d).

        """
        if queries is None:
            queries = [None] * len(histories)
        if len(queries) != len(histories):
            raise ConfigError(
                f"queries has {len(queries)} items but histories has {len(histories)}"
            )
        states = [self.build(h, q) for h, q in zip(histories, queries, strict=True)]
        if not states:
            return np.zeros((0, 0), dtype=np.float32)
        widths = {s.shape[0] for s in states}
        if len(widths) != 1:
            raise ConfigError(f"histories and queries have different widths: {sorted(widths)}")
        return np.stack(states).astype(np.float32)
