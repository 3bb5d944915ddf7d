"""Step any contract environment (single or vector, every autoreset mode) with a slate policy.

:class:`Rollout` hides how episodes restart: it keeps the current observation of every
sub-environment, knows which of them wait for a decision (``live``), steps the env with the
chosen slates and returns one :class:`Transition` per real decision. Episodes are counted
when they *start*, so a budget of ``N`` episodes is the first ``N`` started, never the first
``N`` to finish (which would favour short episodes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shelfwise.rl.contract import (
    SlateEnvSpec,
    item_feedback,
    read_observation,
)

__all__ = ["EpisodeLog", "Rollout", "Transition", "choose_slates", "plackett_luce_batch"]

TRAIN_SEED_LOW = 2**31
"""Training resets draw env seeds in ``[2**31, 2**62)``; evaluation seeds stay below."""


@dataclass
class Transition:
    """One decision of one sub-environment and what followed.

    Attributes:
        env: sub-environment index.
        episode: index of the episode (in start order) this decision belongs to.
        state: float64 ``(d_u,)``.
        candidates: float64 ``(n, d_c)``.
        slate: the chosen :class:`~agent.policy.Slate`.
        clicks: bool ``(k,)``.
        item_rewards: float64 ``(k,)``.
        reward: the step's total reward.
        next_state: float64 ``(d_u,)`` or ``None`` when terminated.
        next_candidates: float64 ``(n, d_c)`` or ``None`` when terminated.
        terminated: the episode ended (not by a time limit).
        truncated: the episode hit a time or step limit.
        metrics: numeric info values requested by the caller (e.g. ``purchase_value``).

    """

    env: int
    episode: int
    state: np.ndarray
    candidates: np.ndarray
    slate: Any
    clicks: np.ndarray
    item_rewards: np.ndarray
    reward: float
    next_state: np.ndarray | None
    next_candidates: np.ndarray | None
    terminated: bool
    truncated: bool
    metrics: dict[str, float] = field(default_factory=dict)

    def stop_starting(self) -> None:
        """Count no more new episodes: the run ends when the ones started have finished."""
        self.target = self.started

    @property
    def done(self) -> bool:
        """The episode ended after this step."""
        return self.terminated or self.truncated


@dataclass
class EpisodeLog:
    """Totals of finished episodes, in start order once sorted (see :meth:`arrays`)."""

    index: list[int] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    clicks: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        """Per-episode arrays ``(N,)`` sorted by episode start order."""
        order = np.argsort(np.asarray(self.index, dtype=np.int64), kind="stable")
        out = {"returns": np.asarray(self.returns, dtype=np.float64)[order],
               "lengths": np.asarray(self.lengths, dtype=np.int64)[order],
               "clicks": np.asarray(self.clicks, dtype=np.int64)[order]}
        for key, vals in self.metrics.items():
            out[key] = np.asarray(vals, dtype=np.float64)[order]
        return out


def plackett_luce_batch(logits: np.ndarray, k: int, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Draw one Plackett-Luce slate per row of ``logits (m, n)`` (Gumbel top-k).

    Returns:
        ``(order int64 (m, k), propensities float64 (m, k))``: the drawn positions in draw
        order and each one's conditional draw probability given the earlier draws (computed
        in log space, so far-apart logits keep their small remainders).

    """
    lg = np.asarray(logits, dtype=np.float64)
    m, n = lg.shape
    g = lg - np.log(-np.log(rng.random((m, n)) * (1 - 1e-12) + 1e-300))
    g = np.where(np.isfinite(lg), g, -np.inf)
    if k < n:
        top = np.argpartition(-g, k - 1, axis=1)[:, :k]
    else:
        top = np.tile(np.arange(n), (m, 1))
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(g, top, axis=1), axis=1,
                                               kind="stable"), axis=1).astype(np.int64)
    rows = np.arange(m)
    alive = lg.copy()
    props = np.empty((m, k))
    for j in range(k):
        mx = np.max(alive, axis=1, keepdims=True)
        mx = np.where(np.isfinite(mx), mx, 0.0)
        with np.errstate(divide="ignore"):
            lse = mx[:, 0] + np.log(np.sum(np.exp(alive - mx), axis=1))
        props[:, j] = np.exp(alive[rows, order[:, j]] - lse)
        alive[rows, order[:, j]] = -np.inf
    return order, np.clip(props, np.finfo(np.float64).tiny, 1.0)


