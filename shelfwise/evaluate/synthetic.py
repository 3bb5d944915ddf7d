"""A synthetic position-based slate bandit whose policy values are known exactly.

Contexts ``x ~ N(0, I)``; each of ``n_actions`` items has a weight vector ``theta_a`` and a bias
``b_a``. The item at position ``p`` is clicked with probability
``q(x, a, p) = position_bias[p] * sigmoid(x . theta_a + b_a)``, independently of the other
positions (the position-based model under which independent IPS is unbiased).

Policies are Plackett-Luce over per-round logits (``softmax(logits / temperature)``, k draws
without replacement); their position-wise marginals are exact
(:func:`~shelfwise.evaluate.slates.plackett_luce_marginals`), so the true value of a policy,
``E_x[sum_p sum_a P(a at p | x) q(x, a, p)]``, is computed from a large independent sample of
contexts with no reward noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shelfwise.errors import ConfigError
from shelfwise.evaluate.estimators import OPEInput
from shelfwise.evaluate.pseudoinverse import plackett_luce_pairwise
from shelfwise.evaluate.reward_model import ModelRefit, cross_fit_q_hat
from shelfwise.evaluate.slates import plackett_luce_marginals, softmax

__all__ = ["SyntheticLog", "SyntheticSlateBandit"]


@dataclass
class SyntheticLog:
    """Rounds logged by the behaviour policy."""

    contexts: np.ndarray
    """``(n, d)`` float64."""
    actions: np.ndarray
    """``(n, k)`` int64, the item shown at each position."""
    rewards: np.ndarray
    """``(n, k)`` float64 clicks (0/1)."""
    propensities: np.ndarray
    """``(n, k)`` the behaviour policy's marginal probability of each shown item at its position."""
    behaviour: tuple[float, float, int] = (0.0, 1.0, 1)
    """The behaviour policy's ``(quality, temperature, noise_seed)``."""


