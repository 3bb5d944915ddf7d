"""The Open Bandit Dataset (OBD) sample shipped inside the ``obp`` 0.4.1 wheel.

ZOZOTOWN fashion recommendations: 80 items, 3 positions, 10,000 rows per logging policy
(``random`` = uniform, ``bts`` = Bernoulli Thompson sampling) and campaign (``all``, ``men``,
``women``). Each CSV row is one (impression, position) with the shown ``item_id``, the
``position`` (1-3 in the file, 0-2 here), ``click``, the logging policy's ``propensity_score``
of that item at that position, categorical ``user_feature_*`` and binary
``user-item_affinity_<item>`` columns; ``item_context.csv`` has ``item_feature_0`` (numeric) and
``item_feature_1..3`` (categorical).

The files are read directly with pandas (obp's own loader breaks on current pandas); obp is
located with ``importlib.util.find_spec`` and never imported.

As in obp's OBD benchmark, every row is one round with ``k = 1``: the position is part of the
context, the value of a policy is its expected click rate per shown item, and a slate policy
contributes its marginal probability of the item at the row's position.

BTS's action distribution (:func:`bts_action_dist`). BTS is context-free, so its behaviour is
one ``(80, 3)`` table of P(item at position). Two ways to get it:

- ``"prior"`` (default): simulate BTS as obp's ``BernoulliTS(is_zozotown_prior=True)
  .compute_batch_action_dist`` does: draw Beta(alpha, beta) scores from the production prior in
  ``obp/policy/conf/prior_bts.yaml``, take the top 3, count over ``n_sim`` draws. This is the
  reference protocol of the OBD paper.
- ``"empirical"``: the relative frequency of each (item, position) in the bts log. BTS updated
  its posterior during the week, so the logged ``propensity_score`` varies over time for the
  same item and position; the frequency is an unbiased estimate of the time-averaged
  distribution that actually generated the bts log (averaging the logged propensities is not:
  rows are sampled in proportion to those same propensities).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shelfwise.errors import ConfigError, ShelfwiseError
from shelfwise.evaluate.estimators import Estimate, OPEInput, estimate, on_policy_estimate
from shelfwise.evaluate.reward_model import ModelRefit, cross_fit_q_hat
from shelfwise.evaluate.slates import plackett_luce_marginals, softmax

POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
LEN_LIST = 3

__all__ = [
    "CAMPAIGNS",
    "POLICIES",
    "OBDComparison",
    "OBDLog",
    "TrainedPolicyResult",
    "bts_action_dist",
    "compare_bts",
    "evaluate_trained_policy",
    "load_obd",
    "obd_dir",
]


def obd_dir() -> Path:
    """Return the folder ``obp/dataset/obd`` inside the installed obp wheel (obp is not imported).

    Raises:
        ShelfwiseError: obp is not installed (with the install command).

    """
    spec = importlib.util.find_spec("obp")
    if spec is None or not spec.submodule_search_locations:
        raise ShelfwiseError("the Open Bandit Dataset sample needs the obp wheel: "
                             "pip install --no-deps obp==0.4.1")
    folder = Path(next(iter(spec.submodule_search_locations))) / "dataset" / "obd"
    if not folder.is_dir():
        raise ShelfwiseError(f"obp is installed but has no dataset folder at {folder}")
    return folder


@dataclass
class OBDLog:
    """One logging policy's rows of one campaign (positions are 0-based)."""

    policy: str
    campaign: str
    data: pd.DataFrame = field(repr=False)
    item_context: pd.DataFrame = field(repr=False)

    @property
    def n(self) -> int:
        """Rows (rounds)."""
        return len(self.data)

    @property
    def n_actions(self) -> int:
        """Number of items."""
        return len(self.item_context)

    @property
    def actions(self) -> np.ndarray:
        """Shown item per row, ``(n,)`` int64."""
        return self.data["item_id"].to_numpy(np.int64)

    @property
    def positions(self) -> np.ndarray:
        """Position per row (0-based), ``(n,)`` int64."""
        return self.data["position"].to_numpy(np.int64)

    @property
    def clicks(self) -> np.ndarray:
        """Click per row, ``(n,)`` float64."""
        return self.data["click"].to_numpy(np.float64)

    @property
    def propensities(self) -> np.ndarray:
        """Logging policy's propensity of the shown item at its position, ``(n,)``."""
        return self.data["propensity_score"].to_numpy(np.float64)

    def subset(self, rows: np.ndarray) -> OBDLog:
        """Return a log with only ``rows`` (integer positions)."""
        return OBDLog(self.policy, self.campaign, self.data.iloc[rows].reset_index(drop=True),
                      self.item_context)

    def split(self, test_fraction: float = 0.3) -> tuple[OBDLog, OBDLog]:
        """Time-ordered split: the first rows for training, the last for testing."""
        if not 0 < test_fraction < 1:
            raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
        cut = int(round(self.n * (1 - test_fraction)))
        order = np.arange(self.n)
        return self.subset(order[:cut]), self.subset(order[cut:])

    @cached_property
    def user_columns(self) -> list[str]:
        """The ``user_feature_*`` column names."""
        return [c for c in self.data.columns if c.startswith("user_feature_")]

    def affinity(self) -> np.ndarray:
        """User-item affinity ``(n, n_actions)`` float64."""
        cols = [f"user-item_affinity_{a}" for a in range(self.n_actions)]
        return self.data[cols].to_numpy(np.float64)

    def item_matrix(self) -> np.ndarray:
        """Item features ``(n_actions, d_i)``: ``item_feature_0`` plus one-hot categoricals."""
        ctx = self.item_context.sort_values("item_id")
        cats = [c for c in ctx.columns if c.startswith("item_feature_") and c != "item_feature_0"]
        onehot = pd.get_dummies(ctx[cats].astype(str), dtype=np.float64).to_numpy()
        return np.concatenate([ctx[["item_feature_0"]].to_numpy(np.float64), onehot], axis=1)


