"""Named candidate sources on a tiny planted log: provenance, fallbacks, filters, blend fitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoders.behaviour import Interactions, make_behaviour_model, with_content
from index import ItemMeta, SearchFilter, VectorIndex
from shelfwise.behaviour import BehaviourModels
from shelfwise.candidates import (
    FEATURE_NAMES,
    SOURCES,
    CandidateSources,
    fit_blend,
    select_with_prior,
)
from shelfwise.config import CandidatesConfig

N_ITEMS = 40
PAIR = ("p03", "p17")  # planted: whoever buys p03 buys p17 next


def _content(seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(N_ITEMS, 16)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _ids() -> list[str]:
    return [f"p{i:02d}" for i in range(N_ITEMS)]


@pytest.fixture(scope="module")
def world():
    """A planted log (random browsing + the co-purchase pair), EASE and a tiny SASRec."""
    rng = np.random.default_rng(1)
    ids = _ids()
    rows = []
    for u in range(60):
        t = 0.0
        items = list(rng.choice([i for i in ids if i not in PAIR], size=4, replace=False))
        if u % 2 == 0:
            items[1:1] = list(PAIR)
        for pid in items:
            rows.append((f"u{u}", pid, t))
            t += 1.0
    # one very popular item for the new-shopper fallback
    rows += [(f"u{u}", "p30", 100.0) for u in range(60)]
    df = pd.DataFrame(rows, columns=["user_id", "product_id", "time"])
    data = Interactions.from_frame(df, item_ids=ids)
    content = _content()
    ease = with_content(make_behaviour_model("ease", l2=10.0), content)
    ease.fit(data)
    sasrec = with_content(make_behaviour_model("sasrec", dim=16, max_epochs=2, val_fraction=0.0,
                                               max_len=8), content)
    sasrec.fit(data)
    index = VectorIndex(16, "auto")
    cats = ["shoes" if i % 2 else "bags" for i in range(N_ITEMS)]
    index.add(ids, content, [ItemMeta(c, float(10 + i)) for i, c in enumerate(cats)])
    models = BehaviourModels(tuple(ids), ease, sasrec)
    return index, models, content


def _sources(world, **cfg):
    index, models, _ = world
    base = {"content": 5, "behaviour": 5, "item2item": 5, "popular": 3}
    return CandidateSources(index, models, CandidatesConfig(**{**base, **cfg}))


def test_planted_pair_reaches_the_slate_through_item2item(world):
    index, _, content = world
    src = _sources(world)
    state = content[3]
    cs = src.generate(state, ["p03"], None, 20)
    assert "p17" in cs.ids
    j = cs.ids.index("p17")
    assert "item2item" in cs.sources[j]
    col = SOURCES.index("item2item")
    assert cs.scores[j, col] == cs.scores[:, col].max()  # the planted partner scores highest
    assert cs.features.shape == (len(cs), len(FEATURE_NAMES))
    assert cs.source_labels()[j].split("+") == list(cs.sources[j])
    # and it reaches a slate of 3 from the prior over the policy's logits
    from agent.policy import make_policy

    policy = make_policy("greedy", dim=16, seed=0)
    slate = select_with_prior(policy, state, cs.vectors, cs.prior * 5, 3,
                              np.random.default_rng(0))
    assert "p17" in [cs.ids[i] for i in slate.item_ids]
    assert np.all((slate.propensities > 0) & (slate.propensities <= 1))


def test_new_shopper_without_query_gets_popular(world):
    src = _sources(world)
    cs = src.generate(np.zeros(16, np.float32), [], None, 10)
    assert cs.ids and cs.ids[0] == "p30"  # the most popular product
    assert all(s == ("popular",) for s in cs.sources)
    assert len(cs) == 3  # only the popular source runs: no history, no query


def test_query_filters_apply_to_every_source(world):
    _, _, content = world
    src = _sources(world)
    flt = SearchFilter(categories=frozenset({"shoes"}), max_price=40.0)
    cs = src.generate(content[3], ["p03", "p08"], flt, 30)
    assert cs.ids
    found = {s for srcs in cs.sources for s in srcs}
    assert {"content", "item2item", "popular"} <= found
    index = world[0]
    for pid in cs.ids:
        meta = index.meta(pid)
        assert meta.category == "shoes" and meta.price <= 40.0, pid
    assert "p17" in cs.ids  # the planted partner is a shoe under 40: still found


def test_history_is_excluded_unless_asked(world):
    _, _, content = world
    src = _sources(world)
    hist = ["p03", "p17", "p30"]
    cs = src.generate(content[3], hist, None, 30)
    assert not set(hist) & set(cs.ids)
    kept = src.generate(content[3], hist, None, 30, exclude_history=False)
    assert set(hist) & set(kept.ids)


def test_content_only_without_models(world):
    index, _, content = world
    src = CandidateSources(index, None, CandidatesConfig(content=4))
    cs = src.generate(content[0], ["p00"], None, 10)
    assert len(cs) == 4 and all(s == ("content",) for s in cs.sources)
    assert np.all(cs.scores[:, 1:] == 0)


def test_fit_blend_recovers_planted_weights():
    rng = np.random.default_rng(0)
    w_true = np.array([0.0, 1.0, 2.0, 0.5, 0.0, 0.0, 0.0, 0.0])
    pools = []
    for _ in range(3000):
        F = rng.normal(size=(20, 8))
        off = rng.normal(size=20)
        z = off + F @ w_true
        p = np.exp(z - z.max())
        pools.append((F, off, int(rng.choice(20, p=p / p.sum()))))
    w = fit_blend(pools, l2=1e-4)
    assert np.allclose(w, w_true, atol=0.12), w


def test_select_with_prior_follows_a_dominant_prior():
    from agent.policy import make_policy

    rng = np.random.default_rng(0)
    cands = _content()[:10]
    prior = np.zeros(10)
    prior[7] = 1e4  # far above the policy's own logits (cosine / temperature)
    slate = select_with_prior(make_policy("linucb", dim=16), cands[0], cands, prior, 3, rng)
    assert int(slate.item_ids[0]) == 7 and slate.propensities[0] > 0.999
    rand = select_with_prior(make_policy("random", seed=0), cands[0], cands, prior, 3, rng)
    assert rand.policy == "random" and np.allclose(rand.propensities, [1 / 10, 1 / 9, 1 / 8])
