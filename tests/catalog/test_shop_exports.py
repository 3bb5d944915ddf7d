"""Done-when: a shop's own exports (Merchant Center TSV and XML, Shopify CSV) ingest as they are.

Each feed holds >= 200 products of an outdoor-and-kitchen shop (no demo vocabulary), some
with image URLs on a 127.0.0.1 server that the test starts. They are ingested by the CLI with
no mapping code; prices, currency, availability, links and plain-text descriptions are
checked; then ``shelfwise search`` on the workspace returns products of the asked category.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import threading
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from PIL import Image

from shelfwise.catalog import CatalogStore
from shelfwise.cli import main

N = 240
KINDS = [  # (category, noun, product_type path, material)
    ("tents", "Backpacking Tent", "Camping > Shelter > Tents", "ripstop nylon"),
    ("sleeping bags", "Down Sleeping Bag", "Camping > Sleep > Sleeping Bags", "goose down"),
    ("backpacks", "Trekking Backpack", "Packs > Backpacks", "cordura"),
    ("headlamps", "Rechargeable Headlamp", "Camping > Lighting > Headlamps", "aluminium"),
    ("skillets", "Cast Iron Skillet", "Kitchen > Cookware > Skillets", "cast iron"),
    ("kettles", "Stovetop Kettle", "Kitchen > Kettles", "stainless steel"),
    ("knives", "Chef Knife", "Kitchen > Cutlery > Knives", "carbon steel"),
    ("cutting boards", "Cutting Board", "Kitchen > Boards > Cutting Boards", "walnut wood"),
]
BRANDS = ["Ridgeline", "Summit Works", "Trailhead", "Forge & Field", "Northfold"]
COLOURS = ["green", "slate", "orange", "black", "sand", "teal"]
AVAIL = [("in_stock", True), ("out_of_stock", False), ("preorder", False),
         ("backorder", False), ("in stock", True)]


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _ingest(ws: Path, path: Path, *extra: str) -> dict:
    code, out, err = _cli("ingest", str(path), "-w", str(ws), "--json", *extra)
    assert code == 0, err[-3000:]
    return json.loads(out)


def _search(ws: Path, text: str) -> list[dict]:
    code, out, err = _cli("search", text, "-w", str(ws), "--json", "-k", "5")
    assert code == 0, err[-3000:]
    return json.loads(out)


@pytest.fixture(scope="module")
def image_server(tmp_path_factory):
    """A 127.0.0.1 HTTP server with eight small PNGs under /img/; yields its base URL."""
    root = tmp_path_factory.mktemp("www")
    (root / "img").mkdir()
    for k in range(8):
        Image.new("RGB", (32, 32), (30 * k, 200 - 20 * k, 90)).save(root / "img" / f"{k}.png")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


def _product(i: int, base: str) -> dict:
    category, noun, path, material = KINDS[i % len(KINDS)]
    brand = BRANDS[i % len(BRANDS)]
    colour = COLOURS[(i // 3) % len(COLOURS)]
    price = 15 + (i * 37) % 400 + 0.95
    word, stock = AVAIL[i % len(AVAIL)]
    return {
        "id": f"SKU-{i:04d}",
        "title": f"{brand} {colour.title()} {noun} {i}",
        "html": f"<p>A <strong>{colour}</strong> {noun.lower()} made of {escape(material)}.</p>"
                f"<ul><li>Model {i}</li><li>Brand: {escape(brand)}</li></ul>",
        "text_start": f"A {colour} {noun.lower()} made of {material}.",
        "category": category,
        "path": path,
        "brand": brand,
        "colour": colour,
        "material": material,
        "price": price,
        "avail": word,
        "in_stock": stock,
        "link": f"https://trail-table.example/products/sku-{i:04d}",
        "image": f"{base}/img/{i % 8}.png" if i % 10 == 0 else "",
    }


def _check_common(ws: Path, products: list[dict], currency: str, *, lower_ids: bool = False
                  ) -> None:
    store = CatalogStore(ws / "catalog.sqlite")
    try:
        by_id = {p.id: p for p in store.all()}
    finally:
        store.close()
    for want in products:
        got = by_id[want["id"].lower() if lower_ids else want["id"]]
        assert got.price == pytest.approx(want["price"]) and got.currency == currency
        assert got.in_stock is want["in_stock"], (want["id"], want["avail"])
        assert got.category == want["category"]
        assert got.description.startswith(want["text_start"]) and "<" not in got.description
        assert got.attributes["brand"] == want["brand"]
        assert got.attributes["colour"].lower() == want["colour"]
        assert got.image == (want["image"] or None)


def _check_search(ws: Path) -> None:
    hits = _search(ws, "cast iron skillet for the campfire")
    assert sum(h["category"] == "skillets" for h in hits) >= 4, hits
    hits = _search(ws, "down sleeping bag")
    assert sum(h["category"] == "sleeping bags" for h in hits) >= 4, hits


@pytest.mark.slow
def test_merchant_center_tsv(tmp_path, image_server):
    products = [_product(i, image_server) for i in range(N)]
    cols = ["id", "title", "description", "link", "image_link", "availability", "price",
            "brand", "product_type", "google_product_category", "color", "material", "gtin",
            "condition", "shipping_weight"]
    lines = ["\t".join(cols)]
    for p in products:
        lines.append("\t".join([
            p["id"], p["title"], p["html"], p["link"], p["image"], p["avail"],
            f"{p['price']:.2f} USD", p["brand"], p["path"], "Sporting Goods", p["colour"],
            p["material"], f"0{812345000000 + int(p['id'][4:])}", "new", "1.2 kg",
        ]))
    feed = tmp_path / "products.txt"  # Merchant Center's own name for a TSV upload
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = _ingest(tmp_path / "ws", feed)
    assert summary["format"] == "merchant-tsv" and summary["loaded"] == N
    assert summary["new"] == N and summary["rejected"] == 0
    assert summary["images"] == {"local": 0, "urls": N // 10, "urls_not_fetched": N // 10,
                                 "missing": 0}
    assert summary["index"]["n_products"] == N
    _check_common(tmp_path / "ws", products, "USD")
    store = CatalogStore(tmp_path / "ws" / "catalog.sqlite")
    p8 = store.get("SKU-0008")
    store.close()
    assert p8.url == "https://trail-table.example/products/sku-0008"
    assert p8.attributes["availability"] == "backorder" and not p8.in_stock
    assert p8.attributes["shipping_weight"] == "1.2 kg" and p8.attributes["condition"] == "new"
    _check_search(tmp_path / "ws")
    # A second run of the same file changes nothing: merging is the default.
    again = _ingest(tmp_path / "ws", feed, "--no-build-index")
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, N)


@pytest.mark.slow
def test_merchant_center_xml(tmp_path, image_server):
    products = [_product(i, image_server) for i in range(N)]
    items = []
    for i, p in enumerate(products):
        sale = i % 6 == 0
        regular = p["price"] + 10 if sale else p["price"]
        parts = [
            f"<g:id>{p['id']}</g:id>",
            f"<g:title>{escape(p['title'])}</g:title>",
            f"<g:description><![CDATA[{p['html']}]]></g:description>",
            f"<g:link>{p['link']}</g:link>",
            f"<g:image_link>{p['image']}</g:image_link>" if p["image"] else "",
            f"<g:availability>{p['avail']}</g:availability>",
            f"<g:price>{regular:.2f} EUR</g:price>".replace(".", ",") if i % 2 else
            f"<g:price>EUR {regular:.2f}</g:price>",
            f"<g:sale_price>{p['price']:.2f} EUR</g:sale_price>" if sale else "",
            f"<g:brand>{escape(p['brand'])}</g:brand>",
            f"<g:google_product_category>{escape(p['path'])}"
            "</g:google_product_category>",
            f"<g:color>{p['colour']}</g:color>",
            f"<g:material>{p['material']}</g:material>",
        ]
        items.append("<item>" + "".join(parts) + "</item>")
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:g="http://base.google.com/ns/1.0"><channel><title>Trail &amp; Table</title>'
        + "\n".join(items) + "</channel></rss>\n",
        encoding="utf-8",
    )
    summary = _ingest(tmp_path / "ws", feed, "--fetch-images")
    assert summary["format"] == "merchant-xml" and summary["loaded"] == N
    assert summary["fetch"]["requested"] == N // 10 and summary["fetch"]["failed"] == 0
    assert summary["images"]["urls_not_fetched"] == 0
    _check_common(tmp_path / "ws", products, "EUR")
    store = CatalogStore(tmp_path / "ws" / "catalog.sqlite")
    p6 = store.get("SKU-0006")
    store.close()
    assert p6.attributes["regular_price"] == f"{products[6]['price'] + 10:.2f}"
    assert p6.url == products[6]["link"]
    _check_search(tmp_path / "ws")


@pytest.mark.slow
def test_shopify_export(tmp_path, image_server):
    products = [_product(i, image_server) for i in range(N)]
    header = ("Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,"
              "Option1 Name,Option1 Value,Option2 Name,Option2 Value,Variant SKU,"
              "Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,"
              "Variant Price,Variant Compare At Price,Image Src,Image Position,Status")
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header.split(","))
    for p in products:
        handle = p["id"].lower()
        qty_first = 5 if p["in_stock"] else 0
        policy = "continue" if p["avail"] == "backorder" else "deny"
        writer.writerow([handle, p["title"], p["html"], p["brand"], "Sporting Goods > " + p["path"],
                         p["category"].title(), "outdoor, gift", "TRUE", "Size", "Regular",
                         "Color", p["colour"].title(), f"{handle}-r", "shopify", qty_first,
                         policy, f"{p['price']:.2f}", "", p["image"], "1" if p["image"] else "",
                         "active"])
        writer.writerow([handle, "", "", "", "", "", "", "", "", "Large", "",
                         p["colour"].title(), f"{handle}-l", "shopify", 0, policy,
                         f"{p['price'] + 20:.2f}", f"{p['price'] + 40:.2f}", "", "", ""])
    writer.writerow(["sku-draft", "Prototype Stove", "<p>Not yet</p>", "Northfold", "", "Stoves",
                     "", "FALSE", "Title", "Default Title", "", "", "d", "", "", "deny", "10",
                     "", "", "", "draft"])
    feed = tmp_path / "products_export_1.csv"
    feed.write_text(buf.getvalue(), encoding="utf-8")
    summary = _ingest(tmp_path / "ws", feed, "--currency", "CAD",
                      "--shop-url", "https://trail-table.example")
    assert summary["format"] == "shopify" and summary["loaded"] == N
    assert summary["skipped"] == 1 and summary["rejected"] == 0
    skipped = [json.loads(x) for x in open(summary["rejects_file"], encoding="utf-8")]
    assert skipped[0]["kind"] == "skipped" and "draft" in skipped[0]["reason"]
    # Backorders (sold out, policy continue) are not in stock; the word is kept.
    _check_common(tmp_path / "ws", products, "CAD", lower_ids=True)  # Shopify ids: handles
    store = CatalogStore(tmp_path / "ws" / "catalog.sqlite")
    p3 = store.get("sku-0003")
    store.close()
    assert p3.url == "https://trail-table.example/products/sku-0003"
    assert p3.attributes["size"] == "Regular, Large"
    assert p3.attributes["max_price"] == f"{products[3]['price'] + 20:.2f}"
    assert p3.attributes["availability"] == "backorder" and not p3.in_stock
    _check_search(tmp_path / "ws")


def test_replace_starts_the_catalog_afresh(tmp_path):
    first = tmp_path / "a.csv"
    first.write_text("id,title,category,price\na,Tent,tents,10\nb,Tarp,tarps,5\n")
    second = tmp_path / "b.csv"
    second.write_text("id,title,category,price\nb,Tarp XL,tarps,7\nc,Cot,cots,30\n")
    ws = tmp_path / "ws"
    _ingest(ws, first, "--no-build-index")
    merged = _ingest(ws, second, "--no-build-index")
    assert (merged["new"], merged["updated"], merged["catalog_size"]) == (1, 1, 3)
    replaced = _ingest(ws, second, "--no-build-index", "--replace")
    assert (replaced["removed"], replaced["unchanged"], replaced["catalog_size"]) == (1, 2, 2)
