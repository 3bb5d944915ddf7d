"""The built-in demo shop: a seeded, realistic synthetic catalog with images and ground truth.

Every product is drawn from latent attributes (category, colour, material, pattern, style,
price band, brand). Its title and description are written from those attributes in varied,
natural wording, and its 96x96 PNG image is rendered from a subset of them (category
silhouette, colour, pattern), so text and image carry real but partly different signal: the
image shows colour, shape and pattern but not brand, material or price; the text says all.

The latent table (``<workspace>/demo/latent.parquet``) is the ground truth the retrieval tests
and the shopper simulator use. Columns: ``product_id, category, colour, material, pattern,
style, price_band, brand, price``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shelfwise.catalog import CatalogStore, Product
from shelfwise.errors import ConfigError
from shelfwise.workspace import Workspace

CATEGORIES: dict[str, dict[str, list[str]]] = {
    # category: kinds (title nouns), materials, features
    "shoes": {
        "kinds": ["sneakers", "loafers", "boots", "trainers", "oxford shoes"],
        "materials": ["leather", "suede", "canvas", "mesh"],
        "features": [
            "cushioned insole",
            "non-slip rubber sole",
            "lightweight build",
            "padded collar",
            "waterproof upper",
        ],
    },
    "jackets": {
        "kinds": ["rain jacket", "bomber jacket", "parka", "blazer", "field jacket"],
        "materials": ["leather", "denim", "nylon", "wool", "cotton"],
        "features": [
            "waterproof shell",
            "insulated lining",
            "packable hood",
            "zip pockets",
            "windproof fabric",
        ],
    },
    "bags": {
        "kinds": ["handbag", "tote bag", "backpack", "crossbody bag", "clutch"],
        "materials": ["leather", "canvas", "nylon", "suede"],
        "features": [
            "laptop sleeve",
            "adjustable strap",
            "magnetic clasp",
            "inner zip pocket",
            "water-resistant lining",
        ],
    },
    "shirts": {
        "kinds": ["oxford shirt", "t-shirt", "polo shirt", "button-down shirt", "blouse"],
        "materials": ["cotton", "linen", "silk", "polyester"],
        "features": [
            "breathable weave",
            "relaxed fit",
            "slim fit",
            "easy-iron finish",
            "chest pocket",
        ],
    },
    "trousers": {
        "kinds": ["chinos", "jeans", "joggers", "tailored trousers", "cargo pants"],
        "materials": ["cotton", "denim", "linen", "wool"],
        "features": [
            "stretch waistband",
            "tapered leg",
            "belt loops",
            "deep pockets",
            "wrinkle-resistant fabric",
        ],
    },
    "dresses": {
        "kinds": ["midi dress", "maxi dress", "wrap dress", "shirt dress", "slip dress"],
        "materials": ["cotton", "silk", "linen", "polyester"],
        "features": [
            "flowing skirt",
            "tie waist",
            "side pockets",
            "lined bodice",
            "adjustable straps",
        ],
    },
    "hats": {
        "kinds": ["beanie", "baseball cap", "fedora", "bucket hat", "sun hat"],
        "materials": ["wool", "cotton", "straw", "felt"],
        "features": [
            "wide brim",
            "adjustable strap",
            "warm knit",
            "uv protection",
            "packable crown",
        ],
    },
    "watches": {
        "kinds": ["dress watch", "diver watch", "chronograph", "field watch", "smartwatch"],
        "materials": ["steel", "leather", "titanium", "silicone"],
        "features": [
            "sapphire crystal",
            "water resistance to 100 m",
            "luminous hands",
            "quartz movement",
            "date window",
        ],
    },
    "scarves": {
        "kinds": ["scarf", "shawl", "snood", "bandana", "wrap scarf"],
        "materials": ["wool", "silk", "cashmere", "cotton"],
        "features": [
            "fringed ends",
            "soft brushed finish",
            "extra long cut",
            "lightweight weave",
            "generous width",
        ],
    },
    "sweaters": {
        "kinds": ["crew-neck sweater", "cardigan", "turtleneck", "hoodie", "v-neck jumper"],
        "materials": ["wool", "cashmere", "cotton", "acrylic"],
        "features": [
            "ribbed cuffs",
            "chunky knit",
            "fine-gauge knit",
            "relaxed fit",
            "kangaroo pocket",
        ],
    },
}

COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (25, 25, 28),
    "white": (245, 245, 240),
    "grey": (128, 128, 132),
    "red": (200, 30, 40),
    "blue": (40, 80, 200),
    "green": (40, 140, 60),
    "brown": (120, 72, 36),
    "beige": (215, 195, 160),
    "pink": (235, 130, 170),
    "yellow": (240, 205, 40),
}
MATERIALS = sorted({m for spec in CATEGORIES.values() for m in spec["materials"]})
PATTERNS = ["solid", "striped", "checked", "dotted", "floral"]
STYLES = ["casual", "formal", "sporty", "vintage", "minimalist"]
PRICE_BANDS: dict[str, float] = {"budget": 0.55, "mid": 1.0, "premium": 1.8, "luxury": 3.2}
BRANDS = [
    "Norland",
    "Aster & Co",
    "Bramble",
    "Cobalt Line",
    "Dunmore",
    "Elsworth",
    "Fjellan",
    "Greyhaven",
    "Halden",
    "Ivory Lane",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Marlow",
    "Northfold",
    "Oakridge",
    "Pellham",
    "Quill",
    "Rowan",
    "Solenne",
]
LATENT_COLUMNS: tuple[str, ...] = (
    "product_id",
    "category",
    "colour",
    "material",
    "pattern",
    "style",
    "price_band",
    "brand",
    "price",
)
"""Columns of the latent attribute table (``demo/latent.parquet``)."""
CATEGORY_WORDS = {
    "shoes": "shoes",
    "jackets": "jacket",
    "bags": "bag",
    "shirts": "shirt",
    "trousers": "trousers",
    "dresses": "dress",
    "hats": "hat",
    "watches": "watch",
    "scarves": "scarf",
    "sweaters": "sweater",
}
"""How a shopper names one item of each category (for attribute queries)."""
SYNONYMS: dict[str, list[str]] = {
    "bags": ["purse", "rucksack", "satchel", "tote", "clutch", "backpack", "handbag"],
    "shoes": ["shoe", "sneaker", "trainer", "boot", "loafer", "oxfords", "footwear", "heels"],
    "jackets": ["coat", "parka", "blazer", "bomber", "raincoat", "anorak", "windbreaker"],
    "sweaters": ["jumper", "cardigan", "hoodie", "turtleneck", "pullover", "knitwear"],
    "shirts": ["t-shirt", "tee", "polo", "blouse", "top"],
    "trousers": ["pants", "jeans", "chinos", "joggers", "slacks"],
    "dresses": ["gown", "sundress"],
    "hats": ["cap", "beanie", "fedora"],
    "watches": ["chronograph", "smartwatch", "timepiece"],
    "scarves": ["shawl", "snood", "bandana"],
}
"""Words shoppers use for each demo category. Shipped as data like any shop's: the generator
writes them to ``[vocabulary.synonyms]`` in the demo workspace's ``shelfwise.toml``."""
BASE_PRICE = {
    "shoes": 80.0,
    "jackets": 120.0,
    "bags": 90.0,
    "shirts": 40.0,
    "trousers": 55.0,
    "dresses": 70.0,
    "hats": 25.0,
    "watches": 150.0,
    "scarves": 30.0,
    "sweaters": 60.0,
}

