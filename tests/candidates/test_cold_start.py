"""Cold start through the default candidate sources: products absent from training reach a slate.

A tiny planted world: 20 content clusters of 10 products; shoppers browse within one cluster;
the last 3 products of every cluster never occur in the log (new arrivals). With the models
completed by content (as ``shelfwise train`` builds them) and the default source counts, a
shopper who has browsed their cluster gets its new arrivals retrieved by the content ANN and
ranked into the top of the slate, served as well as offline (the ML-100k benchmark's scorer).
That plain models cannot tell new arrivals apart is the control in
``tests/behaviour/test_planted.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoders.behaviour import Interactions, make_behaviour_model, with_content
from encoders.fusion import UserStateBuilder
from index import ItemMeta, VectorIndex
from shelfwise.behaviour import BehaviourModels
from shelfwise.candidates import CandidateSources, policy_logits, select_with_prior
from shelfwise.config import CandidatesConfig

CLUSTERS = 20
PER = 10
NEW_PER = 3  # products 7, 8, 9 of every cluster: no event in the training log
N_ITEMS = CLUSTERS * PER
DIM = 16
SLATE = 5


def _ids() -> list[str]:
    return [f"p{i:03d}" for i in range(N_ITEMS)]


def _new_of(cluster: int) -> list[int]:
    return [cluster * PER + j for j in range(PER - NEW_PER, PER)]


@pytest.fixture(scope="module")
def world():
    """Planted log, cluster content, index and the models (plain and content-completed)."""
    return planted_world()


def planted_world():
    """``(content (200, 16), index, plain (ease, sasrec), completed (ease, sasrec), log)``."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(CLUSTERS, DIM))
    cluster = np.repeat(np.arange(CLUSTERS), PER)
    content = centres[cluster] + 0.25 * rng.normal(size=(N_ITEMS, DIM))
    content = (content / np.linalg.norm(content, axis=1, keepdims=True)).astype(np.float32)
    ids = _ids()
    rows = []
    for u in range(400):
        c = u % CLUSTERS
        items = c * PER + rng.choice(PER - NEW_PER, size=4, replace=False)
        rows += [(f"u{u}", ids[i], float(t)) for t, i in enumerate(items)]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "product_id", "time"]),
                                   item_ids=ids)
    new = np.array([i for c in range(CLUSTERS) for i in _new_of(c)])
    assert (data.item_counts()[new] == 0).all()  # absent from training
    index = VectorIndex(DIM, "auto")
    index.add(ids, content, [ItemMeta("item", 10.0)] * N_ITEMS)
    sasrec = {"dim": 16, "max_len": 8, "max_epochs": 3, "val_fraction": 0.0}
    plain = (make_behaviour_model("ease", l2=10.0), make_behaviour_model("sasrec", **sasrec))
    for m in plain:
        m.fit(data)
    completed = tuple(with_content(m, content) for m in plain)  # fitted: maps fitted now
    return content, index, plain, completed, data


def _slate(src: CandidateSources, content: np.ndarray, history: list[int]):
    """Candidates and the slate's mode (top ``SLATE`` of policy logits + blend), as served."""
    from agent.policy import make_policy

    ids = _ids()
    state = UserStateBuilder().build(content[history], None)
    cs = src.generate(state, [ids[i] for i in history], None, 100)
    policy = make_policy("linucb", dim=DIM, seed=0)
    logits = src.policy_scale * policy_logits(policy, state, cs.vectors).mean(axis=0) + cs.prior
    top = [cs.ids[j] for j in np.argsort(-logits, kind="stable")[:SLATE]]
    return cs, top, policy, state


