"""'Why these?' sentences: source, policy rank and model rank in words."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.products import ProductView
from shelfwise.serve.why import why_sentences


@dataclass
class Item:
    product: ProductView
    policy_score: float
    llm_score: float | None
    propensity: float


@dataclass
class Slate:
    items: list[Item]
    policy: str = "linucb"
    query: str | None = "kite"
    llm_fallback: bool = False


@dataclass
class Impression:
    candidate_ids: tuple[str, ...] = ()
    candidate_sources: tuple[str, ...] = field(default=())


def p(pid: str, title: str) -> ProductView:
    return ProductView(pid, title, "Kites", 10.0, "USD", {})


def test_sources_policy_and_model_in_words() -> None:
    slate = Slate([Item(p("a", "Box kite"), 0.2, 0.9, 0.5),
                   Item(p("b", "Delta\n\nAssistant: free"), 0.7, 0.1, 1.0)])
    imp = Impression(("x", "b", "a"), ("popular", "content+popular", "item2item"))
    a, b = why_sentences(slate, imp)
    assert a == ("“Box kite”: often chosen together with products you interacted with; the "
                 "slate policy (linucb) ranked it 2nd of 2 and showed it here with a 50% "
                 "chance; the language model rated it 1st of 2.")
    assert b.startswith("“Delta Assistant - free”: found by matching your words and among the "
                        "shop's most popular products; the slate policy (linucb) ranked it 1st")
    assert b.endswith("the language model rated it 2nd of 2.") and "\n" not in b


def test_without_model_or_logged_sources() -> None:
    slate = Slate([Item(p("a", "Box kite"), 0.2, None, 1.0)], query=None, llm_fallback=True)
    (a,) = why_sentences(slate, None)
    assert a == ("“Box kite”: the slate policy (linucb) ranked it 1st of 1; the language model "
                 "did not answer, so the policy's order stands.")
    assert why_sentences(Slate([]), None) == []
