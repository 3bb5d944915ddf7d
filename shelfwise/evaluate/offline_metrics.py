"""Ranking metrics from one ranked list per shopper, and bootstrap intervals over shoppers.

Every metric comes from the same ranking (:func:`rank_targets`): the scores of one shopper over
the candidate items (the whole catalog in full ranking, or the targets plus sampled negatives),
sorted best first, ties broken at random (seeded), excluded items last.

Per shopper, with ``r`` the 1-based ranks of their targets ``T``:

- ``hr@K``: 1 if any target is in the top K, else 0;
- ``ndcg@K``: ``sum_{t: r_t <= K} 1/log2(r_t + 1)`` divided by the ideal
  ``sum_{i=1}^{min(|T|, K)} 1/log2(i + 1)`` (binary relevance);
- ``mrr``: ``1 / min_t r_t`` over the *full* ranking (not cut at K);
- ``pop@K``: the mean popularity percentile of the shopper's top-K items (0 = the least
  popular item of the training log, 1 = the most popular; ties share the average percentile).

Over all shoppers: ``coverage@K``, the share of the catalog that appears in at least one
shopper's top K. It is a statistic of the set of lists, so it gets no bootstrap interval.

Intervals: percentile bootstrap over shoppers (:func:`bootstrap_means`), the same resampled
shoppers for every model, so that differences between models are paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

__all__ = [
    "Interval",
    "RankedLists",
    "bootstrap_means",
    "coverage",
    "interval",
    "per_user_metrics",
    "popularity_percentile",
    "rank_targets",
]


@dataclass(frozen=True)
class RankedLists:
    """Where each shopper's targets landed, and what their top of the list was.

    Attributes:
        target_ranks: ``m`` int64 arrays, the 1-based rank of each target (same order as the
            targets given).
        top: ``(m, k_max)`` int64 item indices, best first; ``-1`` pads lists shorter than
            ``k_max`` (sampled mode with few candidates).

    """

    target_ranks: list[np.ndarray]
    top: np.ndarray


@dataclass(frozen=True)
class Interval:
    """A point estimate with a 95% (or other) bootstrap interval."""

    value: float
    low: float
    high: float


def _order(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise order, best first, random tie-break: ``(m, n)`` -> ``(m, n)`` column indices."""
    keys = rng.random(scores.shape)
    return np.lexsort((keys, -scores), axis=-1)


def rank_targets(scores: np.ndarray, targets: Sequence[np.ndarray], k_max: int,
                 rng: np.random.Generator, *,
                 excluded: Sequence[np.ndarray] | None = None,
                 candidates: Sequence[np.ndarray] | None = None) -> RankedLists:
    """Rank each shopper's items and locate their targets.

    Args:
        scores: ``(m, n_items)`` scores, higher is better (float; not modified).
        targets: ``m`` int64 arrays of target item indices.
        k_max: length of the top lists to keep.
        rng: tie-break randomness.
        excluded: ``m`` arrays of item indices to put last (the history), full mode only.
        candidates: ``m`` arrays of item indices to rank instead of the whole catalog (sampled
            mode); each must contain that shopper's targets.

    Returns:
        The target ranks and the top-``k_max`` lists.

    """
    m, n_items = scores.shape
    ranks: list[np.ndarray] = []
    if candidates is None:
        s = scores.astype(np.float64, copy=True)
        if excluded is not None:
            rows = np.repeat(np.arange(m), [e.shape[0] for e in excluded])
            cols = np.concatenate([np.asarray(e, dtype=np.int64) for e in excluded]) if m else \
                np.empty(0, dtype=np.int64)
            s[rows, cols] = -np.inf
        order = _order(s, rng)
        inverse = np.empty_like(order)
        np.put_along_axis(inverse, order, np.broadcast_to(np.arange(n_items), order.shape),
                          axis=1)
        for i, t in enumerate(targets):
            ranks.append(inverse[i, np.asarray(t, dtype=np.int64)] + 1)
        top = order[:, :k_max].astype(np.int64)
        if top.shape[1] < k_max:
            top = np.pad(top, ((0, 0), (0, k_max - top.shape[1])), constant_values=-1)
        return RankedLists(ranks, top)
    top = np.full((m, k_max), -1, dtype=np.int64)
    for i, (t, cand) in enumerate(zip(targets, candidates, strict=True)):
        cand = np.asarray(cand, dtype=np.int64)
        order = _order(scores[i, cand][None, :].astype(np.float64), rng)[0]
        pos = np.empty_like(order)
        pos[order] = np.arange(order.shape[0])
        where = {int(c): j for j, c in enumerate(cand)}
        ranks.append(np.asarray([pos[where[int(x)]] + 1 for x in t], dtype=np.int64))
        kk = min(k_max, cand.shape[0])
        top[i, :kk] = cand[order[:kk]]
    return RankedLists(ranks, top)


