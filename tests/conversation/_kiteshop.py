"""A small shop that is not the demo store (kites, teapots, lamps) behind a faithful fake
``ShopTools``: it applies every hard constraint of an intent the way the workspace shop does
(categories, price bounds, exclusions by the product's facts, excluded ids, "more like"
anchors ranked by shared facts), so the expectations below can be checked by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.assistant import ShoppingAssistant, violates
from agent.intent import Intent, IntentVocab
from agent.products import ProductView


def kite_products() -> list[ProductView]:
    """12 products, prices by hand: kites 15..70, teapots 22..58, lamps 30..90."""
    rows = [
        ("k1", "Skylark delta kite", "Kites", 15.0, "red", "nylon"),
        ("k2", "Gale box kite", "Kites", 25.0, "blue", "polyester"),
        ("k3", "Zephyr diamond kite", "Kites", 35.0, "red", "polyester"),
        ("k4", "Nimbus parafoil kite", "Kites", 45.0, "olive green", "nylon"),
        ("k5", "Cirrus stunt kite", "Kites", 55.0, "blue", "nylon"),
        ("k6", "Tempest sled kite", "Kites", 70.0, "olive green", "polyester"),
        ("t1", "Ming round teapot", "Teapots", 22.0, "blue", "porcelain"),
        ("t2", "Kyoto cast teapot", "Teapots", 40.0, "black", "iron"),
        ("t3", "Brew glass teapot", "Teapots", 58.0, "clear", "glass"),
        ("l1", "Halo desk lamp", "Lamps", 30.0, "red", "steel"),
        ("l2", "Arc floor lamp", "Lamps", 90.0, "black", "steel"),
        ("l3", "Dune table lamp", "Lamps", 48.0, "olive green", "ceramic"),
    ]
    return [ProductView(pid, title, cat, price, "USD", {"colour": colour, "material": mat},
                        description=f"A {colour} {mat} {title.split()[-1]}.")
            for pid, title, cat, price, colour, mat in rows]


def kite_vocab() -> IntentVocab:
    """The shop's words, as ``shelfwise.vocabulary`` would build them from these products."""
    return IntentVocab({"Kites": ("kite",), "Teapots": ("teapot",), "Lamps": ("lamp",)},
                       frozenset({"red", "blue", "olive green", "black", "clear"}),
                       frozenset({"nylon", "polyester", "porcelain", "iron", "glass", "steel",
                                  "ceramic"}))


@dataclass
class Slate:
    slate_id: str
    products: list[ProductView]
    policy_scores: list[float]


@dataclass
class KiteShop:
    """``ShopTools`` over :func:`kite_products`; the "policy" orders by price, cheapest first."""

    items: list[ProductView] = field(default_factory=kite_products)
    intents: list[Intent] = field(default_factory=list)
    recorded: list[tuple[str, str, str]] = field(default_factory=list)

    def _ok(self, intent: Intent, p: ProductView) -> bool:
        if intent.categories and p.category not in intent.categories:
            return False
        return violates(intent, p) is None

    def search(self, intent: Intent, k: int) -> list[tuple[ProductView, float]]:
        return [(p, 1.0) for p in self.items if self._ok(intent, p)][:k]

    def recommend(self, conversation_id: str, intent: Intent, k: int, *,
                  user_id: str | None = None) -> Slate:
        self.intents.append(intent)
        ok = [p for p in self.items if self._ok(intent, p)]
        if intent.similar_to:
            anchor = next(p for p in self.items if p.id == intent.similar_to)
            shared = lambda p: sum(p.attributes[a] == anchor.attributes[a]  # noqa: E731
                                   for a in ("colour", "material"))
            ok.sort(key=lambda p: (-shared(p), abs(p.price - anchor.price)))
        else:
            ok.sort(key=lambda p: p.price)
        ok = ok[:k]
        return Slate(f"s{len(self.intents)}", ok, [float(k - i) for i in range(len(ok))])

    def details(self, product_id: str) -> ProductView | None:
        return next((p for p in self.items if p.id == product_id), None)

    def compare(self, ids: Any) -> str:
        return ", ".join(ids)

    def record(self, slate_id: str, product_id: str, kind: str) -> None:
        self.recorded.append((slate_id, product_id, kind))


def kite_assistant(k: int = 3, **kw: Any) -> tuple[ShoppingAssistant, KiteShop]:
    shop = KiteShop()
    return ShoppingAssistant(shop, vocab=kite_vocab(), k=k, **kw), shop