_STYLE_WORDS = {
    "casual": ["easy-going", "everyday", "relaxed"],
    "formal": ["smart", "elegant", "tailored"],
    "sporty": ["athletic", "active", "performance"],
    "vintage": ["retro", "heritage", "classic"],
    "minimalist": ["clean-lined", "understated", "simple"],
}
_OPENERS = [
    "{a_style_word} {kind} in {colour} {material}{pattern_phrase}.",
    "This {style_word} {kind} comes in {colour} {material}{pattern_phrase}.",
    "{Brand}'s {style_word} {kind}, made from {colour} {material}{pattern_phrase}.",
    "Made in {colour} {material}{pattern_phrase}, this {kind} has a {style_word} look.",
]
_CLOSERS = [
    "Features: {feature} and {feature2}.",
    "Details: {feature}, {feature2}.",
    "With {feature} and {feature2}, it suits {occasion}.",
    "Designed with {feature} for {occasion}.",
]
_OCCASIONS = {
    "casual": "weekends and errands",
    "formal": "the office and evenings out",
    "sporty": "training and travel",
    "vintage": "anyone who loves timeless pieces",
    "minimalist": "a pared-back wardrobe",
}


@dataclass(frozen=True)
class DemoStore:
    """What :func:`generate_demo_store` wrote."""

    products: list[Product]
    latent: pd.DataFrame
    workspace: Workspace


def _pattern_phrase(pattern: str) -> str:
    return "" if pattern == "solid" else f" with a {pattern} pattern"


