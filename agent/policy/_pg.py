"""Numerics shared by the policy-gradient policies (REINFORCE, actor-critic).

- :func:`discounted_returns`: reward-to-go of whole episodes concatenated in time order.
- :func:`top_k_correction`: the capped importance weight and the top-K multiplier of Chen et
  al. (2019).
- :func:`check_episodes`: the ``episode`` learning mode's batch contract.
- :class:`RequestBatch`: a batch of records padded into dense arrays (one forward pass).
- :class:`NumpyMLP`: a no-autograd numpy view of a ``make_mlp`` network, for acting.
- :func:`sample_slate`: Gumbel top-k from one logit vector with exact Plackett-Luce
  propensities, in ``O(k n)``.
- :class:`SoftmaxActor`: the acting half (scores, logits, ``select``) of both policies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.policy.base import (
    Feedback,
    Slate,
    SlatePolicy,
    cosine,
    interaction_features,
    plackett_luce_propensities,
    sample_plackett_luce,
)
from encoders.errors import ConfigError

__all__ = ["NumpyMLP", "RequestBatch", "SoftmaxActor", "check_episodes",
           "discounted_returns", "sample_slate", "top_k_correction"]

_TINY = np.finfo(np.float64).tiny


def discounted_returns(rewards: Any, dones: Any, gamma: float,
                       tail: Any = None) -> np.ndarray:
    """Discounted reward-to-go of episodes concatenated in time order.

    ``G_t = r_t + gamma * G_{t+1}`` inside an episode and ``G_t = r_t + gamma * tail_t`` on
    a record whose ``done`` is true (the last of its episode): ``tail`` is 0 for a terminal
    record, or a value estimate of ``next_state`` for a truncated one.

    Args:
        rewards: float ``(T,)`` total reward of each record (step).
        dones: bool ``(T,)`` the episode ended after this record.
        gamma: discount in ``[0, 1]``.
        tail: optional float ``(T,)``: value after each ``done`` record (ignored elsewhere);
            ``None`` means 0.

    Returns:
        float64 ``(T,)`` the returns ``G_t``.

    Raises:
        ConfigError: shapes differ, ``gamma`` outside ``[0, 1]``, or the last record is not
            ``done`` (its episode's return is unknown).

    """
    r = np.asarray(rewards, dtype=np.float64).reshape(-1)
    d = np.asarray(dones, dtype=bool).reshape(-1)
    if r.shape != d.shape:
        raise ConfigError(f"rewards ({r.shape[0]}) and dones ({d.shape[0]}) differ in length")
    if not 0.0 <= float(gamma) <= 1.0:
        raise ConfigError(f"gamma must be in [0, 1], got {gamma!r}")
    if r.size and not d[-1]:
        raise ConfigError("the last record is not done: its episode's return is unknown")
    t_ = np.zeros(r.shape) if tail is None else np.asarray(tail, dtype=np.float64).reshape(-1)
    if t_.shape != r.shape:
        raise ConfigError(f"tail has {t_.shape[0]} entries, rewards {r.shape[0]}")
    out = np.empty_like(r)
    future = 0.0
    for i in range(r.size - 1, -1, -1):
        future = r[i] + gamma * (t_[i] if d[i] else future)
        out[i] = future
    return out


def check_episodes(batch: Sequence[Feedback], policy: str) -> None:
    """The ``episode`` mode's contract: the batch ends with a ``done`` record.

    Raises:
        ConfigError: the last record is not done (names the policy and the index), or a
            truncated record has no ``next_state``.

    """
    last = batch[-1]
    if not bool(last.done):
        raise ConfigError(
            f"{policy}: update takes whole episodes in time order, but batch[{len(batch) - 1}] "
            "(the last record) is not done; pass complete episodes (its return is unknown)")
    for i, fb in enumerate(batch):
        if bool(fb.truncated) and not bool(fb.done):
            raise ConfigError(f"{policy}: batch[{i}] is truncated but not done")


def top_k_correction(pi: np.ndarray, beta: np.ndarray, k: int,
                     cap: float) -> tuple[np.ndarray, np.ndarray]:
    """Importance weight and top-K multiplier of Chen et al. (2019), per shown item.

    Args:
        pi: float ``(...)`` the learning policy's softmax probability of each shown item.
        beta: float ``(...)`` the logged propensity of each shown item.
        k: ``K`` of the correction (1 = plain importance sampling).
        cap: weight cap ``c``.

    Returns:
        ``(w, lam)``: ``w = min(pi / beta, c)`` and ``lam = K (1 - pi)^(K - 1)``, each the
        shape of ``pi``.

    """
    p = np.asarray(pi, dtype=np.float64)
    w = np.minimum(p / np.maximum(np.asarray(beta, dtype=np.float64), _TINY), cap)
    lam = k * (1.0 - p) ** (k - 1)
    return w, lam


@dataclass
class RequestBatch:
    """Records padded into dense arrays.

    Attributes:
        x: float64 ``(B, n_max, p)`` features of every candidate (0 where padded).
        cand_mask: bool ``(B, n_max)`` real candidates.
        ids: int64 ``(B, k_max)`` shown positions (0 where padded).
        item_mask: bool ``(B, k_max)`` real shown items.
        rewards: float64 ``(B, k_max)`` per-item rewards.
        clicks: bool ``(B, k_max)``.
        props: float64 ``(B, k_max)`` logged propensities (1 where padded).
        states: float64 ``(B, d_u)``.
        cands: float64 ``(B, n_max, d_c)`` raw candidates (0 where padded).

    """

    x: np.ndarray
    cand_mask: np.ndarray
    ids: np.ndarray
    item_mask: np.ndarray
    rewards: np.ndarray
    clicks: np.ndarray
    props: np.ndarray
    states: np.ndarray
    cands: np.ndarray

    @classmethod
    def of(cls, batch: Sequence[Feedback],
           featurize: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> RequestBatch:
        """Featurise and pad ``batch`` (``featurize(state (d_u,), cands (n, d_c)) -> (n, p)``)."""
        states = np.stack([np.asarray(fb.state, dtype=np.float64) for fb in batch])
        raw = [np.asarray(fb.candidates, dtype=np.float64) for fb in batch]
        feats = [featurize(s, c) for s, c in zip(states, raw, strict=True)]
        b = len(batch)
        n_max = max(f.shape[0] for f in feats)
        ks = [np.asarray(fb.slate.item_ids).reshape(-1).shape[0] for fb in batch]
        k_max = max(ks)
        if all(f.shape[0] == n_max for f in feats):
            x = np.stack(feats)
            cands = np.stack(raw)
            cand_mask = np.ones((b, n_max), dtype=bool)
        else:
            x = np.zeros((b, n_max, feats[0].shape[1]))
            cands = np.zeros((b, n_max, raw[0].shape[1]))
            cand_mask = np.zeros((b, n_max), dtype=bool)
            for i, f in enumerate(feats):
                x[i, :f.shape[0]] = f
                cands[i, :f.shape[0]] = raw[i]
                cand_mask[i, :f.shape[0]] = True
        ids = np.zeros((b, k_max), dtype=np.int64)
        item_mask = np.zeros((b, k_max), dtype=bool)
        rewards = np.zeros((b, k_max))
        clicks = np.zeros((b, k_max), dtype=bool)
        props = np.ones((b, k_max))
        for i, (fb, k) in enumerate(zip(batch, ks, strict=True)):
            ids[i, :k] = np.asarray(fb.slate.item_ids, dtype=np.int64).reshape(-1)
            item_mask[i, :k] = True
            rewards[i, :k] = np.asarray(fb.rewards, dtype=np.float64).reshape(-1)
            clicks[i, :k] = np.asarray(fb.clicks, dtype=bool).reshape(-1)
            props[i, :k] = np.asarray(fb.slate.propensities, dtype=np.float64).reshape(-1)
        return cls(x, cand_mask, ids, item_mask, rewards, clicks, props, states, cands)


class NumpyMLP:
    """Forward pass of a ``make_mlp`` network in numpy, without autograd.

    The arrays are views of the torch parameters (shared memory), so optimizer steps and
    ``load_state_dict`` (both in place) are seen without copying.
    """

    def __init__(self, net: Any) -> None:
        """Wrap ``net`` (``Linear -> ReLU -> Linear``, float64)."""
        self.w1 = net[0].weight.detach().numpy()
        self.b1 = net[0].bias.detach().numpy()
        self.w2 = net[2].weight.detach().numpy()[0]
        self.b2 = net[2].bias.detach().numpy()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(..., p) -> (...)``."""
        h = x @ self.w1.T
        h += self.b1
        np.maximum(h, 0.0, out=h)
        return h @ self.w2 + self.b2[0]


def sample_slate(logits: np.ndarray, k: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Plackett-Luce draw of ``k`` distinct positions from ``logits (n,)`` (Gumbel top-k).

    Returns:
        ``(order int64 (k,), propensities float64 (k,))``: the conditional probability of
        each draw given the earlier ones (their product is the slate's probability).

    """
    order = sample_plackett_luce(logits, k, rng)
    return order, np.clip(plackett_luce_propensities(logits, order), _TINY, 1.0)


class SoftmaxActor(SlatePolicy):
    """Acting of a softmax slate policy: ``score = net(x) + prior * cos``, Plackett-Luce.

    Subclasses create ``self.net`` (a ``make_mlp`` network on
    ``interaction_features(..., config.feature_space)``) and ``self._fast = NumpyMLP(self.net)``
    in ``_init_params``; their config has ``temperature`` and ``prior``. Acting never builds an
    autograd graph, and each request's scores are computed once.
    """

    _fast: NumpyMLP

    def features(self, states: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """The actor's input features, ``(..., n, p)`` for ``(..., d_u)`` and ``(..., n, d_c)``."""
        return interaction_features(states, candidates,
                                    self.config.feature_space)  # type: ignore[attr-defined]

    def _hidden(self, s: np.ndarray, c: np.ndarray) -> np.ndarray:
        """First layer pre-activations ``(..., n, h)`` without building the features.

        ``x @ W1.T`` is split by the feature layout of
        :func:`~agent.policy.base.interaction_features`: shared ``[s * c, c, cos, 1]`` gives
        ``c @ (W_sc * s + W_c).T + cos w_cos + w_1 + b1``; separate ``[vec(s ⊗ c), c, 1]``
        gives ``c @ (sum_u s_u W_u + W_c).T + w_1 + b1``. ``d`` times fewer multiplications
        for the outer product, half for the shared layout; tests pin it to the features.
        """
        fast = self._fast
        d_u, d_c = s.shape[-1], c.shape[-1]
        w1 = fast.w1
        h = w1.shape[0]
        if self.config.feature_space == "shared":  # type: ignore[attr-defined]
            w_sc, w_c = w1[:, :d_c], w1[:, d_c:2 * d_c]
            w_cos, w_one = w1[:, 2 * d_c], w1[:, 2 * d_c + 1]
            m = w_sc * s[..., None, :] + w_c  # (..., h, d)
            out = c @ np.swapaxes(m, -1, -2)
            out += cosine(s, c)[..., None] * w_cos
            out += w_one + fast.b1
            return out
        w_outer = w1[:, :d_u * d_c].reshape(h, d_u, d_c)
        w_c, w_one = w1[:, d_u * d_c:d_u * d_c + d_c], w1[:, -1]
        m = np.einsum("hui,...u->...hi", w_outer, s) + w_c
        out = c @ np.swapaxes(m, -1, -2)
        out += w_one + fast.b1
        return out

    def _scores(self, s: np.ndarray, c: np.ndarray) -> np.ndarray:
        h = self._hidden(s, c)
        np.maximum(h, 0.0, out=h)
        out = h @ self._fast.w2 + self._fast.b2[0]
        prior = self.config.prior  # type: ignore[attr-defined]
        if prior > 0:
            out = out + prior * cosine(s, c)
        return out

    def score(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``f(x) + prior * cos``, ``(n,)`` (no autograd)."""
        return self._scores(*self._prepare(state, candidates))

    def _logits(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return self._scores(state, candidates) / self.config.temperature  # type: ignore

    def _score_logits(self, state: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        scores = self._scores(state, candidates)
        return scores, scores / self.config.temperature  # type: ignore[attr-defined]

    def _batch_logits(self, states: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
        return self._scores(states, candidates) / self.config.temperature  # type: ignore

    def select(self, state: np.ndarray, candidates: np.ndarray, k: int,
               rng: np.random.Generator) -> Slate:
        """Plackett-Luce slate from ``softmax(score / temperature)``; scores computed once.

        Raises:
            ConfigError: bad shapes, NaN, ``k`` out of range, ``rng`` not a Generator.
            PolicyError: dimensions differ from the policy's.

        """
        if not isinstance(rng, np.random.Generator):
            raise ConfigError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        s, c = self._prepare(state, candidates, k)
        scores = self._scores(s, c)
        order, props = sample_slate(scores / self.config.temperature, k, rng)  # type: ignore
        return Slate(item_ids=order, scores=scores[order], propensities=props,
                     policy=self.name, version=self.version)

    def probs(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``pi(. | s)`` over the candidates (the first draw's softmax), ``(n,)``."""
        z = self._logits(*self._prepare(state, candidates))
        e = np.exp(z - z.max())
        return e / e.sum()
