"""Reward models for the direct and doubly robust estimators.

A reward model predicts the expected reward of showing action ``a`` at position ``p`` in round
``i``. The caller describes rounds through a *featurizer*: a function of three equal-length
integer arrays ``(rounds, actions, positions)`` returning a feature matrix ``(m, f)``. The model
is fitted on the logged ``(round, logged action, position)`` triples and predicts every action
at every position, giving ``q_hat`` of shape ``(n, n_actions, k)``.

Predictions are cross-fitted (obp's ``fit_predict(n_folds=...)``): rounds are split into folds
and each fold is predicted by a model that did not see it, which keeps DR's bias correction
honest.

:class:`ModelRefit` refits the model on bootstrap resamples of the rounds, so that the direct
and doubly robust intervals include the reward model's own estimation error (see
:mod:`shelfwise.evaluate.estimators`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError

Featurizer = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``(rounds (m,), actions (m,), positions (m,)) -> features (m, f)``."""

MODEL_KINDS = ("auto", "logistic", "ridge")

__all__ = ["MODEL_KINDS", "Featurizer", "ModelRefit", "RewardModel", "cross_fit_q_hat"]


class RewardModel:
    """A small sklearn regressor of reward on features.

    Args:
        kind: ``logistic`` (binary rewards, predicts a probability), ``ridge`` (any reward), or
            ``auto`` (logistic when the fitted rewards are all 0/1, else ridge).
        strength: regularisation: inverse strength ``C`` for logistic, ``alpha`` for ridge.

    """

    def __init__(self, kind: str = "auto", strength: float = 1.0) -> None:
        if kind not in MODEL_KINDS:
            raise ConfigError(f"unknown reward model {kind!r}; choose from: "
                              f"{', '.join(MODEL_KINDS)}")
        self.kind = kind
        self.strength = float(strength)
        self._model: Any = None
        self._const: float | None = None
        self._mean: np.ndarray | None = None
        self._scale: np.ndarray | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> RewardModel:
        """Fit on features ``(m, f)`` and rewards ``(m,)``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ConfigError(f"reward model: {x.shape[0]} feature rows for {y.shape[0]} rewards")
        self._mean = x.mean(axis=0)
        self._scale = np.where(x.std(axis=0) > 1e-12, x.std(axis=0), 1.0)
        xs = (x - self._mean) / self._scale
        binary = bool(np.all((y == 0) | (y == 1)))
        kind = self.kind if self.kind != "auto" else ("logistic" if binary else "ridge")
        if kind == "logistic" and not binary:
            raise ConfigError("the logistic reward model needs 0/1 rewards; use 'ridge'")
        self._const = None
        if np.all(y == y[0]):
            self._const = float(y[0])  # one class only: nothing to learn
            return self
        if kind == "logistic":
            from sklearn.linear_model import LogisticRegression

            self._model = LogisticRegression(C=self.strength, max_iter=500)
        else:
            from sklearn.linear_model import Ridge

            self._model = Ridge(alpha=self.strength)
        self._model.fit(xs, y)
        self._kind = kind
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predict the expected reward ``(m,)`` for features ``(m, f)``."""
        if self._mean is None or self._scale is None:
            raise ConfigError("reward model is not fitted")
        x = np.asarray(x, dtype=np.float64)
        if self._const is not None:
            return np.full(x.shape[0], self._const)
        xs = (x - self._mean) / self._scale
        if self._kind == "logistic":
            return self._model.predict_proba(xs)[:, 1]
        return self._model.predict(xs)


def cross_fit_q_hat(featurize: Featurizer, rewards: np.ndarray, actions: np.ndarray,
                    n_actions: int, *, mask: np.ndarray | None = None, kind: str = "auto",
                    strength: float = 1.0, n_folds: int = 3, seed: int = 0,
                    chunk: int = 512) -> np.ndarray:
    """Cross-fitted reward-model predictions for every round, action and position.

    Args:
        featurize: see :data:`Featurizer`.
        rewards: ``(n, k)`` logged rewards.
        actions: ``(n, k)`` logged action indices.
        n_actions: number of actions.
        mask: ``(n, k)`` bool, False at padded positions (not used for fitting).
        kind: reward model kind (see :class:`RewardModel`).
        strength: regularisation (see :class:`RewardModel`).
        n_folds: folds; 1 fits and predicts on all rounds (no cross-fitting).
        seed: seed of the fold assignment.
        chunk: rounds predicted at once (memory ``chunk * n_actions * k`` feature rows).

    Returns:
        ``q_hat`` ``(n, n_actions, k)`` float64.

    """
    r = np.asarray(rewards, dtype=np.float64)
    acts = np.asarray(actions, dtype=np.int64)
    n, k = r.shape
    valid = np.ones((n, k), bool) if mask is None else np.asarray(mask, bool)
    if n_folds < 1:
        raise ConfigError(f"n_folds must be >= 1, got {n_folds}")
    folds = np.random.default_rng(seed).permutation(n) % n_folds if n_folds > 1 else np.zeros(
        n, int)
    q = np.zeros((n, n_actions, k))
    for f in range(n_folds):
        train = np.flatnonzero(folds != f) if n_folds > 1 else np.arange(n)
        test = np.flatnonzero(folds == f)
        ti, tp = np.nonzero(valid[train])
        rows = train[ti]
        model = RewardModel(kind, strength).fit(featurize(rows, acts[rows, tp], tp),
                                                r[rows, tp])
        q[test] = _predict_all(model, featurize, test, n_actions, k, chunk)
    return q


