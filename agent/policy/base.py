"""Records, the :class:`SlatePolicy` base class and the shared numerics of slate policies.

Every policy here works on plain numpy features:

- ``state``: the user state, float ``(d_u,)``;
- ``candidates``: the candidate items, float ``(n, d_c)``;
- a slate is ``k`` distinct *positions into* ``candidates`` (not product ids).

**Feature model** (``PolicyConfig.feature_space``, an explicit choice, never inferred from
the dimensions):

- ``"shared"`` (default; every shelfwise surface: the shopper state is built from product and
  query vectors): state and items live in one embedding space, so elementwise products and
  cosines mean something. Needs ``d_u`` equal to the item dimension; anything else raises
  :class:`PolicyError` naming both dimensions and the option to set.
- ``"separate"`` (e.g. Open Bandit Dataset contexts vs item features): different spaces,
  related only through learned outer-product weights. Cosine-based parts (the greedy
  policy, the bandits' cosine prior, SlateQ's default choice model) are unavailable or off.

Interaction features (:func:`interaction_features`), used by SlateQ and the policy-gradient
policies:

- ``shared``: ``[state * cand, cand, cos(state, cand), 1]`` -> ``2 d + 2`` columns;
- ``separate``: ``[vec(state ⊗ cand), cand, 1]`` -> ``d_u d_c + d_c + 1`` columns (refused
  above ``MAX_OUTER_FEATURES``).

Similarity features (:func:`similarity_features`), used by the linear bandits in the shared
space: ``[state * item, cos(state, item), extras, 1]`` -> ``d + 2 + m``
columns, where ``extras`` are ``m`` trailing per-candidate scalar columns (e.g. the scores of
the candidate sources). They hold no column of the item's own content, so shared weights
learn how much state-item agreement and source scores are worth, not which items are good
for everyone (see :mod:`agent.policy.bandits`). In the separate space the bandits use the
outer-product interaction features.

Both feature functions broadcast leading batch dimensions (``state (m, d_u)`` with
``candidates (m, n, d_c)``), so trainers featurise many requests in one call.

How a policy learns is declared on the class (:class:`Learning`, ``SlatePolicy.learning``);
trainers read it and never branch on policy names:

- ``none``: ``update`` learns nothing (random, greedy).
- ``step``: online; ``update`` takes any records, typically one environment step's (bandits).
- ``episode``: ``update`` takes whole episodes, concatenated in time order, each ending with a
  record whose ``done`` is true; the policy computes returns (reward-to-go) itself. A batch
  whose last record is not ``done`` is refused.
- ``replay``: ``update`` takes any minibatch of transitions in any order (e.g. from a replay
  buffer) and bootstraps from ``next_state`` itself unless the record is terminal.

``Learning.off_policy`` says whether ``update`` is valid on records logged by *another* policy
(it corrects with ``slate.propensities``, or its objective does not depend on the logging
policy), so it may train from the event log.

Stochastic policies sample slates Plackett-Luce (softmax without replacement); the propensity
logged for the item at position ``j`` is its conditional probability at draw ``j`` given the
items drawn before, so the slate's probability is the product of its propensities.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from encoders.errors import ConfigError, PolicyError

__all__ = [
    "FEATURE_SPACES",
    "MAX_OUTER_FEATURES",
    "LEARNING_MODES",
    "Feedback",
    "Learning",
    "PolicyConfig",
    "RewardScale",
    "Slate",
    "SlatePolicy",
    "check_feature_space",
    "check_inputs",
    "check_reward_scale",
    "cosine",
    "feature_dim",
    "interaction_features",
    "plackett_luce_marginals",
    "plackett_luce_propensities",
    "sample_plackett_luce",
    "similarity_feature_dim",
    "similarity_features",
]

_TINY = float(np.finfo(np.float64).tiny)

MAX_OUTER_FEATURES = 8192
"""Largest ``d_u * d_c`` accepted for the outer-product features of unequal dimensions."""

FEATURE_SPACES: tuple[str, ...] = ("shared", "separate")
"""Values of ``PolicyConfig.feature_space`` (see the module docstring)."""

LEARNING_MODES: tuple[str, ...] = ("none", "step", "episode", "replay")
"""Values of :attr:`Learning.mode` (see the module docstring)."""


@dataclass(frozen=True)
class Learning:
    """How a policy learns; trainers read this from ``policy.learning``.

    Attributes:
        mode: one of :data:`LEARNING_MODES`: ``none``, ``step`` (online, after every step),
            ``episode`` (whole episodes in time order; returns computed by the policy) or
            ``replay`` (minibatches of transitions in any order; bootstrapping by the policy).
        off_policy: ``update`` is valid on records logged by *another* policy, so the policy
            may learn from the event log: it corrects with the logged
            ``slate.propensities``, or its objective does not depend on who chose the slates
            (regression, Q-learning).

    """

    mode: str
    off_policy: bool = False

    def __post_init__(self) -> None:
        if self.mode not in LEARNING_MODES:
            raise ConfigError(f"Learning.mode must be one of {', '.join(LEARNING_MODES)}, "
                              f"got {self.mode!r}")


@dataclass
class Slate:
    """A slate chosen by a policy.

    Attributes:
        item_ids: int64 ``(k,)`` distinct positions into the candidate matrix, in display order.
        scores: float64 ``(k,)`` the policy's score of each shown item.
        propensities: float64 ``(k,)`` in ``(0, 1]``: probability that the item at position
            ``j`` was drawn at draw ``j`` given the items at positions ``< j``.
        policy: name of the policy that chose the slate.
        version: version of that policy's parameters.
        marginals: optional float64 ``(k,)``: P(this item at this position), marginal over
            the earlier draws (filled when the policy computes it cheaply).

    """

    item_ids: np.ndarray
    scores: np.ndarray
    propensities: np.ndarray
    policy: str
    version: str
    marginals: np.ndarray | None = None


@dataclass
class Feedback:
    """What happened after a slate was shown; the unit of ``SlatePolicy.update``.

    Attributes:
        state: float ``(d_u,)`` the user state the slate was chosen for.
        candidates: float ``(n, d_c)`` the candidate matrix ``slate.item_ids`` index into.
        slate: the shown slate (possibly a sub-slate of the served one).
        clicks: bool ``(k,)`` clicked or not, per shown item.
        rewards: float ``(k,)`` reward per shown item (a click, a purchase value, ...).
        next_state: float ``(d_u,)`` the user state after the interaction, or ``None``.
        next_candidates: float ``(n', d_c)`` the next request's candidates, or ``None`` (then
            ``candidates`` are reused).
        done: the episode ended after this slate (terminated or truncated).
        truncated: it ended by a time or step limit, not by the shopper leaving: value
            learners may bootstrap from ``next_state`` (which must then be given).

    """

    state: np.ndarray
    candidates: np.ndarray
    slate: Slate
    clicks: np.ndarray
    rewards: np.ndarray
    next_state: np.ndarray | None = None
    next_candidates: np.ndarray | None = None
    done: bool = True
    truncated: bool = False


# ---------------------------------------------------------------------------- validation


def _ready(x: Any, ndim: int) -> bool:
    """Already what a request needs: a float64 C-contiguous array of ``ndim`` (no copy)."""
    return (type(x) is np.ndarray and x.dtype == np.float64 and x.ndim == ndim
            and x.flags.c_contiguous)


def _as_matrix(x: Any, arg: str) -> np.ndarray:
    if _ready(x, 2):
        a = x
    else:
        try:
            a = np.ascontiguousarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{arg} must be a numeric array: {exc}") from exc
        if a.ndim != 2:
            raise ConfigError(f"{arg} must be 2-D (n, d), got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ConfigError(f"{arg} must be non-empty, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ConfigError(f"{arg} contains NaN or inf")
    return a


def _as_vector(x: Any, arg: str) -> np.ndarray:
    if _ready(x, 1):
        a = x
    else:
        try:
            a = np.ascontiguousarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{arg} must be a numeric array: {exc}") from exc
    if a.ndim != 1 or a.shape[0] == 0:
        raise ConfigError(f"{arg} must be a non-empty 1-D vector (d,), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ConfigError(f"{arg} contains NaN or inf")
    return a


def check_inputs(state: Any, candidates: Any, k: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Validate a request; return it as float64 C-contiguous arrays.

    Arrays that already are float64 and C-contiguous are returned as they are (no copy);
    anything else is converted once.

    Args:
        state: ``(d_u,)`` user state.
        candidates: ``(n, d_c)`` candidate features.
        k: slate size, ``1 <= k <= n``; ``None`` skips the check.

    Returns:
        ``(state (d_u,), candidates (n, d_c))`` as float64.

    Raises:
        ConfigError: wrong shapes, NaN/inf, or ``k`` out of range (the message names the
            argument).

    """
    s = _as_vector(state, "state")
    c = _as_matrix(candidates, "candidates")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise ConfigError(f"k must be an int, got {type(k).__name__}")
        if not 1 <= int(k) <= c.shape[0]:
            raise ConfigError(f"k must be between 1 and the number of candidates "
                              f"({c.shape[0]}), got {k}")
    return s, c


# ---------------------------------------------------------------------------- features


def check_feature_space(feature_space: Any) -> str:
    """Return ``feature_space`` when it is one of :data:`FEATURE_SPACES`.

    Raises:
        ConfigError: anything else (the message lists the valid values).

    """
    if not isinstance(feature_space, str) or feature_space not in FEATURE_SPACES:
        raise ConfigError(f"feature_space must be one of {', '.join(map(repr, FEATURE_SPACES))}"
                          f", got {feature_space!r}")
    return feature_space


def check_dims(d_u: int, d_c: int, feature_space: str = "shared", *, n_extra: int = 0,
               who: str = "features") -> None:
    """Check that dimensions fit the feature model.

    Args:
        d_u: state dimension.
        d_c: candidate columns (item vector + ``n_extra`` trailing scalar columns).
        feature_space: ``"shared"`` or ``"separate"``.
        n_extra: trailing per-candidate scalar columns (shared space only).
        who: what is checking, for the message (e.g. the policy's name).

    Raises:
        ConfigError: unknown ``feature_space``.
        PolicyError: ``"shared"`` with an item dimension that differs from ``d_u``;
            ``"separate"`` with extra columns, or an outer product above
            ``MAX_OUTER_FEATURES``. The message names the dimensions and the option to set.

    """
    check_feature_space(feature_space)
    d_item = d_c - n_extra
    if feature_space == "shared":
        if d_item != d_u and n_extra:
            raise PolicyError(f"{who}: candidates have {d_c} columns; with extra_features="
                              f"{n_extra} they must be the state's {d_u} item columns + "
                              f"{n_extra} extras (feature_space='shared')")
        if d_item != d_u:
            raise PolicyError(
                f"{who}: feature_space='shared' needs state and items in one embedding space, "
                f"but the state has dimension {d_u} and the candidates {d_c}; pass "
                f"feature_space='separate' if they are different spaces (outer-product "
                f"features), or project them to one size")
        return
    if n_extra:
        raise PolicyError(f"{who}: extra_features={n_extra} needs feature_space='shared' (the "
                          f"extras trail an item vector in the state's space)")
    if d_u * d_c > MAX_OUTER_FEATURES:
        raise PolicyError(f"{who}: feature_space='separate' with state dimension {d_u} and "
                          f"candidate dimension {d_c} gives {d_u * d_c} outer-product features, "
                          f"above {MAX_OUTER_FEATURES}; project them to smaller sizes")


def feature_dim(d_u: int, d_c: int, feature_space: str = "shared") -> int:
    """Return the number of columns of :func:`interaction_features` for these dimensions.

    Raises:
        PolicyError: the dimensions do not fit ``feature_space`` (see :func:`check_dims`).

    """
    check_dims(d_u, d_c, feature_space)
    if feature_space == "shared":
        return 2 * d_c + 2
    return d_u * d_c + d_c + 1


def _cos(s_b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Cosines of ``c (..., n, d)`` with ``s_b (..., 1, d)``: ``(..., n)``."""
    dots = (c * s_b).sum(axis=-1)
    return dots / (np.linalg.norm(c, axis=-1) * np.linalg.norm(s_b, axis=-1) + 1e-12)


def interaction_features(state: np.ndarray, candidates: np.ndarray,
                         feature_space: str = "shared") -> np.ndarray:
    """User-item interaction features.

    Args:
        state: float ``(d_u,)``, or ``(m, d_u)`` for ``m`` requests.
        candidates: float ``(n, d_c)``, or ``(m, n, d_c)``.
        feature_space: ``"shared"``: ``[s * c, c, cos(s, c), 1]`` (needs ``d_u == d_c``);
            ``"separate"``: ``[vec(s ⊗ c), c, 1]`` (the outer product, ``u``-major).

    Returns:
        float64 ``(n, feature_dim(d_u, d_c, feature_space))`` (or ``(m, n, ...)``).

    Raises:
        PolicyError: the dimensions do not fit ``feature_space`` (the message names them and
            the option to set), or the outer product exceeds ``MAX_OUTER_FEATURES``.

    """
    s = np.asarray(state, dtype=np.float64)
    c = np.asarray(candidates, dtype=np.float64)
    d_u, d_c = s.shape[-1], c.shape[-1]
    check_dims(d_u, d_c, feature_space, who="interaction_features")
    s_b = s[..., None, :]  # (..., 1, d_u): one state per request, against its n candidates
    ones = np.ones(c.shape[:-1] + (1,))
    if feature_space == "shared":
        return np.concatenate([c * s_b, c, _cos(s_b, c)[..., None], ones], axis=-1)
    outer = (c[..., :, None, :] * s_b[..., :, None]).reshape(c.shape[:-1] + (d_u * d_c,))
    return np.concatenate([outer, c, ones], axis=-1)


def similarity_feature_dim(d_u: int, n_extra: int = 0) -> int:
    """Return the number of columns of :func:`similarity_features`: ``d_u + 2 + n_extra``."""
    return int(d_u) + 2 + int(n_extra)


def similarity_features(state: np.ndarray, candidates: np.ndarray,
                        n_extra: int = 0) -> np.ndarray:
    """State-item similarity features (shared space), with no column of the item's own content.

    The candidate rows are ``[item vector (d), extras (n_extra)]``: the item vector lives in
    the state's space; extras are per-candidate scalars such as candidate-source scores.
    Leading batch dimensions broadcast (``state (..., d)`` with ``candidates (..., n, d_c)``),
    so a batch of requests is one call.

    Args:
        state: float ``(d,)``, or ``(m, d)`` for ``m`` requests.
        candidates: float ``(n, d + n_extra)``, or ``(m, n, d + n_extra)``.
        n_extra: trailing scalar columns of ``candidates``, >= 0.

    Returns:
        float64 ``(n, d + 2 + n_extra)`` (or ``(m, n, d + 2 + n_extra)``):
        ``[state * item, cos(state, item), extras, 1]``.

    Raises:
        PolicyError: the item part of ``candidates`` does not have the state's dimension
            (similarity needs ``feature_space='shared'``; the message says so).

    """
    s = np.asarray(state, dtype=np.float64)
    c = np.asarray(candidates, dtype=np.float64)
    d = s.shape[-1]
    check_dims(d, c.shape[-1], "shared", n_extra=n_extra, who="similarity_features")
    items, extras = c[..., :d], c[..., d:]
    s_b = s[..., None, :]  # (..., 1, d): one state per request, against its n candidates
    ones = np.ones(items.shape[:-1] + (1,))
    return np.concatenate([items * s_b, _cos(s_b, items)[..., None], extras, ones], axis=-1)


def cosine(state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Cosine of ``state (d,)`` with each row of ``candidates (n, d)``; ``(n,)``.

    Leading batch dimensions broadcast (``state (m, d)``, ``candidates (m, n, d)`` ->
    ``(m, n)``).

    Raises:
        PolicyError: the dimensions differ (a cosine needs ``feature_space='shared'``).

    """
    s = np.asarray(state, dtype=np.float64)
    c = np.asarray(candidates, dtype=np.float64)
    check_dims(s.shape[-1], c.shape[-1], "shared", who="cosine")
    if s.ndim == 1 and c.ndim == 2:
        return (c @ s) / (np.linalg.norm(c, axis=1) * np.linalg.norm(s) + 1e-12)
    return _cos(s[..., None, :], c)


# ---------------------------------------------------------------------------- Plackett-Luce


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - np.max(logits)
    e = np.exp(z)
    return e / e.sum()


def plackett_luce_propensities(logits: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Conditional draw probabilities of ``order`` under Plackett-Luce.

    Args:
        logits: float ``(n,)`` or ``(m, n)`` (``m`` mixture components, equally weighted);
            ``-inf`` marks items that cannot be drawn.
        order: int ``(k,)`` the drawn positions.

    Returns:
        float64 ``(k,)``: P(draw j = order[j] | draws < j); for a mixture, the ratio of the
        mixture's prefix probabilities.

    """
    lg = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    order = np.asarray(order, dtype=np.int64).reshape(-1)
    k = order.shape[0]
    if k == 0:
        return np.zeros(0)
    rest = np.ones(lg.shape[1], dtype=bool)
    rest[order] = False
    # drawn items first, then the rest: the mass left before draw j is the suffix sum from j.
    # Log-space suffix sums (logaddexp.accumulate from the end) never subtract, so small
    # remainders survive when the logits are far apart.
    perm = lg[:, np.concatenate([order, np.flatnonzero(rest)])]
    suffix = np.logaddexp.accumulate(perm[:, ::-1], axis=1)[:, ::-1][:, :k]
    with np.errstate(invalid="ignore"):
        step = perm[:, :k] - suffix  # (m, k) log P(draw j | earlier draws), per component
    step = np.where(np.isnan(step), -np.inf, step)
    if lg.shape[0] == 1:
        return np.clip(np.exp(step[0]), 0.0, 1.0)
    log_prefix = np.cumsum(step, axis=1)  # (m, k)
    mx = np.max(log_prefix, axis=0)
    safe = np.where(np.isfinite(mx), mx, 0.0)
    with np.errstate(divide="ignore"):
        cur = safe + np.log(np.mean(np.exp(log_prefix - safe), axis=0))
    prev = np.concatenate([[0.0], cur[:-1]])
    with np.errstate(invalid="ignore"):
        props = np.where(np.isfinite(cur), np.exp(cur - prev), 0.0)
    return np.clip(props, 0.0, 1.0)


def sample_plackett_luce(logits: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``k`` distinct positions Plackett-Luce from ``logits (n,)`` (Gumbel top-k).

    Returns:
        int64 ``(k,)`` positions in draw order.

    """
    lg = np.asarray(logits, dtype=np.float64)
    g = lg - np.log(-np.log(rng.random(lg.shape[0]) * (1 - 1e-300) + 1e-300))
    finite = np.isfinite(lg)
    if k < lg.shape[0] and finite.all():  # no ties: only the top k need sorting
        top = np.argpartition(-g, k - 1)[:k]
        return top[np.argsort(-g[top], kind="stable")].astype(np.int64)
    g = np.where(finite, g, -np.inf)
    return np.argsort(-g, kind="stable")[:k].astype(np.int64)


def plackett_luce_marginals(logits: np.ndarray, k: int, *, n_samples: int = 4000,
                            seed: int = 0) -> np.ndarray:
    """P(item ``a`` at position ``p``) under Plackett-Luce, ``(k, n)``.

    Exact for ``k <= 2`` with a single logit vector; otherwise Monte Carlo (Gumbel top-k,
    ``n_samples`` draws, fixed ``seed``), so each row sums to exactly 1.

    Args:
        logits: float ``(n,)``, or ``(m, n)`` for an equal mixture of ``m`` Plackett-Luce
            components (sample ``i`` uses component ``i % m``).
        k: slate size.
        n_samples: Monte Carlo draws.
        seed: Monte Carlo seed.

    Returns:
        float64 ``(k, n)``; each row sums to 1.

    """
    lg = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    m, n = lg.shape
    if m == 1 and k <= 2:
        p = _softmax(lg[0])
        out = np.zeros((k, n))
        out[0] = p
        if k == 2:
            q = np.where(p < 1.0, p / np.where(p < 1.0, 1.0 - p, 1.0), 0.0)
            out[1] = p * (q.sum() - q)
            out[1] /= max(out[1].sum(), 1e-300)
        return out
    rng = np.random.default_rng(seed)
    comp = lg[np.arange(n_samples) % m]  # (S, n)
    g = comp - np.log(-np.log(rng.random((n_samples, n)) * (1 - 1e-300) + 1e-300))
    top = np.argpartition(-g, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n),
                                                                          (n_samples, 1))
    vals = np.take_along_axis(g, top, axis=1)
    top = np.take_along_axis(top, np.argsort(-vals, axis=1), axis=1)
    out = np.zeros((k, n))
    for p in range(k):
        out[p] = np.bincount(top[:, p], minlength=n) / n_samples
    return out


# ---------------------------------------------------------------------------- config


@dataclass
class PolicyConfig:
    """Base of the per-policy hyperparameter dataclasses (checked on construction)."""

    feature_space: str = "shared"
    """How state and candidates relate (module docstring): ``"shared"`` (one embedding
    space: products and cosines; state and item dimensions must be equal) or ``"separate"``
    (different spaces: outer-product features). Policies that use no features ignore it.
    Checkpoints written before this field existed load as ``"shared"``, or as
    ``"separate"`` when their dimensions differ (what those versions did silently)."""

    def __post_init__(self) -> None:
        check_feature_space(self.feature_space)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""

    @classmethod
    def from_kwargs(cls, policy: str, kwargs: dict[str, Any]) -> PolicyConfig:
        """Build from keyword arguments; unknown names raise :class:`ConfigError`."""
        names = [f.name for f in fields(cls)]
        for key in kwargs:
            if key not in names:
                valid = ", ".join(sorted(names)) or "(none)"
                raise ConfigError(f"unknown argument {key!r} for policy {policy!r}; "
                                  f"valid arguments: dim, seed, {valid}")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields."""
        return asdict(self)


def _positive(cfg: Any, *names: str) -> None:
    for name in names:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v <= 0:
            raise ConfigError(f"{name} must be a positive number, got {v!r}")


def _non_negative(cfg: Any, *names: str) -> None:
    for name in names:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
            raise ConfigError(f"{name} must be a non-negative number, got {v!r}")


def _positive_int(cfg: Any, *names: str, hi: int | None = None) -> None:
    for name in names:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{name} must be a positive int, got {v!r}")
        if hi is not None and v > hi:
            raise ConfigError(f"{name} must be at most {hi}, got {v!r}")


def _first_nonfinite(params: dict[str, np.ndarray]) -> str | None:
    """Name of the first parameter holding NaN or infinity, else ``None``."""
    for key, arr in params.items():
        a = np.asarray(arr)
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            return key
    return None


# ---------------------------------------------------------------------------- reward scale


def check_reward_scale(value: Any) -> None:
    """Validate a ``reward_scale`` setting: ``"auto"`` or a positive number.

    Raises:
        ConfigError: anything else.

    """
    if value == "auto" and isinstance(value, str):
        return
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not np.isfinite(value) or value <= 0:
        raise ConfigError(f"reward_scale must be 'auto' or a positive number, got {value!r}")


class RewardScale:
    """Divides rewards by a scale so that a policy's defaults do not depend on reward units.

    ``setting`` is ``"auto"`` (the running mean of ``|r|`` over the non-zero per-item rewards
    seen in training: 1 for click rewards, the typical purchase value for purchase rewards;
    1 until a non-zero reward arrives) or a fixed positive number. Rewards ``r`` become
    ``r / scale`` before learning, so rewards ``x1000`` train the same policy as ``x1``.
    The running statistics are saved with the parameters (``reward_stats``:
    ``[sum |r|, count]``).
    """

    def __init__(self, setting: str | float) -> None:
        """Start with no statistics (scale 1 for ``"auto"``)."""
        check_reward_scale(setting)
        self.setting = setting
        self.stats = np.zeros(2)

    @property
    def scale(self) -> float:
        """The current divisor (> 0)."""
        if self.setting != "auto":
            return float(self.setting)
        return float(self.stats[0] / self.stats[1]) if self.stats[1] > 0 else 1.0

    def observe(self, rewards: np.ndarray) -> None:
        """Add the non-zero entries of ``rewards`` (any shape) to the running statistics."""
        r = np.abs(np.asarray(rewards, dtype=np.float64).reshape(-1))
        r = r[r > 0]
        if r.size:
            self.stats = self.stats + np.array([r.sum(), float(r.size)])

    def check(self, stats: np.ndarray, source: str) -> None:
        """Refuse saved statistics that no run could produce.

        Raises:
            PolicyError: a negative sum or count, or a sum without a count.

        """
        st = np.asarray(stats, dtype=np.float64)
        if st[0] < 0 or st[1] < 0 or (st[1] == 0) != (st[0] == 0):
            raise PolicyError(f"{source}: parameter 'reward_stats' must be [sum |r| >= 0, "
                              f"count >= 0], both zero or both positive, got {st.tolist()}: "
                              "corrupt checkpoint")


# ---------------------------------------------------------------------------- base class


class SlatePolicy(ABC):
    """A slate policy: chooses ``k`` of ``n`` candidates and learns from :class:`Feedback`.

    Subclasses set ``name`` and ``config_cls`` and implement :meth:`score` and the hooks
    :meth:`_logits`, :meth:`_init_params`, :meth:`_get_params`, :meth:`_set_params`,
    :meth:`_update`. The default :meth:`select` samples Plackett-Luce from
    ``softmax(_logits)``; policies with other samplers override :meth:`select` and
    :meth:`action_probs`.
    """

    name: ClassVar[str] = "base"
    config_cls: ClassVar[type[PolicyConfig]] = PolicyConfig
    learning: ClassVar[Learning] = Learning("none")
    """How :meth:`update` wants its records (see :class:`Learning`); trainers read this."""

    def __init__(self, *, dim: int | None = None, seed: int = 0, **kwargs: Any) -> None:
        """Build a fresh policy.

        Args:
            dim: user-state and candidate dimension when known (else set by the first call).
            seed: seed of parameter initialisation (sampling uses the ``rng`` of ``select``).
            **kwargs: hyperparameters, the fields of ``config_cls``.

        Raises:
            ConfigError: unknown or invalid argument (named in the message).

        """
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ConfigError(f"dim must be a positive int or None, got {dim!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise ConfigError(f"seed must be an int, got {seed!r}")
        self.seed = int(seed)
        self.config = self.config_cls.from_kwargs(self.name, kwargs)
        self.state_dim: int | None = None
        self.cand_dim: int | None = None
        self.n_updates = 0
        self._version: str | None = None
        if dim is not None:
            self._ensure_dims(dim, dim + self._extra_columns())

    # -- dimensions

    def _ensure_dims(self, d_u: int, d_c: int) -> None:
        if self.state_dim is None or self.cand_dim is None:
            self.check_dims(d_u, d_c)
            self.state_dim, self.cand_dim = int(d_u), int(d_c)
            self._init_params()
            return
        if d_u != self.state_dim:
            raise PolicyError(f"{self.name}: state has dimension {d_u}, the policy was built "
                              f"for {self.state_dim}")
        if d_c != self.cand_dim:
            raise PolicyError(f"{self.name}: candidates have dimension {d_c}, the policy was "
                              f"built for {self.cand_dim}")

    def check_dims(self, d_u: int, d_c: int) -> None:
        """Check that state and candidate dimensions fit this policy's feature model.

        Raises:
            PolicyError: they do not (see :func:`check_dims`; the message names the
                dimensions and the option to set).

        """
        if self._needs_features():
            check_dims(d_u, d_c, self.config.feature_space, n_extra=self._extra_columns(),
                       who=self.name)

    def _needs_features(self) -> bool:
        """Whether the policy's features depend on ``feature_space`` (False: any dims)."""
        return True

    def _extra_columns(self) -> int:
        """Trailing candidate columns that are scalar features, not part of the item vector."""
        return 0

    def _prepare(self, state: Any, candidates: Any, k: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        s, c = check_inputs(state, candidates, k)
        if s.shape[0] != self.state_dim or c.shape[1] != self.cand_dim:
            self._ensure_dims(s.shape[0], c.shape[1])
        return s, c

    # -- version

    @property
    def version(self) -> str:
        """``"<name>-<hash>"`` of the hyperparameters and parameters; changes on update."""
        if self._version is None:
            h = hashlib.blake2b(digest_size=6)
            h.update(json.dumps(self.config.to_dict(), sort_keys=True).encode())
            h.update(f"{self.seed}:{self.state_dim}:{self.cand_dim}:{self.n_updates}".encode())
            if self.state_dim is not None:
                for key, arr in sorted(self._get_params().items()):
                    h.update(key.encode())
                    h.update(np.ascontiguousarray(arr).tobytes())
            self._version = f"{self.name}-{h.hexdigest()}"
        return self._version

    def _touch(self) -> None:
        self._version = None

    # -- acting

    @abstractmethod
    def score(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Score each candidate: the policy's preference (higher = better).

        Args:
            state: ``(d_u,)``.
            candidates: ``(n, d_c)``.

        Returns:
            float64 ``(n,)``.

        """

    def _logits(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Plackett-Luce logits ``(n,)`` or an equal mixture ``(m, n)`` (validated inputs)."""
        raise NotImplementedError

    def _score_logits(self, state: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``(n,)`` and logits ``(n,)`` or ``(m, n)`` of validated inputs, in one pass.

        :meth:`select` calls this once per request. The default calls :meth:`score` and
        :meth:`_logits` (two passes); policies override it to compute their model once.
        ``rng`` is for policies whose logits are random (LinTS's posterior draws).
        """
        return self.score(state, candidates), self._logits(state, candidates)

    def batch_logits(self, states: np.ndarray, candidates: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
        """One Plackett-Luce logit row per request, for trainers that act on many at once.

        Sampling row ``i`` Plackett-Luce (and logging the propensities of that row) draws
        slates from the same distribution as :meth:`select` on request ``i``: a mixture
        policy (LinTS) gives each row one component drawn from ``rng``.

        Args:
            states: float ``(m, d_u)``.
            candidates: float ``(m, n, d_c)``.
            rng: source of the random components.

        Returns:
            float64 ``(m, n)``.

        Raises:
            ConfigError: bad shapes or NaN.
            PolicyError: dimensions differ from the policy's.

        """
        st = np.asarray(states, dtype=np.float64)
        cs = np.asarray(candidates, dtype=np.float64)
        if st.ndim != 2 or cs.ndim != 3 or st.shape[0] != cs.shape[0]:
            raise ConfigError(f"batch_logits needs states (m, d_u) and candidates (m, n, d_c) "
                              f"with the same m, got {st.shape} and {cs.shape}")
        if not (np.isfinite(st).all() and np.isfinite(cs).all()):
            raise ConfigError("batch_logits: states or candidates contain NaN or inf")
        if st.shape[1] != self.state_dim or cs.shape[2] != self.cand_dim:
            self._ensure_dims(st.shape[1], cs.shape[2])
        if st.shape[0] == 0:
            return np.zeros((0, cs.shape[1]))
        return self._batch_logits(st, cs, rng)

    def _batch_logits(self, states: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
        """Validated :meth:`batch_logits`; the default loops over the requests."""
        rows = []
        for s, c in zip(states, candidates, strict=True):
            lg = np.atleast_2d(self._score_logits(s, c, rng)[1])
            rows.append(lg[int(rng.integers(lg.shape[0]))] if lg.shape[0] > 1 else lg[0])
        return np.stack(rows)

    def logits(self, state: np.ndarray, candidates: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """The Plackett-Luce logits :meth:`select` samples from, for callers that add a prior.

        Args:
            state: ``(d_u,)`` user state.
            candidates: ``(n, d_c)`` candidate features.
            rng: randomness of the logits themselves (LinTS draws its posterior samples from
                it; deterministic policies ignore it).

        Returns:
            float64 ``(m, n)``: ``m == 1``, or ``m`` equally weighted mixture components.

        Raises:
            ConfigError: bad shapes or NaN.
            PolicyError: dimensions differ from the ones the policy was built for.

        """
        s, c = self._prepare(state, candidates)
        return np.atleast_2d(np.asarray(self._logits(s, c), dtype=np.float64))

    def select(self, state: np.ndarray, candidates: np.ndarray, k: int,
               rng: np.random.Generator) -> Slate:
        """Choose a slate.

        Args:
            state: ``(d_u,)`` user state.
            candidates: ``(n, d_c)`` candidate features.
            k: slate size, ``1 <= k <= n``.
            rng: the source of all randomness of this call.

        Returns:
            a :class:`Slate` of ``k`` distinct positions with their propensities.

        Raises:
            ConfigError: bad shapes, NaN, ``k`` out of range.
            PolicyError: dimensions differ from the ones the policy was built for.

        """
        if not isinstance(rng, np.random.Generator):
            raise ConfigError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        s, c = self._prepare(state, candidates, k)
        scores, logits = self._score_logits(s, c, rng)
        logits = np.atleast_2d(logits)
        comp = int(rng.integers(logits.shape[0])) if logits.shape[0] > 1 else 0
        order = sample_plackett_luce(logits[comp], k, rng)
        props = plackett_luce_propensities(logits, order)
        props = np.clip(props, _TINY, 1.0)
        return Slate(item_ids=order, scores=np.asarray(scores, dtype=np.float64)[order],
                     propensities=props, policy=self.name, version=self.version)

    def action_probs(self, state: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
        """Position-wise marginals P(candidate ``a`` at position ``p``) of :meth:`select`.

        Exact where closed-form (uniform, Plackett-Luce with ``k <= 2``), else Monte Carlo
        with a fixed seed (deterministic).

        Returns:
            float64 ``(k, n)``; each row sums to 1.

        """
        s, c = self._prepare(state, candidates, k)
        return plackett_luce_marginals(self._logits(s, c), k)

    def action_dist(self, state: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
        """:meth:`action_probs` transposed, ``(n, k)`` (the layout ``shelfwise.evaluate`` reads)."""
        return self.action_probs(state, candidates, k).T.copy()

    # -- learning

    def update(self, batch: Sequence[Feedback]) -> None:
        """Learn from a batch of feedback (empty batches are ignored).

        The update is all or nothing: when it fails, or would leave a parameter NaN or
        infinite (e.g. rewards so large that the sums overflow), the parameters are restored
        and :class:`PolicyError` is raised, so that one bad batch never poisons the policy.

        Raises:
            ConfigError: a record is malformed, e.g. NaN or infinite rewards (the message
                names its index and field).
            PolicyError: dimensions differ from the policy's, or the update would make a
                parameter NaN or infinite (the policy is left unchanged).

        """
        batch = list(batch)
        if not batch:
            return
        for i, fb in enumerate(batch):
            _check_feedback(fb, i)
            s, c = check_inputs(fb.state, fb.candidates)
            self._ensure_dims(s.shape[0], c.shape[1])
        snapshot = self._snapshot()
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                self._update(batch)
            bad = self._nonfinite_state()
            if bad is not None:
                biggest = max(float(np.max(np.abs(np.asarray(fb.rewards, dtype=np.float64)),
                                           initial=0.0)) for fb in batch)
                raise PolicyError(f"{self.name}: update refused: it would make parameter "
                                  f"{bad!r} NaN or infinite (largest |reward| in the batch: "
                                  f"{biggest:g}); the policy is unchanged")
        except BaseException:
            self._restore(snapshot)
            raise
        self.n_updates += 1
        self._touch()

    def _nonfinite_state(self) -> str | None:
        """Name of the first parameter (or learner state) holding NaN or infinity, else None."""
        return _first_nonfinite(self._get_params())

    def _snapshot(self) -> Any:
        """Copy of the learnable state, restored by :meth:`_restore` when an update fails."""
        if self.state_dim is None:
            return None
        return {k: np.array(v, copy=True) for k, v in self._get_params().items()}

    def _restore(self, snapshot: Any) -> None:
        """Put back what :meth:`_snapshot` returned."""
        if snapshot is not None:
            self._set_params(snapshot)

    def _update(self, batch: list[Feedback]) -> None:  # noqa: B027 - optional hook
        """Learn from validated feedback; default: nothing to learn."""

    # -- parameters and checkpoints

    def _init_params(self) -> None:  # noqa: B027 - optional hook
        """Create parameters once ``state_dim`` and ``cand_dim`` are known."""

    def _get_params(self) -> dict[str, np.ndarray]:
        """Return the learnable state as numpy arrays (what :meth:`save` writes)."""
        return {}

    def _set_params(self, params: dict[str, np.ndarray]) -> None:  # noqa: B027
        """Restore what :meth:`_get_params` returned."""

    def _param_shapes(self, d_u: int, d_c: int) -> dict[str, tuple[int, ...]]:
        """Shapes of the arrays :meth:`_get_params` returns for these dimensions.

        Computed from the configuration alone (nothing is allocated), so that a checkpoint's
        arrays can be checked before the policy is built.
        """
        return {}

    def _optional_params(self) -> frozenset[str]:
        """Names in :meth:`_param_shapes` that older checkpoints may lack (defaults apply)."""
        return frozenset()

    def _check_params(self, params: dict[str, np.ndarray], source: str,  # noqa: B027
                      n_updates: int) -> None:
        """Policy-specific invariants of checkpoint ``params`` (finite, shapes already checked).

        Raises:
            PolicyError: an invariant fails (the message names ``source`` and the parameter).

        """

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint: a folder (``meta.json`` + ``params.npz``), or one ``.npz`` file.

        Returns:
            the path written.

        """
        from agent.policy.checkpoint import save_policy

        return save_policy(self, path)

    @classmethod
    def load(cls, path: str | Path) -> SlatePolicy:
        """Read a checkpoint written by :meth:`save`.

        Raises:
            PolicyError: missing, corrupt or incompatible checkpoint, or a checkpoint of
                another policy class (the message names the path).

        """
        from agent.policy.checkpoint import load_policy

        policy = load_policy(path)
        if cls is not SlatePolicy and not isinstance(policy, cls):
            raise PolicyError(f"{path}: checkpoint holds policy {policy.name!r}, not "
                              f"{cls.name!r}")
        return policy

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(dims=({self.state_dim}, {self.cand_dim}), "
                f"config={self.config!r}, updates={self.n_updates})")


def _check_feedback(fb: Any, i: int) -> None:
    if not isinstance(fb, Feedback):
        raise ConfigError(f"batch[{i}] must be a Feedback, got {type(fb).__name__}")
    k = len(np.asarray(fb.slate.item_ids).reshape(-1))
    n = np.asarray(fb.candidates).shape[0] if np.asarray(fb.candidates).ndim == 2 else 0
    ids = np.asarray(fb.slate.item_ids).reshape(-1)
    if k and (ids.min() < 0 or ids.max() >= n):
        raise ConfigError(f"batch[{i}].slate.item_ids must be positions in [0, {n}), got "
                          f"{ids.tolist()}")
    for field_name in ("clicks", "rewards"):
        v = np.asarray(getattr(fb, field_name)).reshape(-1)
        if v.shape[0] != k:
            raise ConfigError(f"batch[{i}].{field_name} has {v.shape[0]} entries, the slate "
                              f"has {k}")
    try:
        rewards = np.asarray(fb.rewards, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"batch[{i}].rewards must be numbers: {exc}") from exc
    if not np.all(np.isfinite(rewards)):
        raise ConfigError(f"batch[{i}].rewards contains NaN or inf")
    for field_name in ("next_state", "next_candidates"):
        value = getattr(fb, field_name)
        if value is None:
            continue
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"batch[{i}].{field_name} must be numbers: {exc}") from exc
        if not np.all(np.isfinite(arr)):
            raise ConfigError(f"batch[{i}].{field_name} contains NaN or inf")
    props = np.asarray(fb.slate.propensities, dtype=np.float64).reshape(-1)
    if props.shape[0] != k or not np.all((props > 0) & (props <= 1 + 1e-9)):
        raise ConfigError(f"batch[{i}].slate.propensities must be {k} values in (0, 1]")
