"""A small non-demo shop written by the tests: kitchen goods and books, 60 products.

Seeded and deterministic. ``write_catalog`` writes a CSV with no image column (text-only),
or with local PNG images for the first ``n_images`` products (an image column with paths
relative to the CSV, the rest empty).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

MATERIALS = ["cast iron", "stainless steel", "copper", "enamel", "carbon steel"]
KNIFE_MATERIALS = ["stainless steel", "carbon steel", "damascus steel", "ceramic", "titanium"]
PANS = ["skillet", "saucepan", "dutch oven", "wok"]
KNIVES = ["chef knife", "bread knife", "paring knife", "santoku knife"]
MUG_COLOURS = ["blue", "green", "white", "black", "yellow"]
CUISINES = ["Italian", "Japanese", "Mexican", "Indian", "French"]
PLACES = ["Lisbon", "Kyoto", "Oaxaca", "Marrakesh", "Oslo"]
NOVEL_NOUNS = ["Lighthouse", "Orchard", "Cartographer", "Winter", "River"]

PER_CATEGORY = 10
CATEGORIES = ["cookware", "knives", "mugs", "cookbooks", "novels", "travel guides"]


def products(seed: int = 0) -> list[dict[str, str]]:
    """The 60 catalog rows as CSV-ready dicts (``id`` k0000..k0059)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, str]] = []

    def add(category: str, title: str, description: str, price: float, **attrs: str) -> None:
        row = {"id": f"k{len(rows):04d}", "title": title, "category": category,
               "description": description, "price": f"{price:.2f}",
               "in_stock": "true" if rng.random() > 0.1 else "false"}
        row.update({f"attr_{k}": v for k, v in attrs.items()})
        rows.append(row)

    for i in range(PER_CATEGORY):
        m, pan = MATERIALS[i % 5], PANS[i % 4]
        add("cookware", f"{m.title()} {pan.title()}",
            f"A {m} {pan} for searing, braising and everyday cooking.",
            25 + 8 * i + rng.integers(0, 5), material=m)
    for i in range(PER_CATEGORY):
        m, knife = KNIFE_MATERIALS[i % 5], KNIVES[i % 4]
        add("knives", f"{m.title()} {knife.title()}",
            f"A sharp {knife} with a {m} blade and a wooden handle.",
            30 + 6 * i + rng.integers(0, 5), material=m)
    for i in range(PER_CATEGORY):
        colour = MUG_COLOURS[i % 5]
        add("mugs", f"{colour.title()} Stoneware Mug {i}",
            f"A {colour} stoneware coffee mug that holds 350 ml of tea or coffee.",
            8 + 2 * i + rng.integers(0, 3), colour=colour, material="stoneware")
    for i in range(PER_CATEGORY):
        cuisine = CUISINES[i % 5]
        add("cookbooks", f"The {cuisine} Kitchen, Volume {i // 5 + 1}",
            f"A cookbook of {cuisine} home cooking: recipes for pasta, soups and desserts.",
            15 + 3 * i + rng.integers(0, 4), format="hardcover" if i % 2 else "paperback",
            cuisine=cuisine.lower())
    for i in range(PER_CATEGORY):
        noun = NOVEL_NOUNS[i % 5]
        add("novels", f"The {noun} of {PLACES[(i // 5 + i) % 5]}",
            f"A novel about a family, a {noun.lower()} and a long summer.",
            9 + 2 * i + rng.integers(0, 3), format="paperback")
    for i in range(PER_CATEGORY):
        place = PLACES[i % 5]
        add("travel guides", f"{place} Travel Guide {2020 + i}",
            f"A travel guide to {place}: maps, walks, food and where to stay.",
            12 + 2 * i + rng.integers(0, 3), format="paperback")
    return rows


def png(n: int) -> bytes:
    """A distinct small PNG (16x16) for product ``n``."""
    from PIL import Image

    img = Image.new("RGB", (16, 16), ((n * 53) % 256, (n * 97 + 30) % 256, (n * 31 + 70) % 256))
    img.putpixel((n % 16, (n * 7) % 16), (255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_catalog(folder: Path, *, n_images: int = 0, name: str = "shop.csv") -> Path:
    """Write the catalog CSV (and ``n_images`` PNGs under ``folder/pics``); returns the CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = products()
    if n_images:
        (folder / "pics").mkdir(exist_ok=True)
        for i, row in enumerate(rows):
            if i < n_images:
                (folder / "pics" / f"{row['id']}.png").write_bytes(png(i))
                row["image"] = f"pics/{row['id']}.png"
            else:
                row["image"] = ""
    fields = sorted({k for r in rows for k in r}, key=lambda k: (k.startswith("attr_"), k))
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path