def choose_slates(policy: Any, states: np.ndarray, cands: np.ndarray, k: int,
                  rng: np.random.Generator, epsilon: float = 0.0) -> list[Any]:
    """One slate per request through the policy's public API.

    Fast path: ``policy.batch_logits(states, candidates, rng) -> (m, n)`` when the policy has
    it (its contract: sampling row ``i`` Plackett-Luce draws from the same distribution as
    ``select`` on request ``i``), sampled here for all requests at once. Otherwise
    ``policy.select`` per request. With ``epsilon > 0`` each request is, with that
    probability, served a uniformly random slate instead, logged with its exact uniform
    propensities ``1 / (n - j)`` (importance weights stay exact record by record).

    Args:
        policy: a :class:`~agent.policy.SlatePolicy`.
        states: float ``(m, d_u)``.
        cands: float ``(m, n, d_c)``.
        k: slate size.
        rng: all randomness of the call.
        epsilon: share of uniformly random slates, in ``[0, 1]``.

    Returns:
        ``m`` slates.

    """
    from agent.policy import Slate

    m, n = cands.shape[0], cands.shape[1]
    batch = getattr(policy, "batch_logits", None)
    if callable(batch):
        logits = np.asarray(batch(states, cands, rng), dtype=np.float64)
        order, props = plackett_luce_batch(logits, k, rng)
        scores = np.take_along_axis(logits, order, axis=1)
        version = policy.version
        slates = [Slate(order[i], scores[i], props[i], policy.name, version) for i in range(m)]
    else:
        slates = [policy.select(states[i], cands[i], k, rng) for i in range(m)]
    if epsilon > 0:
        explore = np.flatnonzero(rng.random(m) < epsilon)
        uniform = 1.0 / (n - np.arange(k, dtype=np.float64))
        for i in explore:
            order_i = rng.permutation(n)[:k].astype(np.int64)
            slates[i] = Slate(order_i, np.zeros(k), uniform.copy(), slates[i].policy,
                              slates[i].version)
    return slates


