"""Shopper choice: conditional logit over a slate plus a no-click option, with position bias."""

from __future__ import annotations

import numpy as np


def position_weights(k: int, power: float) -> np.ndarray:
    """Attention multiplier per slate rank.

    Args:
        k: slate size.
        power: exponent ``p``; 0 gives no position bias.

    Returns:
        ``float64 (k,)``: ``(1 / log2(rank + 2)) ** p``, 1.0 at rank 0, decreasing.

    """
    ranks = np.arange(k, dtype=np.float64)
    return (1.0 / np.log2(ranks + 2.0)) ** power


def choice_probabilities(
    utilities: np.ndarray, weights: np.ndarray, no_click_utility: float
) -> np.ndarray:
    """Conditional-logit click probabilities ``P(i) ∝ w_rank(i) * exp(u_i)``, outside option last.

    Args:
        utilities: ``(b, k)`` utility of the item at each slate rank.
        weights: ``(k,)`` position multipliers (:func:`position_weights`).
        no_click_utility: utility of clicking nothing.

    Returns:
        ``float64 (b, k + 1)``; column ``k`` is the probability of no click; rows sum to 1.

    """
    b = utilities.shape[0]
    logits = np.concatenate(
        [
            utilities + np.log(np.maximum(weights, 1e-300))[None, :],
            np.full((b, 1), float(no_click_utility)),
        ],
        axis=1,
    )
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs


def sample_choice(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one option per row.

    Args:
        probs: ``(b, k + 1)`` from :func:`choice_probabilities`.
        rng: the source of randomness (``b`` uniforms are drawn).

    Returns:
        ``int64 (b,)``: the clicked slate rank, or ``-1`` for no click.

    """
    k = probs.shape[1] - 1
    draws = rng.random(probs.shape[0])
    chosen = (np.cumsum(probs, axis=1) < draws[:, None]).sum(axis=1)
    chosen = np.minimum(chosen, k)
    return np.where(chosen == k, -1, chosen).astype(np.int64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function, elementwise."""
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out
