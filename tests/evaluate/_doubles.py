"""A tiny SlatePolicy double (the agent.policy contract) and a logged-event generator."""

from dataclasses import dataclass

import numpy as np

from shelfwise.evaluate.slates import plackett_luce_marginals, softmax
from shelfwise.events import Click, Impression


@dataclass
class Slate:
    item_ids: np.ndarray
    scores: np.ndarray
    propensities: np.ndarray
    policy: str
    version: str


class SoftmaxPolicy:
    """Plackett-Luce over ``beta * candidates @ state``; beta = 0 is uniform."""

    version = "1"

    def __init__(self, beta: float, exact: bool = True):
        self.beta = beta
        self.name = f"softmax-{beta:g}"
        if not exact:
            self.action_dist = None

    def score(self, state, candidates):
        return self.beta * (np.asarray(candidates) @ np.asarray(state))

    def probs(self, state, candidates):
        return softmax(self.score(state, candidates))

    def marginals(self, state, candidates, k):
        return plackett_luce_marginals(self.probs(state, candidates)[None, :], k)[0]

    def action_dist(self, state, candidates, k):
        return self.marginals(state, candidates, k)

    def select(self, state, candidates, k, rng):
        p = self.probs(state, candidates)
        g = np.log(p) - np.log(-np.log(rng.random(p.shape)))
        items = np.argsort(-g)[:k]
        marg = self.marginals(state, candidates, k)
        return Slate(items, self.score(state, candidates)[items], marg[items, np.arange(k)],
                     self.name, self.version)


def log_sessions(store, n, rng, *, n_cand=8, dim=4, k=3, beta=0.0, store_features=True):
    """Log n impressions by SoftmaxPolicy(beta); click prob = sigmoid(2*state.cand - 1)."""
    logger = SoftmaxPolicy(beta)
    item_vecs = rng.normal(size=(40, dim)).astype(np.float32)
    events = []
    for i in range(n):
        state = rng.normal(size=dim).astype(np.float32)
        cand_idx = rng.choice(40, n_cand, replace=False)
        cands = item_vecs[cand_idx]
        slate = logger.select(state, cands, k, rng)
        ids = [f"p{j}" for j in cand_idx]
        shown = [ids[j] for j in slate.item_ids]
        events.append(Impression(
            f"e{i}", f"s{i}", f"u{i % 50}", tuple(shown), tuple(slate.propensities),
            logger.name, "1", time=float(i), state=state, candidate_ids=tuple(ids),
            candidate_features=cands if store_features else None))
        for pos, j in enumerate(slate.item_ids):
            if rng.random() < 1 / (1 + np.exp(-(2 * float(state @ cands[j]) - 1))):
                events.append(Click(f"c{i}-{pos}", f"s{i}", f"u{i % 50}", ids[j], pos,
                                    time=i + 0.5))
    store.log_many(events)
    return item_vecs
