"""The "why these?" of a slate in words: source, policy and model per product.

One sentence per product of a served slate, for people rather than for dashboards:

    “Olive rain shell”: found by matching your words and among the shop's most popular;
    the slate policy (linucb) ranked it 2nd of 5; the language model rated it 3rd of 5.

Sources come from the impression log (``candidate_sources``, see :mod:`shelfwise.candidates`);
without them the sentence says nothing about sources rather than guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.display import quote

__all__ = ["SOURCE_WORDS", "why_sentences"]

SOURCE_WORDS = {
    "content": ("matching your words", "close in content to what you looked at"),
    "behaviour": ("shoppers with a history like yours went on to it",) * 2,
    "item2item": ("often chosen together with products you interacted with",) * 2,
    "popular": ("among the shop's most popular products",) * 2,
}
"""How each candidate source is said: (with a query, without one)."""


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _ranks(values: Sequence[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0] * len(values)
    for r, i in enumerate(order, start=1):
        ranks[i] = r
    return ranks


def item_sources(impression: Any, product_ids: Sequence[str]) -> list[list[str]]:
    """The candidate sources that found each product (empty lists when not logged)."""
    ids = getattr(impression, "candidate_ids", None) or ()
    labels = getattr(impression, "candidate_sources", None) or ()
    where = {pid: i for i, pid in enumerate(ids)}
    out = []
    for pid in product_ids:
        i = where.get(pid)
        out.append([s for s in labels[i].split("+") if s] if i is not None and i < len(labels)
                   else [])
    return out


def why_sentences(slate: Any, impression: Any = None) -> list[str]:
    """One plain sentence per item of a served slate.

    Args:
        slate: the :class:`~shelfwise.recommender.RecommendResponse` (items in served order,
            with policy and model scores).
        impression: its logged impression (for the candidate sources), or None.

    Returns:
        Sentences in served order.
    """
    items = list(slate.items)
    n = len(items)
    if not n:
        return []
    sources = item_sources(impression, [it.product.id for it in items])
    pol_rank = _ranks([float(it.policy_score) for it in items])
    scored = [it.llm_score for it in items]
    llm_rank = _ranks([float(s) for s in scored]) if all(s is not None for s in scored) else None
    has_query = bool(getattr(slate, "query", None))
    out = []
    for i, it in enumerate(items):
        found = [SOURCE_WORDS[s][0 if has_query else 1] for s in sources[i] if s in SOURCE_WORDS]
        parts = []
        if found:
            parts.append("found by " + " and ".join(found) if found[0].startswith("matching")
                         else " and ".join(found))
        parts.append(f"the slate policy ({slate.policy}) ranked it {_ordinal(pol_rank[i])} of {n}"
                     + (f" and showed it here with a {float(it.propensity):.0%} chance"
                        if float(it.propensity) < 0.995 else ""))
        if llm_rank is not None:
            parts.append(f"the language model rated it {_ordinal(llm_rank[i])} of {n}")
        elif getattr(slate, "llm_fallback", False):
            parts.append("the language model did not answer, so the policy's order stands")
        else:
            parts.append("no language model scored it")
        out.append(f"{quote(it.product.title, 80)}: " + "; ".join(parts) + ".")
    return out