def _render(
    path: Path, category: str, colour: str, pattern: str, rng: np.random.Generator, size: int = 96
) -> None:
    """Draw a product picture: category silhouette filled with the colour and pattern."""
    from PIL import Image, ImageDraw, ImageFilter

    bg = tuple(int(v) for v in rng.integers(200, 236, size=3))
    base = np.array(COLOURS[colour], dtype=float)
    fill = tuple(int(v) for v in np.clip(base + rng.normal(0, 10, 3), 0, 255))
    mask = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(mask)
    s = size / 96.0
    jx, jy = (float(v) for v in rng.uniform(-5, 5, 2))

    def P(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x * s + jx, y * s + jy) for x, y in points]

    if category == "shoes":
        d.polygon(P([(12, 62), (14, 40), (40, 40), (52, 52), (84, 60), (86, 72), (12, 72)]), 255)
    elif category == "jackets":
        d.polygon(
            P(
                [
                    (30, 18),
                    (66, 18),
                    (86, 34),
                    (80, 48),
                    (70, 42),
                    (70, 84),
                    (26, 84),
                    (26, 42),
                    (16, 48),
                    (10, 34),
                ]
            ),
            255,
        )
    elif category == "bags":
        d.arc(P([(34, 12), (62, 48)]), 180, 360, fill=255, width=int(5 * s))
        d.polygon(P([(22, 32), (74, 32), (82, 82), (14, 82)]), 255)
    elif category == "shirts":
        d.polygon(
            P(
                [
                    (34, 16),
                    (62, 16),
                    (88, 30),
                    (78, 44),
                    (68, 38),
                    (68, 82),
                    (28, 82),
                    (28, 38),
                    (18, 44),
                    (8, 30),
                ]
            ),
            255,
        )
    elif category == "trousers":
        d.polygon(P([(28, 12), (68, 12), (74, 86), (54, 86), (48, 40), (42, 86), (22, 86)]), 255)
    elif category == "dresses":
        d.polygon(P([(38, 10), (58, 10), (62, 36), (84, 86), (12, 86), (34, 36)]), 255)
    elif category == "hats":
        d.ellipse(P([(8, 56), (88, 76)]), 255)
        d.chord(P([(26, 22), (70, 90)]), 180, 360, fill=255)
    elif category == "watches":
        d.rectangle(P([(40, 6), (56, 90)]), 255)
        d.ellipse(P([(26, 26), (70, 70)]), 255)
    elif category == "scarves":
        d.polygon(P([(10, 30), (86, 14), (88, 30), (30, 44), (40, 88), (24, 90), (12, 44)]), 255)
    elif category == "sweaters":
        d.polygon(
            P(
                [
                    (26, 14),
                    (70, 14),
                    (92, 50),
                    (80, 56),
                    (72, 40),
                    (74, 86),
                    (22, 86),
                    (24, 40),
                    (16, 56),
                    (4, 50),
                ]
            ),
            255,
        )
    else:  # pragma: no cover - CATEGORIES is closed
        raise ConfigError(f"no silhouette for category {category!r}")

    canvas = Image.new("RGB", (size, size), bg)
    body = Image.new("RGB", (size, size), fill)
    bd = ImageDraw.Draw(body)
    accent = tuple(int(v) for v in (255 - np.array(fill)) * 0.5 + np.array(fill) * 0.3)
    if pattern == "striped":
        for x in range(0, size, 10):
            bd.rectangle([x, 0, x + 3, size], fill=accent)
    elif pattern == "checked":
        for x in range(0, size, 12):
            bd.rectangle([x, 0, x + 2, size], fill=accent)
            bd.rectangle([0, x, size, x + 2], fill=accent)
    elif pattern == "dotted":
        for x in range(4, size, 11):
            for y in range(4, size, 11):
                bd.ellipse([x, y, x + 4, y + 4], fill=accent)
    elif pattern == "floral":
        for _ in range(14):
            cx, cy = (int(v) for v in rng.integers(0, size, 2))
            for dx, dy in ((0, -3), (3, 0), (0, 3), (-3, 0)):
                bd.ellipse([cx + dx - 2, cy + dy - 2, cx + dx + 2, cy + dy + 2], fill=accent)
    canvas.paste(body, (0, 0), mask)
    # A thin dark outline keeps white and beige products visible on the light background.
    edge = mask.filter(ImageFilter.FIND_EDGES)
    canvas.paste(Image.new("RGB", (size, size), (60, 60, 60)), (0, 0), edge)
    canvas.save(path, format="PNG", optimize=False)


