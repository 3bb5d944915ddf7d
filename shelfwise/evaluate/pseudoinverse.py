"""Pairwise slate marginals and the weights of the pseudo-inverse estimator.

The pseudo-inverse (PI) estimator of Swaminathan et al. (2017) sees a slate of ``k`` positions
over ``A`` items as the indicator vector ``1_s`` of its (position, item) pairs, laid out as
``p * A + a`` (length ``k * A``). It needs the behaviour policy's *pairwise* marginals
``Gamma = E_mu[1_s 1_s^T]``: entry ``(p * A + a, q * A + b)`` is the probability that item
``a`` is at position ``p`` and item ``b`` at position ``q``. The estimate of round ``i`` is
``R_i * q_pi(x_i)^T Gamma(x_i)^+ 1_{s_i}`` (:func:`slate_weights` gives the factor).

Builders:

- :func:`uniform_pairwise`: ``k`` distinct items drawn uniformly (a random logging policy);
- :func:`plackett_luce_pairwise`: Plackett-Luce (softmax draws without replacement), exact for
  ``k <= 3`` and Monte Carlo above.
"""

from __future__ import annotations

import numpy as np

from shelfwise.errors import ConfigError

__all__ = ["plackett_luce_pairwise", "slate_weights", "uniform_pairwise"]


def uniform_pairwise(n_actions: int, k: int) -> np.ndarray:
    """``Gamma`` of uniformly random slates of ``k`` distinct items, ``(k A, k A)``."""
    if not 1 <= k <= n_actions:
        raise ConfigError(f"k must be between 1 and n_actions={n_actions}, got {k}")
    a = n_actions
    off = 1.0 / (a * (a - 1)) if a > 1 else 0.0
    block = np.full((a, a), off)
    np.fill_diagonal(block, 0.0)  # one item cannot be at two positions
    gamma = np.tile(block, (k, k))
    for p in range(k):
        gamma[p * a:(p + 1) * a, p * a:(p + 1) * a] = np.eye(a) / a
    return gamma


def _pl_pairs_exact(p: np.ndarray, k: int) -> np.ndarray:
    """Exact pairwise marginals for Plackett-Luce rows ``p (m, A)``, ``k <= 3``: ``(m, kA, kA)``."""
    m, a = p.shape
    eye = np.eye(a, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(p < 1.0, 1.0 / np.where(p < 1.0, 1.0 - p, 1.0), 0.0)  # 1 / (1 - p_a)
        # pair[i, a, c] = P(a first, c second) = p_a p_c / (1 - p_a)
        pair = (p * first)[:, :, None] * p[:, None, :]
        pair[:, eye] = 0.0
    marg = np.zeros((m, a, k))
    marg[:, :, 0] = p
    if k >= 2:
        marg[:, :, 1] = pair.sum(axis=1)
    gamma = np.zeros((m, k * a, k * a))
    if k >= 2:
        gamma[:, 0:a, a:2 * a] = pair
    if k == 3:
        # rest[i, x, y] = 1 - p_x - p_y (what is left after x and y were drawn)
        rest = 1.0 - p[:, :, None] - p[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_rest = np.where(rest > 1e-12, 1.0 / np.where(rest > 1e-12, rest, 1.0), 0.0)
        # P(x first, y second, b third) = pair[x, y] * p_b / (1 - p_x - p_y), b not in {x, y}
        triple = (pair * inv_rest)[:, :, :, None] * p[:, None, None, :]
        idx = np.arange(a)
        triple[:, idx, :, idx] = 0.0
        triple[:, :, idx, idx] = 0.0
        gamma[:, 0:a, 2 * a:3 * a] = triple.sum(axis=2)        # (first, third)
        gamma[:, a:2 * a, 2 * a:3 * a] = triple.sum(axis=1)    # (second, third)
        marg[:, :, 2] = triple.sum(axis=(1, 2))
    for q in range(k):
        for r in range(q + 1, k):
            blk = gamma[:, q * a:(q + 1) * a, r * a:(r + 1) * a]
            gamma[:, r * a:(r + 1) * a, q * a:(q + 1) * a] = np.transpose(blk, (0, 2, 1))
    for q in range(k):
        d = np.arange(q * a, (q + 1) * a)
        gamma[:, d, d] = marg[:, :, q]
    return gamma


def plackett_luce_pairwise(probs: np.ndarray, k: int, *, n_samples: int = 20_000,
                           rng: np.random.Generator | None = None) -> np.ndarray:
    """Pairwise marginals of Plackett-Luce slates, ``(n, k A, k A)``.

    Args:
        probs: ``(n, A)`` first-draw probabilities per round (rows sum to 1), or ``(A,)``.
        k: slate length, ``1 <= k <= A``.
        n_samples: Monte Carlo slates per round when ``k > 3``.
        rng: generator of the Monte Carlo case (default seed 0).

    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    n, a = p.shape
    if not 1 <= k <= a:
        raise ConfigError(f"k must be between 1 and the number of items ({a}), got {k}")
    if k <= 3:
        return _pl_pairs_exact(p, k)
    gen = rng if rng is not None else np.random.default_rng(0)
    out = np.zeros((n, k * a, k * a))
    logp = np.log(np.where(p > 0, p, 1e-300))
    for i in range(n):
        g = logp[i][None, :] - np.log(-np.log(gen.random((n_samples, a))))
        top = np.argsort(-g, axis=1)[:, :k]
        cols = top + np.arange(k)[None, :] * a  # (n_samples, k) indices into the k*A layout
        ind = np.zeros((n_samples, k * a))
        np.put_along_axis(ind, cols, 1.0, axis=1)
        out[i] = ind.T @ ind / n_samples
    return out


def slate_weights(gamma: np.ndarray, action_dist: np.ndarray, actions: np.ndarray,
                  mask: np.ndarray | None = None, *, chunk: int = 256) -> np.ndarray:
    """Per-round PI weights ``q_pi^T Gamma^+ 1_s``, ``(n,)``.

    Args:
        gamma: ``(kA, kA)`` (context-free behaviour) or ``(n, kA, kA)``.
        action_dist: ``(n, A, k)`` the evaluation policy's position-wise marginals.
        actions: ``(n, k)`` logged item per position.
        mask: ``(n, k)`` False at padded positions (left out of ``1_s``).
        chunk: rounds whose pseudo-inverses are computed at once.

    """
    dist = np.asarray(action_dist, dtype=np.float64)
    n, a, k = dist.shape
    acts = np.asarray(actions, dtype=np.int64)
    valid = np.ones((n, k), bool) if mask is None else np.asarray(mask, bool)
    g = np.asarray(gamma, dtype=np.float64)
    if g.shape[-1] != k * a:
        raise ConfigError(f"behaviour_pairwise has {g.shape[-1]} rows but action_dist implies "
                          f"k * n_actions = {k * a}")
    q_flat = np.transpose(dist, (0, 2, 1)).reshape(n, k * a)
    cols = acts + np.arange(k)[None, :] * a  # (n, k)
    if g.ndim == 2:
        v = q_flat @ np.linalg.pinv(g, hermitian=True)
    else:
        v = np.empty((n, k * a))
        for s in range(0, n, chunk):
            pinv = np.linalg.pinv(g[s:s + chunk], hermitian=True)
            v[s:s + chunk] = np.einsum("ij,ijl->il", q_flat[s:s + chunk], pinv)
    return (np.take_along_axis(v, cols, axis=1) * valid).sum(axis=1)
