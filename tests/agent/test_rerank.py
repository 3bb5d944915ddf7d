"""Reranker logic with langchain-core's FakeListChatModel (deterministic, offline)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
from langchain_core.language_models import FakeListChatModel

from agent.rerank import (
    Reranker,
    parse_ranking,
    plackett_luce_propensities,
    sample_order,
    zscore,
)
from encoders.errors import ConfigError
from tests.agent.conftest import make_products


class Boom(FakeListChatModel):
    """A fake chat model whose every call raises."""

    def _call(self, *args: Any, **kwargs: Any) -> str:
        raise RuntimeError("backend down")


class FakeScorer(FakeListChatModel):
    """A fake with next_token_logprobs (score mode); records the messages it saw."""

    logprobs: dict[str, float] = {}
    seen: list[Any] = []

    def next_token_logprobs(self, messages: Any, candidates: list[str]) -> dict[str, float]:
        self.seen.append(messages)
        return {c: self.logprobs.get(c, -10.0) for c in candidates}


POL = np.array([3.0, 2.0, 1.0])


def test_generate_mode_reorders_and_blends() -> None:
    products = make_products(3)
    rr = Reranker(FakeListChatModel(responses=["C, B, A"]), mode="generate", blend_weight=1.0)
    res = rr.rerank("bags", "", products, POL, 3)
    assert not res.fallback and res.mode_used == "generate"
    assert res.order == [2, 1, 0]
    np.testing.assert_allclose(res.llm_scores, [1.0, 2.0, 3.0])
    assert res.prompt_hash and rr.stats.llm_calls == 1
    rr.rerank("bags", "", products, POL, 3)
    assert rr.stats.cache_hits == 1  # same prompt: the model is not asked again


def test_blend_weight_bounds_model_influence() -> None:
    products = make_products(3)
    rr = Reranker(FakeListChatModel(responses=["C, B, A"]), mode="generate", blend_weight=0.3)
    res = rr.rerank("q", "", products, POL, 3)
    np.testing.assert_allclose(res.scores, 0.7 * zscore(POL) + 0.3 * zscore(np.array([1, 2, 3])))
    assert res.order == [0, 1, 2]


@pytest.mark.parametrize(("answer", "reason"), [
    ("I think the red one is nicest!", "unparseable"),
    ("", "empty"),
    ("A, A, B", "duplicate_label"),
    ("A, B, Z", "unknown_label"),
    ("C, A", "partial_ranking"),
    ("Ranking: maybe A or B", "unparseable"),
])
def test_malformed_generations_fall_back(answer: str, reason: str,
                                         caplog: pytest.LogCaptureFixture) -> None:
    rr = Reranker(FakeListChatModel(responses=[answer]), mode="generate")
    with caplog.at_level(logging.WARNING, logger="agent.rerank"):
        res = rr.rerank("q", "", make_products(3), POL, 2)
    assert res.fallback and res.fallback_reason == reason
    assert res.order == [0, 1] and res.llm_scores is None
    assert rr.stats.fallbacks[reason] == 1
    assert reason in caplog.text


def test_exception_and_timeout_fall_back() -> None:
    res = Reranker(Boom(responses=["x"]), mode="generate").rerank("q", "", make_products(3), POL, 3)
    assert res.fallback_reason == "error"
    slow = FakeListChatModel(responses=["C, B, A"], sleep=0.5)
    rr = Reranker(slow, mode="generate", timeout_s=0.05)
    res = rr.rerank("q", "", make_products(3), POL, 3)
    assert res.fallback_reason == "timeout" and res.order == [0, 1, 2]


def test_partial_completed_with_policy_order_when_asked() -> None:
    rr = Reranker(FakeListChatModel(responses=["C"]), mode="generate", complete_partial=True,
                  blend_weight=1.0)
    res = rr.rerank("q", "", make_products(3), POL, 3)
    assert not res.fallback and res.order == [2, 0, 1]


def test_parse_ranking_accepts_common_shapes() -> None:
    assert parse_ranking("Ranking: C > A > B.", ["A", "B", "C"]) == ["C", "A", "B"]
    assert parse_ranking("[b, a]\nbecause…", ["A", "B"]) == ["B", "A"]


def test_score_mode_uses_logprobs() -> None:
    model = FakeScorer(responses=["unused"])
    model.logprobs = {"A": -5.0, "B": -0.1, "C": -3.0}
    rr = Reranker(model, mode="auto", blend_weight=1.0)
    res = rr.rerank("q", "", make_products(3), POL, 3)
    assert res.mode_used == "score" and res.order == [1, 2, 0]
    model.logprobs = {"A": float("nan")}
    res = Reranker(model, mode="score").rerank("other", "", make_products(3), POL, 3)
    assert res.fallback_reason == "invalid_scores"


def test_score_mode_needs_logprobs() -> None:
    with pytest.raises(ConfigError, match="next_token_logprobs"):
        Reranker(FakeListChatModel(responses=["A"]), mode="score")
    assert Reranker(FakeListChatModel(responses=["A"])).resolved_mode == "generate"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"mode": "best"}, "unknown mode"), ({"blend_weight": 2.0}, "blend_weight"),
    ({"timeout_s": 0}, "timeout_s"), ({"max_candidates": 30}, "max_candidates"),
])
def test_bad_config(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Reranker(FakeListChatModel(responses=["A"]), **kwargs)


def test_bad_inputs() -> None:
    rr = Reranker(FakeListChatModel(responses=["A"]))
    with pytest.raises(ConfigError, match="policy_scores"):
        rr.rerank("q", "", make_products(3), np.zeros(2), 2)
    with pytest.raises(ConfigError, match="k must"):
        rr.rerank("q", "", make_products(3), POL, 0)
    assert rr.rerank("q", "", [], np.zeros(0), 3).order == []


def test_sampled_order_has_plackett_luce_propensities() -> None:
    blended = np.array([2.0, 1.0, 0.0, -1.0])
    order, props = sample_order(blended, 3, np.random.default_rng(0), temperature=0.5)
    assert len(set(order)) == 3
    np.testing.assert_allclose(props, plackett_luce_propensities(blended, order, 0.5))
    # first-position propensity is the softmax of the item
    soft = np.exp(blended / 0.5) / np.exp(blended / 0.5).sum()
    assert props[0] == pytest.approx(soft[order[0]])
    # empirical frequency of the top item matches its propensity
    rng = np.random.default_rng(1)
    firsts = [sample_order(blended, 1, rng, 0.5)[0][0] for _ in range(4000)]
    assert np.mean(np.array(firsts) == 0) == pytest.approx(soft[0], abs=0.03)
    rr = Reranker(FakeListChatModel(responses=["B, A, C"]), mode="generate")
    res = rr.rerank("q", "", make_products(3), POL, 2, rng=np.random.default_rng(0))
    assert res.propensities.shape == (2,) and np.all((res.propensities > 0)
                                                     & (res.propensities <= 1))
    with pytest.raises(ConfigError, match="temperature"):
        sample_order(blended, 2, np.random.default_rng(0), temperature=0)


def test_more_candidates_than_shown() -> None:
    model = FakeScorer(responses=["unused"])
    model.logprobs = {"A": -1.0}
    rr = Reranker(model, mode="score", max_candidates=4)
    res = rr.rerank("q", "", make_products(8), np.arange(8, dtype=float), 8)
    assert sorted(res.order) == list(range(8))
