"""How records reach ``policy.update``, chosen by ``policy.learning.mode`` (never by name).

- ``none``: nothing is learned.
- ``step``: one ``update`` per environment step with that step's records (all sub-envs).
- ``episode``: records are held per episode until it ends; every ``update_every`` finished
  episodes, ``epochs`` passes over them in shuffled *episode* order, each ``update`` call
  getting whole episodes (time order, the last record ``done``) of at least ``minibatch``
  records together. Records are never shuffled across or within episodes, and rewards stay
  the raw per-step item rewards (the policy computes its returns itself).
- ``replay``: a replay buffer of the last ``capacity`` transitions; every ``update_every``
  steps, ``ceil(epochs * new / minibatch)`` minibatches sampled uniformly from it (so each
  new transition is replayed about ``epochs`` times).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError

__all__ = ["Learner", "make_learner", "train_on_records"]


class Learner:
    """Feeds records to ``policy.update`` (base: the ``none`` mode, learns nothing)."""

    def __init__(self, policy: Any, *, update_every: int = 1, epochs: int = 1,
                 minibatch: int = 256, capacity: int = 5_000,
                 rng: np.random.Generator | None = None) -> None:
        self.policy = policy
        self.update_every, self.epochs, self.minibatch = update_every, epochs, minibatch
        self.capacity = capacity
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.updates = 0

    def observe(self, records: Sequence[Any], episodes: Sequence[int]) -> None:
        """Take one environment step's records (``episodes[j]`` is record ``j``'s episode)."""

    def flush(self) -> None:
        """Learn from what is still held at the end of training."""


class _StepLearner(Learner):
    def observe(self, records: Sequence[Any], episodes: Sequence[int]) -> None:
        if records:
            self.policy.update(list(records))
            self.updates += 1


class _EpisodeLearner(Learner):
    def __init__(self, policy: Any, **kwargs: Any) -> None:
        super().__init__(policy, **kwargs)
        self.open: dict[int, list[Any]] = {}
        self.finished: list[list[Any]] = []

    def observe(self, records: Sequence[Any], episodes: Sequence[int]) -> None:
        for fb, ep in zip(records, episodes, strict=True):
            self.open.setdefault(int(ep), []).append(fb)
            if fb.done:
                self.finished.append(self.open.pop(int(ep)))
        if len(self.finished) >= self.update_every:
            self._learn()

    def flush(self) -> None:
        if self.finished:
            self._learn()
        self.open.clear()  # unfinished episodes are not whole: never learned from

    def _learn(self) -> None:
        self.updates += update_on_episodes(self.policy, self.finished, epochs=self.epochs,
                                           minibatch=self.minibatch, rng=self.rng)
        self.finished = []


class _ReplayLearner(Learner):
    def __init__(self, policy: Any, **kwargs: Any) -> None:
        super().__init__(policy, **kwargs)
        self.buffer: list[Any] = []
        self.head = 0
        self.new = 0
        self.steps = 0

    def observe(self, records: Sequence[Any], episodes: Sequence[int]) -> None:
        for fb in records:
            if len(self.buffer) < self.capacity:
                self.buffer.append(fb)
            else:
                self.buffer[self.head] = fb
                self.head = (self.head + 1) % self.capacity
        self.new += len(records)
        self.steps += 1
        if self.steps % self.update_every == 0:
            self._learn()

    def flush(self) -> None:
        if self.new:
            self._learn()

    def _learn(self) -> None:
        n = len(self.buffer)
        if n == 0:
            return
        size = min(self.minibatch, n)
        for _ in range(math.ceil(self.epochs * self.new / size)):
            idx = self.rng.choice(n, size=size, replace=False)
            self.policy.update([self.buffer[i] for i in idx])
            self.updates += 1
        self.new = 0


_LEARNERS: dict[str, type[Learner]] = {
    "none": Learner, "step": _StepLearner, "episode": _EpisodeLearner, "replay": _ReplayLearner,
}


def make_learner(policy: Any, **kwargs: Any) -> Learner:
    """The learner for ``policy.learning.mode`` (see the module docstring).

    Raises:
        ConfigError: the policy declares no :class:`~agent.policy.base.Learning`, or an
            unknown mode.

    """
    learning = getattr(policy, "learning", None)
    mode = getattr(learning, "mode", None)
    if mode not in _LEARNERS:
        raise ConfigError(f"policy {getattr(policy, 'name', type(policy).__name__)!r} must "
                          f"declare learning.mode (one of {', '.join(_LEARNERS)}), got {mode!r}")
    return _LEARNERS[mode](policy, **kwargs)


def split_episodes(records: Sequence[Any]) -> list[list[Any]]:
    """Cut records in time order into episodes at every ``done`` (a trailing rest is dropped)."""
    out: list[list[Any]] = []
    cur: list[Any] = []
    for fb in records:
        cur.append(fb)
        if fb.done:
            out.append(cur)
            cur = []
    return out


def update_on_episodes(policy: Any, episodes: Sequence[Sequence[Any]], *, epochs: int,
                       minibatch: int, rng: np.random.Generator) -> int:
    """``epochs`` passes over whole episodes in shuffled episode order; returns update calls."""
    calls = 0
    for _ in range(epochs):
        group: list[Any] = []
        for e in rng.permutation(len(episodes)):
            group.extend(episodes[e])
            if len(group) >= minibatch:
                policy.update(group)
                calls += 1
                group = []
        if group:
            policy.update(group)
            calls += 1
    return calls


def train_on_records(policy: Any, records: Sequence[Any], *, epochs: int = 1,
                     minibatch: int = 256, rng: np.random.Generator | None = None) -> int:
    """Update ``policy`` on logged records (e.g. the event log), grouped by its learning mode.

    ``records`` are in time order, session after session, each session's last record
    ``done`` (what :func:`shelfwise.train.feedback_from_events` returns).

    - ``none``: no update.
    - ``step``: ``epochs`` passes in time order, ``minibatch`` records per call.
    - ``episode``: whole sessions (see :func:`update_on_episodes`).
    - ``replay``: ``epochs`` shuffled passes of ``minibatch`` records.

    Logged slates were chosen by another policy, so a policy whose ``learning.off_policy``
    is false is refused rather than trained with a silent bias.

    Returns:
        The number of ``update`` calls.

    Raises:
        ConfigError: the policy learns on-policy only.

    """
    rng = rng if rng is not None else np.random.default_rng(0)
    learning = policy.learning
    records = list(records)
    if learning.mode == "none" or not records:
        return 0
    if not learning.off_policy:
        raise ConfigError(f"policy {policy.name!r} learns on-policy only (learning.off_policy "
                          "is false): it cannot learn from logged slates chosen by another "
                          "policy; train it in an environment (--from sim)")
    calls = 0
    if learning.mode == "episode":
        return update_on_episodes(policy, split_episodes(records), epochs=epochs,
                                  minibatch=minibatch, rng=rng)
    for _ in range(epochs):
        order = (np.arange(len(records)) if learning.mode == "step"
                 else rng.permutation(len(records)))
        for i in range(0, len(records), minibatch):
            policy.update([records[j] for j in order[i:i + minibatch]])
            calls += 1
    return calls
