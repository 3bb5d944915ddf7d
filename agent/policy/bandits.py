"""Non-learning baselines and linear contextual bandits over interaction features.

- ``random``: uniform slates without replacement (exact propensities ``1 / (n - j)``).
- ``greedy``: Plackett-Luce over ``cos(state, cand) / temperature``; myopic, learns nothing.
- ``linucb``: shared ridge regression of per-item reward on the features ``x`` below;
  Plackett-Luce over ``(theta·x + alpha sqrt(x' A^-1 x)) / temperature``.
- ``lints``: same regression; linear Thompson sampling. Each ``select`` draws ``n_posterior``
  parameter vectors from ``N(theta, v^2 A^-1)``, picks one of them uniformly and samples
  Plackett-Luce under it. Its propensities are those of that equal mixture, exact given the
  drawn parameters (the draws are independent of rewards, so IPS stays unbiased).

Both bandits update online from every shown item's reward; with ``cascade=True`` unclicked
items below the last click are not counted as misses (the user is assumed not to have
examined them), a simple position-bias correction.

**Feature model: shared parameters, per-shopper state.** One parameter vector ``theta`` is
shared by every shopper, so it must not encode *what* any one shopper likes. When state and
candidates share one space (every shelfwise surface: the state is built from product and query
vectors), ``x`` is :func:`~agent.policy.base.similarity_features`:
``[state * item, cos(state, item), 1]`` -- how much the item agrees with this shopper's
state, dimension by dimension and overall. Candidate-source scores enter as a prior on the
logits (:mod:`shelfwise.candidates`), or as ``extra_features`` trailing scalar columns of the
candidates, each with one shared weight. There is no column of the item's own content: an
earlier model had ``[state * item, item, cos, 1]``, and its ``item`` block learned content
directions globally -- two clicks by one shopper on red jackets made a brand-new visitor's
"waterproof jacket under 150" come back five of five red.
Now a click moves shared weights only through ``state * item``, whose effect on another
shopper's score is scaled by the product of the two states (about ``1 / d`` for unrelated
shoppers): what one shopper likes lives in that shopper's own state (the history the event
log holds), and the shared weights learn, from everyone, how much similarity and each source
are worth. Only with ``feature_space="separate"`` (states and candidates in different spaces,
e.g. Open Bandit Dataset contexts and item features) are the outer-product features of
:func:`~agent.policy.base.interaction_features` used, item columns included: there the items
are a fixed set whose overall appeal is what should be learned. The space is a setting, never
inferred from the dimensions: ``"shared"`` with unequal dimensions is a :class:`PolicyError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.policy.base import (
    Feedback,
    Learning,
    PolicyConfig,
    RewardScale,
    SlatePolicy,
    _non_negative,
    _positive,
    _positive_int,
    check_reward_scale,
    cosine,
    feature_dim,
    interaction_features,
    plackett_luce_marginals,
    similarity_feature_dim,
    similarity_features,
)
from encoders.errors import ConfigError, PolicyError

__all__ = ["GreedyPolicy", "LinTSPolicy", "LinUCBPolicy", "RandomPolicy"]

MAX_POSTERIOR_DRAWS = 4096
"""Largest ``n_posterior`` of :class:`LinTSPolicy` (each draw is a ``(p,)`` vector per call)."""
MAX_EXTRA_FEATURES = 1024
"""Largest ``extra_features`` of the linear bandits."""


@dataclass
class RandomConfig(PolicyConfig):
    """The random policy has no hyperparameters."""


class RandomPolicy(SlatePolicy):
    """Uniformly random slates (the seeded test double and the logging baseline)."""

    name = "random"
    learning = Learning("none", off_policy=False)
    config_cls = RandomConfig

    def _needs_features(self) -> bool:
        return False

    def score(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Zeros ``(n,)``: no preference."""
        _, c = self._prepare(state, candidates)
        return np.zeros(c.shape[0])

    def _logits(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return np.zeros(candidates.shape[0])

    def _score_logits(self, state: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        zeros = np.zeros(candidates.shape[0])
        return zeros, zeros

    def _batch_logits(self, states: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
        return np.zeros(candidates.shape[:2])

    def action_probs(self, state: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
        """Exact: ``1 / n`` everywhere, ``(k, n)``."""
        _, c = self._prepare(state, candidates, k)
        n = c.shape[0]
        return np.full((k, n), 1.0 / n)


@dataclass
class GreedyConfig(PolicyConfig):
    """Hyperparameters of :class:`GreedyPolicy`."""

    temperature: float = 0.05
    """Softmax temperature on the cosine (in [-1, 1]); small = nearly deterministic top-k."""

    def validate(self) -> None:  # noqa: D102
        _positive(self, "temperature")
        if self.feature_space != "shared":
            raise ConfigError("greedy ranks by cos(state, candidate), which needs "
                              f"feature_space='shared', got {self.feature_space!r}")


class GreedyPolicy(SlatePolicy):
    """Myopic: top-k by ``cos(state, cand)``, softened so that propensities stay > 0."""

    name = "greedy"
    learning = Learning("none", off_policy=False)
    config_cls = GreedyConfig

    def score(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """``cos(state, cand)``, ``(n,)``."""
        s, c = self._prepare(state, candidates)
        return cosine(s, c)

    def _logits(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return cosine(state, candidates) / self.config.temperature  # type: ignore[attr-defined]

    def _score_logits(self, state: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        cos = cosine(state, candidates)
        return cos, cos / self.config.temperature  # type: ignore[attr-defined]

    def _batch_logits(self, states: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
        return cosine(states, candidates) / self.config.temperature  # type: ignore[attr-defined]


@dataclass
class LinearBanditConfig(PolicyConfig):
    """Hyperparameters shared by :class:`LinUCBPolicy` and :class:`LinTSPolicy`."""

    ridge: float = 1.0
    """Ridge penalty ``lambda`` (``A = lambda I + sum x x'``)."""
    temperature: float = 0.05
    """Plackett-Luce temperature on the exploration scores (reward units)."""
    cascade: bool = False
    """Ignore unclicked items below the last click (cascade examination model)."""
    prior_cosine: float = 1.0
    """Prior mean of the weight on ``cos(state, candidate)`` (reward per unit cosine), used
    with ``feature_space="shared"``. The ridge shrinks toward this prior instead of
    toward 0, so a fresh bandit ranks by content similarity plus its exploration bonus (cold
    start) rather than almost at random; ``ridge`` observations' worth of data outweigh it.
    0 gives the textbook zero prior."""
    reward_scale: str | float = "auto"
    """Rewards are divided by this before the regression, so that ``ridge``, ``alpha``,
    ``v``, ``temperature`` and ``prior_cosine`` are in units of a typical reward and rewards
    x1000 train the same policy as x1. ``"auto"``: the running mean of the non-zero per-item
    rewards seen so far (1 for click rewards; saved with the parameters; each batch is
    divided by the scale known after it); a number: that fixed scale (1 = raw rewards)."""
    item_features: bool = False
    """Also learn a shared weight per item-vector column (``feature_space="shared"``): the
    features become ``[state * item, cos, extras, item, 1]``, so item appeal that is the same
    for every shopper (a hidden quality direction, a premium band) can be learned. Off by
    default on shop surfaces: there, a few clicks by one shopper moved every shopper's
    ranking toward that shopper's taste (see the module docstring). In the separate space
    the item columns are always there."""
    extra_features: int = 0
    """Trailing candidate columns that are per-candidate scalar features (e.g. the scores of
    the candidate sources that proposed the item, 0 where a source did not), not part of the
    item vector; each gets its own shared weight. The leading columns are the item vector, in
    the state's space."""

    def validate(self) -> None:  # noqa: D102
        _positive(self, "ridge", "temperature")
        _non_negative(self, "prior_cosine")
        check_reward_scale(self.reward_scale)
        if not isinstance(self.item_features, bool):
            raise ConfigError(f"item_features must be a bool, got {self.item_features!r}")
        if not isinstance(self.cascade, bool):
            raise ConfigError(f"cascade must be a bool, got {self.cascade!r}")
        v = self.extra_features
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_EXTRA_FEATURES:
            raise ConfigError(f"extra_features must be an int in [0, {MAX_EXTRA_FEATURES}], "
                              f"got {v!r}")


@dataclass
class LinUCBConfig(LinearBanditConfig):
    """Hyperparameters of :class:`LinUCBPolicy`."""

    alpha: float = 0.1
    """Width of the confidence bonus ``alpha sqrt(x' A^-1 x)``."""
    temperature: float = 0.01
    """Plackett-Luce temperature (reward units). ``alpha`` and this were tuned in the shopper
    simulator on development seeds (``benchmarks/policies.py``)."""

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _non_negative(self, "alpha")


@dataclass
class LinTSConfig(LinearBanditConfig):
    """Hyperparameters of :class:`LinTSPolicy`."""

    v: float = 0.5
    """Posterior scale: ``theta ~ N(theta_hat, v^2 A^-1)``."""
    n_posterior: int = 16
    """Parameter draws per ``select`` (the mixture whose propensities are logged)."""

    def validate(self) -> None:  # noqa: D102
        super().validate()
        _non_negative(self, "v")
        _positive_int(self, "n_posterior", hi=MAX_POSTERIOR_DRAWS)


class _LinearBandit(SlatePolicy):
    """Shared ridge regression ``reward ~ theta · x(state, cand)`` (features: module docstring)."""

    learning = Learning("step", off_policy=True)
    _REFRESH_EVERY = 50  # exact re-inversion of A every so many updates (Woodbury drift)

    def _extra_columns(self) -> int:
        return int(self.config.extra_features)  # type: ignore[attr-defined]

    def _shared_space(self) -> bool:
        return self.config.feature_space == "shared"

    def _temperature(self) -> float:
        return float(self.config.temperature)  # type: ignore[attr-defined]

    def _feature_dim(self, d_u: int, d_c: int) -> int:
        self.check_dims(d_u, d_c)
        if self._shared_space():
            own = d_u if self.config.item_features else 0  # type: ignore[attr-defined]
            return similarity_feature_dim(d_u, self._extra_columns()) + own
        return feature_dim(d_u, d_c, "separate")

    def features(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """The regression features of each candidate (see the module docstring).

        Args:
            state: float ``(d_u,)``, or ``(m, d_u)`` for ``m`` requests (shared space only).
            candidates: float ``(n, d_c)``, or ``(m, n, d_c)``.

        Returns:
            float64 ``(n, p)`` (or ``(m, n, p)``), ``p = len(theta)``.

        """
        if self._shared_space():
            x = similarity_features(state, candidates, self._extra_columns())
            if not self.config.item_features:  # type: ignore[attr-defined]
                return x
            items = np.asarray(candidates, dtype=np.float64)[..., :np.shape(state)[-1]]
            return np.concatenate([x[..., :-1], items, x[..., -1:]], axis=-1)
        return interaction_features(state, candidates, "separate")

    def _init_params(self) -> None:
        assert self.state_dim is not None and self.cand_dim is not None  # set by _ensure_dims
        p = self._feature_dim(self.state_dim, self.cand_dim)
        lam = self.config.ridge  # type: ignore[attr-defined]
        prior = np.zeros(p)
        if self._shared_space():  # [s * c, cos, extras, 1]
            prior[self.state_dim] = self.config.prior_cosine  # type: ignore[attr-defined]
        self.A = lam * np.eye(p)
        self.A_inv = np.eye(p) / lam
        self.b = lam * prior  # theta = A^-1 b = prior until data arrives
        self.theta = prior.copy()
        self._chol: np.ndarray | None = None
        self.rewards = RewardScale(self.config.reward_scale)  # type: ignore[attr-defined]

    def _get_params(self) -> dict[str, np.ndarray]:
        return {"A": self.A, "b": self.b, "reward_stats": self.rewards.stats}

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        self.A = np.asarray(params["A"], dtype=np.float64)
        self.b = np.asarray(params["b"], dtype=np.float64)
        # checkpoints from before reward scaling have none: no statistics yet
        self.rewards.stats = np.asarray(params.get("reward_stats", np.zeros(2)),
                                        dtype=np.float64).copy()
        self._refresh()

    def _param_shapes(self, d_u: int, d_c: int) -> dict[str, tuple[int, ...]]:
        p = self._feature_dim(d_u, d_c)
        return {"A": (p, p), "b": (p,), "reward_stats": (2,)}

    def _optional_params(self) -> frozenset[str]:
        return frozenset({"reward_stats"})

    def _check_params(self, params: dict[str, np.ndarray], source: str,
                      n_updates: int) -> None:
        if "reward_stats" in params:
            RewardScale(self.config.reward_scale).check(  # type: ignore[attr-defined]
                params["reward_stats"], source)
        a = np.asarray(params["A"], dtype=np.float64)
        if not np.allclose(a, a.T, rtol=1e-8, atol=1e-8 * max(1.0, float(np.abs(a).max()))):
            raise PolicyError(f"{source}: parameter 'A' is not symmetric (A = ridge I + "
                              "sum x x' always is): corrupt checkpoint")
        try:
            with np.errstate(all="ignore"):
                chol = np.linalg.cholesky(a)
        except np.linalg.LinAlgError as exc:
            raise PolicyError(f"{source}: parameter 'A' is not positive definite (A = ridge I "
                              "+ sum x x' always is): corrupt checkpoint") from exc
        if not np.all(np.isfinite(chol)):
            raise PolicyError(f"{source}: parameter 'A' is too large to invert (its "
                              "factorisation overflows): corrupt checkpoint")

    def _snapshot(self) -> object:
        # _update never writes into these arrays (it rebinds them), so references suffice
        if self.state_dim is None:
            return None
        return (self.A, self.b, self.A_inv, self.theta, self._chol, self.rewards.stats)

    def _restore(self, snapshot: object) -> None:
        if snapshot is not None:
            (self.A, self.b, self.A_inv, self.theta, self._chol,
             self.rewards.stats) = snapshot  # type: ignore[misc]

    def _refresh(self) -> None:
        self.A_inv = np.linalg.inv(self.A)
        self.A_inv = (self.A_inv + self.A_inv.T) / 2
        self.theta = self.A_inv @ self.b
        self._chol = None

    def score(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Predicted reward ``theta · x`` in units of the reward scale, ``(n,)``."""
        s, c = self._prepare(state, candidates)
        return self.features(s, c) @ self.theta

    def _update(self, batch: list[Feedback]) -> None:
        xs, ys = [], []
        for fb in batch:
            ids = np.asarray(fb.slate.item_ids, dtype=np.int64).reshape(-1)
            rewards = np.asarray(fb.rewards, dtype=np.float64).reshape(-1)
            clicks = np.asarray(fb.clicks, dtype=bool).reshape(-1)
            keep = np.ones(len(ids), dtype=bool)
            if self.config.cascade and clicks.any():  # type: ignore[attr-defined]
                keep[np.flatnonzero(clicks).max() + 1:] = False
            x = self.features(np.asarray(fb.state, dtype=np.float64),
                              np.asarray(fb.candidates, dtype=np.float64)[ids[keep]])
            xs.append(x)
            ys.append(rewards[keep])
        x = np.concatenate(xs)
        y = np.concatenate(ys)
        self.rewards.observe(y)  # rebinds its array: see _snapshot
        y = y / self.rewards.scale
        self.A = self.A + x.T @ x  # new arrays, never in place: see _snapshot
        self.b = self.b + x.T @ y
        m, p = x.shape
        if m < p // 2 and (self.n_updates + 1) % self._REFRESH_EVERY:
            # Woodbury: (A + X'X)^-1 = A^-1 - A^-1 X' (I + X A^-1 X')^-1 X A^-1
            ax = self.A_inv @ x.T  # (p, m)
            inner = np.eye(m) + x @ ax
            self.A_inv = self.A_inv - ax @ np.linalg.solve(inner, ax.T)
            self.A_inv = (self.A_inv + self.A_inv.T) / 2
            self.theta = self.A_inv @ self.b
            self._chol = None
        else:
            self._refresh()


class LinUCBPolicy(_LinearBandit):
    """LinUCB with a shared ridge model and Plackett-Luce sampling over the UCB scores."""

    name = "linucb"
    config_cls = LinUCBConfig

    def ucb(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Upper confidence bounds ``theta·x + alpha sqrt(x' A^-1 x)``, ``(n,)``."""
        s, c = self._prepare(state, candidates)
        return self._mean_ucb(self.features(s, c))[1]

    def _mean_ucb(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(theta·x, theta·x + alpha width)`` of features ``x (..., p)``."""
        mean = x @ self.theta
        # ((x A^-1) * x).sum(-1) as one 2-D BLAS gemm: the 3-operand einsum took ~50 ms at
        # p = 770, and a (m, n, p) @ (p, p) matmul runs as m stacked products (5x slower)
        flat = x.reshape(-1, x.shape[-1])
        quad = ((flat @ self.A_inv) * flat).sum(axis=-1).reshape(x.shape[:-1])
        width = np.sqrt(np.maximum(quad, 0.0))
        return mean, mean + self.config.alpha * width  # type: ignore[attr-defined]

    def _logits(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return self._mean_ucb(self.features(state, candidates))[1] / self._temperature()

    def _score_logits(self, state: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        mean, ucb = self._mean_ucb(self.features(state, candidates))
        return mean, ucb / self._temperature()

    def _batch_logits(self, states: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
        return self._mean_ucb(self.features(states, candidates))[1] / self._temperature()


class LinTSPolicy(_LinearBandit):
    """Linear Thompson sampling; Plackett-Luce under one of ``n_posterior`` parameter draws."""

    name = "lints"
    config_cls = LinTSConfig

    def _draws(self, rng: np.random.Generator, m: int) -> np.ndarray:
        """``(m, p)`` draws from ``N(theta, v^2 A^-1)``."""
        if self._chol is None:
            p = self.A_inv.shape[0]
            self._chol = np.linalg.cholesky(self.A_inv + 1e-12 * np.eye(p))
        z = rng.standard_normal((m, self.theta.shape[0]))
        return self.theta[None, :] + self.config.v * z @ self._chol.T  # type: ignore[attr-defined]

    def _sampled_logits(self, state: np.ndarray, candidates: np.ndarray,
                        rng: np.random.Generator, m: int) -> np.ndarray:
        x = self.features(state, candidates)
        return (self._draws(rng, m) @ x.T) / self._temperature()

    def _score_logits(self, state: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = self.features(state, candidates)
        draws = self._draws(rng, self.config.n_posterior)  # type: ignore[attr-defined]
        return x @ self.theta, (draws @ x.T) / self._temperature()

    def _batch_logits(self, states: np.ndarray, candidates: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
        # one posterior draw per request: select's mixture picks one of n_posterior i.i.d.
        # draws uniformly, which is the same distribution
        x = self.features(states, candidates)  # (m, n, p)
        draws = self._draws(rng, states.shape[0])  # (m, p)
        return np.einsum("mnp,mp->mn", x, draws) / self._temperature()

    def logits(self, state: np.ndarray, candidates: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """``(n_posterior, n)`` logits under ``n_posterior`` parameter draws from ``rng``."""
        if not isinstance(rng, np.random.Generator):
            raise ConfigError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        s, c = self._prepare(state, candidates)
        return self._sampled_logits(s, c, rng, self.config.n_posterior)  # type: ignore[attr-defined]

    def _logits(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        raise PolicyError("lints: logits are random; call logits(state, candidates, rng)")

    def action_probs(self, state: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
        """Monte Carlo marginals over 256 posterior draws (fixed seed), ``(k, n)``."""
        s, c = self._prepare(state, candidates, k)
        logits = self._sampled_logits(s, c, np.random.default_rng(0), 256)
        return plackett_luce_marginals(logits, k)
