"""User-choice models for SlateQ: which shown item a shopper clicks, if any.

A choice model gives nonnegative weights ``v(s, i)`` to candidates and a weight ``v_0`` to
not clicking; the shopper shown slate ``A`` clicks ``i in A`` with probability
``v_i / (v_0 + sum_{j in A} v_j)`` (a conditional logit). SlateQ values a slate as
``sum_i P(i | s, A) Q(s, i)``.

Built-in models (``SlateQConfig.choice_model``):

- ``cosine`` (default): ``v = exp(choice_beta * cos(s, i))``, ``v_0 = no_click_weight``;
  needs ``feature_space="shared"``.
- ``uniform``: ``v = 1``, ``v_0 = no_click_weight``.
- ``learned``: ``v = exp(w · phi(s, i))``, ``v_0 = 1``, with ``phi`` the features of
  :func:`~agent.policy.base.similarity_features` (shared space) or
  :func:`~agent.policy.base.interaction_features` (separate spaces), ``w`` fitted by
  L2-regularised maximum likelihood on logged clicks (:meth:`LearnedChoice.fit`, or a few
  gradient steps per SlateQ update). With ``position_bias`` the fit adds one utility offset
  per slate position (position 0 is the reference), so that clicks on top slots are not
  credited to the items; predictions are for the top position.

Anything with ``weights(state, candidates)`` and ``no_click_weight`` plugs in
(:class:`ChoiceModel`): assign it to ``SlateQPolicy.choice``. Checkpoints save the named
models only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from agent.policy.base import (
    Feedback,
    cosine,
    interaction_features,
    similarity_features,
)
from encoders.errors import ConfigError

__all__ = ["CHOICE_MODELS", "MAX_POSITIONS", "ChoiceModel", "CosineChoice", "LearnedChoice",
           "UniformChoice", "choice_data"]

CHOICE_MODELS: tuple[str, ...] = ("cosine", "uniform", "learned")
"""Names accepted by ``SlateQConfig.choice_model``."""

MAX_POSITIONS = 32
"""Slate positions with their own offset in a position-biased fit (deeper ones share the last)."""


@runtime_checkable
class ChoiceModel(Protocol):
    """What SlateQ needs from a user-choice model."""

    no_click_weight: float
    """Weight ``v_0`` of not clicking (> 0)."""

    def weights(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Choice weights of the candidates.

        Args:
            state: float ``(d_u,)``, or ``(m, d_u)``.
            candidates: float ``(n, d_c)``, or ``(m, n, d_c)``.

        Returns:
            float64 ``(n,)`` (or ``(m, n)``), nonnegative.

        """
        ...


