"""Off-policy evaluation of a candidate policy on the workspace's event log.

Each logged impression that carries its replay data (``state`` and ``candidate_ids``, plus
``candidate_features`` or a ``features`` lookup that rebuilds them from the product index; see
:mod:`shelfwise.events`) is replayed: the candidate policy's position-wise probabilities over the
same candidates are recomputed (:func:`~shelfwise.evaluate.slates.policy_marginals`), the logged
propensities are the behaviour side, and the rewards come from a
:class:`~shelfwise.rewards.RewardFunction`. Impressions without replay data are skipped and
counted.

Memory: the candidate features are gathered into one ``(n, max_candidates, d)`` float32 array for
the reward model; evaluate very large logs in time windows (``since``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError, EventLogError
from shelfwise.evaluate.estimators import Estimate, OPEInput, estimate, on_policy_estimate
from shelfwise.evaluate.reward_model import ModelRefit, cross_fit_q_hat
from shelfwise.evaluate.slates import policy_marginals
from shelfwise.events import EventStore
from shelfwise.rewards import RewardFunction, iter_rewards

FeatureLookup = Callable[[Sequence[str]], np.ndarray]
"""``product ids (n,) -> features (n, d)``, e.g. ``VectorIndex.vectors``."""

__all__ = ["EventsEvaluation", "FeatureLookup", "ReplayData", "evaluate_events",
           "events_ope_input"]


@dataclass
class ReplayData:
    """Estimator input rebuilt from the event log."""

    ope: OPEInput
    """Arrays for the estimators (padded; see ``ope.mask``)."""
    slate_ids: list[str]
    """The replayed slates, in order."""
    skipped: int
    """Impressions without replay data."""
    logged_rewards: np.ndarray
    """``(n, k)`` rewards (same as ``ope.rewards``)."""


def events_ope_input(store: EventStore, policy: Any, *,
                     reward: RewardFunction | str | None = None,
                     logging_policy: str | None = None,
                     since: float | datetime | None = None,
                     features: FeatureLookup | None = None, with_model: bool = True,
                     n_samples: int = 200, n_folds: int = 3, n_refits: int = 50,
                     seed: int = 0) -> ReplayData:
    """Rebuild the estimator input for ``policy`` from the logged impressions.

    Args:
        store: the event log.
        policy: the candidate ``SlatePolicy`` (``select`` and optionally ``action_dist``).
        reward: reward function or spec (default ``click``).
        logging_policy: only impressions logged by this policy name.
        since: only impressions from this time on.
        features: lookup of candidate features by product id, for impressions that stored
            ``candidate_ids`` but not ``candidate_features``.
        with_model: fit the reward model (needed for ``dm`` and ``dr``).
        n_samples: ``select`` calls per impression for policies without ``action_dist``.
        n_folds: reward-model folds.
        n_refits: reward-model refits on bootstrap resamples behind the DM and DR intervals
            (fitted only when those estimators run); 0 holds the model fixed.
        seed: seed of the policy's sampling and of the folds.

    Raises:
        ConfigError: the log has no impressions, or none with replay data.

    """
    rng = np.random.default_rng(seed)
    total = 0
    rows: list[tuple[Any, ...]] = []
    for imp, r in iter_rewards(store, reward, policy=None):
        if logging_policy is not None and imp.policy != logging_policy:
            continue
        if since is not None:
            t0 = since.timestamp() if isinstance(since, datetime) else float(since)
            if imp.time < t0:
                continue
        total += 1
        if imp.state is None or imp.candidate_ids is None:
            continue
        cands = imp.candidate_features
        if cands is None:
            if features is None:
                continue
            cands = np.asarray(features(list(imp.candidate_ids)), dtype=np.float32)
            if cands.shape[0] != len(imp.candidate_ids):
                raise EventLogError(f"feature lookup returned {cands.shape[0]} rows for "
                                    f"{len(imp.candidate_ids)} candidates of slate "
                                    f"{imp.slate_id}")
        k = max(imp.positions) + 1
        marg = policy_marginals(policy, imp.state, cands, k, rng, n_samples=n_samples)
        rows.append((imp.slate_id, imp.state, np.asarray(cands, np.float32),
                     np.asarray(imp.positions), imp.chosen_indices(),
                     np.asarray(imp.propensities), r, marg))
    if total == 0:
        raise ConfigError("the event log has no impressions to evaluate"
                          + (f" from policy {logging_policy!r}" if logging_policy else ""))
    if not rows:
        raise ConfigError(
            f"none of the {total} logged impressions can be replayed: log impressions with "
            "state and candidate_ids (and candidate_features, or pass a feature lookup)")
    n = len(rows)
    k = max(int(row[3].max()) + 1 for row in rows)
    a_max = max(row[2].shape[0] for row in rows)
    d_c = rows[0][2].shape[1]
    d_u = rows[0][1].shape[0]
    rewards = np.zeros((n, k))
    pb = np.ones((n, k))
    acts = np.zeros((n, k), np.int64)
    mask = np.zeros((n, k), bool)
    dist = np.zeros((n, a_max, k))
    cand = np.zeros((n, a_max, d_c), np.float32)
    states = np.zeros((n, d_u), np.float32)
    for i, (_sid, state, c, pos, chosen, props, r, marg) in enumerate(rows):
        if c.shape[1] != d_c or state.shape[0] != d_u:
            raise EventLogError("logged impressions have different state or feature dimensions; "
                                "evaluate one encoder version at a time (use since=)")
        rewards[i, pos] = r
        pb[i, pos] = props
        acts[i, pos] = chosen
        mask[i, pos] = True
        dist[i, : c.shape[0], : marg.shape[1]] = marg
        cand[i, : c.shape[0]] = c
        states[i] = state
    dist *= mask[:, None, :]
    q = None
    refit = None
    if with_model:
        same = d_u == d_c

        def feats(ri: np.ndarray, ai: np.ndarray, pi: np.ndarray) -> np.ndarray:
            c = cand[ri, ai].astype(np.float64)
            s = states[ri].astype(np.float64)
            inter = s * c if same else np.concatenate([s, c], axis=1)
            dot = (s * c).sum(axis=1, keepdims=True) if same else np.zeros((len(ri), 1))
            return np.concatenate([inter, dot, np.eye(k)[pi]], axis=1)

        folds = min(n_folds, n) if n >= 2 else 1
        q = cross_fit_q_hat(feats, rewards, acts, a_max, mask=mask, n_folds=folds, seed=seed)
        if n_refits and n >= 2:
            refit = ModelRefit(feats, rewards, acts, a_max, mask=mask, n_refits=n_refits,
                               seed=seed)
    ope = OPEInput(rewards=rewards, behaviour_propensities=pb, actions=acts, action_dist=dist,
                   q_hat=q, mask=mask, q_refit=refit)
    return ReplayData(ope, [row[0] for row in rows], total - n, rewards)


@dataclass
class EventsEvaluation:
    """A candidate policy's estimated value on the event log."""

    estimates: dict[str, Estimate]
    """Estimator name -> estimate of the candidate's slate reward."""
    logged: Estimate
    """The logging policy's observed slate reward on the same impressions."""
    n: int
    """Replayed impressions."""
    skipped: int
    """Impressions without replay data."""
    reward: str
    """The reward spec used."""


