"""Small catalogs of shops that are not the demo store (outdoor gear, kitchen goods)."""

from __future__ import annotations

from itertools import product as cross

from shelfwise.catalog import CatalogStore, Product
from shelfwise.workspace import Workspace


def outdoor_products() -> list[Product]:
    """An outdoor-gear shop: 3 categories, colour / fabric / kind / brand / feature attributes."""
    out: list[Product] = []
    kinds = {"Rain jackets": ["shell jacket", "poncho"], "Tents": ["dome tent", "tunnel tent"],
             "Backpacks": ["daypack", "trekking pack"]}
    base = {"Rain jackets": 90.0, "Tents": 150.0, "Backpacks": 40.0}
    i = 0
    for category, names in kinds.items():
        for kind, colour, fabric in cross(names, ["red", "olive green", "black"],
                                          ["nylon", "polyester"]):
            i += 1
            out.append(Product(
                id=f"o{i:03d}", title=f"{colour.title()} {kind}", category=category,
                description=f"A {fabric} {kind} for the trail.", price=base[category] + 7 * i,
                attributes={"Colour": colour, "Fabric": fabric, "kind": kind,
                            "brand": ["Summit Co", "Ridge"][i % 2],
                            "feature": "waterproof" if category != "Backpacks" else "padded",
                            "gtin": f"0001234{i:05d}", "size": str(30 + i % 3)}))
    out.append(Product(id="o999", title="Lone tarp", category="Tents", price=25.0,
                       description="One of a kind.", attributes={"kind": "tarp shelter"}))
    return out


def kitchen_products() -> list[Product]:
    """A kitchen shop: no jackets anywhere, colours only in titles."""
    out: list[Product] = []
    items = {"Cookware": ["frying pan", "saucepan", "stock pot"],
             "Knives": ["chef knife", "paring knife", "bread knife"],
             "Tableware": ["dinner plate", "mug", "bowl"]}
    i = 0
    for category, names in items.items():
        for name, colour in cross(names, ["red", "black", "white"]):
            i += 1
            out.append(Product(id=f"k{i:03d}", title=f"{colour.title()} {name}",
                               category=category, price=10.0 + 5 * i,
                               description=f"A {name} for every kitchen.",
                               attributes={"material": ["steel", "ceramic"][i % 2]}))
    return out


def make_workspace(root, products: list[Product], toml: str | None = None) -> Workspace:
    """A workspace holding ``products`` (no index) and optionally a ``shelfwise.toml``."""
    ws = Workspace.resolve(root).ensure()
    store = CatalogStore(ws.catalog_db)
    try:
        store.upsert(products)
    finally:
        store.close()
    if toml is not None:
        ws.config_file.write_text(toml, encoding="utf-8")
    return ws
