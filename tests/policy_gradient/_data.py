"""Seeded tiny data for the policy-gradient tests (imported by path, not a conftest)."""

from __future__ import annotations

import numpy as np

from agent.policy import Feedback, Slate, SlatePolicy

D, N = 6, 6


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def record(state: np.ndarray, cands: np.ndarray, ids: list[int], clicks: list[bool],
           rewards: list[float], *, props: list[float] | None = None, done: bool = True,
           truncated: bool = False, next_state: np.ndarray | None = None) -> Feedback:
    """A hand-made record (uniform-logger propensities unless given)."""
    k, n = len(ids), cands.shape[0]
    p = props if props is not None else [1.0 / (n - j) for j in range(k)]
    return Feedback(state=state, candidates=cands,
                    slate=Slate(np.array(ids, dtype=np.int64), np.zeros(k), np.array(p),
                                "logger", "v0"),
                    clicks=np.array(clicks, dtype=bool), rewards=np.array(rewards, float),
                    next_state=next_state, done=done, truncated=truncated)


class SlateBandit:
    """A one-step contextual slate bandit with a known best slate.

    ``n_contexts`` states; in context ``c`` item ``i`` is clicked with probability
    ``P[c, i]`` independently of the rest of the slate, reward 1 per click. The best slate is
    the ``k`` items of highest ``P[c]``; its expected return is the sum of their ``P``.
    """

    def __init__(self, seed: int = 0, n_contexts: int = 3, k: int = 2) -> None:
        rng = np.random.default_rng(seed)
        self.k = k
        self.states = unit_rows(rng, n_contexts, D)
        self.cands = unit_rows(rng, N, D)
        self.p = np.full((n_contexts, N), 0.1)
        for c in range(n_contexts):
            self.p[c, rng.choice(N, size=k, replace=False)] = 0.9

    def optimum(self) -> float:
        """Mean over contexts of the best slate's expected return."""
        return float(np.mean(np.sort(self.p, axis=1)[:, -self.k:].sum(axis=1)))

    def episodes(self, policy: SlatePolicy, rng: np.random.Generator,
                 n: int) -> list[Feedback]:
        """``n`` one-step episodes on slates the policy chose (on-policy)."""
        out = []
        for _ in range(n):
            c = int(rng.integers(len(self.states)))
            slate = policy.select(self.states[c], self.cands, self.k, rng)
            clicks = rng.random(self.k) < self.p[c, slate.item_ids]
            out.append(Feedback(self.states[c], self.cands, slate, clicks,
                                clicks.astype(float), done=True))
        return out

    def expected_return(self, policy: SlatePolicy, rng: np.random.Generator,
                        draws: int = 200) -> float:
        """Expected return of the policy's own (stochastic) slates, Monte Carlo."""
        total = 0.0
        for c in range(len(self.states)):
            for _ in range(draws):
                ids = policy.select(self.states[c], self.cands, self.k, rng).item_ids
                total += float(self.p[c, ids].sum())
        return total / (len(self.states) * draws)