class CosineChoice:
    """``v = exp(beta * cos(s, i))``: shoppers click what resembles their state."""

    def __init__(self, beta: float, no_click_weight: float) -> None:
        """Set the sharpness ``beta`` and the no-click weight."""
        self.beta = float(beta)
        self.no_click_weight = float(no_click_weight)

    def weights(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``exp(beta * cos)``, ``(n,)`` or ``(m, n)``."""
        return np.exp(self.beta * cosine(state, candidates))


class UniformChoice:
    """``v = 1``: every shown item is equally likely to be clicked."""

    def __init__(self, no_click_weight: float) -> None:
        """Set the no-click weight."""
        self.no_click_weight = float(no_click_weight)

    def weights(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Ones, ``(n,)`` or ``(m, n)``."""
        return np.ones(np.shape(candidates)[:-1])


def choice_data(batch: Sequence[Feedback], features: object
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Turn feedback into conditional-logit choice events.

    Each clicked item is one choice among the shown slate plus not clicking; a slate without
    a click is one choice of not clicking.

    Args:
        batch: feedback records.
        features: callable ``(state (d_u,), candidates (k, d_c)) -> (k, p)``.

    Returns:
        ``(phi (N, K, p), shown (N, K) bool, positions (N, K) int, chosen (N,) int)``:
        ``K`` the longest slate, ``chosen`` the column of the clicked item or ``-1`` for
        no click.

    """
    rows: list[tuple[np.ndarray, int]] = []
    for fb in batch:
        ids = np.asarray(fb.slate.item_ids, dtype=np.int64).reshape(-1)
        clicks = np.asarray(fb.clicks, dtype=bool).reshape(-1)
        phi = features(np.asarray(fb.state, dtype=np.float64),  # type: ignore[operator]
                       np.asarray(fb.candidates, dtype=np.float64)[ids])
        picked = np.flatnonzero(clicks)
        for j in picked if picked.size else [-1]:
            rows.append((phi, int(j)))
    if not rows:
        return np.zeros((0, 1, 1)), np.zeros((0, 1), bool), np.zeros((0, 1), np.int64), \
            np.zeros(0, np.int64)
    k = max(r[0].shape[0] for r in rows)
    p = rows[0][0].shape[1]
    phi = np.zeros((len(rows), k, p))
    shown = np.zeros((len(rows), k), dtype=bool)
    for i, (f, _) in enumerate(rows):
        phi[i, :f.shape[0]] = f
        shown[i, :f.shape[0]] = True
    positions = np.minimum(np.arange(k), MAX_POSITIONS - 1)[None, :].repeat(len(rows), 0)
    chosen = np.array([r[1] for r in rows], dtype=np.int64)
    return phi, shown, positions, chosen


class LearnedChoice:
    """Conditional logit ``v = exp(w · phi(s, i))``, ``v_0 = 1``, fitted from logged clicks."""

    no_click_weight = 1.0

    def __init__(self, dim: int, feature_space: str, *, l2: float = 1e-3,
                 position_bias: bool = False) -> None:
        """Start from ``w = 0`` (every item as likely as not clicking).

        Args:
            dim: the state dimension ``d_u``.
            feature_space: ``"shared"`` (similarity features) or ``"separate"``.
            l2: L2 penalty on ``w`` (per choice event).
            position_bias: fit per-position utility offsets.

        """
        self.dim = int(dim)
        self.feature_space = feature_space
        self.l2 = float(l2)
        self.position_bias = bool(position_bias)
        self.w: np.ndarray | None = None
        self.offsets = np.zeros(MAX_POSITIONS)

    def features(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``phi``: ``(n, p)`` (or ``(m, n, p)``)."""
        if self.feature_space == "shared":
            return similarity_features(state, candidates)
        return interaction_features(state, candidates, "separate")

    def _ensure_w(self, p: int) -> np.ndarray:
        if self.w is None:
            self.w = np.zeros(p)
        return self.w

    def weights(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``exp(w · phi)`` (clipped to avoid overflow), ``(n,)`` or ``(m, n)``."""
        phi = self.features(state, candidates)
        w = self._ensure_w(phi.shape[-1])
        return np.exp(np.clip(phi @ w, -50.0, 50.0))

    # -- fitting

    def _loss_grad(self, theta: np.ndarray, phi: np.ndarray, shown: np.ndarray,
                   positions: np.ndarray, chosen: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean negative log-likelihood (+ L2) and its gradient in ``[w, offsets]``."""
        p = phi.shape[2]
        w, off = theta[:p], theta[p:]
        u = phi @ w  # (N, K)
        if self.position_bias:
            u = u + off[positions]
        u = np.where(shown, np.clip(u, -50.0, 50.0), -np.inf)
        mx = np.maximum(np.max(u, axis=1), 0.0)  # the no-click option has utility 0
        e = np.exp(u - mx[:, None])
        denom = np.exp(-mx) + e.sum(axis=1)
        prob = e / denom[:, None]  # (N, K) choice probabilities of the shown items
        n = phi.shape[0]
        rows = np.arange(n)
        clicked = chosen >= 0
        u_chosen = np.where(clicked, u[rows, np.maximum(chosen, 0)], 0.0)
        nll = -(u_chosen - mx - np.log(denom)).sum() / n
        target = np.zeros_like(prob)
        target[rows[clicked], chosen[clicked]] = 1.0
        resid = prob - target  # d nll / d u
        g_w = np.einsum("nk,nkp->p", resid, phi) / n + self.l2 * w
        g_off = np.zeros_like(off)
        if self.position_bias:
            np.add.at(g_off, positions[shown], resid[shown] / n)
            g_off[0] = 0.0  # position 0 is the reference
        return float(nll + 0.5 * self.l2 * (w @ w)), np.concatenate([g_w, g_off])

    def _data(self, batch: Sequence[Feedback]) -> tuple[np.ndarray, ...]:
        return choice_data(batch, self.features)

    def fit(self, batch: Sequence[Feedback], *, max_iter: int = 200) -> float:
        """Fit ``w`` (and offsets) by maximum likelihood on ``batch`` (L-BFGS, warm start).

        Returns:
            the final mean negative log-likelihood per choice event.

        Raises:
            ConfigError: no records.

        """
        from scipy.optimize import minimize

        data = self._data(batch)
        if data[0].shape[0] == 0:
            raise ConfigError("LearnedChoice.fit needs at least one feedback record")
        w = self._ensure_w(data[0].shape[2])
        x0 = np.concatenate([w, self.offsets])
        res = minimize(self._loss_grad, x0, args=data, jac=True, method="L-BFGS-B",
                       options={"maxiter": int(max_iter)})
        self.w, self.offsets = res.x[:w.shape[0]].copy(), res.x[w.shape[0]:].copy()
        return float(res.fun)

    def partial_fit(self, batch: Sequence[Feedback], *, steps: int, lr: float) -> None:
        """A few gradient steps on ``batch`` (what SlateQ's ``update`` does)."""
        data = self._data(batch)
        if data[0].shape[0] == 0:
            return
        w = self._ensure_w(data[0].shape[2])
        theta = np.concatenate([w, self.offsets])
        for _ in range(steps):
            theta = theta - lr * self._loss_grad(theta, *data)[1]
        self.w, self.offsets = theta[:w.shape[0]].copy(), theta[w.shape[0]:].copy()

    def choice_probs(self, state: np.ndarray, shown: np.ndarray) -> np.ndarray:
        """P(click each shown item) at the top position, ``(k,)`` (the rest: no click)."""
        v = self.weights(state, shown)
        return v / (self.no_click_weight + v.sum())