def load_obd(policy: str = "random", campaign: str = "all") -> OBDLog:
    """Read one logging policy's CSVs of the OBD sample.

    Raises:
        ConfigError: unknown policy or campaign (the message lists the valid ones).

    """
    if policy not in POLICIES:
        raise ConfigError(f"unknown OBD logging policy {policy!r}; choose from: "
                          f"{', '.join(POLICIES)}")
    if campaign not in CAMPAIGNS:
        raise ConfigError(f"unknown OBD campaign {campaign!r}; choose from: "
                          f"{', '.join(CAMPAIGNS)}")
    folder = obd_dir() / policy / campaign
    data = pd.read_csv(folder / f"{campaign}.csv", index_col=0)
    items = pd.read_csv(folder / "item_context.csv", index_col=0)
    data = data.sort_values("timestamp", kind="stable").reset_index(drop=True)
    data["position"] = data["position"].astype(np.int64) - 1
    return OBDLog(policy, campaign, data, items)


class UserEncoder:
    """One-hot encoding of OBD's categorical user features, categories fixed at construction."""

    def __init__(self, *logs: OBDLog) -> None:
        cols = logs[0].user_columns
        self.columns = cols
        self.categories = {c: sorted(set().union(*(set(lg.data[c].astype(str)) for lg in logs)))
                           for c in cols}

    @property
    def dim(self) -> int:
        """Output dimension."""
        return sum(len(v) for v in self.categories.values())

    def __call__(self, log: OBDLog) -> np.ndarray:
        """``(n, dim)`` float64 one-hot matrix."""
        blocks = []
        for c in self.columns:
            cat = pd.Categorical(log.data[c].astype(str), categories=self.categories[c])
            block = np.zeros((log.n, len(self.categories[c])))
            codes = np.asarray(cat.codes)
            ok = codes >= 0
            block[np.flatnonzero(ok), codes[ok]] = 1.0
            blocks.append(block)
        return np.concatenate(blocks, axis=1)


def obd_featurizer(log: OBDLog, users: UserEncoder) -> Callable[..., np.ndarray]:
    """Build reward-model features of (row, item).

    Features: user one-hot, item features, item one-hot, the row's position one-hot and the
    user-item affinity. The ``positions`` argument is ignored (``k = 1``; the position is the
    row's).
    """
    u = users(log)
    items = log.item_matrix()
    eye = np.eye(log.n_actions)
    aff = log.affinity()
    pos = np.eye(LEN_LIST)[log.positions]

    def feats(rounds: np.ndarray, actions: np.ndarray, positions: np.ndarray) -> np.ndarray:
        del positions
        return np.concatenate([u[rounds], items[actions], eye[actions], pos[rounds],
                               aff[rounds, actions][:, None]], axis=1)

    return feats


