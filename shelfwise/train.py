"""Train slate policies in the shopper simulator or from the event log, and evaluate them.

Simulator training (:func:`train_in_sim`) rolls out batches of ``batch_sessions`` sessions in
lock step. Every live session's slate is sampled from the policy (its own stochastic
``select`` semantics, plus optional ``epsilon``-uniform slates); the resulting
:class:`~agent.policy.Feedback` records (state, candidates, slate with propensities, clicks,
per-item rewards, next state and candidates, done) go to ``policy.update``:

- bandits (``linucb``, ``lints``; and the non-learning ``random`` / ``greedy``) after every
  step, with that step's records (online learning);
- ``slateq`` and ``reinforce`` every ``update_every`` steps, in minibatches of the collected
  records, ``epochs`` passes. For ``reinforce`` the reward of a clicked item is its reward
  plus the discounted rest of the session's return (reward-to-go), so it optimises the
  session, not the click.

Acting uses a vectorised fast path (:func:`batched_logits`) that computes, for a whole batch
of sessions at once, the same Plackett-Luce logits as the policy's ``select`` (from its
public parameters) and samples Gumbel top-k. Policies it does not know fall back to one
``select`` call per session.

Training and evaluation never share seeds: training draws its streams from
``SeedSequence([seed, TRAIN_STREAM])``; :func:`evaluate_in_sim` runs on ``eval_seed``
(default ``EVAL_SEED``), which training never uses.

Event-log training (:func:`feedback_from_events`, :func:`train_on_feedback`) rebuilds
``Feedback`` from impressions that stored ``state`` and ``candidate_ids`` (candidate features
from the impression or the product index), with rewards from a
:class:`~shelfwise.rewards.RewardFunction`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError
from shelfwise.sim.vector_env import PolicyFn, SessionStats, SimBatch

__all__ = [
    "EVAL_SEED",
    "SOURCES",
    "EvalResult",
    "Metric",
    "TrainReport",
    "batched_logits",
    "evaluate_in_sim",
    "feedback_from_events",
    "make_policy_fn",
    "summarize",
    "train",
    "train_in_sim",
    "train_on_feedback",
]

SOURCES: tuple[str, ...] = ("sim", "events")
"""Where ``shelfwise train --from`` takes its experience."""

EVAL_SEED = 1_000_003
"""Seed of the held-out evaluation sessions (training streams never use it)."""

TRAIN_STREAM = 7_919
"""Second word of the training ``SeedSequence`` (keeps training draws apart from eval)."""

BATCH_LEARNERS = ("slateq", "reinforce")
"""Policies updated from collected batches (the others are updated after every step)."""

ProgressFn = Callable[[int], None]
"""Called with the number of sessions finished since the last call."""


# ---------------------------------------------------------------------------- acting


def _gumbel_top_k(logits: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Plackett-Luce draws for each row of ``logits (m, n)``: ``int64 (m, k)`` in draw order."""
    g = logits - np.log(-np.log(rng.random(logits.shape) * (1 - 1e-12) + 1e-300))
    top = np.argpartition(-g, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(g, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1).astype(np.int64)


def _pl_propensities(logits: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Conditional draw probabilities of ``order (m, k)`` under ``logits (m, n)``; ``(m, k)``."""
    lg = logits - logits.max(axis=1, keepdims=True)
    w = np.exp(lg)
    total = w.sum(axis=1)
    rows = np.arange(lg.shape[0])
    out = np.empty(order.shape)
    for j in range(order.shape[1]):
        wj = w[rows, order[:, j]]
        out[:, j] = wj / np.maximum(total, 1e-300)
        total = total - wj
    return np.clip(out, np.finfo(np.float64).tiny, 1.0)


def _features(states: np.ndarray, cands: np.ndarray) -> np.ndarray:
    """Batched :func:`agent.policy.interaction_features` (equal dimensions), ``(m, n, 2d+2)``.

    SlateQ and REINFORCE use these; the linear bandits have their own (``policy.features``).
    """
    s = states.astype(np.float64)[:, None, :]
    c = cands.astype(np.float64)
    cos = (c * s).sum(-1) / (np.linalg.norm(c, axis=-1) * np.linalg.norm(s, axis=-1) + 1e-12)
    ones = np.ones(c.shape[:2] + (1,))
    return np.concatenate([c * s, c, cos[..., None], ones], axis=-1)


def _cosine(states: np.ndarray, cands: np.ndarray) -> np.ndarray:
    s = states.astype(np.float64)
    c = cands.astype(np.float64)
    num = np.einsum("mnd,md->mn", c, s)
    return num / (np.linalg.norm(c, axis=-1) * np.linalg.norm(s, axis=-1)[:, None] + 1e-12)


def batched_logits(policy: Any, states: np.ndarray, cands: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray | None:
    """The policy's Plackett-Luce logits for many requests at once.

    Mirrors ``policy._logits`` of the built-in policies from their public parameters; for
    ``lints`` each row uses its own posterior draw (the ``select`` mixture picks one of
    ``n_posterior`` i.i.d. draws uniformly, which is the same distribution).

    Args:
        policy: a :class:`~agent.policy.SlatePolicy`.
        states: ``float (m, d)`` user states.
        cands: ``float (m, n, d)`` candidates (same ``d``).
        rng: source of the posterior draws (``lints``).

    Returns:
        ``float64 (m, n)`` logits, or ``None`` when the policy has no fast path (then call
        ``select`` per row).

    """
    name = getattr(policy, "name", None)
    m, n, d = cands.shape
    if states.shape[1] != d:
        return None
    if name == "random":
        return np.zeros((m, n))
    if name == "greedy":
        return _cosine(states, cands) / policy.config.temperature
    if policy.state_dim is None:
        policy._ensure_dims(states.shape[1], d)  # build parameters on first sight
    if name == "linucb":
        x = policy.features(states, cands).reshape(m * n, -1)
        xa = (x.astype(np.float32) @ policy.A_inv.astype(np.float32)).astype(np.float64)
        width = np.sqrt(np.maximum((xa * x).sum(axis=1), 0.0))
        ucb = x @ policy.theta + policy.config.alpha * width
        return ucb.reshape(m, n) / policy.config.temperature
    if name == "lints":
        x = policy.features(states, cands)
        p = policy.A_inv.shape[0]
        chol = np.linalg.cholesky(policy.A_inv + 1e-12 * np.eye(p))
        draws = policy.theta[None, :] + policy.config.v * rng.standard_normal((m, p)) @ chol.T
        return np.einsum("mnp,mp->mn", x, draws) / policy.config.temperature
    if name in ("slateq", "reinforce"):
        import torch

        x = torch.from_numpy(_features(states, cands).reshape(m * n, -1))
        net = policy.q_net if name == "slateq" else policy.net
        with torch.no_grad():
            out = net(x).squeeze(-1).numpy().reshape(m, n)
        if name == "slateq":
            out = np.exp(policy.config.choice_beta * _cosine(states, cands)) * out
        return out / policy.config.temperature
    return None


@dataclass
class _Slates:
    """Slates chosen for ``m`` sessions: positions, propensities and scores, each ``(m, k)``."""

    actions: np.ndarray
    propensities: np.ndarray
    scores: np.ndarray


def _choose(policy: Any, states: np.ndarray, cands: np.ndarray, k: int,
            rng: np.random.Generator, epsilon: float = 0.0) -> _Slates:
    """Sample slates for ``m`` sessions (fast path, or ``select`` per row)."""
    m, n = cands.shape[:2]
    logits = batched_logits(policy, states, cands, rng)
    if logits is None:
        acts, props, scores = [], [], []
        for i in range(m):
            sl = policy.select(states[i], cands[i], k, rng)
            acts.append(sl.item_ids)
            props.append(sl.propensities)
            scores.append(sl.scores)
        out = _Slates(np.array(acts, np.int64), np.array(props), np.array(scores))
    else:
        acts = _gumbel_top_k(logits, k, rng)
        out = _Slates(acts, _pl_propensities(logits, acts),
                      np.take_along_axis(logits, acts, axis=1))
    if epsilon > 0:
        explore = rng.random(m) < epsilon
        if explore.any():
            e = int(explore.sum())
            keys = rng.random((e, n))
            out.actions[explore] = np.argsort(keys, axis=1)[:, :k]
            out.propensities[explore] = 1.0 / (n - np.arange(k))[None, :]
            out.scores[explore] = 0.0
    return out


def make_policy_fn(policy: Any, k: int) -> PolicyFn:
    """Wrap a frozen policy as a simulator ``PolicyFn`` (``(b, d), (b, n, d) -> (b, k)``)."""

    def fn(states: np.ndarray, cands: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return _choose(policy, states, cands, k, rng).actions

    return fn


# ---------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Metric:
    """A mean with its normal-approximation 95% confidence interval."""

    mean: float
    ci_low: float
    ci_high: float

    @classmethod
    def of(cls, values: np.ndarray) -> Metric:
        """Mean ± 1.96 standard errors of ``values (n,)``."""
        v = np.asarray(values, dtype=np.float64)
        half = 1.96 * float(v.std(ddof=1)) / np.sqrt(v.size) if v.size > 1 else 0.0
        mean = float(v.mean())
        return cls(mean, mean - half, mean + half)

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}]"


@dataclass(frozen=True)
class EvalResult:
    """Held-out simulator metrics of one policy (per session unless stated).

    Attributes:
        policy: policy name.
        sessions: number of evaluation sessions.
        seed: their seed.
        mean_return: sum of rewards.
        click_rate: clicks per slate shown (session-weighted ratio, CI by the delta method
            approximated as a per-session ratio mean).
        purchase_value: summed price of purchases.
        length: slates shown.
        seconds: wall time.
        stats: the per-session totals behind the means (for paired comparisons between
            policies evaluated on the same seed: session ``i`` is the same shopper).

    """

    policy: str
    sessions: int
    seed: int
    mean_return: Metric
    click_rate: Metric
    purchase_value: Metric
    length: Metric
    seconds: float
    stats: SessionStats | None = field(default=None, repr=False, compare=False)


def summarize(name: str, stats: SessionStats, seed: int) -> EvalResult:
    """Turn per-session totals into means with 95% CIs."""
    ctr = stats.clicks / np.maximum(stats.lengths, 1)
    return EvalResult(
        policy=name, sessions=int(stats.returns.size), seed=int(seed),
        mean_return=Metric.of(stats.returns), click_rate=Metric.of(ctr),
        purchase_value=Metric.of(stats.purchase_value), length=Metric.of(stats.lengths),
        seconds=float(stats.seconds), stats=stats)


def evaluate_in_sim(policy: Any, sim: SimBatch, n_sessions: int,
                    seed: int = EVAL_SEED, *, chunk: int = 1000) -> EvalResult:
    """Run a frozen policy on ``n_sessions`` held-out sessions.

    Sessions run in chunks of ``chunk`` (seeds ``seed, seed + 1, ...``); every policy
    evaluated with the same ``seed`` meets the same shoppers.

    Args:
        policy: a SlatePolicy (or a ``PolicyFn`` such as ``oracle_policy(sim)``).
        sim: the simulator.
        n_sessions: evaluation sessions (>= 2).
        seed: first evaluation seed.
        chunk: sessions simulated together.

    Returns:
        Means and 95% CIs.

    """
    if n_sessions < 2:
        raise ConfigError(f"n_sessions must be >= 2 for a confidence interval, got {n_sessions}")
    fn = policy if callable(policy) and not hasattr(policy, "select") else make_policy_fn(
        policy, sim.config.k)
    parts = []
    done, i = 0, 0
    while done < n_sessions:
        b = min(chunk, n_sessions - done)
        parts.append(sim.run(fn, b, seed + i))
        done += b
        i += 1
    stats = SessionStats(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in (
            "returns", "clicks", "purchases", "purchase_value", "lengths", "intent_clicks",
            "has_intent")),
        seconds=sum(p.seconds for p in parts))
    return summarize(getattr(policy, "name", "policy"), stats, seed)


# ---------------------------------------------------------------------------- sim training


@dataclass
class SimTrainStats:
    """What :func:`train_in_sim` did."""

    sessions: int = 0
    steps: int = 0
    updates: int = 0
    mean_return: float = 0.0
    seconds: float = 0.0


def _rollout(policy: Any, sim: SimBatch, b: int, rng_shop: np.random.Generator,
             rng_sim: np.random.Generator, rng_pol: np.random.Generator, *, epsilon: float,
             reward_to_go: float | None, online: bool) -> tuple[list[Any], np.ndarray, int]:
    """One batch of ``b`` sessions; returns (feedback, returns (b,), updates made)."""
    from agent.policy import Feedback, Slate

    k = sim.config.k
    sim.reset(b, rng_shop)
    returns = np.zeros(b)
    per_session: list[list[Any]] = [[] for _ in range(b)]
    updates = 0
    while not sim.done.all():
        live = np.flatnonzero(~sim.done)
        states = sim.states[live].copy()
        cands = sim.catalog.vectors[sim.candidate_ids[live]]
        chosen = _choose(policy, states, cands, k, rng_pol, epsilon)
        actions = np.tile(np.arange(k), (b, 1))
        actions[live] = chosen.actions
        res = sim.step(actions, rng_sim)
        returns += res.rewards
        step_fb = []
        for j, s in enumerate(live):
            clicks = np.zeros(k, dtype=bool)
            rewards = np.zeros(k)
            if res.clicked_rank[s] >= 0:
                clicks[res.clicked_rank[s]] = True
                rewards[res.clicked_rank[s]] = res.rewards[s]
            done = bool(res.terminated[s] or res.truncated[s])
            fb = Feedback(
                state=states[j], candidates=cands[j],
                slate=Slate(chosen.actions[j], chosen.scores[j], chosen.propensities[j],
                            policy.name, "train"),
                clicks=clicks, rewards=rewards,
                next_state=None if done else sim.states[s].copy(),
                next_candidates=None if done else sim.catalog.vectors[sim.candidate_ids[s]],
                done=done)
            step_fb.append(fb)
            per_session[s].append(fb)
        if online:
            policy.update(step_fb)
            updates += 1
    if reward_to_go is not None:
        for fbs in per_session:
            future = 0.0
            for fb in reversed(fbs):
                here = float(fb.rewards.sum())
                fb.rewards = np.where(fb.clicks, fb.rewards + reward_to_go * future, 0.0)
                future = here + reward_to_go * future
    return [fb for fbs in per_session for fb in fbs], returns, updates


def train_in_sim(policy: Any, sim: SimBatch, sessions: int, *, seed: int = 0,
                 epochs: int = 1, batch_sessions: int = 100, update_every: int = 1,
                 minibatch: int = 256, epsilon: float = 0.0, gamma: float = 0.9,
                 progress: ProgressFn | None = None,
                 checkpoint: Callable[[int], None] | None = None,
                 checkpoint_every: int = 0) -> SimTrainStats:
    """Train ``policy`` on ``sessions`` simulated sessions (see the module docstring).

    Args:
        policy: the SlatePolicy to train (updated in place).
        sim: the simulator.
        sessions: training sessions (>= 1).
        seed: seed of the training streams (never an evaluation seed).
        epochs: passes over each collected batch (batch learners).
        batch_sessions: sessions simulated in lock step.
        update_every: batch learners update after this many rollout batches.
        minibatch: records per ``update`` call of batch learners.
        epsilon: share of uniformly random slates (extra exploration).
        gamma: discount of the reward-to-go given to ``reinforce``.
        progress: called with sessions finished.
        checkpoint: called with the sessions done so far, every ``checkpoint_every`` sessions.
        checkpoint_every: 0 disables periodic checkpoints.

    Returns:
        Counts and the mean training return.

    """
    for name, value, low in (("sessions", sessions, 1), ("epochs", epochs, 1),
                             ("batch_sessions", batch_sessions, 1),
                             ("update_every", update_every, 1), ("minibatch", minibatch, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be an int >= {low}, got {value!r}")
    if not 0.0 <= epsilon <= 1.0:
        raise ConfigError(f"epsilon must be in [0, 1], got {epsilon!r}")
    start = time.perf_counter()
    rng_shop, rng_sim, rng_pol, rng_mb = np.random.default_rng(
        np.random.SeedSequence([seed, TRAIN_STREAM])).spawn(4)
    batch_learner = policy.name in BATCH_LEARNERS
    stats = SimTrainStats()
    buffer: list[Any] = []
    total_return = 0.0
    next_ckpt = checkpoint_every
    n_batches = 0
    while stats.sessions < sessions:
        b = min(batch_sessions, sessions - stats.sessions)
        fbs, returns, ups = _rollout(
            policy, sim, b, rng_shop, rng_sim, rng_pol, epsilon=epsilon,
            reward_to_go=gamma if policy.name == "reinforce" else None,
            online=not batch_learner)
        stats.updates += ups
        stats.steps += len(fbs)
        total_return += float(returns.sum())
        stats.sessions += b
        n_batches += 1
        if batch_learner:
            buffer.extend(fbs)
            if n_batches % update_every == 0 or stats.sessions >= sessions:
                stats.updates += train_on_feedback(policy, buffer, epochs=epochs,
                                                   minibatch=minibatch, rng=rng_mb)
                buffer = []
        if progress is not None:
            progress(b)
        if checkpoint is not None and checkpoint_every and stats.sessions >= next_ckpt:
            checkpoint(stats.sessions)
            next_ckpt += checkpoint_every
    stats.mean_return = total_return / max(stats.sessions, 1)
    stats.seconds = time.perf_counter() - start
    return stats


def train_on_feedback(policy: Any, feedback: Sequence[Any], *, epochs: int = 1,
                      minibatch: int = 256, rng: np.random.Generator | None = None) -> int:
    """Update ``policy`` on logged records: ``epochs`` shuffled passes of minibatches.

    Returns:
        The number of ``update`` calls.

    """
    rng = rng if rng is not None else np.random.default_rng(0)
    records = list(feedback)
    calls = 0
    for _ in range(epochs):
        order = rng.permutation(len(records))
        for i in range(0, len(records), minibatch):
            policy.update([records[j] for j in order[i:i + minibatch]])
            calls += 1
    return calls


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
    out = asdict(res)
    out.pop("stats")  # per-session arrays: not part of the JSON report
    return out


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
    if policy.name in ("linucb", "lints", "random", "greedy"):
        minibatch = 64
    else:
        minibatch = 256
    updates = train_on_feedback(policy, records, epochs=epochs, minibatch=minibatch,
                                rng=np.random.default_rng(seed))
    save_policy(policy, target)
    return TrainReport(
        policy=policy.name, source="events", checkpoint=str(target), sessions=0,
        records=len(records), updates=updates, epochs=epochs, seed=seed,
        seconds=time.perf_counter() - start, version=policy.version, skipped=skipped)