def _describe(
    rng: np.random.Generator, kind: str, row: dict[str, str], features: list[str]
) -> tuple[str, str]:
    style_word = str(rng.choice(_STYLE_WORDS[row["style"]]))
    pattern_word = "" if row["pattern"] == "solid" else f"{row['pattern'].capitalize()} "
    title = (
        f"{row['brand']} {row['colour'].capitalize()} {pattern_word}{row['material'].capitalize()} "
        f"{kind.title() if kind.islower() else kind}"
    )
    f1, f2 = (str(f) for f in rng.choice(features, size=2, replace=False))
    article = "an" if style_word[0] in "aeiou" else "a"
    fields = dict(
        style_word=style_word,
        a_style_word=f"{article} {style_word}",
        kind=kind,
        colour=row["colour"],
        material=row["material"],
        pattern_phrase=_pattern_phrase(row["pattern"]),
        Brand=row["brand"],
        feature=f1,
        feature2=f2,
        occasion=_OCCASIONS[row["style"]],
    )
    opener = str(rng.choice(_OPENERS)).format(**fields)
    closer = str(rng.choice(_CLOSERS)).format(**fields)
    opener = opener[0].upper() + opener[1:]
    return title, f"{opener} {closer}"


def generate_demo_store(
    workspace: Workspace, n_products: int = 2000, seed: int = 0, *, progress: bool = False
) -> DemoStore:
    """Write the demo shop into ``workspace``: products (SQLite), PNG images, latent table.

    Args:
        workspace: Target workspace; created if missing.
        n_products: How many products (at least 10, one per category).
        seed: Seed of every random choice; the same seed writes the same shop.
        progress: Show a progress bar while rendering images.

    Returns:
        The products and the latent table (one row per product, same order).
    """
    if (
        isinstance(n_products, bool)
        or not isinstance(n_products, int)
        or n_products < len(CATEGORIES)
    ):
        raise ConfigError(f"n_products must be an integer >= {len(CATEGORIES)}, got {n_products!r}")
    from tqdm.auto import tqdm

    workspace = workspace.ensure()
    rng = np.random.default_rng(seed)
    cats = list(CATEGORIES)
    brand_style = {b: STYLES[i % len(STYLES)] for i, b in enumerate(BRANDS)}
    rows: list[dict[str, object]] = []
    products: list[Product] = []
    width = max(4, len(str(n_products - 1)))
    for i in tqdm(range(n_products), desc="demo store", unit="product", disable=not progress):
        category = cats[i % len(cats)] if i < len(cats) else str(rng.choice(cats))
        spec = CATEGORIES[category]
        brand = str(rng.choice(BRANDS))
        style = brand_style[brand] if rng.random() < 0.6 else str(rng.choice(STYLES))
        band = str(rng.choice(list(PRICE_BANDS), p=[0.3, 0.4, 0.2, 0.1]))
        row = {
            "product_id": f"p{i:0{width}d}",
            "category": category,
            "colour": str(rng.choice(list(COLOURS))),
            "material": str(rng.choice(spec["materials"])),
            "pattern": str(rng.choice(PATTERNS, p=[0.5, 0.15, 0.12, 0.12, 0.11])),
            "style": style,
            "price_band": band,
            "brand": brand,
        }
        price = BASE_PRICE[category] * PRICE_BANDS[band] * float(rng.lognormal(0.0, 0.15))
        row["price"] = round(price, 0) - 0.01 if price > 5 else round(price, 2)
        kind = str(rng.choice(spec["kinds"]))
        title, description = _describe(rng, kind, row, spec["features"])  # type: ignore[arg-type]
        image_path = workspace.images_dir / f"{row['product_id']}.png"
        _render(image_path, category, str(row["colour"]), str(row["pattern"]), rng)
        rows.append(row)
        products.append(
            Product(
                id=str(row["product_id"]),
                title=title,
                description=description,
                category=category,
                price=float(row["price"]),
                currency="USD",
                attributes={
                    "colour": str(row["colour"]),
                    "material": str(row["material"]),
                    "pattern": str(row["pattern"]),
                    "style": style,
                    "brand": brand,
                    "kind": kind,
                },
                image=str(image_path),
                in_stock=bool(rng.random() > 0.05),
            )
        )
    write_demo_vocabulary(workspace)
    latent = pd.DataFrame(rows, columns=list(LATENT_COLUMNS))
    latent.to_parquet(workspace.demo_dir / "latent.parquet", index=False)
    store = CatalogStore(workspace.catalog_db)
    try:
        store.upsert(products)
    finally:
        store.close()
    return DemoStore(products, latent, workspace)


