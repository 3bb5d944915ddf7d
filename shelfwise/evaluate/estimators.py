"""Off-policy estimators for position-based slates, with bootstrap confidence intervals.

Setting (obp's "independent IPS" for slates): a logged round ``i`` shows ``k`` items; the
reward at position ``p`` depends only on the context and the item at ``p``. The behaviour
(logging) policy put the logged item ``a_ip`` at position ``p`` with marginal probability
``pb[i, p]``; the evaluation policy would put it there with probability ``pe[i, p]``. The value
of a policy is the expected *slate* reward, ``E[sum_p r_p]`` (for ``k = 1`` this is the
expected reward per impression, e.g. a click rate).

Array contract (all ``float64`` after validation):

- ``rewards``: ``(n, k)``, the logged reward at each position;
- ``behaviour_propensities``: ``(n, k)`` in ``(0, 1]``;
- ``eval_probs``: ``(n, k)`` in ``[0, 1]``, the evaluation policy's probability of the logged
  item at that position;
- ``action_dist``: ``(n, n_actions, k)``, the evaluation policy's full distribution per position
  (each ``[i, :, p]`` sums to 1, or to 0 for a padded position);
- ``q_hat``: ``(n, n_actions, k)``, a reward model's prediction for every action and position;
- ``actions``: ``(n, k)`` int, the logged item's index in ``0..n_actions-1``;
- ``mask``: ``(n, k)`` bool, False where a round has no item at that position (ragged slates).

Estimators:

- IPS: ``mean_i sum_p w_ip r_ip`` with ``w = pe / pb``;
- SNIPS: per position, ``sum_i w_ip r_ip / sum_i w_ip``, summed over positions (each weighted by
  the share of rounds that have that position);
- DM: ``mean_i sum_p sum_a pi_e(a|i,p) q(i,a,p)``;
- DR: DM plus ``mean_i sum_p w_ip (r_ip - q(i, a_ip, p))``;
- PI, the pseudo-inverse slate estimator (Swaminathan et al., 2017, "Off-policy evaluation for
  slate recommendation"): ``mean_i R_i * q_pi(x_i)^T Gamma(x_i)^+ 1_{s_i}``, where ``R_i`` is
  the *slate* reward, ``1_s`` the ``k * n_actions`` indicator of (position, item) pairs of the
  logged slate, ``q_pi`` the evaluation policy's position-wise marginals in the same layout and
  ``Gamma = E_mu[1_s 1_s^T]`` the behaviour policy's pairwise marginals
  (``behaviour_pairwise``, see :mod:`shelfwise.evaluate.pseudoinverse`). It only assumes that
  the slate reward is additive over positions, not that each position's reward is observed
  separately or independent of the other items.

Confidence intervals are percentile bootstrap intervals over rounds (seeded). For DM and DR the
reward model must be part of what is resampled, or the interval ignores the model's own error
(a fixed model gives DM a narrow interval that misses the truth far more often than 95%): when
``OPEInput.q_refit`` is given (a :class:`~shelfwise.evaluate.reward_model.ModelRefit`), each of
its draws refits the model on a resample of the rounds, DM and DR are computed on each draw,
and the interval is the point estimate plus or minus ``z`` times the draws' standard deviation
(a normal bootstrap interval: model fits are costly, and a standard deviation needs far fewer
draws than a 2.5% quantile). Without ``q_refit`` the model is held fixed, as in obp.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Protocol

import numpy as np

from shelfwise.errors import ConfigError

__all__ = [
    "ESTIMATORS",
    "Estimate",
    "OPEInput",
    "bootstrap_ci",
    "direct_method",
    "doubly_robust",
    "estimate",
    "ips",
    "on_policy_estimate",
    "parse_estimators",
    "pseudo_inverse",
    "snips",
]


class QRefit(Protocol):
    """Reward-model draws over bootstrap resamples (see ``reward_model.ModelRefit``)."""

    n_refits: int

    def draws(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(rows (n,), q_hat (n, n_actions, k))]``, one per refit."""
        ...