# ---------------------------------------------------------------------------------------------
# Bernoulli TS

def _bts_prior(campaign: str) -> tuple[np.ndarray, np.ndarray]:
    import yaml

    spec = importlib.util.find_spec("obp")
    if spec is None or not spec.submodule_search_locations:
        raise ShelfwiseError("BTS's prior needs the obp wheel: pip install --no-deps obp==0.4.1")
    path = Path(next(iter(spec.submodule_search_locations))) / "policy" / "conf" / "prior_bts.yaml"
    prior = yaml.safe_load(path.read_text(encoding="utf-8"))[campaign]
    return np.asarray(prior["alpha"], np.float64), np.asarray(prior["beta"], np.float64)


def bts_action_dist(campaign: str = "all", method: str = "prior", *, n_sim: int = 100_000,
                    seed: int = 0, bts_log: OBDLog | None = None) -> np.ndarray:
    """Bernoulli TS's P(item at position), ``(n_actions, 3)``; see the module docstring.

    Args:
        campaign: ``all``, ``men`` or ``women``.
        method: ``prior`` (simulate from the production prior, as obp) or ``empirical``
            (frequencies in the bts log).
        n_sim: simulated slates for ``prior``.
        seed: seed of the simulation.
        bts_log: the bts log for ``empirical`` (read if not given).

    """
    if method == "prior":
        alpha, beta = _bts_prior(campaign)
        rng = np.random.default_rng(seed)
        counts = np.zeros((len(alpha), LEN_LIST))
        for s in range(0, n_sim, 20_000):
            m = min(20_000, n_sim - s)
            draws = rng.beta(alpha, beta, size=(m, len(alpha)))
            top = np.argsort(-draws, axis=1)[:, :LEN_LIST]
            for p in range(LEN_LIST):
                counts[:, p] += np.bincount(top[:, p], minlength=len(alpha))
        return counts / n_sim
    if method == "empirical":
        log = bts_log if bts_log is not None else load_obd("bts", campaign)
        counts = np.zeros((log.n_actions, LEN_LIST))
        np.add.at(counts, (log.actions, log.positions), 1.0)
        return counts / counts.sum(axis=0, keepdims=True)
    raise ConfigError(f"unknown BTS action-distribution method {method!r}; choose from: "
                      "prior, empirical")


def _ope_input(log: OBDLog, marginals: np.ndarray, users: UserEncoder, *,
               with_model: bool, n_folds: int, seed: int, n_refits: int = 0) -> OPEInput:
    """Build estimator input for a policy's position-wise marginals.

    ``marginals`` is ``(n, n_actions, 3)`` per row, or a context-free ``(n_actions, 3)`` table.
    ``n_refits > 0`` refits the reward model on that many resamples for DM/DR intervals.
    """
    pos = log.positions
    if marginals.ndim == 2:
        dist = marginals.T[pos][:, :, None]
    else:
        dist = marginals[np.arange(log.n), :, pos][:, :, None]
    rewards = log.clicks[:, None]
    actions = log.actions[:, None]
    q = None
    if with_model:
        q = cross_fit_q_hat(obd_featurizer(log, users), rewards, actions, log.n_actions,
                            kind="logistic", strength=0.1, n_folds=n_folds, seed=seed)
    refit = None
    if with_model and n_refits:
        refit = ModelRefit(obd_featurizer(log, users), rewards, actions, log.n_actions,
                           kind="logistic", strength=0.1, n_refits=n_refits, seed=seed)
    return OPEInput(rewards=rewards, behaviour_propensities=log.propensities[:, None],
                    actions=actions, action_dist=dist, q_hat=q, q_refit=refit)


@dataclass
class OBDComparison:
    """BTS's click rate estimated from the random log, next to its observed click rate."""

    campaign: str
    method: str
    """How BTS's action distribution was obtained (``prior`` or ``empirical``)."""
    observed: Estimate
    """BTS's on-policy click rate (mean click of the bts log) with a bootstrap CI."""
    estimates: dict[str, Estimate]
    """Estimator name -> estimate from the random log."""

    def relative_errors(self) -> dict[str, float]:
        """Estimator name -> ``|estimate - observed| / observed``."""
        return {k: v.relative_error(self.observed.value) for k, v in self.estimates.items()}


