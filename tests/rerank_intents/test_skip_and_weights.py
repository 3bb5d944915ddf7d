"""The score call is skipped at weight 0; the weight is chosen off-policy on the shop's logs."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from shelfwise.errors import ConfigError
from shelfwise.evaluate.rerank_weights import (
    dcg_examination,
    evaluate_rerank_weights,
    parse_weights,
    reorder_value,
)
from shelfwise.events import Click, Impression, SQLiteEventStore

RERANK_MARK = "Pick the product that best fits the shopper."  # first line of rerank_score.txt


class CountingScorer(FakeListChatModel):
    """Test double of a score-mode chat model that counts its rerank score calls.

    ``next_token_logprobs`` is what the reranker's score mode calls; prompts that are not the
    rerank prompt (e.g. the explainer choosing facts) are counted apart.
    """

    score_calls: int = 0
    other_calls: int = 0
    prefer_last: bool = True

    def next_token_logprobs(self, messages, candidates):
        if RERANK_MARK in str(messages[-1].content):
            self.score_calls += 1
        else:
            self.other_calls += 1
        sign = 1.0 if self.prefer_last else -1.0
        return {c: sign * 0.5 * i - 5.0 for i, c in enumerate(candidates)}


def test_weight_zero_makes_no_score_call_unless_scores_are_asked_for(demo_copy):
    from shelfwise.config import LLMConfig
    from shelfwise.shop import open_assistant

    model = CountingScorer(responses=["A: fine."] * 50)
    assistant = open_assistant(demo_copy, chat_model=model, k=4,
                               llm_config=LLMConfig(rerank_weight=0.0))
    reply = assistant.respond("c1", "something for a rainy hike")
    assert reply.products
    assert model.score_calls == 0  # skipped entirely: weight 0, nobody asked for scores
    resp = assistant.tools.last_response("c1")
    assert not resp.reranked and not resp.llm_fallback and resp.prompt_hash is None
    assert assistant.tools.llm_stats()["score_call"] is False

    asked = CountingScorer(responses=["A: fine."] * 50)
    assistant = open_assistant(demo_copy, chat_model=asked, k=4,
                               llm_config=LLMConfig(rerank_weight=0.0, always_score=True))
    assistant.respond("c2", "something for a rainy hike")
    assert asked.score_calls == 1  # always_score: the model's scores are computed (and logged)
    resp = assistant.tools.last_response("c2")
    assert resp.reranked and all(it.llm_score is not None for it in resp.items)


# -- the position-based estimate -------------------------------------------------------------

def test_reorder_value_moves_clicks_with_their_items():
    theta = dcg_examination(3)
    r = np.array([0.0, 0.0, 1.0])  # the item in the last slot was clicked
    pos, s = np.array([0, 1, 2]), np.array([3.0, 2.0, 1.0])
    assert reorder_value(r, pos, s, np.zeros(3), 0.0, theta) == pytest.approx(1.0)
    # the model puts the clicked item first: its click is worth theta(0) / theta(2)
    up = reorder_value(r, pos, s, np.array([0.0, 0.0, 9.0]), 1.0, theta)
    assert up == pytest.approx(theta[0] / theta[2])
    down = reorder_value(np.array([1.0, 0, 0]), pos, s, np.array([0.0, 0.0, 9.0]), 1.0, theta)
    assert down == pytest.approx(theta[1] / theta[0])


def test_parse_weights_adds_zero_and_sorts():
    assert parse_weights("1, 0.25,0.5") == [0.0, 0.25, 0.5, 1.0]
    with pytest.raises(ConfigError, match="--rerank-weights: weight -1 is outside"):
        parse_weights("0,-1")


def _log(store: SQLiteEventStore, ids: list[str], n: int, clicked_slot: int,
         query: str | None = "a bag") -> None:
    for i in range(n):
        sid = uuid.uuid4().hex
        store.log_impression(Impression(
            event_id=uuid.uuid4().hex, slate_id=sid, user_id=f"u{i}", item_ids=tuple(ids),
            propensities=(1.0,) * len(ids), policy="greedy", policy_version="1",
            scores=tuple(float(len(ids) - j) for j in range(len(ids))), query=query,
            time=1000.0 + i))
        store.log_click(Click(event_id=uuid.uuid4().hex, slate_id=sid, user_id=f"u{i}",
                              product_id=ids[clicked_slot], position=clicked_slot,
                              time=1001.0 + i))


def _score_with(model: CountingScorer):
    from agent.rerank import Reranker

    rr = Reranker(model, mode="score", blend_weight=1.0, cache_size=0)

    def score(query, products, scores):
        res = rr.rerank(query, None, products, scores, len(products))
        return None if res.fallback else res.llm_scores
    return score


def _views(ids):
    from agent.products import ProductView

    return [ProductView(id=i, title=f"Product {i}", category="bags", price=10.0) for i in ids]


@pytest.mark.parametrize(("prefer_last", "chosen"), [(True, 1.0), (False, 0.0)])
def test_weight_chosen_from_logged_clicks(tmp_path, prefer_last, chosen):
    ids = ["a", "b", "c"]
    with SQLiteEventStore(tmp_path / "events.sqlite") as store:
        _log(store, ids, 30, clicked_slot=2)  # shoppers click what the policy put last
        _log(store, ids, 5, clicked_slot=0, query=None)  # no query: nothing for the model
        model = CountingScorer(responses=["x"], prefer_last=prefer_last)
        res = evaluate_rerank_weights(store, _views, _score_with(model), [0.5, 1.0],
                                      n_bootstrap=200, max_slates=100)
    assert res.n == 30 and res.skipped_no_query == 5 and res.fallbacks == 0
    assert model.score_calls == 30  # one score call per slate with a query
    assert [e.weight for e in res.estimates] == [0.0, 0.5, 1.0]
    base = res.estimates[0]
    assert base.value == pytest.approx(1.0) and base.delta == 0.0
    assert res.chosen == chosen
    if prefer_last:  # at 1 the model lifts the clicked item; at 0.5 the z-scores cancel
        assert res.estimates[2].delta_low > 0
        assert res.estimates[1].delta == pytest.approx(0.0)  # a tie keeps the logged order
    else:  # the model agrees with the policy: nothing to gain, no score call at serve time
        assert all(e.delta == pytest.approx(0.0) for e in res.estimates)


def test_no_slate_with_a_query_is_a_named_error(tmp_path):
    with SQLiteEventStore(tmp_path / "events.sqlite") as store:
        _log(store, ["a", "b"], 3, 0, query=None)
        with pytest.raises(ConfigError, match=r"no logged slate has a text query .*3 "
                                              "impressions without a query"):
            evaluate_rerank_weights(store, _views, lambda *a: None, [1.0])


def test_evaluate_cli_chooses_and_writes_the_weight(demo_copy, monkeypatch, capsys):
    import tomllib

    import shelfwise.llm_setup as setup
    from shelfwise.catalog import CatalogStore
    from shelfwise.cli import main
    from shelfwise.config import load_config

    cat = CatalogStore(demo_copy.catalog_db)
    ids = [cat.get(f"p000{i}").id for i in range(4)]
    cat.close()
    with SQLiteEventStore(demo_copy.events_db) as store:
        _log(store, ids, 25, clicked_slot=3, query="something for a rainy hike")
    model = CountingScorer(responses=["x"])
    # the double stands in for the configured model (no real LLM in this test)
    monkeypatch.setattr(setup, "open_chat_model", lambda cfg: model)
    before = (demo_copy.config_file).read_text()
    code = main(["evaluate", "--workspace", str(demo_copy.root), "--rerank-weights",
                 "0,0.25,0.5,1", "--write-config", "--json", "--n-bootstrap", "200"])
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["n"] == 25 and data["chosen"] > 0 and model.score_calls == 25
    assert data["written_to"] == str(demo_copy.config_file)
    text = demo_copy.config_file.read_text()
    assert text.startswith(before.rstrip("\n"))  # the shop's own lines are kept
    assert tomllib.loads(text)["llm"]["rerank_weight"] == data["chosen"]
    assert load_config(demo_copy.config_file).llm.rerank_weight == data["chosen"]