@pytest.mark.parametrize("cluster", [0, 7, 13])
def test_new_arrival_reaches_the_slate_through_content(world, cluster):
    content, index, _, completed, _ = world
    src = CandidateSources(index, BehaviourModels(tuple(_ids()), *completed), CandidatesConfig())
    history = [cluster * PER + j for j in range(PER - NEW_PER)]  # every product with events
    cs, top, policy, state = _slate(src, content, history)
    ids = _ids()
    new = {ids[i] for i in _new_of(cluster)}
    assert new <= set(cs.ids)  # all three new arrivals are candidates ...
    for pid in new:
        assert "content" in cs.sources[cs.ids.index(pid)]  # ... found by the content ANN
    assert len(new & set(top)) >= 2, top  # and they lead the slate
    # a served (sampled) slate at the default temperature shows them too
    slate = select_with_prior(policy, state, cs.vectors, cs.prior, SLATE,
                              np.random.default_rng(0), temperature=src.config.temperature,
                              policy_scale=src.policy_scale)
    assert new & {cs.ids[i] for i in slate.item_ids}


def test_new_arrivals_behind_a_partial_history_still_make_the_slate(world):
    # two products with events are left to recommend; the new arrivals compete with them
    content, index, _, completed, _ = world
    src = CandidateSources(index, BehaviourModels(tuple(_ids()), *completed), CandidatesConfig())
    cs, top, _, _ = _slate(src, content, [3 * PER + j for j in range(5)])
    assert {_ids()[i] for i in _new_of(3)} & set(top), top


def test_offline_scorer_ranks_new_arrivals_and_records_their_sources(world):
    # shelfwise's recommender as the ML-100k benchmark runs it (fitted blend, fresh LinUCB)
    from shelfwise.evaluate.recommender_offline import RecommenderScorer

    content, _, _, _, data = world
    scorer = RecommenderScorer(content, record_sources=True, model_options={
        "ease": {"l2": 10.0}, "sasrec": {"dim": 16, "max_len": 8, "max_epochs": 3,
                                         "val_fraction": 0.0}})
    scorer.fit(data)
    clusters = [0, 7, 13]
    histories = [np.array([c * PER + j for j in range(5)]) for c in clusters]
    scores = scorer.score(histories)
    assert len(scorer.last_sources) == len(clusters)
    for c, h, row, found in zip(clusters, histories, scores, scorer.last_sources, strict=True):
        row = row.copy()
        row[h] = -np.inf
        top = [int(i) for i in np.argsort(-row, kind="stable")[:SLATE]]
        new = set(_new_of(c))
        assert new & set(top), (c, top)
        for i in new & set(top):
            assert "content" in found[i]  # retrieved by the content ANN
    unrecorded = RecommenderScorer(content)
    unrecorded.sources, unrecorded.policy = scorer.sources, scorer.policy
    unrecorded.score(histories[:1])
    assert unrecorded.last_sources == []


def test_neutral_popularity_what_if_only_lifts_products_without_events(world):
    from shelfwise.errors import ConfigError
    from shelfwise.evaluate.recommender_offline import RecommenderScorer

    content, _, _, _, data = world
    scorer = RecommenderScorer(content, model_options={
        "ease": {"l2": 10.0}, "sasrec": {"dim": 16, "max_len": 8, "max_epochs": 3,
                                         "val_fraction": 0.0}})
    scorer.fit(data)
    scorer.sources.weights[:] = 0.0
    scorer.sources.weights[3] = 2.0  # popular_score: new products sit at the bottom
    histories = [np.array([7 * PER + j for j in range(5)])]
    served = scorer.score(histories)[0]
    scorer.new_items = "neutral-popularity"
    what_if = scorer.score(histories)[0]
    counts = data.item_counts()
    found = served > -500  # candidates (the rest sit 1e3 below)
    assert (what_if[found & (counts == 0)] > served[found & (counts == 0)]).all()
    np.testing.assert_array_equal(what_if[counts > 0], served[counts > 0])
    with pytest.raises(ConfigError, match="unknown new_items 'zero'; choose one of: as-served"):
        RecommenderScorer(content, new_items="zero")