def compare_bts(campaign: str = "all", *, method: str = "prior",
                estimators: str | list[str] = ("ips", "snips", "dm", "dr"),  # type: ignore[assignment]
                n_bootstrap: int = 1000, ci: float = 0.95, n_sim: int = 100_000,
                n_folds: int = 3, n_refits: int = 30, seed: int = 0) -> OBDComparison:
    """Estimate Bernoulli TS's click rate from the random policy's log (see module docstring).

    ``n_refits`` reward-model refits give DM and DR intervals that include the model's error
    (0 holds the model fixed, as obp does).
    """
    random_log = load_obd("random", campaign)
    bts_log = load_obd("bts", campaign)
    table = bts_action_dist(campaign, method, n_sim=n_sim, seed=seed, bts_log=bts_log)
    users = UserEncoder(random_log, bts_log)
    names = list(estimators) if not isinstance(estimators, str) else estimators.split(",")
    need_model = any(n.strip() in ("dm", "dr") for n in names)
    data = _ope_input(random_log, table, users, with_model=need_model, n_folds=n_folds,
                      seed=seed, n_refits=n_refits)
    est = estimate(data, names, n_bootstrap=n_bootstrap, ci=ci, seed=seed)
    observed = on_policy_estimate(bts_log.clicks, n_bootstrap=n_bootstrap, ci=ci, seed=seed)
    return OBDComparison(campaign, method, observed, est)


# ---------------------------------------------------------------------------------------------
# a policy trained on the random log

class LogisticSoftmaxPolicy:
    """A logistic click model whose policy shows items Plackett-Luce by predicted click.

    The click model is a logistic regression on user, item and position features; items are
    drawn by ``softmax(logit(p_click) / temperature)``: greedy-ish but still exploring.

    Works on OBD's features: the click model is fitted on the training rows, and the policy's
    first-position scores are the predicted click probabilities at position 0.
    """

    name = "logistic-softmax"

    def __init__(self, temperature: float = 0.5, strength: float = 0.1) -> None:
        self.temperature = temperature
        self.strength = strength
        self._model: Any = None

    def fit(self, log: OBDLog, users: UserEncoder) -> LogisticSoftmaxPolicy:
        """Fit the click model on ``log``."""
        from shelfwise.evaluate.reward_model import RewardModel

        feats = obd_featurizer(log, users)
        rows = np.arange(log.n)
        self._model = RewardModel("logistic", self.strength).fit(
            feats(rows, log.actions, rows * 0), log.clicks)
        return self

    def marginals(self, log: OBDLog, users: UserEncoder) -> np.ndarray:
        """Per-row P(item at position) ``(n, n_actions, 3)`` on ``log``'s contexts."""
        feats = obd_featurizer(log, users)
        n, a = log.n, log.n_actions
        rows = np.repeat(np.arange(n), a)
        acts = np.tile(np.arange(a), n)
        x = feats(rows, acts, rows * 0)
        # score every item as if shown at the top position
        x[:, -1 - LEN_LIST:-1] = np.eye(LEN_LIST)[0]
        p = np.clip(self._model.predict(x).reshape(n, a), 1e-6, 1 - 1e-6)
        probs = softmax(np.log(p / (1 - p)), self.temperature)
        return plackett_luce_marginals(probs, LEN_LIST)


def _agent_policy_marginals(name: str, train: OBDLog, test: OBDLog, users: UserEncoder, *,
                            seed: int, n_samples: int) -> np.ndarray:
    """Train an ``agent.policy`` policy on the logged rows and get its test marginals."""
    from agent.policy import Feedback, Slate, make_policy
    from shelfwise.evaluate.slates import policy_marginals

    items = train.item_matrix()
    policy = make_policy(name, feature_space="separate")  # contexts and items: two spaces
    u_tr, aff_tr = users(train), train.affinity()

    def cands(aff_row: np.ndarray) -> np.ndarray:
        return np.concatenate([items, aff_row[:, None]], axis=1)

    batch = []
    for i in range(train.n):
        slate = Slate(item_ids=np.array([train.actions[i]]), scores=np.zeros(1),
                      propensities=np.array([train.propensities[i]]), policy="random",
                      version="obd")
        batch.append(Feedback(state=u_tr[i], candidates=cands(aff_tr[i]), slate=slate,
                              clicks=np.array([train.clicks[i] > 0]),
                              rewards=np.array([train.clicks[i]]), next_state=None, done=True))
        if len(batch) == 256:
            policy.update(batch)
            batch = []
    if batch:
        policy.update(batch)
    rng = np.random.default_rng(seed)
    u_te, aff_te = users(test), test.affinity()
    out = np.zeros((test.n, test.n_actions, LEN_LIST))
    cache: dict[bytes, np.ndarray] = {}
    for i in range(test.n):
        key = u_te[i].tobytes() + aff_te[i].tobytes()
        if key not in cache:
            cache[key] = policy_marginals(policy, u_te[i], cands(aff_te[i]), LEN_LIST, rng,
                                          n_samples=n_samples)
        out[i] = cache[key]
    return out