def _sub_info(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Sub-env ``i``'s entries of a batched vector-env info dict (masked keys dropped)."""
    out: dict[str, Any] = {}
    for key, val in info.items():
        if key.startswith("_"):
            continue
        mask = info.get("_" + key)
        if mask is not None and not bool(np.asarray(mask)[i]):
            continue
        out[key] = _sub_info(val, i) if isinstance(val, dict) else val[i]
    return out


class Rollout:
    """Drive ``env`` episode by episode (see the module docstring).

    Args:
        env: a contract environment (checked by :func:`~shelfwise.rl.check_slate_env`).
        spec: its :class:`~shelfwise.rl.SlateEnvSpec`.
        episodes: episodes to run (counted at their start).
        next_seed: returns the seed of the next ``reset`` call.
        metrics: numeric info keys summed per episode (missing keys count 0).

    """

    def __init__(self, env: Any, spec: SlateEnvSpec, episodes: int,
                 next_seed: Callable[[], int], metrics: Sequence[str] = ()) -> None:
        self.env, self.spec, self.target = env, spec, int(episodes)
        self.next_seed = next_seed
        self.metric_keys = tuple(metrics)
        e = spec.num_envs
        self.started = 0
        self.finished = 0
        self.steps = 0
        self.episode_of = np.full(e, -1, dtype=np.int64)  # -1: this env's episode is not counted
        self.waiting = np.zeros(e, dtype=bool)  # ended; restarts at the next step / reset
        self._ret = np.zeros(e)
        self._len = np.zeros(e, dtype=np.int64)
        self._clk = np.zeros(e, dtype=np.int64)
        self._met = {key: np.zeros(e) for key in self.metric_keys}
        self.log = EpisodeLog(metrics={key: [] for key in self.metric_keys})
        self._pending = np.zeros(e, dtype=bool)  # next_step: reset by the next env.step
        obs, _ = env.reset(seed=self.next_seed())
        self.states, self.cands = read_observation(obs, spec)
        self._start(np.arange(e))

    # ------------------------------------------------------------------ bookkeeping
    def _start(self, envs: np.ndarray) -> None:
        for i in envs:
            if self.started < self.target:
                self.episode_of[i] = self.started
                self.started += 1
            else:
                self.episode_of[i] = -1
            self._ret[i] = 0.0
            self._len[i] = 0
            self._clk[i] = 0
            for acc in self._met.values():
                acc[i] = 0.0
        self.waiting[envs] = False

    def _finish(self, i: int) -> None:
        if self.episode_of[i] >= 0:
            self.log.index.append(int(self.episode_of[i]))
            self.log.returns.append(float(self._ret[i]))
            self.log.lengths.append(int(self._len[i]))
            self.log.clicks.append(int(self._clk[i]))
            for key, acc in self._met.items():
                self.log.metrics[key].append(float(acc[i]))
            self.finished += 1
        self.episode_of[i] = -1
        self.waiting[i] = True

    def stop_starting(self) -> None:
        """Count no more new episodes: the run ends when the ones started have finished."""
        self.target = self.started

    @property
    def done(self) -> bool:
        """Every counted episode has finished."""
        return self.finished >= self.target

    @property
    def live(self) -> np.ndarray:
        """``int (m,)`` sub-envs whose current observation awaits a counted decision."""
        return np.flatnonzero(~self.waiting & (self.episode_of >= 0))

    # ------------------------------------------------------------------ stepping
    def step(self, live: np.ndarray, slates: Sequence[Any]) -> list[Transition]:
        """Show ``slates[j]`` in sub-env ``live[j]``; step every sub-env once.

        Returns:
            One transition per live sub-env, in ``live`` order.

        """
        spec = self.spec
        e, k = spec.num_envs, spec.k
        actions = np.tile(np.arange(k, dtype=np.int64), (e, 1))
        for j, i in enumerate(live):
            actions[i] = np.asarray(slates[j].item_ids, dtype=np.int64)
        prev_states, prev_cands = self.states, self.cands
        if spec.vector:
            obs, rew, term, trunc, info = self.env.step(actions)
        else:
            obs, r, t, u, info = self.env.step(actions[0])
            rew, term, trunc = np.array([r], float), np.array([t]), np.array([u])
        self.steps += 1
        states, cands = read_observation(obs, spec)
        rew = np.asarray(rew, dtype=np.float64).reshape(e)
        term = np.asarray(term, dtype=bool).reshape(e)
        trunc = np.asarray(trunc, dtype=bool).reshape(e)
        out: list[Transition] = []
        for j, i in enumerate(live):
            next_s, next_c, sub = states[i], cands[i], info
            if spec.vector:
                if spec.autoreset == "same_step" and (term[i] or trunc[i]):
                    sub = _sub_info(info.get("final_info", {}), i)
                    fs, fc = read_observation(
                        info["final_obs"][i], _single(spec))
                    next_s, next_c = fs[0], fc[0]
                else:
                    sub = _sub_info(info, i)
            clicks, item_r = item_feedback(sub, float(rew[i]), k)
            done = bool(term[i] or trunc[i])
            met = {key: float(np.sum(sub.get(key, 0.0))) for key in self.metric_keys}
            out.append(Transition(
                env=int(i), episode=int(self.episode_of[i]), state=prev_states[i],
                candidates=prev_cands[i], slate=slates[j], clicks=clicks, item_rewards=item_r,
                reward=float(rew[i]), next_state=None if term[i] else next_s.copy(),
                next_candidates=None if term[i] else next_c.copy(), terminated=bool(term[i]),
                truncated=bool(trunc[i] and not term[i]), metrics=met))
            self._ret[i] += rew[i]
            self._len[i] += 1
            self._clk[i] += int(clicks.sum())
            for key, val in met.items():
                self._met[key][i] += val
            if done:
                self._finish(int(i))
        self.states, self.cands = states, cands
        self._restart(term | trunc)
        return out

    def _restart(self, ended: np.ndarray) -> None:
        """Start new episodes where the env's reset mode says one starts now."""
        spec = self.spec
        self.waiting[ended] = True  # uncounted sub-envs that ended wait too
        pending, self._pending = self._pending, ended.copy()
        if self.done:
            return
        if spec.autoreset == "single":
            if not self.waiting[0]:
                return
            obs, _ = self.env.reset(seed=self.next_seed())
            self.states, self.cands = read_observation(obs, spec)
            self._start(np.array([0]))
        elif spec.autoreset == "same_step":
            self._start(np.flatnonzero(ended))  # the returned observation is the reset one
        elif spec.autoreset == "next_step":
            self._start(np.flatnonzero(pending & ~ended))  # this step reset them
        elif spec.lockstep:
            if not (self.episode_of >= 0).any():  # no counted session still running
                obs, _ = self.env.reset(seed=self.next_seed())
                self.states, self.cands = read_observation(obs, spec)
                self._pending[:] = False
                self._start(np.arange(spec.num_envs))
        elif ended.any():
            obs, _ = self.env.reset(seed=self.next_seed(), options={"reset_mask": ended})
            self.states, self.cands = read_observation(obs, spec)
            self._pending[:] = False
            self._start(np.flatnonzero(ended))


def _single(spec: SlateEnvSpec) -> SlateEnvSpec:
    from dataclasses import replace

    return replace(spec, num_envs=1, vector=False)
