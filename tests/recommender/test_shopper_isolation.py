"""One shopper's feedback must not redirect every other shopper (issue 10).

Before the bandits' feature model kept the item's own content out of the shared parameters,
two clicks by one shopper on red jackets made a brand-new visitor's "waterproof jacket under
150" come back five of five red on the demo store (LinUCB learned "red" for everyone).
"""

from __future__ import annotations

import numpy as np
import pytest

from agent.policy import make_policy
from index import SearchFilter
from shelfwise.recommender import Recommender


def _red(resp) -> int:
    return sum(it.product.attributes.get("colour") == "red" for it in resp.items)


def _visitors_red(rec: Recommender, tag: str, seeds: range) -> list[int]:
    """Red products in brand-new visitors' colour-free slates (one visitor per seed)."""
    out = []
    for s in seeds:
        resp = rec.recommend(f"visitor-{tag}-{s}", "waterproof jacket",
                             SearchFilter(max_price=150.0), k=5, rng=np.random.default_rng(s))
        assert len(resp.items) == 5
        out.append(_red(resp))
    return out


@pytest.mark.parametrize("policy", ["linucb", "lints"])
def test_two_clicks_by_one_shopper_on_red_items_do_not_make_a_new_visitors_colour_free_query_all_red(  # noqa: E501
        world, policy):
    engine, store = world
    rec = Recommender(engine, make_policy(policy, dim=engine.dim, seed=0), store)
    seeds = range(6)
    before = _visitors_red(rec, "before", seeds)

    clicks, attempt = 0, 0
    while clicks < 2:  # alice browses jackets and clicks the red ones she is shown
        resp = rec.recommend("alice", "jacket", k=10, rng=np.random.default_rng(100 + attempt))
        attempt += 1
        assert attempt < 20, "no red jacket was ever shown to alice"
        for it in resp.items:
            if clicks < 2 and it.product.attributes.get("colour") == "red":
                res = rec.feedback(f"click-{clicks}", resp.slate_id, it.product.id, "click")
                assert res.policy_updated
                clicks += 1
    assert rec.policy_updates == 2

    after = _visitors_red(rec, "after", seeds)
    print(f"{policy}: red of 5 per new visitor before {before}, after {after}")
    assert max(after) < 5, after
    assert sum(after) <= sum(before) + len(seeds), (before, after)

    # ...while alice's own slates follow her clicks (her state holds her history)
    mine = [_red(rec.recommend("alice", "jacket", k=10, rng=np.random.default_rng(s)))
            for s in seeds]
    theirs = [_red(rec.recommend(f"other-{s}", "jacket", k=10, rng=np.random.default_rng(s)))
              for s in seeds]
    print(f"{policy}: red of 10 for 'jacket': alice {mine}, new shoppers {theirs}")
    assert sum(mine) > sum(theirs)
