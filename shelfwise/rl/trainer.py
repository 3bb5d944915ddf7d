"""Train and evaluate slate policies in any environment that follows the slate contract.

:func:`train_in_env` rolls a policy out in a single ``gymnasium.Env`` or a
``gymnasium.vector.VectorEnv`` (checked up front by :func:`~shelfwise.rl.check_slate_env`),
turns every decision into a :class:`~agent.policy.Feedback` and hands the records to
``policy.update`` the way ``policy.learning.mode`` asks for (:mod:`shelfwise.rl.learners`).
Nothing here reads a policy's name or its internals: slates come from ``policy.select``
(or ``policy.select_batch`` when the policy has it).

Seeds: training draws its env reset seeds from ``SeedSequence([seed, TRAIN_STREAM])`` in
``[2**31, 2**62)``; evaluation resets with ``eval_seed, eval_seed + num_envs, ...`` and
requires ``eval_seed < 2**31``, so a training episode never replays an evaluation one.
Policies evaluated with the same ``eval_seed`` meet the same episodes (common random numbers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError
from shelfwise.rl.contract import SlateEnvSpec, check_slate_env
from shelfwise.rl.curves import LearningCurve
from shelfwise.rl.learners import make_learner
from shelfwise.rl.rollout import TRAIN_SEED_LOW, Rollout, Transition, choose_slates

__all__ = [
    "EVAL_SEED",
    "TRAIN_STREAM",
    "EvalResult",
    "Metric",
    "RewardScaler",
    "TrainResult",
    "evaluate_in_env",
    "train_in_env",
]

EVAL_SEED = 1_000_003
"""Default first seed of held-out evaluation episodes (below ``2**31``)."""

TRAIN_STREAM = 7_919
"""Second word of the training ``SeedSequence`` (keeps training draws apart from eval)."""

EVAL_STREAM = 104_729
"""Second word of the evaluation policy-sampling ``SeedSequence``."""

ProgressFn = Callable[[int], None]
"""Called with the number of episodes finished since the last call."""


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
        mean = float(v.mean()) if v.size else float("nan")
        return cls(mean, mean - half, mean + half)

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}]"


@dataclass(frozen=True)
class EvalResult:
    """Held-out metrics of one policy, per episode unless stated.

    Attributes:
        policy: policy name (for reports).
        episodes: evaluation episodes.
        seed: their first seed.
        mean_return: sum of rewards.
        click_rate: clicks per slate shown (per-episode ratio, then averaged).
        length: slates shown.
        metrics: per-episode sums of the requested info keys (e.g. ``purchase_value``).
        seconds: wall time.
        per_episode: ``returns``, ``lengths``, ``clicks`` and each metric, ``(N,)`` arrays in
            episode start order (episode ``i`` is the same for every policy evaluated with
            this seed: paired comparisons).

    """

    policy: str
    episodes: int
    seed: int
    mean_return: Metric
    click_rate: Metric
    length: Metric
    seconds: float
    metrics: dict[str, Metric] = field(default_factory=dict)
    per_episode: dict[str, np.ndarray] = field(default_factory=dict, repr=False,
                                               compare=False)

    @property
    def purchase_value(self) -> Metric | None:
        """The ``purchase_value`` metric when it was collected (shopper simulator)."""
        return self.metrics.get("purchase_value")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict without the per-episode arrays."""
        out: dict[str, Any] = {
            "policy": self.policy, "episodes": self.episodes, "sessions": self.episodes,
            "seed": self.seed, "seconds": self.seconds}
        for name in ("mean_return", "click_rate", "length"):
            m = getattr(self, name)
            out[name] = {"mean": m.mean, "ci_low": m.ci_low, "ci_high": m.ci_high}
        for name, m in self.metrics.items():
            out[name] = {"mean": m.mean, "ci_low": m.ci_low, "ci_high": m.ci_high}
        return out


def summarize(name: str, per_episode: dict[str, np.ndarray], seed: int, seconds: float
              ) -> EvalResult:
    """Per-episode arrays (``returns``, ``lengths``, ``clicks``, metrics) -> means with CIs."""
    lengths = per_episode["lengths"]
    ctr = per_episode["clicks"] / np.maximum(lengths, 1)
    extra = {k: Metric.of(v) for k, v in per_episode.items()
             if k not in ("returns", "lengths", "clicks")}
    return EvalResult(policy=name, episodes=int(lengths.size), seed=int(seed),
                      mean_return=Metric.of(per_episode["returns"]), click_rate=Metric.of(ctr),
                      length=Metric.of(lengths), seconds=float(seconds), metrics=extra,
                      per_episode=per_episode)


