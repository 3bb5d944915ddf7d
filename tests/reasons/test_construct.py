"""Constructed reasons: only facts, personal where the context allows, varied and stable."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from langchain_core.language_models import FakeListChatModel

from agent.claims import check_claims
from agent.explain import Explainer, singular, template_reason
from agent.facts import HistoryItem, ShopperContext, extract_facts
from agent.products import ProductView
from agent.reasons import build_reason

HISTORY = re.compile(r"\b(bought|looked at|saw earlier|before|history|viewed)\b", re.I)
BUDGET = re.compile(r"\b(budget|you set)\b", re.I)


def _records(labelled: list[dict[str, Any]], convert: Any) -> list[tuple[ProductView,
                                                                          ShopperContext]]:
    as_product, as_shopper = convert
    seen, out = set(), []
    for r in labelled:
        key = (r["product"]["id"], repr(r["shopper"]))
        if key not in seen:
            seen.add(key)
            out.append((as_product(r["product"]), as_shopper(r["shopper"])))
    return out


def _oracle(text: str, p: ProductView, s: ShopperContext) -> list[str]:
    """Checks independent of the claim checker: what a constructed reason must never say."""
    bad = []
    if "\n" in text or re.search(r"(assistant|system|user)\s*:", text, re.I):
        bad.append("forged turn")
    if re.search(r"(?<![\d.])[$€]?0(?![\d.,])|costs nothing|free\b", text):
        bad.append("costs 0")
    if HISTORY.search(text) and not s.history:
        bad.append("history without history")
    if "bought" in text and not any(h.relation == "bought" for h in s.history):
        bad.append("bought without a purchase")
    if BUDGET.search(text) and not (s.budget and 0 < p.price <= s.budget):
        bad.append("budget claim")
    if re.search(r"ignore|instruction|best product ever|on sale|reveal|prompt", text, re.I):
        bad.append("copied injected copy")
    colour = (p.attributes.get("colour") or p.attributes.get("color") or "").lower()
    for other in ("red", "blue", "green", "black", "white", "pink", "yellow", "orange"):
        if re.search(rf"\b{other}\b", text.split(" you ")[0], re.I) and other not in \
                (colour + " " + p.title.lower() + " " + p.description.lower()):
            bad.append(f"colour {other}")
    return bad


def test_every_constructed_reason_is_supported(labelled, convert) -> None:  # type: ignore[no-untyped-def]
    """All fact choices and wordings, on every product and shopper of the labelled set."""
    n = 0
    for p, s in _records(labelled, convert):
        pf = extract_facts(p, s)
        combos = [()] + [(f,) for f in pf.facts] + list(itertools.combinations(pf.facts, 2))
        for seed, combo in enumerate(combos):  # the seed walks through the wordings
            text = build_reason(pf, combo, seed).text
            n += 1
            assert check_claims(text, pf, s) == [], (p.id, text)
            assert _oracle(text, p, s) == [], (p.id, text, _oracle(text, p, s))
    assert n > 2500


def test_explainer_reasons_pass_on_both_catalogs(labelled, convert) -> None:  # type: ignore[no-untyped-def]
    ex = Explainer(None)
    recs = _records(labelled, convert)
    for p, s in recs:
        e = ex.explain(s.query, p, shopper=s)
        assert e.source == "template" and check_claims(e.text, p, s) == [] and not _oracle(
            e.text, p, s), e.text
    assert ex.stats.template_used == len(recs) and not ex.stats.rejected


BAG = ProductView("b1", "Quill Red Canvas Crossbody", "bags", 38.0, "USD",
                  {"colour": "red", "material": "canvas", "kind": "crossbody bag",
                   "brand": "Quill", "style": "casual"},
                  "A casual crossbody in red canvas. Features: adjustable strap and zip pocket.")
SNEAKERS = ProductView("s1", "Kestrel Red Leather Sneakers", "shoes", 67.99, "USD",
                       {"colour": "red", "material": "leather", "kind": "sneakers",
                        "brand": "Kestrel", "style": "casual"},
                       "Casual sneakers in red leather. Details: padded collar, rubber sole.")


def test_budget_reason_only_when_really_under_budget() -> None:
    text = Explainer(None).explain("bag", BAG, shopper=ShopperContext(budget=50.0)).text
    assert re.search(r"\$12 (under|of|below) (your|the) \$50", text), text
    for budget in (None, 30.0, 0.0):
        text = Explainer(None).explain("bag", BAG, shopper=ShopperContext(budget=budget)).text
        assert not BUDGET.search(text), text
    # a made-up free product: budget 0, the $67.99 sneakers never "cost 0"
    text = Explainer(None).explain("free unicorn sneakers that cost nothing", SNEAKERS,
                                   shopper=ShopperContext(budget=0.0)).text
    assert "$67.99" in text and not re.search(r"\b0\b|costs", text)
    free = ProductView("f", "Sample", "stoves", 0.0, "EUR", {}, "Free sample.")
    assert "€0" not in template_reason("sample", free) and "0" not in template_reason(None, free)


def test_history_is_mentioned_only_when_it_exists() -> None:
    bought = ShopperContext.of("shoes", history=[HistoryItem(BAG, "bought")], key="u1")
    text = Explainer(None).explain("shoes", SNEAKERS, shopper=bought).text
    assert "Quill crossbody bag you bought" in text and "red" in text
    viewed = ShopperContext.of("shoes", history=[BAG], key="u1")
    assert "looked at" in Explainer(None).explain("shoes", SNEAKERS, shopper=viewed).text
    for summary in (None, "a new shopper with no history", "recently looked at: Quill bag"):
        for e in Explainer(None).explain_many(None, [SNEAKERS, BAG], summary):
            assert not HISTORY.search(e.text), e.text


def test_wording_is_stable_and_varied_across_a_slate(outdoor) -> None:  # type: ignore[no-untyped-def]
    shopper = ShopperContext(query="light gear for a hike", budget=150.0, key="u7")
    a = Explainer(None).explain_many(shopper.query, outdoor[:10], shopper=shopper)
    b = Explainer(None).explain_many(shopper.query, outdoor[:10], shopper=shopper)
    assert [e.text for e in a] == [e.text for e in b]
    assert len({e.wording for e in a}) >= 7
    assert len({e.text.split(" ")[0] for e in a}) >= 2  # not every reason opens alike


def test_product_text_is_data(outdoor) -> None:  # type: ignore[no-untyped-def]
    by_id = {p.id: p for p in outdoor}
    for pid in ("o39", "o41"):
        for pos in range(6):
            e = Explainer(None).explain("carabiner", by_id[pid], position=pos)
            assert not _oracle(e.text, by_id[pid], ShopperContext()), e.text
            assert "\n" not in e.text and "Assistant" not in e.text and "Buy" not in e.text


def test_singular_uses_inflect() -> None:
    assert [singular(w) for w in ("scarves", "knives", "dresses", "bags", "canvas", "Shoes",
                                  "glasses")] == ["scarf", "knife", "dress", "bag", "canvas",
                                                  "shoe", "glass"]


class _Scorer(FakeListChatModel):
    """A fake with ``next_token_logprobs``: a bias for "A", plus a preference per fact kind."""

    prefer: dict[str, float] = {}

    def next_token_logprobs(self, messages, candidates):  # noqa: ANN001, ANN201
        out = {c: -3.0 for c in candidates}
        out["A"] = -1.0  # a letter bias, the same on the content-free prompt
        for line in str(messages[-1].content).splitlines():
            m = re.match(r"([A-J])\) (.*)", line)
            for word, score in self.prefer.items():
                if m and word in m.group(2):
                    out[m.group(1)] = score
        return out


def test_model_chooses_the_facts() -> None:
    model = _Scorer(responses=["unused"], prefer={"budget": 0.0, "zip pocket": -2.5})
    ex = Explainer(model)
    e = ex.explain("bag", BAG, shopper=ShopperContext(budget=50.0))
    assert e.source == "chosen" and ex.stats.chosen_used == 1
    assert e.facts[0].startswith("budget") and e.facts[1] == "feature: zip pocket", e.facts
    assert check_claims(e.text, BAG, ShopperContext(budget=50.0)) == []


def test_letter_bias_is_calibrated_away() -> None:
    """Raw scores favour "A" (the budget); against the content-free prompt the feature wins."""
    model = _Scorer(responses=["unused"], prefer={"zip pocket": -2.0})
    e = Explainer(model, facts_per_reason=1).explain("bag", BAG,
                                                     shopper=ShopperContext(budget=50.0))
    assert e.facts == ("feature: zip pocket",)


@pytest.mark.parametrize(("answer", "first"), [("C", "feature"), ("D, B", "style"),
                                               ("A lovely bag.", "query")])
def test_chat_models_without_scores_answer_letters(answer: str, first: str) -> None:
    ex = Explainer(FakeListChatModel(responses=[answer]))
    e = ex.explain("red bag", BAG)
    assert e.source == "chosen" and e.facts[0].startswith(first), e.facts


def test_llm_top_and_errors_fall_back_to_the_default_choice() -> None:
    class Broken(FakeListChatModel):
        def invoke(self, *a, **k):  # noqa: ANN002, ANN003, ANN201
            raise RuntimeError("down")

    ex = Explainer(Broken(responses=["x"]), llm_top=1)
    a, b = ex.explain_many("red bag", [BAG, SNEAKERS])
    assert (a.source, b.source) == ("template", "template")
    assert ex.stats.rejected == {"error": 1, "not_asked": 1}


def test_capable_model_free_text_is_claim_checked() -> None:
    ex = Explainer(FakeListChatModel(responses=["It has a removable waterproof lining."]),
                   capable=True)
    e = ex.explain("bag", BAG)
    assert e.source in ("chosen", "template") and "lining" not in e.text
    assert ex.stats.rejected["unsupported"] == 1 and any("lining" in p for p in e.problems)
    ok = Explainer(FakeListChatModel(responses=["A red canvas crossbody with a zip pocket."]),
                   capable=True)
    assert ok.explain("bag", BAG).source == "llm" and ok.stats.llm_used == 1
    assert ok.stats.model_share == 1.0


def test_recommender_template_reason_states_no_history() -> None:
    from shelfwise.recommender import template_reason as recommender_reason

    for query in (None, "bag"):
        text = recommender_reason(BAG, query)
        assert not HISTORY.search(text) and "$38" in text, text
