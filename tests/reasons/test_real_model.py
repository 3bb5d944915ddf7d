"""The real default model (SmolLM2-135M GGUF, one thread) chooses facts; every reason holds."""

from __future__ import annotations

import pytest

from agent.claims import check_claims
from agent.explain import Explainer
from agent.facts import HistoryItem, ShopperContext


@pytest.mark.llm
def test_real_model_chooses_facts_and_claims_hold(outdoor) -> None:  # type: ignore[no-untyped-def]
    from agent.llm import LlamaCppChatModel

    model = LlamaCppChatModel(n_threads=1)
    shopper = ShopperContext.of("light tent for backpacking", budget=300.0,
                                history=[HistoryItem(outdoor[6], "bought")], key="u1")
    ex = Explainer(model, llm_top=2)
    out = ex.explain_many(shopper.query, outdoor[:3], shopper=shopper)
    assert [e.source for e in out] == ["chosen", "chosen", "template"]
    assert ex.stats.chosen_used == 2 and ex.stats.rejected["not_asked"] == 1
    for e, p in zip(out, outdoor[:3], strict=True):
        assert check_claims(e.text, p, shopper) == [], e.text
    # greedy scoring: the same request reads the same
    again = Explainer(model, llm_top=2).explain_many(shopper.query, outdoor[:3], shopper=shopper)
    assert [e.text for e in again] == [e.text for e in out]