@dataclass
class TrainResult:
    """What :func:`train_in_env` did.

    Attributes:
        policy: policy name.
        mode: ``policy.learning.mode``.
        episodes: training episodes finished.
        steps: environment steps (vector steps count once).
        records: decisions recorded (one per live sub-env per step).
        updates: ``policy.update`` calls.
        mean_return: mean training-episode return.
        seconds: wall time.
        curve: mean return per chunk of training episodes.
        checkpoints: checkpoints written.

    """

    policy: str
    mode: str
    episodes: int = 0
    steps: int = 0
    records: int = 0
    updates: int = 0
    mean_return: float = 0.0
    seconds: float = 0.0
    curve: LearningCurve | None = None
    checkpoints: int = 0


class RewardScaler:
    """Optional reward normalisation: divide item rewards by a running std of step rewards.

    Rewards are scaled, never centred (a click stays positive, no click stays zero), so the
    policy sees returns of order 1 whatever the environment's units. Off by default; the
    scale is fixed from ``warmup`` steps on so that late records are not rescaled forever.
    """

    def __init__(self, enabled: bool, warmup: int = 1000) -> None:
        self.enabled, self.warmup = enabled, warmup
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def observe(self, rewards: np.ndarray) -> None:
        """Take step rewards ``(m,)`` into the running statistics (Welford)."""
        if not self.enabled or self.n >= self.warmup:
            return
        for r in np.asarray(rewards, dtype=np.float64).ravel():
            if self.n >= self.warmup:
                break
            self.n += 1
            d = r - self.mean
            self.mean += d / self.n
            self.m2 += d * (r - self.mean)

    @property
    def scale(self) -> float:
        """The divisor (1 when disabled or before any variance was seen)."""
        if not self.enabled or self.n < 2:
            return 1.0
        std = float(np.sqrt(self.m2 / (self.n - 1)))
        return std if std > 1e-8 else 1.0


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ConfigError(f"{name} must be an int >= {low}, got {value!r}")


def _feedback(t: Transition, scale: float) -> Any:
    from agent.policy import Feedback

    return Feedback(state=t.state, candidates=t.candidates, slate=t.slate, clicks=t.clicks,
                    rewards=t.item_rewards / scale, next_state=t.next_state,
                    next_candidates=t.next_candidates, done=t.done, truncated=t.truncated)


def _bar(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="episode", leave=False)