@dataclass
class SyntheticSlateBandit:
    """Generator of logs and exact policy values (see the module docstring).

    Args:
        n_actions: number of items.
        k: slate length (positions).
        dim: context dimension.
        position_bias: click multiplier per position, length ``k``; default ``0.9^p``.
        base_logit: mean item bias (sets the overall click rate).
        seed: seed of the item parameters.

    """

    n_actions: int = 20
    k: int = 3
    dim: int = 5
    position_bias: tuple[float, ...] | None = None
    base_logit: float = -1.0
    seed: int = 0
    theta: np.ndarray = field(init=False, repr=False)
    bias: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.k < 1 or self.k > self.n_actions:
            raise ConfigError(f"k must be in [1, n_actions={self.n_actions}], got {self.k}")
        if self.position_bias is None:
            self.position_bias = tuple(0.9 ** p for p in range(self.k))
        if len(self.position_bias) != self.k:
            raise ConfigError(f"position_bias needs {self.k} values, got "
                              f"{len(self.position_bias)}")
        rng = np.random.default_rng(self.seed)
        self.theta = rng.normal(0.0, 1.0 / np.sqrt(self.dim), (self.n_actions, self.dim))
        self.bias = rng.normal(self.base_logit, 0.5, self.n_actions)

    # -- model -----------------------------------------------------------------------------

    def contexts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` contexts ``(n, d)``."""
        return rng.normal(size=(n, self.dim))

    def expected_reward(self, contexts: np.ndarray) -> np.ndarray:
        """Return the true click probability ``(n, n_actions, k)``."""
        base = 1.0 / (1.0 + np.exp(-(contexts @ self.theta.T + self.bias)))
        return base[:, :, None] * np.asarray(self.position_bias)[None, None, :]

    def policy_logits(self, contexts: np.ndarray, quality: float, noise_seed: int = 1
                      ) -> np.ndarray:
        """Logits of a family of policies, ``(n, n_actions)``.

        ``quality`` in [-1, 1] blends the true item utilities (1: aims at clicks, -1: avoids
        them, 0: a fixed random preference) with a fixed random direction.
        """
        noise = np.random.default_rng(noise_seed)
        w = noise.normal(0, 1.0 / np.sqrt(self.dim), (self.n_actions, self.dim))
        b = noise.normal(0, 0.5, self.n_actions)
        true = contexts @ self.theta.T + self.bias
        fake = contexts @ w.T + b
        return quality * true + (1.0 - abs(quality)) * fake

    def action_dist(self, contexts: np.ndarray, quality: float, temperature: float = 1.0,
                    noise_seed: int = 1) -> np.ndarray:
        """Position-wise marginals ``(n, n_actions, k)`` of a Plackett-Luce policy."""
        probs = softmax(self.policy_logits(contexts, quality, noise_seed), temperature)
        return plackett_luce_marginals(probs, self.k)

    def true_value(self, quality: float, temperature: float = 1.0, noise_seed: int = 1, *,
                   n_contexts: int = 100_000, seed: int = 12345) -> float:
        """Compute a policy's expected slate reward (sum over positions) on fresh contexts."""
        rng = np.random.default_rng(seed)
        total = 0.0
        for s in range(0, n_contexts, 10_000):
            x = self.contexts(min(10_000, n_contexts - s), rng)
            dist = self.action_dist(x, quality, temperature, noise_seed)
            total += float((dist * self.expected_reward(x)).sum())
        return total / n_contexts

    # -- logging ---------------------------------------------------------------------------

    def sample_log(self, n: int, rng: np.random.Generator, *, quality: float = 0.0,
                   temperature: float = 1.0, noise_seed: int = 1) -> SyntheticLog:
        """Log ``n`` rounds of the behaviour policy ``(quality, temperature, noise_seed)``."""
        x = self.contexts(n, rng)
        probs = softmax(self.policy_logits(x, quality, noise_seed), temperature)
        # Plackett-Luce draw = top-k of Gumbel-perturbed log-probabilities
        g = np.log(probs) - np.log(-np.log(rng.random(probs.shape)))
        actions = np.argsort(-g, axis=1)[:, : self.k]
        marg = plackett_luce_marginals(probs, self.k)
        props = np.take_along_axis(marg, actions[:, None, :], axis=1)[:, 0, :]
        q = np.take_along_axis(self.expected_reward(x), actions[:, None, :], axis=1)[:, 0, :]
        rewards = (rng.random(q.shape) < q).astype(np.float64)
        return SyntheticLog(x, actions.astype(np.int64), rewards, props,
                            (quality, temperature, noise_seed))

    def featurize(self, log: SyntheticLog):  # noqa: ANN201 - returns a Featurizer
        """Reward-model features: item one-hot x context, item one-hot, position one-hot."""
        a_n, k = self.n_actions, self.k

        def feats(rounds: np.ndarray, actions: np.ndarray, positions: np.ndarray) -> np.ndarray:
            x = log.contexts[rounds]
            onehot = np.zeros((len(rounds), a_n))
            onehot[np.arange(len(rounds)), actions] = 1.0
            inter = (onehot[:, :, None] * x[:, None, :]).reshape(len(rounds), -1)
            pos = np.zeros((len(rounds), k))
            pos[np.arange(len(rounds)), positions] = 1.0
            return np.concatenate([inter, onehot, pos], axis=1)

        return feats

    def behaviour_pairwise(self, log: SyntheticLog) -> np.ndarray:
        """The behaviour policy's pairwise marginals per round, ``(n, kA, kA)`` (PI estimator)."""
        quality, temperature, noise_seed = log.behaviour
        probs = softmax(self.policy_logits(log.contexts, quality, noise_seed), temperature)
        return plackett_luce_pairwise(probs, self.k)

    def model_refit(self, log: SyntheticLog, n_refits: int = 50, seed: int = 0) -> ModelRefit:
        """Reward-model refits over bootstrap resamples of ``log`` (shareable across policies)."""
        return ModelRefit(self.featurize(log), log.rewards, log.actions, self.n_actions,
                          kind="logistic", n_refits=n_refits, seed=seed)

    def ope_input(self, log: SyntheticLog, quality: float, temperature: float = 1.0,
                  noise_seed: int = 1, *, with_model: bool = True, n_folds: int = 2,
                  seed: int = 0, q_hat: np.ndarray | None = None,
                  q_refit: ModelRefit | None = None,
                  pairwise: np.ndarray | None = None) -> OPEInput:
        """Estimator input for evaluating a policy on ``log`` (with a fitted reward model).

        ``q_hat`` (a cross-fitted model already computed for this log), ``q_refit`` (refits
        for DM/DR intervals) and ``pairwise`` (for PI) are passed through; several
        evaluation policies on one log can share them.
        """
        dist = self.action_dist(log.contexts, quality, temperature, noise_seed)
        q = q_hat
        if with_model and q is None:
            q = cross_fit_q_hat(self.featurize(log), log.rewards, log.actions, self.n_actions,
                                kind="logistic", n_folds=n_folds, seed=seed)
        return OPEInput(rewards=log.rewards, behaviour_propensities=log.propensities,
                        actions=log.actions, action_dist=dist, q_hat=q, q_refit=q_refit,
                        behaviour_pairwise=pairwise)