@dataclass(frozen=True)
class Estimate:
    """A policy-value estimate with its confidence interval."""

    value: float
    """The point estimate."""
    ci_low: float
    """Lower end of the bootstrap interval."""
    ci_high: float
    """Upper end of the bootstrap interval."""
    n: int
    """Number of logged rounds used."""
    estimator: str
    """Estimator name (``ips``, ``snips``, ``dm``, ``dr``, ``on-policy``)."""

    def relative_error(self, truth: float) -> float:
        """``|value - truth| / |truth|``."""
        if truth == 0:
            return float("inf") if self.value != 0 else 0.0
        return abs(self.value - truth) / abs(truth)

    def covers(self, truth: float) -> bool:
        """Whether the interval contains ``truth``."""
        return self.ci_low <= truth <= self.ci_high

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain dict (for JSON)."""
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# validation

def _arr(x: object, name: str, ndim: int) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a numeric array: {exc}") from exc
    if a.ndim != ndim:
        raise ConfigError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ConfigError(f"{name} contains NaN or infinite values")
    return a


def _check_shape(a: np.ndarray, shape: tuple[int, ...], name: str, ref: str) -> None:
    if a.shape != shape:
        raise ConfigError(f"{name} has shape {a.shape} but {ref} implies {shape}")


@dataclass
class OPEInput:
    """The arrays the estimators need (see the module docstring for shapes).

    ``eval_probs`` may be left out when ``actions`` and ``action_dist`` are given.
    ``q_refit`` makes DM and DR intervals refit the reward model per resample;
    ``behaviour_pairwise`` (``(k * n_actions, k * n_actions)`` for a context-free behaviour
    policy, or ``(n, k * n_actions, k * n_actions)``; index ``p * n_actions + a``) is what the
    pseudo-inverse estimator needs.
    """

    rewards: np.ndarray
    behaviour_propensities: np.ndarray
    eval_probs: np.ndarray | None = None
    actions: np.ndarray | None = None
    action_dist: np.ndarray | None = None
    q_hat: np.ndarray | None = None
    mask: np.ndarray | None = None
    q_refit: QRefit | None = None
    behaviour_pairwise: np.ndarray | None = None

    def __post_init__(self) -> None:
        r = _arr(self.rewards, "rewards", 2)
        n, k = r.shape
        if n == 0:
            raise ConfigError("no logged rounds to evaluate (rewards is empty)")
        pb = _arr(self.behaviour_propensities, "behaviour_propensities", 2)
        _check_shape(pb, (n, k), "behaviour_propensities", "rewards")
        mask = np.ones((n, k), bool) if self.mask is None else np.asarray(self.mask, bool)
        _check_shape(mask, (n, k), "mask", "rewards")
        if np.any((pb[mask] <= 0) | (pb[mask] > 1)):
            bad = np.argwhere(mask & ((pb <= 0) | (pb > 1)))[0]
            raise ConfigError(f"behaviour_propensities must be in (0, 1]; round {bad[0]} "
                              f"position {bad[1]} has {pb[tuple(bad)]}")
        pb = np.where(mask, pb, 1.0)
        r = np.where(mask, r, 0.0)
        actions = None
        if self.actions is not None:
            actions = np.asarray(self.actions)
            if not np.issubdtype(actions.dtype, np.integer):
                raise ConfigError(f"actions must be integers, got dtype {actions.dtype}")
            _check_shape(actions, (n, k), "actions", "rewards")
            actions = np.where(mask, actions, 0).astype(np.int64)
        dist = None
        if self.action_dist is not None:
            dist = _arr(self.action_dist, "action_dist", 3)
            if dist.shape[0] != n or dist.shape[2] != k:
                raise ConfigError(f"action_dist must have shape (n={n}, n_actions, k={k}), got "
                                  f"{dist.shape}")
            if np.any(dist < -1e-9):
                raise ConfigError("action_dist has negative probabilities")
            sums = dist.sum(axis=1)
            if np.any(sums > 1 + 1e-6):
                raise ConfigError(f"action_dist sums to more than 1 over actions "
                                  f"(max {sums.max():.6f})")
            dist = dist * mask[:, None, :]
            if actions is not None and np.any(actions >= dist.shape[1]):
                raise ConfigError(f"actions has indices >= n_actions={dist.shape[1]}")
        pe = None
        if self.eval_probs is not None:
            pe = _arr(self.eval_probs, "eval_probs", 2)
            _check_shape(pe, (n, k), "eval_probs", "rewards")
            if np.any((pe < 0) | (pe > 1 + 1e-9)):
                raise ConfigError("eval_probs must be in [0, 1]")
        elif dist is not None and actions is not None:
            pe = np.take_along_axis(dist, actions[:, None, :], axis=1)[:, 0, :]
        if pe is not None:
            pe = np.where(mask, pe, 0.0)
        q = None
        if self.q_hat is not None:
            q = _arr(self.q_hat, "q_hat", 3)
            if dist is not None:
                _check_shape(q, dist.shape, "q_hat", "action_dist")
            elif q.shape[0] != n or q.shape[2] != k:
                raise ConfigError(f"q_hat must have shape (n={n}, n_actions, k={k}), got "
                                  f"{q.shape}")
        gamma = None
        if self.behaviour_pairwise is not None:
            gamma = np.asarray(self.behaviour_pairwise, dtype=np.float64)
            if gamma.ndim not in (2, 3) or gamma.shape[-1] != gamma.shape[-2] or (
                    gamma.ndim == 3 and gamma.shape[0] != n):
                raise ConfigError("behaviour_pairwise must be (k * n_actions, k * n_actions) or "
                                  f"(n={n}, k * n_actions, k * n_actions), got {gamma.shape}")
            if gamma.shape[-1] % k:
                raise ConfigError(f"behaviour_pairwise has {gamma.shape[-1]} rows, not a "
                                  f"multiple of k={k}")
            if not np.all(np.isfinite(gamma)):
                raise ConfigError("behaviour_pairwise contains NaN or infinite values")
        self.rewards, self.behaviour_propensities, self.eval_probs = r, pb, pe
        self.actions, self.action_dist, self.q_hat, self.mask = actions, dist, q, mask
        self.behaviour_pairwise = gamma

    @property
    def n(self) -> int:
        """Number of rounds."""
        return int(self.rewards.shape[0])

    @property
    def k(self) -> int:
        """Slate length (positions)."""
        return int(self.rewards.shape[1])

    def weights(self, max_weight: float | None = None) -> np.ndarray:
        """Return the importance weights ``pe / pb``, ``(n, k)``, clipped at ``max_weight``."""
        if self.eval_probs is None:
            raise ConfigError("importance weights need eval_probs (or actions and action_dist)")
        w = self.eval_probs / self.behaviour_propensities
        return np.minimum(w, max_weight) if max_weight is not None else w


# ---------------------------------------------------------------------------------------------
# bootstrap

def bootstrap_ci(columns: np.ndarray, statistic: Callable[[np.ndarray, int], np.ndarray], *,
                 n_bootstrap: int = 1000, ci: float = 0.95, seed: int = 0,
                 chunk: int = 64) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic of column sums over resampled rounds.

    Args:
        columns: ``(n, m)`` per-round quantities.
        statistic: maps resampled column sums ``(b, m)`` and ``n`` to statistics ``(b,)``.
        n_bootstrap: number of resamples.
        ci: coverage, e.g. 0.95.
        seed: seed of the resampling generator.
        chunk: resamples drawn at once (memory ``chunk * n``).

    Returns:
        ``(low, high)``.

    """
    if not 0 < ci < 1:
        raise ConfigError(f"ci must be in (0, 1), got {ci}")
    if n_bootstrap < 10:
        raise ConfigError(f"n_bootstrap must be at least 10, got {n_bootstrap}")
    n = columns.shape[0]
    rng = np.random.default_rng(seed)
    stats = []
    uniform = np.full(n, 1.0 / n)
    for start in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - start)
        counts = rng.multinomial(n, uniform, size=b).astype(np.float64)
        stats.append(statistic(counts @ columns, n))
    allstats = np.concatenate(stats)
    lo, hi = np.quantile(allstats, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return float(lo), float(hi)


def _mean_estimate(per_round: np.ndarray, name: str, *, n_bootstrap: int, ci: float,
                   seed: int) -> Estimate:
    value = float(per_round.mean())
    lo, hi = bootstrap_ci(per_round[:, None], lambda s, n: s[:, 0] / n,
                          n_bootstrap=n_bootstrap, ci=ci, seed=seed)
    return Estimate(value, lo, hi, int(per_round.shape[0]), name)


# ---------------------------------------------------------------------------------------------
# estimators

def ips(data: OPEInput, *, max_weight: float | None = None, n_bootstrap: int = 1000,
        ci: float = 0.95, seed: int = 0) -> Estimate:
    """Inverse propensity scoring (position-wise, "independent IPS")."""
    per_round = (data.weights(max_weight) * data.rewards).sum(axis=1)
    return _mean_estimate(per_round, "ips", n_bootstrap=n_bootstrap, ci=ci, seed=seed)


def snips(data: OPEInput, *, max_weight: float | None = None, n_bootstrap: int = 1000,
          ci: float = 0.95, seed: int = 0) -> Estimate:
    """Self-normalised IPS: IPS divided, per position, by the mean importance weight."""
    w = data.weights(max_weight) * data.mask
    k = data.k
    cols = np.concatenate([w * data.rewards, w, data.mask.astype(np.float64)], axis=1)

    def stat(sums: np.ndarray, n: int) -> np.ndarray:
        num, den, cnt = sums[:, :k], sums[:, k:2 * k], sums[:, 2 * k:]
        with np.errstate(invalid="ignore", divide="ignore"):
            per_pos = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        return (per_pos * cnt / n).sum(axis=1)

    value = float(stat(cols.sum(axis=0)[None, :], data.n)[0])
    lo, hi = bootstrap_ci(cols, stat, n_bootstrap=n_bootstrap, ci=ci, seed=seed)
    return Estimate(value, lo, hi, data.n, "snips")


def _require_model(data: OPEInput, name: str) -> tuple[np.ndarray, np.ndarray]:
    if data.action_dist is None or data.q_hat is None:
        raise ConfigError(f"the {name} estimator needs action_dist and q_hat (a reward model's "
                          "predictions for every action and position)")
    return data.action_dist, data.q_hat


def _dm_rounds(dist: np.ndarray, q: np.ndarray) -> np.ndarray:
    return (dist * q).sum(axis=(1, 2))


def _dr_rounds(data: OPEInput, rows: np.ndarray | slice, q: np.ndarray,
               max_weight: float | None) -> np.ndarray:
    assert data.action_dist is not None and data.actions is not None
    acts = data.actions[rows]
    q_logged = np.take_along_axis(q, acts[:, None, :], axis=1)[:, 0, :]
    resid = data.weights(max_weight)[rows] * (data.rewards[rows] - q_logged) * data.mask[rows]
    return _dm_rounds(data.action_dist[rows], q) + resid.sum(axis=1)


def _refit_estimate(data: OPEInput, name: str, point: np.ndarray,
                    per_draw: Callable[[np.ndarray, np.ndarray], float], ci: float) -> Estimate:
    """Point estimate from the cross-fitted model, normal interval from the refit draws."""
    assert data.q_refit is not None
    if not 0 < ci < 1:
        raise ConfigError(f"ci must be in (0, 1), got {ci}")
    values = np.array([per_draw(rows, q) for rows, q in data.q_refit.draws()])
    value = float(point.mean())
    half = NormalDist().inv_cdf(0.5 + ci / 2) * float(values.std(ddof=1))
    return Estimate(value, value - half, value + half, data.n, name)


def direct_method(data: OPEInput, *, n_bootstrap: int = 1000, ci: float = 0.95,
                  seed: int = 0) -> Estimate:
    """Direct method: the reward model's prediction averaged under the evaluation policy.

    With ``data.q_refit`` the interval refits the reward model per resample (module docstring).
    """
    dist, q = _require_model(data, "dm")
    per_round = _dm_rounds(dist, q)
    if data.q_refit is not None:
        return _refit_estimate(data, "dm", per_round,
                               lambda rows, qb: float(_dm_rounds(dist[rows], qb).mean()), ci)
    return _mean_estimate(per_round, "dm", n_bootstrap=n_bootstrap, ci=ci, seed=seed)


def doubly_robust(data: OPEInput, *, max_weight: float | None = None, n_bootstrap: int = 1000,
                  ci: float = 0.95, seed: int = 0) -> Estimate:
    """Doubly robust: DM plus the importance-weighted residual of the reward model.

    With ``data.q_refit`` the interval refits the reward model per resample (module docstring).
    """
    _require_model(data, "dr")
    if data.actions is None:
        raise ConfigError("the dr estimator needs actions (the logged item index per position)")
    assert data.q_hat is not None
    per_round = _dr_rounds(data, slice(None), data.q_hat, max_weight)
    if data.q_refit is not None:
        return _refit_estimate(
            data, "dr", per_round,
            lambda rows, qb: float(_dr_rounds(data, rows, qb, max_weight).mean()), ci)
    return _mean_estimate(per_round, "dr", n_bootstrap=n_bootstrap, ci=ci, seed=seed)


def pseudo_inverse(data: OPEInput, *, n_bootstrap: int = 1000, ci: float = 0.95,
                   seed: int = 0) -> Estimate:
    """Pseudo-inverse slate estimator (module docstring); needs ``behaviour_pairwise``.

    Raises:
        ConfigError: ``behaviour_pairwise``, ``actions`` or ``action_dist`` missing, or their
            sizes disagree.

    """
    if data.behaviour_pairwise is None or data.actions is None or data.action_dist is None:
        raise ConfigError("the pi estimator needs behaviour_pairwise (the logging policy's "
                          "pairwise (position, item) marginals), actions and action_dist")
    from shelfwise.evaluate.pseudoinverse import slate_weights

    w = slate_weights(data.behaviour_pairwise, data.action_dist, data.actions, data.mask)
    per_round = w * (data.rewards * data.mask).sum(axis=1)
    return _mean_estimate(per_round, "pi", n_bootstrap=n_bootstrap, ci=ci, seed=seed)


ESTIMATORS: dict[str, Callable[..., Estimate]] = {
    "ips": ips,
    "snips": snips,
    "dm": direct_method,
    "dr": doubly_robust,
    "pi": pseudo_inverse,
}
"""Estimator registry: name -> function(data, **options) -> Estimate."""


def parse_estimators(names: str | Sequence[str]) -> list[str]:
    """``"ips,dr"`` or ``["ips", "dr"]`` -> validated names.

    Raises:
        ConfigError: empty list or an unknown name (the message lists the valid names).

    """
    items = [s.strip().lower() for s in (names.split(",") if isinstance(names, str) else names)]
    items = [s for s in items if s]
    if not items:
        raise ConfigError(f"no estimators given; choose from: {', '.join(ESTIMATORS)}")
    for s in items:
        if s not in ESTIMATORS:
            raise ConfigError(f"unknown estimator {s!r}; choose from: {', '.join(ESTIMATORS)}")
    return list(dict.fromkeys(items))


def estimate(data: OPEInput, estimators: str | Sequence[str] = ("ips", "snips", "dm", "dr"), *,
             max_weight: float | None = None, n_bootstrap: int = 1000, ci: float = 0.95,
             seed: int = 0) -> dict[str, Estimate]:
    """Run several estimators on the same data (same bootstrap seed for each)."""
    out = {}
    for name in parse_estimators(estimators):
        kwargs: dict[str, object] = {"n_bootstrap": n_bootstrap, "ci": ci, "seed": seed}
        if name in ("ips", "snips", "dr"):
            kwargs["max_weight"] = max_weight
        out[name] = ESTIMATORS[name](data, **kwargs)
    return out


def on_policy_estimate(rewards: np.ndarray, *, n_bootstrap: int = 1000, ci: float = 0.95,
                       seed: int = 0) -> Estimate:
    """Estimate a policy's value from its own logs: the mean slate reward, with a bootstrap CI.

    Args:
        rewards: ``(n, k)`` or ``(n,)`` rewards logged by the policy itself.
        n_bootstrap: bootstrap resamples.
        ci: interval coverage.
        seed: seed of the resampling.

    """
    r = np.asarray(rewards, dtype=np.float64)
    per_round = r.sum(axis=1) if r.ndim == 2 else r
    if per_round.size == 0:
        raise ConfigError("no logged rounds (rewards is empty)")
    return _mean_estimate(per_round, "on-policy", n_bootstrap=n_bootstrap, ci=ci, seed=seed)
