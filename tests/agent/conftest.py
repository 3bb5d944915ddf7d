"""Fixtures of the agent tests: small product tables and fake chat models (langchain-core fakes)."""

from __future__ import annotations

import pytest

from agent.products import ProductView

COLOURS = ["black", "red", "blue", "green", "white", "brown", "grey", "navy", "pink", "beige",
           "black", "red", "blue", "green", "white", "brown", "grey", "navy", "pink", "beige"]
MATERIALS = ["leather", "cotton", "wool", "canvas", "nylon"]
CATS = ["bags", "shoes", "jackets", "hats"]


def make_products(n: int) -> list[ProductView]:
    return [ProductView(id=f"p{i}", title=f"{COLOURS[i % 20].title()} "
                        f"{MATERIALS[i % 5]} {CATS[i % 4][:-1]}", category=CATS[i % 4],
                        price=float(20 + 10 * i), currency="USD",
                        attributes={"colour": COLOURS[i % 20], "material": MATERIALS[i % 5]},
                        description="A well made item.") for i in range(n)]


@pytest.fixture
def products() -> list[ProductView]:
    return make_products(5)