def train_in_env(policy: Any, env: Any, episodes: int, *, seed: int = 0, epsilon: float = 0.0,
                 update_every: int | None = None, epochs: int = 1, minibatch: int = 256,
                 replay_capacity: int = 5_000, normalize_rewards: bool = False,
                 checkpoint: str | Path | None = None, checkpoint_every: int = 0,
                 curve_every: int | None = None, metrics: Sequence[str] = (),
                 progress: bool | ProgressFn = False,
                 on_checkpoint: Callable[[int], None] | None = None,
                 time_limit: float | None = None) -> TrainResult:
    """Train ``policy`` (in place) on ``episodes`` episodes of ``env``.

    Args:
        policy: a :class:`~agent.policy.SlatePolicy` (its ``learning`` decides how it is fed).
        env: a contract environment, single or vector (see :mod:`shelfwise.rl.contract`).
        episodes: training episodes (counted at their start).
        seed: seed of the training streams (env resets, slate sampling, minibatches).
        epsilon: share of uniformly random slates (extra exploration), in ``[0, 1]``.
        update_every: ``episode`` mode: finished episodes per update round (default
            ``num_envs``: one round of every sub-env); ``replay`` mode: environment steps per
            update round (default 1); ignored by ``step`` / ``none``.
        epochs: passes over each round's episodes (``episode``) or replays per new
            transition (``replay``).
        minibatch: records per ``update`` call (``episode``: at least this many, in whole
            episodes).
        replay_capacity: transitions kept by the replay buffer (``replay``); each holds its
            candidates and next candidates (``2 n d_c`` floats: about 150 KB for 50 x 384
            float32), so 5,000 is about 0.8 GB.
        normalize_rewards: divide item rewards by a running std of step rewards
            (:class:`RewardScaler`) before ``update``.
        checkpoint: path for :func:`agent.policy.save_policy`; written every
            ``checkpoint_every`` finished episodes and at the end.
        checkpoint_every: 0: only at the end (when ``checkpoint`` is given).
        curve_every: episodes per learning-curve point (default ``episodes // 20``).
        metrics: numeric info keys summed per episode (reported in the curve's episodes).
        progress: ``True`` for a tqdm bar on stderr, or a callback taking the number of
            episodes finished since its last call.
        on_checkpoint: called with the episodes finished at each checkpoint.
        time_limit: seconds after which no new episode is started (the ones running finish);
            ``result.episodes`` then says how many were trained on. ``None``: no limit.

    Returns:
        Counts, the mean training return and the learning curve.

    Raises:
        EnvContractError: the env does not follow the contract (the message says what).
        ConfigError: a bad argument (named).

    """
    from agent.policy import save_policy

    spec = check_slate_env(env)
    _check_int("episodes", episodes, 1)
    if update_every is None:
        update_every = spec.num_envs if policy.learning.mode == "episode" else 1
    for name, value in (("update_every", update_every), ("epochs", epochs),
                        ("minibatch", minibatch), ("replay_capacity", replay_capacity)):
        _check_int(name, value, 1)
    _check_int("checkpoint_every", checkpoint_every, 0)
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or \
            not 0.0 <= epsilon <= 1.0:
        raise ConfigError(f"epsilon must be in [0, 1], got {epsilon!r}")
    start = time.perf_counter()
    env_ss, pol_ss, mb_ss = np.random.SeedSequence([seed, TRAIN_STREAM]).spawn(3)
    env_rng = np.random.default_rng(env_ss)
    rng_pol, rng_mb = np.random.default_rng(pol_ss), np.random.default_rng(mb_ss)
    learner = make_learner(policy, update_every=update_every, epochs=epochs,
                           minibatch=minibatch, capacity=replay_capacity, rng=rng_mb)
    scaler = RewardScaler(normalize_rewards)
    learns = policy.learning.mode != "none"
    run = Rollout(env, spec, episodes, lambda: int(env_rng.integers(TRAIN_SEED_LOW, 2**62)),
                  metrics)
    result = TrainResult(policy=policy.name, mode=policy.learning.mode)
    next_ckpt = checkpoint_every or None
    bar = _bar(episodes, progress is True, f"train {policy.name}")
    seen = 0
    try:
        while not run.done:
            if time_limit is not None and time.perf_counter() - start > time_limit:
                run.stop_starting()
            live = run.live
            if live.size == 0:  # only uncounted / restarting sub-envs: step them on
                run.step(live, [])
                continue
            slates = choose_slates(policy, run.states[live], run.cands[live], spec.k, rng_pol,
                                   epsilon)
            trans = run.step(live, slates)
            result.records += len(trans)
            if learns:
                scaler.observe(np.array([t.reward for t in trans]))
                scale = scaler.scale
                learner.observe([_feedback(t, scale) for t in trans],
                                [t.episode for t in trans])
            if run.finished > seen:
                delta, seen = run.finished - seen, run.finished
                bar.update(delta)
                if callable(progress):
                    progress(delta)
                while next_ckpt is not None and seen >= next_ckpt and seen < episodes:
                    if checkpoint is not None:
                        save_policy(policy, checkpoint)
                        result.checkpoints += 1
                    if on_checkpoint is not None:
                        on_checkpoint(seen)
                    next_ckpt += checkpoint_every
        learner.flush()
    finally:
        bar.close()
    if checkpoint is not None:
        save_policy(policy, checkpoint)
        result.checkpoints += 1
    if on_checkpoint is not None and checkpoint_every:
        on_checkpoint(run.finished)
    arr = run.log.arrays()
    result.episodes = run.finished
    result.steps = run.steps
    result.updates = learner.updates
    result.mean_return = float(arr["returns"].mean()) if arr["returns"].size else 0.0
    result.curve = LearningCurve.from_returns(
        arr["returns"], curve_every or max(1, run.finished // 20))
    result.seconds = time.perf_counter() - start
    return result


def evaluate_in_env(policy: Any, env: Any, episodes: int, *, seed: int = EVAL_SEED,
                    metrics: Sequence[str] = (), progress: bool = False) -> EvalResult:
    """Run a frozen policy (no updates) on ``episodes`` held-out episodes.

    Args:
        policy: a :class:`~agent.policy.SlatePolicy` (never updated here).
        env: a contract environment, single or vector.
        episodes: evaluation episodes (>= 2, for a confidence interval).
        seed: first evaluation seed, in ``[0, 2**31)`` (training seeds lie above).
        metrics: numeric info keys summed per episode (e.g. ``purchase_value``).
        progress: tqdm bar on stderr.

    Returns:
        Means with 95% intervals and the per-episode arrays.

    Raises:
        EnvContractError: the env does not follow the contract.
        ConfigError: ``episodes < 2`` or a seed outside ``[0, 2**31)``.

    """
    spec: SlateEnvSpec = check_slate_env(env)
    _check_int("episodes", episodes, 2)
    _check_int("seed", seed, 0)
    if seed >= TRAIN_SEED_LOW:
        raise ConfigError(f"seed must be below 2**31 (training seeds lie above), got {seed}")
    start = time.perf_counter()
    rng_pol = np.random.default_rng(np.random.SeedSequence([seed, EVAL_STREAM]))
    calls = [0]

    def next_seed() -> int:
        s = seed + calls[0] * spec.num_envs
        calls[0] += 1
        return s

    run = Rollout(env, spec, episodes, next_seed, metrics)
    seen = 0
    with _bar(episodes, progress, f"evaluate {policy.name}") as bar:
        while not run.done:
            live = run.live
            if live.size == 0:
                run.step(live, [])
                continue
            slates = choose_slates(policy, run.states[live], run.cands[live], spec.k, rng_pol)
            run.step(live, slates)
            if run.finished > seen:
                bar.update(run.finished - seen)
                seen = run.finished
    return summarize(policy.name, run.log.arrays(), seed, time.perf_counter() - start)
