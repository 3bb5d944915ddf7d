"""Seeded synthetic data for the policy tests (imported by path, not a conftest)."""

from __future__ import annotations

import numpy as np

from agent.policy import Feedback, SlatePolicy

NAMES = ["random", "greedy", "linucb", "lints", "slateq", "reinforce"]


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def random_feedback(policy: SlatePolicy, rng: np.random.Generator, n_records: int, *,
                    d: int = 8, n: int = 12, k: int = 3) -> list[Feedback]:
    """Feedback on slates the policy itself chose, random clicks, half non-terminal.

    The last record is always done, so the batch is whole episodes (what ``episode``
    learners require).
    """
    out = []
    for i in range(n_records):
        state = unit_rows(rng, 1, d)[0]
        cands = unit_rows(rng, n, d)
        slate = policy.select(state, cands, k, rng)
        clicks = rng.random(k) < 0.4
        done = i % 2 == 0 or i == n_records - 1
        out.append(Feedback(state=state, candidates=cands, slate=slate, clicks=clicks,
                            rewards=clicks.astype(float),
                            next_state=None if done else unit_rows(rng, 1, d)[0],
                            next_candidates=None if done else unit_rows(rng, n, d), done=done))
    return out