def write_demo_vocabulary(workspace: Workspace) -> bool:
    """Add the demo's :data:`SYNONYMS` to the workspace's ``shelfwise.toml``.

    A file that already has a ``[vocabulary]`` section is left alone (the shop's own words
    win); otherwise the section is appended.

    Returns:
        True when the section was written.

    Raises:
        ConfigError: the existing file is not valid TOML.
    """
    import tomllib

    path = workspace.config_file
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    try:
        if "vocabulary" in tomllib.loads(text):
            return False
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    block = "\n".join(
        ["# Words shoppers use for the demo store's categories (written by `shelfwise demo`).",
         "[vocabulary.synonyms]",
         *(f"{cat} = {json.dumps(words)}" for cat, words in SYNONYMS.items())])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((text.rstrip("\n") + "\n\n" + block if text.strip() else block) + "\n",
                    encoding="utf-8")
    return True


def load_latent(workspace: Workspace) -> pd.DataFrame:
    """The demo store's latent attribute table.

    Raises:
        ConfigError: the workspace holds no demo store.
    """
    path = workspace.demo_dir / "latent.parquet"
    if not path.is_file():
        raise ConfigError(f"{path}: no demo store here; run `shelfwise demo` first")
    return pd.read_parquet(path)


DEMO_HISTORY_SESSIONS = 600
"""Simulated shopping sessions written by :func:`write_demo_history` (a few thousand events)."""

DEMO_HISTORY_START = 1_700_000_000.0
"""Unix time of the first simulated session (fixed, so the history is reproducible)."""


def write_demo_history(engine: Any, n_sessions: int = DEMO_HISTORY_SESSIONS, seed: int = 0,
                       *, sessions_per_shopper: int = 3) -> int:
    """Log a simulated shopping history of the demo store as *organic* interactions.

    Shoppers of the simulator (:mod:`shelfwise.sim`: latent tastes, intents, boredom, position
    bias) browse slates of their nearest products (a noisy greedy policy over the simulator's
    own retrieval); every click becomes a ``click`` interaction and every purchase a
    ``purchase`` of the simulated shopper ``sim-<n>`` (``sessions_per_shopper`` consecutive
    sessions each, a day apart), through the event log API. Seeded: the same seed writes the
    same events (their ids are content hashes, so writing twice adds nothing).

    Args:
        engine: an open :class:`shelfwise.engine.Engine` over the demo workspace.
        n_sessions: simulated sessions.
        seed: seed of shoppers, choices and slates.
        sessions_per_shopper: sessions that share one shopper id (longer sequences).

    Returns:
        Interactions newly written.

    Raises:
        ConfigError: ``n_sessions`` or ``sessions_per_shopper`` < 1, or not a demo workspace.
    """
    from shelfwise.events import Interaction, SQLiteEventStore
    from shelfwise.sim.config import SimConfig
    from shelfwise.sim.workspace import sim_from_workspace

    if n_sessions < 1 or sessions_per_shopper < 1:
        raise ConfigError(f"n_sessions and sessions_per_shopper must be >= 1, got {n_sessions} "
                          f"and {sessions_per_shopper}")
    sim = sim_from_workspace(engine, SimConfig(), use_index=False)
    rng = np.random.default_rng([seed, 7])
    sim.reset(n_sessions, rng)
    k = sim.config.k
    ids = sim.catalog.product_ids
    events: list[Interaction] = []
    step = 0
    while not sim.done.all():
        cands = sim.catalog.vectors[sim.candidate_ids]  # (b, n, d)
        noise = rng.gumbel(size=cands.shape[:2]) * 0.1
        scores = np.einsum("bd,bnd->bn", sim.states, cands) + noise
        res = sim.step(np.argsort(-scores, axis=1)[:, :k], rng)
        for s in np.flatnonzero(res.clicked_row >= 0):
            user = f"sim-{s // sessions_per_shopper:04d}"
            t = DEMO_HISTORY_START + 86_400.0 * s + 60.0 * step
            pid = str(ids[res.clicked_row[s]])
            events.append(Interaction.create(user, pid, "click", t, session_id=f"sim-s{s:05d}"))
            if res.purchased[s]:
                events.append(Interaction.create(user, pid, "purchase", t + 30.0,
                                                 value=float(res.price[s]),
                                                 session_id=f"sim-s{s:05d}"))
        step += 1
    store = SQLiteEventStore(engine.workspace.events_db)
    try:
        return int(store.log_interactions(events))
    finally:
        store.close()