@dataclass
class TrainedPolicyResult:
    """A policy trained on the first part of the random log, evaluated on the rest."""

    policy: str
    """Policy name."""
    n_train: int
    """Training rows."""
    estimates: dict[str, Estimate]
    """The trained policy's click rate by estimator (on the test rows)."""
    random: Estimate
    """The random policy's on-policy click rate on the test rows."""
    bts: dict[str, Estimate]
    """BTS's click rate estimated on the same test rows (same estimators)."""
    bts_observed: Estimate
    """BTS's on-policy click rate (whole bts log)."""


def evaluate_trained_policy(policy: str = "logistic", campaign: str = "all", *,
                            test_fraction: float = 0.3,
                            estimators: str | list[str] = ("ips", "snips", "dm", "dr"),  # type: ignore[assignment]
                            temperature: float = 0.5, n_bootstrap: int = 1000, ci: float = 0.95,
                            n_folds: int = 3, n_samples: int = 200, n_refits: int = 30,
                            seed: int = 0) -> TrainedPolicyResult:
    """Train ``policy`` on the random log's first rows and estimate its click rate on the rest.

    Args:
        policy: ``logistic`` (:class:`LogisticSoftmaxPolicy`) or an ``agent.policy`` name
            (``linucb``, ``lints``, ``greedy``, ``reinforce``, ...), trained with ``update`` on
            the logged rows (state = user one-hot, candidates = item features + affinity).
        campaign: OBD campaign.
        test_fraction: share of the (time-ordered) random log held out for evaluation.
        estimators: estimator names.
        temperature: softmax temperature of the ``logistic`` policy.
        n_bootstrap: bootstrap resamples.
        ci: interval coverage.
        n_folds: reward-model folds.
        n_samples: ``select`` calls per distinct context for agent policies without
            ``action_dist``.
        n_refits: reward-model refits behind the DM and DR intervals (0: model held fixed).
        seed: seed of everything random.

    """
    random_log = load_obd("random", campaign)
    bts_log = load_obd("bts", campaign)
    users = UserEncoder(random_log, bts_log)
    train, test = random_log.split(test_fraction)
    if policy == "logistic":
        marg = LogisticSoftmaxPolicy(temperature).fit(train, users).marginals(test, users)
        name = f"logistic-softmax(T={temperature:g})"
    else:
        marg = _agent_policy_marginals(policy, train, test, users, seed=seed,
                                       n_samples=n_samples)
        name = policy
    names = list(estimators) if not isinstance(estimators, str) else estimators.split(",")
    data = _ope_input(test, marg, users, with_model=True, n_folds=n_folds, seed=seed,
                      n_refits=n_refits)
    est = estimate(data, names, n_bootstrap=n_bootstrap, ci=ci, seed=seed)
    table = bts_action_dist(campaign, "prior", seed=seed)
    bts_data = OPEInput(rewards=data.rewards, behaviour_propensities=data.behaviour_propensities,
                        actions=data.actions, action_dist=table.T[test.positions][:, :, None],
                        q_hat=data.q_hat, q_refit=data.q_refit)
    bts_est = estimate(bts_data, names, n_bootstrap=n_bootstrap, ci=ci, seed=seed)
    return TrainedPolicyResult(
        policy=name, n_train=train.n, estimates=est,
        random=on_policy_estimate(test.clicks, n_bootstrap=n_bootstrap, ci=ci, seed=seed),
        bts=bts_est,
        bts_observed=on_policy_estimate(bts_log.clicks, n_bootstrap=n_bootstrap, ci=ci,
                                        seed=seed))