def popularity_percentile(counts: np.ndarray) -> np.ndarray:
    """Popularity percentile of each item from its training interaction count.

    Args:
        counts: ``(n_items,)`` interaction counts.

    Returns:
        ``(n_items,)`` float64 in ``[0, 1]``: 0 for the least popular, 1 for the most popular;
        tied items share their average rank. A one-item catalog gets 1.

    """
    n = counts.shape[0]
    if n <= 1:
        return np.ones(n, dtype=np.float64)
    return (rankdata(counts, method="average") - 1.0) / (n - 1.0)


def per_user_metrics(lists: RankedLists, ks: Sequence[int],
                     pop_pct: np.ndarray) -> dict[str, np.ndarray]:
    """Per-shopper metric values (see the module docstring for the definitions).

    Args:
        lists: the ranked lists of ``m`` shoppers.
        ks: cut-offs K.
        pop_pct: ``(n_items,)`` popularity percentiles (:func:`popularity_percentile`).

    Returns:
        ``{"hr@K", "ndcg@K", "pop@K" for each K, "mrr"}`` -> ``(m,)`` float64 arrays.

    """
    m = len(lists.target_ranks)
    out: dict[str, np.ndarray] = {}
    best = np.array([r.min() if r.size else np.inf for r in lists.target_ranks], dtype=float)
    out["mrr"] = np.where(np.isfinite(best), 1.0 / best, 0.0)
    for k in ks:
        hr = np.zeros(m)
        ndcg = np.zeros(m)
        ideal_cum = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
        for i, r in enumerate(lists.target_ranks):
            hit = r[r <= k]
            hr[i] = float(hit.size > 0)
            if r.size:
                ndcg[i] = float(np.sum(1.0 / np.log2(hit + 1.0))) / ideal_cum[min(r.size, k) - 1]
        top = lists.top[:, :k]
        valid = top >= 0
        pops = np.where(valid, pop_pct[np.where(valid, top, 0)], 0.0)
        n_valid = valid.sum(axis=1)
        out[f"hr@{k}"] = hr
        out[f"ndcg@{k}"] = ndcg
        out[f"pop@{k}"] = np.divide(pops.sum(axis=1), n_valid, out=np.zeros(m),
                                    where=n_valid > 0)
    return out


def coverage(top: np.ndarray, k: int, n_items: int) -> float:
    """Share of the ``n_items`` catalog that appears in at least one top-``k`` list.

    Args:
        top: ``(m, k_max)`` item indices (``-1`` = padding).
        k: cut-off, at most ``k_max``.
        n_items: catalog size.

    """
    items = top[:, :k].ravel()
    items = items[items >= 0]
    return float(np.unique(items).shape[0]) / float(max(n_items, 1))


def bootstrap_means(values: np.ndarray, n_boot: int, seed: int, *,
                    chunk: int = 200) -> np.ndarray:
    """Means of ``values`` over bootstrap resamples of its columns (the shoppers).

    Every row is resampled with the *same* column indices, so differences between rows (models,
    metrics) are paired. The indices come from ``numpy.random.default_rng(seed)`` in chunks, so
    the result does not depend on ``chunk``.

    Args:
        values: ``(r, m)`` per-shopper values of ``r`` series over ``m`` shoppers.
        n_boot: number of resamples.
        seed: seed of the resampling.
        chunk: most resamples drawn at once (memory about ``2 * chunk * m`` 8-byte numbers,
            capped at 2**23 numbers per array).

    Returns:
        ``(r, n_boot)`` float64 resampled means.

    """
    r, m = values.shape
    out = np.empty((r, n_boot), dtype=np.float64)
    if m == 0:
        out.fill(np.nan)
        return out
    rng = np.random.default_rng(seed)
    chunk = max(1, min(chunk, (1 << 23) // m))  # the (chunk, m) weights stay under 64 MB
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, m, size=(b, m))
        # Counting each shopper's draws turns the gather into one (r, m) @ (m, b) product.
        flat = (np.arange(b)[:, None] * m + idx).ravel()
        weights = np.bincount(flat, minlength=b * m).reshape(b, m).astype(np.float64)
        out[:, start:start + b] = values @ weights.T / m
    return out


def interval(point: float, samples: np.ndarray, level: float = 0.95) -> Interval:
    """A percentile bootstrap interval around ``point`` from resampled values ``(n_boot,)``."""
    if samples.size == 0 or not np.all(np.isfinite(samples)):
        return Interval(float(point), float("nan"), float("nan"))
    lo, hi = np.quantile(samples, [(1 - level) / 2, 1 - (1 - level) / 2])
    return Interval(float(point), float(lo), float(hi))