def _predict_all(model: RewardModel, featurize: Featurizer, rounds: np.ndarray, n_actions: int,
                 k: int, chunk: int) -> np.ndarray:
    """``model``'s predictions for every action and position of ``rounds``: ``(m, A, k)``."""
    out = np.zeros((len(rounds), n_actions, k))
    for s in range(0, len(rounds), chunk):
        block = rounds[s:s + chunk]
        ri = np.repeat(block, n_actions * k)
        ai = np.tile(np.repeat(np.arange(n_actions), k), len(block))
        pi = np.tile(np.arange(k), len(block) * n_actions)
        out[s:s + len(block)] = model.predict(featurize(ri, ai, pi)).reshape(
            len(block), n_actions, k)
    return out


class ModelRefit:
    """The reward model refitted on bootstrap resamples of the logged rounds.

    Draw ``b`` resamples ``n`` rounds with replacement (seeded by ``(seed, b)``), fits a fresh
    :class:`RewardModel` on the resampled rounds (in-sample: a round drawn twice counts twice)
    and predicts every action and position of those rounds. The direct and doubly robust
    estimators compute their statistic on each draw, so their interval holds both the noise of
    the rounds and the noise of the fitted model. Draws are cached, so several evaluation
    policies on the same log (or DM and DR) share the fits.

    Args:
        featurize: see :data:`Featurizer`.
        rewards: ``(n, k)`` logged rewards.
        actions: ``(n, k)`` logged action indices.
        n_actions: number of actions.
        mask: ``(n, k)`` bool, False at padded positions.
        kind: reward model kind (see :class:`RewardModel`).
        strength: regularisation (see :class:`RewardModel`).
        n_refits: bootstrap draws (each one model fit), >= 10.
        seed: seed of the resampling.
        chunk: rounds predicted at once.

    """

    def __init__(self, featurize: Featurizer, rewards: np.ndarray, actions: np.ndarray,
                 n_actions: int, *, mask: np.ndarray | None = None, kind: str = "auto",
                 strength: float = 1.0, n_refits: int = 50, seed: int = 0,
                 chunk: int = 512) -> None:
        if isinstance(n_refits, bool) or not isinstance(n_refits, int) or n_refits < 10:
            raise ConfigError(f"n_refits must be an int >= 10, got {n_refits!r}")
        if kind not in MODEL_KINDS:
            raise ConfigError(f"unknown reward model {kind!r}; choose from: "
                              f"{', '.join(MODEL_KINDS)}")
        self.featurize = featurize
        self.rewards = np.asarray(rewards, dtype=np.float64)
        self.actions = np.asarray(actions, dtype=np.int64)
        self.n, self.k = self.rewards.shape
        self.n_actions = int(n_actions)
        self.mask = np.ones((self.n, self.k), bool) if mask is None else np.asarray(mask, bool)
        self.kind, self.strength = kind, float(strength)
        self.n_refits, self.seed, self.chunk = n_refits, int(seed), int(chunk)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def draw(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Resample ``b``: ``(rows (n,), q_hat (n, n_actions, k))`` for the resampled rows."""
        if b not in self._cache:
            rng = np.random.default_rng([self.seed, b])
            rows = rng.integers(0, self.n, self.n)
            ti, tp = np.nonzero(self.mask[rows])
            fit_rows = rows[ti]
            model = RewardModel(self.kind, self.strength).fit(
                self.featurize(fit_rows, self.actions[fit_rows, tp], tp),
                self.rewards[fit_rows, tp])
            q = _predict_all(model, self.featurize, rows, self.n_actions, self.k, self.chunk)
            self._cache[b] = (rows, q)
        return self._cache[b]

    def draws(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """All ``n_refits`` resamples (fitted on first use)."""
        return [self.draw(b) for b in range(self.n_refits)]
