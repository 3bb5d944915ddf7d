"""Recommender on the demo store with fake chat models (no real language model is loaded).

The fakes stand in for SmolLM2: ``FakeScorer`` implements score mode (``next_token_logprobs``)
with fixed log-probabilities; ``FakeListChatModel`` (langchain-core) answers generate-mode and
reason prompts from a list.
"""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.language_models import FakeListChatModel

from agent.explain import Explainer
from agent.policy import make_policy
from agent.rerank import Reranker
from shelfwise.errors import ConfigError
from shelfwise.recommender import Recommender, UnknownSlateError


class FakeScorer(FakeListChatModel):
    """Score mode: label ``A`` gets the highest log-probability, then ``B``… (deterministic)."""

    def next_token_logprobs(self, messages, candidates):
        return {c: -0.5 * i for i, c in enumerate(candidates)}


class BrokenScorer(FakeListChatModel):
    def next_token_logprobs(self, messages, candidates):
        raise RuntimeError("model crashed")


def _rec(world, reranker=None, **kw):
    engine, store = world
    return Recommender(engine, make_policy("linucb", dim=engine.dim, seed=0), store, reranker,
                       n_candidates=30, **kw)


def test_slate_logged_with_propensities_and_prompt_hash(world):
    rec = _rec(world, Reranker(FakeScorer(responses=["x"]), mode="score"), llm_weight=0.5)
    resp = rec.recommend("u1", "black leather bag", k=5, rng=np.random.default_rng(0))
    assert resp.slate_id and len(resp.items) == 5 and resp.reranked and not resp.llm_fallback
    assert resp.prompt_hash
    imp = world[1].impression(resp.slate_id)
    assert imp.item_ids == tuple(it.product.id for it in resp.items)
    assert imp.prompt_hash == resp.prompt_hash
    props = np.array(imp.propensities)
    assert np.all((props > 0) & (props <= 1))
    assert all(it.llm_score is not None for it in resp.items)
    assert [it.position for it in resp.items] == list(range(5))
    assert all(it.reason for it in resp.items)


def test_llm_scores_read_by_item_position(world):
    """With weight 1 and a near-greedy temperature the model's favourite (label A) leads."""
    rec = _rec(world, Reranker(FakeScorer(responses=["x"]), mode="score"), llm_weight=1.0,
               temperature=0.01)
    resp = rec.recommend("u1", "wool sweater", k=5, rng=np.random.default_rng(1))
    llm = [it.llm_score for it in resp.items]
    assert llm == sorted(llm, reverse=True)


def test_rerank_fallback_is_counted_and_serves_policy_order(world):
    rec = _rec(world, Reranker(BrokenScorer(responses=["x"]), mode="score"))
    resp = rec.recommend("u2", "red dress", k=4, rng=np.random.default_rng(0))
    assert resp.llm_fallback and not resp.reranked and resp.prompt_hash is None
    assert rec.llm_fallbacks == 1
    assert all(it.llm_score is None for it in resp.items)
    assert world[1].impression(resp.slate_id).prompt_hash is None


def test_generate_mode_garbage_falls_back(world):
    rec = _rec(world, Reranker(FakeListChatModel(responses=["I like them all"]), mode="generate"))
    resp = rec.recommend("u3", "hat", k=3, rng=np.random.default_rng(0))
    assert resp.llm_fallback and rec.llm_fallbacks == 1


def test_explainer_reasons_and_template_fallbacks_counted(world):
    # one grounded-or-not line for A only: every other product gets a template reason
    model = FakeListChatModel(responses=["A: Bright purple silk beauty at $1.00."])
    rec = _rec(world, explainer=Explainer(model, capable=True))
    resp = rec.recommend("u4", "leather bag", k=4, rng=np.random.default_rng(0))
    assert all(it.reason for it in resp.items)
    assert rec.reason_fallbacks == 4  # A was ungrounded (purple, $1.00), B-D missing
    assert {it.reason_source for it in resp.items} == {"template"}


def test_feedback_idempotent_and_updates_policy(world):
    rec = _rec(world)
    resp = rec.recommend("u5", "canvas backpack", k=5, rng=np.random.default_rng(0))
    pid = resp.items[1].product.id
    before = rec.policy.score(*_ctx(rec, resp.slate_id))
    first = rec.feedback("ev-1", resp.slate_id, pid, "click")
    again = rec.feedback("ev-1", resp.slate_id, pid, "click")
    assert first.new and first.policy_updated and first.position == 1
    assert not again.new and not again.policy_updated
    assert rec.policy_updates == 1
    assert len(world[1].clicks(resp.slate_id)) == 1
    after = rec.policy.score(*_ctx(rec, resp.slate_id))
    assert not np.allclose(before, after)
    assert rec.history("u5") == [pid]
    buy = rec.feedback("ev-2", resp.slate_id, pid, "purchase")
    assert buy.new and buy.value == pytest.approx(resp.items[1].product.price)


def _ctx(rec, slate_id):
    ctx = rec._contexts[slate_id]
    return ctx.state, ctx.candidates


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"kind": "view"}, ConfigError, "kind must be"),
    ({"product_id": "p1999"}, ConfigError, "was not shown"),
    ({"slate_id": "nope"}, UnknownSlateError, "unknown slate_id"),
    ({"quantity": 0, "kind": "purchase"}, ConfigError, "quantity"),
])
def test_feedback_bad_input(world, kwargs, error, match):
    rec = _rec(world)
    resp = rec.recommend("u6", "scarf", k=3, rng=np.random.default_rng(0))
    args = {"event_id": "e", "slate_id": resp.slate_id, "product_id": resp.items[0].product.id,
            "kind": "click"}
    shown = {it.product.id for it in resp.items}
    if kwargs.get("product_id") in shown:
        pytest.skip("product happened to be shown")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        rec.feedback(**args)


def test_similar_to_excludes_anchor(world):
    rec = _rec(world)
    resp = rec.recommend("u7", None, k=5, rng=np.random.default_rng(0), similar_to="p0010")
    assert "p0010" not in {it.product.id for it in resp.items}
