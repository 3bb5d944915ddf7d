"""Learning from logged records (the event log) is grouped by the policy's learning mode."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent.policy import Feedback, Slate
from agent.policy.base import Learning
from shelfwise.errors import ConfigError
from shelfwise.rl import train_on_records


class Recorder:
    name = "recorder"

    def __init__(self, mode: str, off_policy: bool = True) -> None:
        self.learning = Learning(mode, off_policy=off_policy)
        self.batches: list[list[Any]] = []

    def update(self, batch: list[Any]) -> None:
        self.batches.append(list(batch))


def log(lengths: list[int]) -> list[Feedback]:
    """Sessions of the given lengths; state = [session, step]."""
    out = []
    for sess, n in enumerate(lengths):
        for t in range(n):
            out.append(Feedback(
                state=np.array([sess, t], float), candidates=np.eye(3, 2),
                slate=Slate(np.array([0, 1]), np.zeros(2), np.full(2, 0.5), "logger", "v"),
                clicks=np.array([True, False]), rewards=np.array([1.0, 0.0]),
                done=t == n - 1))
    return out


def test_episode_learners_get_whole_sessions_in_order() -> None:
    policy = Recorder("episode")
    calls = train_on_records(policy, log([3, 1, 2, 4]), epochs=2, minibatch=4,
                             rng=np.random.default_rng(0))
    assert calls == len(policy.batches)
    sessions = 0
    for batch in policy.batches:
        assert batch[-1].done
        for fb in batch:
            sessions += fb.done
        # within a batch, each session's steps are consecutive and in time order
        keys = [(int(f.state[0]), int(f.state[1])) for f in batch]
        for (s0, t0), (s1, t1) in zip(keys, keys[1:], strict=False):
            assert (s1 == s0 and t1 == t0 + 1) or (s1 != s0 and t1 == 0)
    assert sessions == 2 * 4


def test_step_learners_in_time_order_and_replay_shuffled() -> None:
    step = Recorder("step")
    assert train_on_records(step, log([2, 2]), minibatch=3) == 2
    assert [int(f.state[0]) * 10 + int(f.state[1]) for b in step.batches for f in b] == [
        0, 1, 10, 11]
    replay = Recorder("replay")
    assert train_on_records(replay, log([5, 5]), epochs=3, minibatch=4,
                            rng=np.random.default_rng(1)) == 9
    none = Recorder("none", off_policy=False)
    assert train_on_records(none, log([2])) == 0 and not none.batches


def test_on_policy_learners_are_refused() -> None:
    with pytest.raises(ConfigError, match="learns on-policy only"):
        train_on_records(Recorder("episode", off_policy=False), log([2]))
