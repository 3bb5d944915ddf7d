"""Train slate policies in the shopper simulator or from the event log, and evaluate them.

Simulator training and evaluation go through the env-agnostic trainer of :mod:`shelfwise.rl`
(the same path as any Gymnasium slate environment): :func:`train_in_sim` wraps the simulator
in a lock-step :class:`~shelfwise.sim.ShopperVectorEnv` of ``batch_sessions`` sessions and
calls :func:`shelfwise.rl.train_in_env`, which feeds ``policy.update`` as the policy's
``learning.mode`` asks (per step, whole episodes, or replay minibatches; see
:mod:`shelfwise.rl.learners`). No policy name is read anywhere in training.

Training and evaluation never share seeds: training env seeds are drawn from
``SeedSequence([seed, TRAIN_STREAM])`` in ``[2**31, 2**62)``; :func:`evaluate_in_sim` runs
on ``eval_seed`` (default ``EVAL_SEED``) and the following seeds, all below ``2**31``.
Every policy evaluated with one seed meets the same shoppers, and so do simulator policy
functions such as ``oracle_policy(sim)`` (common random numbers).

Event-log training (:func:`feedback_from_events`, :func:`train_on_feedback`) rebuilds
``Feedback`` from impressions that stored ``state`` and ``candidate_ids`` (candidate features
from the impression or the product index), with rewards from a
:class:`~shelfwise.rewards.RewardFunction`, and groups them by the policy's learning mode
(:func:`shelfwise.rl.train_on_records`: whole sessions for episode learners; policies that
cannot learn off-policy are refused).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError
from shelfwise.rl.curves import LearningCurve
from shelfwise.rl.trainer import EVAL_SEED, TRAIN_STREAM, EvalResult, Metric, summarize
from shelfwise.sim.vector_env import PolicyFn, SimBatch

__all__ = [
    "EVAL_SEED",
    "SOURCES",
    "TRAIN_STREAM",
    "EvalResult",
    "Metric",
    "SimTrainStats",
    "TrainReport",
    "evaluate_in_sim",
    "feedback_from_events",
    "make_policy_fn",
    "train",
    "train_in_sim",
    "train_on_feedback",
]

SOURCES: tuple[str, ...] = ("sim", "events")
"""Where ``shelfwise train --from`` takes its experience."""

SIM_METRICS: tuple[str, ...] = ("purchase_value",)
"""Per-session info sums reported by :func:`evaluate_in_sim`."""

ProgressFn = Callable[[int], None]
"""Called with the number of sessions finished since the last call."""


def make_policy_fn(policy: Any, k: int) -> PolicyFn:
    """Wrap a frozen policy as a simulator ``PolicyFn`` (``(b, d), (b, n, d) -> (b, k)``)."""
    from shelfwise.rl.rollout import choose_slates

    def fn(states: np.ndarray, cands: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        slates = choose_slates(policy, states, cands, k, rng)
        return np.array([sl.item_ids for sl in slates], dtype=np.int64)

    return fn


# ---------------------------------------------------------------------------- evaluation


def evaluate_in_sim(policy: Any, sim: SimBatch, n_sessions: int,
                    seed: int = EVAL_SEED, *, chunk: int = 1000) -> EvalResult:
    """Run a frozen policy on ``n_sessions`` held-out simulated sessions.

    Sessions run in lock-step chunks of ``chunk`` (chunk ``i`` reset with seed
    ``seed + i * chunk``); every policy evaluated with the same ``seed`` and ``chunk`` meets
    the same shoppers, whether it is a SlatePolicy (through
    :func:`shelfwise.rl.evaluate_in_env`) or a simulator ``PolicyFn`` such as
    ``oracle_policy(sim)`` (through ``sim.run``).

    Args:
        policy: a SlatePolicy, or a ``PolicyFn``.
        sim: the simulator.
        n_sessions: evaluation sessions (>= 2).
        seed: first evaluation seed (below ``2**31``).
        chunk: sessions simulated together.

    Returns:
        Means and 95% CIs (return, click rate, length, purchase value) and the per-session
        arrays (``result.per_episode``).

    """
    from shelfwise.rl.trainer import evaluate_in_env
    from shelfwise.sim.env import ShopperVectorEnv

    if isinstance(n_sessions, bool) or not isinstance(n_sessions, int) or n_sessions < 2:
        raise ConfigError(f"n_sessions must be >= 2 for a confidence interval, got {n_sessions}")
    b = min(chunk, n_sessions)
    if hasattr(policy, "select"):
        return evaluate_in_env(policy, ShopperVectorEnv(sim, b), n_sessions, seed=seed,
                               metrics=SIM_METRICS)
    if not callable(policy):
        raise ConfigError(f"policy must be a SlatePolicy or a PolicyFn, got "
                          f"{type(policy).__name__}")
    start = time.perf_counter()
    parts = []
    done, i = 0, 0
    while done < n_sessions:
        take = min(b, n_sessions - done)
        st = sim.run(policy, b, seed + i * b)
        parts.append((st, take))
        done += take
        i += 1
    per = {
        "returns": np.concatenate([p.returns[:t] for p, t in parts]),
        "lengths": np.concatenate([p.lengths[:t] for p, t in parts]),
        "clicks": np.concatenate([p.clicks[:t] for p, t in parts]),
        "purchase_value": np.concatenate([p.purchase_value[:t] for p, t in parts]),
    }
    name = getattr(policy, "name", getattr(policy, "__name__", "policy"))
    return summarize(str(name), per, seed, time.perf_counter() - start)


# ---------------------------------------------------------------------------- sim training


@dataclass
class SimTrainStats:
    """What :func:`train_in_sim` did."""

    sessions: int = 0
    steps: int = 0
    updates: int = 0
    mean_return: float = 0.0
    seconds: float = 0.0
    curve: LearningCurve | None = None


def train_in_sim(policy: Any, sim: SimBatch, sessions: int, *, seed: int = 0,
                 epochs: int = 1, batch_sessions: int = 100, update_every: int | None = None,
                 minibatch: int = 256, epsilon: float = 0.0, normalize_rewards: bool = False,
                 progress: ProgressFn | None = None,
                 checkpoint: Callable[[int], None] | None = None,
                 checkpoint_every: int = 0) -> SimTrainStats:
    """Train ``policy`` on ``sessions`` simulated sessions (:func:`shelfwise.rl.train_in_env`).

    Args:
        policy: the SlatePolicy to train (updated in place).
        sim: the simulator.
        sessions: training sessions (>= 1).
        seed: seed of the training streams (never an evaluation seed).
        epochs: see :func:`shelfwise.rl.train_in_env`.
        batch_sessions: sessions simulated in lock step.
        update_every: see :func:`shelfwise.rl.train_in_env` (default: one lock-step batch of
            episodes for episode learners, every step for replay learners).
        minibatch: records per ``update`` call of episode and replay learners.
        epsilon: share of uniformly random slates (extra exploration).
        normalize_rewards: see :func:`shelfwise.rl.train_in_env`.
        progress: called with sessions finished.
        checkpoint: called with the sessions done so far, every ``checkpoint_every`` sessions.
        checkpoint_every: 0 disables periodic checkpoints.

    Returns:
        Counts, the mean training return and the learning curve.

    """
    from shelfwise.rl.trainer import train_in_env
    from shelfwise.sim.env import ShopperVectorEnv

    for name, value in (("sessions", sessions), ("batch_sessions", batch_sessions)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
    env = ShopperVectorEnv(sim, min(batch_sessions, sessions))
    res = train_in_env(policy, env, sessions, seed=seed, epsilon=epsilon,
                       update_every=update_every, epochs=epochs, minibatch=minibatch,
                       normalize_rewards=normalize_rewards, checkpoint_every=checkpoint_every,
                       progress=progress if progress is not None else False,
                       on_checkpoint=checkpoint)
    return SimTrainStats(sessions=res.episodes, steps=res.records, updates=res.updates,
                         mean_return=res.mean_return, seconds=res.seconds, curve=res.curve)


def train_on_feedback(policy: Any, feedback: Sequence[Any], *, epochs: int = 1,
                      minibatch: int = 256, rng: np.random.Generator | None = None) -> int:
    """Update ``policy`` on logged records, grouped by its learning mode.

    See :func:`shelfwise.rl.train_on_records` (whole sessions for episode learners, shuffled
    minibatches for replay learners, time order for step learners; a policy that cannot learn
    off-policy is refused with :class:`ConfigError`).

    Returns:
        The number of ``update`` calls.

    """
    from shelfwise.rl.learners import train_on_records

    return train_on_records(policy, feedback, epochs=epochs, minibatch=minibatch, rng=rng)


# ---------------------------------------------------------------------------- events


def feedback_from_events(store: Any, features: Callable[[Sequence[str]], np.ndarray], *,
                         reward: Any = None) -> tuple[list[Any], int]:
    """Rebuild ``Feedback`` records from the event log, session by session.

    Impressions that stored ``state`` and ``candidate_ids`` become records; their candidate
    features are the stored ``candidate_features`` or ``features(candidate_ids)`` (e.g.
    ``VectorIndex.vectors``). ``next_state`` / ``next_candidates`` come from the session's
    next replayable impression; the last one is terminal.

    Args:
        store: an :class:`~shelfwise.events.EventStore`.
        features: product ids ``(n,)`` -> ``float (n, d)``.
        reward: a RewardFunction or spec string (default ``click``).

    Returns:
        ``(records, skipped)``: the records, and how many impressions lacked replay data.

    Raises:
        ConfigError: the log has no impressions, or none can be replayed (the message says
            what to log).

    """
    from agent.policy import Feedback, Slate
    from shelfwise.rewards import RewardFunction

    fn = reward if isinstance(reward, RewardFunction) else (
        RewardFunction() if reward is None else RewardFunction.parse(reward))
    records: list[Any] = []
    total = skipped = 0
    for session in store.sessions():
        imps = session.impressions
        rows = []
        for i, imp in enumerate(imps):
            total += 1
            if imp.state is None or imp.candidate_ids is None:
                skipped += 1
                continue
            cands = imp.candidate_features
            if cands is None:
                cands = np.asarray(features(list(imp.candidate_ids)), dtype=np.float32)
            fb_ev = store.feedback_for(imp.slate_id)
            continued = any(o.time > imp.time for o in imps[i + 1:])
            r = fn.per_position(fb_ev, continued=continued)
            clicked = {c.product_id for c in fb_ev.clicks}
            order = np.argsort(np.asarray(imp.positions), kind="stable")
            ids = imp.chosen_indices()[order]
            clicks = np.array([imp.item_ids[j] in clicked for j in order], dtype=bool)
            slate = Slate(ids, np.zeros(len(ids)), np.asarray(imp.propensities)[order],
                          imp.policy, imp.policy_version)
            rows.append((np.asarray(imp.state, np.float64), np.asarray(cands, np.float64),
                         slate, clicks, np.asarray(r)[order]))
        for j, (state, cands, slate, clicks, r) in enumerate(rows):
            last = j == len(rows) - 1
            records.append(Feedback(
                state=state, candidates=cands, slate=slate, clicks=clicks, rewards=r,
                next_state=None if last else rows[j + 1][0],
                next_candidates=None if last else rows[j + 1][1], done=last))
    if total == 0:
        raise ConfigError("the event log is empty: no impressions to train on; serve some "
                          "traffic first or train with --from sim")
    if not records:
        raise ConfigError(f"none of the {total} logged impressions can be replayed: log "
                          "impressions with state and candidate_ids")
    return records, skipped


# ---------------------------------------------------------------------------- entry point


@dataclass
class TrainReport:
    """Result of :func:`train` (what ``shelfwise train --json`` prints)."""

    policy: str
    source: str
    checkpoint: str
    sessions: int
    records: int
    updates: int
    epochs: int
    seed: int
    seconds: float
    version: str
    skipped: int = 0
    train_mean_return: float | None = None
    evaluation: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    lift: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _eval_dict(res: EvalResult) -> dict[str, Any]:
    return res.to_dict()  # per-session arrays are not part of the JSON report


def train(workspace: Any, policy_name: str, *, source: str = "sim", sessions: int = 2000,
          epochs: int = 1, seed: int = 0, out: str | None = None, eval_sessions: int = 500,
          reward: str | None = None, policy_options: dict[str, Any] | None = None,
          checkpoint_every: int = 0, batch_sessions: int = 100, epsilon: float = 0.0,
          progress: bool = False) -> TrainReport:
    """Train a policy and save it to ``workspace.policies_dir / out``.

    Args:
        workspace: a Workspace or path (the demo store and index for ``sim``; the event log
            and index for ``events``).
        policy_name: registry name (``random, greedy, linucb, lints, slateq, reinforce``).
        source: ``sim`` or ``events``.
        sessions: simulated training sessions (``sim``).
        epochs: passes over collected batches (``sim``, batch learners) or the log (``events``).
        seed: training seed (policy initialisation and training streams).
        out: checkpoint name in the policies folder; default the policy name (where
            ``shelfwise serve`` and ``shelfwise evaluate --policy NAME`` look).
        eval_sessions: held-out simulated sessions of the final evaluation (0 skips it;
            ``sim`` only).
        reward: reward spec for ``events`` (see :mod:`shelfwise.rewards`).
        policy_options: hyperparameters passed to ``make_policy``.
        checkpoint_every: save every so many sessions (0: only at the end).
        batch_sessions: sessions simulated in lock step.
        epsilon: share of uniformly random slates during simulator training.
        progress: show a progress bar on stderr.

    Returns:
        The report; the checkpoint is at ``report.checkpoint``.

    Raises:
        PolicyError: unknown policy (lists the valid names).
        ConfigError: bad argument (named), empty event log.

    """
    from agent.policy import make_policy
    from shelfwise.workspace import Workspace

    if source not in SOURCES:
        raise ConfigError(f"--from must be one of: {', '.join(SOURCES)}; got {source!r}")
    for name, value, low in (("--sessions", sessions, 1), ("--epochs", epochs, 1),
                             ("--eval-sessions", eval_sessions, 0),
                             ("--checkpoint-every", checkpoint_every, 0)):
        if value < low:
            raise ConfigError(f"{name} must be >= {low}, got {value}")
    if eval_sessions == 1:
        raise ConfigError("--eval-sessions must be 0 (skip) or >= 2")
    policy = make_policy(policy_name, seed=seed, **(policy_options or {}))
    out_name = out or policy_name
    if not out_name or any(sep in out_name for sep in ("/", "\\")) or out_name.startswith("."):
        raise ConfigError(f"--out must be a plain checkpoint name, got {out_name!r}")
    ws = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    ws.ensure()
    target = ws.policies_dir / out_name
    start = time.perf_counter()

    from shelfwise.engine import Engine

    engine = Engine.open(ws)
    try:
        if source == "events":
            report = _train_events(policy, engine, ws, epochs, seed, reward, target, start)
        else:
            report = _train_sim(policy, engine, sessions, epochs, seed, target, eval_sessions,
                                checkpoint_every, batch_sessions, epsilon, progress, start)
    finally:
        engine.close()
    return report


def _bar(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="session", leave=False)


def _train_sim(policy: Any, engine: Any, sessions: int, epochs: int, seed: int, target: Path,
               eval_sessions: int, checkpoint_every: int, batch_sessions: int,
               epsilon: float, progress: bool, start: float) -> TrainReport:
    from agent.policy import make_policy, save_policy
    from shelfwise.sim.workspace import sim_from_workspace

    sim = sim_from_workspace(engine)
    with _bar(sessions, progress, f"train {policy.name}") as bar:
        stats = train_in_sim(
            policy, sim, sessions, seed=seed, epochs=epochs, batch_sessions=batch_sessions,
            epsilon=epsilon, progress=bar.update,
            checkpoint=lambda _n: save_policy(policy, target),
            checkpoint_every=checkpoint_every)
    save_policy(policy, target)
    report = TrainReport(
        policy=policy.name, source="sim", checkpoint=str(target), sessions=stats.sessions,
        records=stats.steps, updates=stats.updates, epochs=epochs, seed=seed,
        seconds=time.perf_counter() - start, version=policy.version,
        train_mean_return=stats.mean_return)
    if stats.curve is not None:
        report.extra["learning_curve"] = stats.curve.to_dict()
    if eval_sessions:
        res = evaluate_in_sim(policy, sim, eval_sessions)
        base = evaluate_in_sim(make_policy("random"), sim, eval_sessions)
        report.evaluation = _eval_dict(res)
        report.baseline = _eval_dict(base)
        report.lift = (res.mean_return.mean / base.mean_return.mean
                       if base.mean_return.mean > 0 else None)
    return report


def _train_events(policy: Any, engine: Any, ws: Any, epochs: int, seed: int, reward: Any,
                  target: Path, start: float) -> TrainReport:
    from agent.policy import save_policy
    from shelfwise.events import SQLiteEventStore

    if not ws.events_db.is_file():
        raise ConfigError(f"the event log is empty: {ws.events_db} does not exist; serve some "
                          "traffic first or train with --from sim")
    store = SQLiteEventStore(ws.events_db)
    try:
        records, skipped = feedback_from_events(store, engine.index.vectors, reward=reward)
    finally:
        store.close()
    # online learners see small batches, as they would serving; the others 256 records
    minibatch = 64 if policy.learning.mode == "step" else 256
    updates = train_on_feedback(policy, records, epochs=epochs, minibatch=minibatch,
                                rng=np.random.default_rng(seed))
    save_policy(policy, target)
    return TrainReport(
        policy=policy.name, source="events", checkpoint=str(target), sessions=0,
        records=len(records), updates=updates, epochs=epochs, seed=seed,
        seconds=time.perf_counter() - start, version=policy.version, skipped=skipped)