def evaluate_events(store: EventStore, policy: Any, *,
                    estimators: str | Sequence[str] = ("ips", "snips", "dm", "dr"),
                    reward: RewardFunction | str | None = None,
                    logging_policy: str | None = None, since: float | datetime | None = None,
                    features: FeatureLookup | None = None, n_bootstrap: int = 1000,
                    ci: float = 0.95, max_weight: float | None = None, n_samples: int = 200,
                    n_refits: int = 50, seed: int = 0) -> EventsEvaluation:
    """Estimate ``policy``'s value from the event log (see :func:`events_ope_input`)."""
    from shelfwise.evaluate.estimators import parse_estimators

    names = parse_estimators(estimators)
    fn = reward if isinstance(reward, RewardFunction) else (
        RewardFunction.parse(reward) if reward else RewardFunction())
    data = events_ope_input(store, policy, reward=fn, logging_policy=logging_policy,
                            since=since, features=features,
                            with_model=any(n in ("dm", "dr") for n in names),
                            n_samples=n_samples, n_refits=n_refits, seed=seed)
    est = estimate(data.ope, names, n_bootstrap=n_bootstrap, ci=ci, max_weight=max_weight,
                   seed=seed)
    logged = on_policy_estimate(data.logged_rewards, n_bootstrap=n_bootstrap, ci=ci, seed=seed)
    return EventsEvaluation(est, logged, data.ope.n, data.skipped, fn.spec)
