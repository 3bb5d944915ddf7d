"""Position-wise action distributions of slate policies.

Position-based estimators need, for every round, the probability that a policy puts item ``a``
at position ``p`` (the marginal over everything else it chose). For a Plackett-Luce policy
(sample k items without replacement, each draw proportional to the remaining items'
probabilities) these marginals are computed exactly for ``k <= 3`` and by Gumbel-top-k Monte
Carlo above; for any other stochastic :class:`agent.policy.SlatePolicy`, by calling its
``select`` repeatedly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shelfwise.errors import ConfigError

__all__ = ["plackett_luce_marginals", "policy_marginals", "softmax"]


def softmax(logits: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of ``logits / temperature`` along ``axis``; ``-inf`` -> 0."""
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def plackett_luce_marginals(probs: np.ndarray, k: int, *, n_samples: int = 4000,
                            rng: np.random.Generator | None = None,
                            chunk: int = 256) -> np.ndarray:
    """P(item a at position p) when k items are drawn without replacement from ``probs``.

    Args:
        probs: ``(n, A)`` first-draw probabilities per round (rows sum to 1; zeros allowed).
        k: slate length, ``1 <= k <= A``.
        n_samples: Monte Carlo draws per round when ``k > 3``.
        rng: generator for the Monte Carlo case (default seed 0).
        chunk: rounds processed at once in the exact ``k = 3`` case (memory ``chunk * A^2``).

    Returns:
        ``(n, A, k)`` float64; each ``[:, :, p]`` sums to 1 over items (when at least ``k`` items
        have positive probability).

    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    n, a = p.shape
    if not 1 <= k <= a:
        raise ConfigError(f"k must be between 1 and the number of items ({a}), got {k}")
    out = np.zeros((n, a, k))
    out[:, :, 0] = p
    if k == 1:
        return out
    if k <= 3:
        # draw 2: P(a) = p_a * sum_{b != a} p_b / (1 - p_b)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(p < 1.0, p / np.where(p < 1.0, 1.0 - p, 1.0), 0.0)
        out[:, :, 1] = p * (r.sum(axis=1, keepdims=True) - r)
        if k == 3:
            # draw 3: P(a) = p_a * sum_{b != c, both != a} p_b p_c / ((1 - p_b)(1 - p_b - p_c))
            for s in range(0, n, chunk):
                pp = p[s:s + chunk]
                rest = 1.0 - pp[:, :, None] - pp[:, None, :]
                with np.errstate(divide="ignore", invalid="ignore"):
                    m = np.where(rest > 1e-12, r[s:s + chunk, :, None] * pp[:, None, :]
                                 / np.where(rest > 1e-12, rest, 1.0), 0.0)
                idx = np.arange(a)
                m[:, idx, idx] = 0.0
                total = m.sum(axis=(1, 2))[:, None]
                out[s:s + chunk, :, 2] = pp * (total - m.sum(axis=2) - m.sum(axis=1))
        # cancellation (1 - p_b - p_c when two items hold nearly all mass) costs a few digits;
        # each position's marginals sum to 1 in exact arithmetic, so renormalise
        out = np.clip(out, 0.0, 1.0)
        sums = out.sum(axis=1, keepdims=True)
        return np.where(sums > 0, out / np.where(sums > 0, sums, 1.0), 0.0)
    gen = rng if rng is not None else np.random.default_rng(0)
    logp = np.log(np.where(p > 0, p, 1e-300))
    for i in range(n):
        g = logp[i][None, :] - np.log(-np.log(gen.random((n_samples, a))))
        top = np.argsort(-g, axis=1)[:, :k]
        for pos in range(k):
            out[i, :, pos] = np.bincount(top[:, pos], minlength=a) / n_samples
    return out


def policy_marginals(policy: Any, state: np.ndarray, candidates: np.ndarray, k: int,
                     rng: np.random.Generator, *, n_samples: int = 200) -> np.ndarray:
    """P(candidate a at position p) for an ``agent.policy.SlatePolicy``, ``(n_candidates, k)``.

    Uses the policy's own ``action_dist(state, candidates, k)`` when it has one (exact);
    otherwise counts ``n_samples`` calls of ``select``. A deterministic policy needs one call.
    """
    n_cand = int(np.asarray(candidates).shape[0])
    k = min(k, n_cand)
    exact = getattr(policy, "action_dist", None)
    if callable(exact):
        dist = np.asarray(exact(state, candidates, k), dtype=np.float64)
        if dist.shape != (n_cand, k):
            raise ConfigError(f"{type(policy).__name__}.action_dist returned shape {dist.shape}, "
                              f"expected ({n_cand}, {k})")
        return dist
    counts = np.zeros((n_cand, k))
    for t in range(n_samples):
        slate = policy.select(state, candidates, k, rng)
        chosen = np.asarray(slate.item_ids, dtype=np.int64)[:k]
        counts[chosen, np.arange(len(chosen))] += 1.0
        if t == 0 and np.all(np.asarray(slate.propensities, dtype=np.float64) >= 1.0 - 1e-12):
            return counts  # deterministic: one draw is the distribution
    return counts / n_samples
