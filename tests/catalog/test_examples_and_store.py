"""The files in examples/ ingest as shipped; the store keeps links and migrates old databases."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sqlite3

import pytest

from shelfwise.catalog import CatalogStore, Product, load_catalog
from shelfwise.cli import main
from tests.conftest import repo_root

EXAMPLES = [
    ("merchant_products.tsv", "merchant-tsv", 10, 0, "USD"),
    ("merchant_feed.xml", "merchant-xml", 4, 0, "EUR"),
    ("shopify_products.csv", "shopify", 5, 1, "USD"),
]


@pytest.mark.parametrize(("name", "fmt", "loaded", "skipped", "currency"), EXAMPLES)
def test_examples_ingest(tmp_path, name, fmt, loaded, skipped, currency):
    path = tmp_path / name  # a copy: the side file must not land in the repository
    shutil.copy(repo_root() / "examples" / name, path)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["ingest", str(path), "-w", str(tmp_path / "ws"), "--json",
                     "--no-build-index", "--shop-url", "https://trail-table.example"])
    assert code == 0, err.getvalue()
    summary = json.loads(out.getvalue())
    assert (summary["format"], summary["loaded"], summary["skipped"], summary["rejected"]) == (
        fmt, loaded, skipped, 0)
    products = load_catalog(path, shop_url="https://trail-table.example").products
    assert all(p.url and p.url.startswith("https://") for p in products)
    assert all(p.currency == currency and "<" not in p.description for p in products)


def test_examples_field_mapping():
    tsv = {p.id: p for p in load_catalog(repo_root() / "examples" / "merchant_products.tsv",
                                          rejects_path="/dev/null").products}
    tent = tsv["TRL-1001"]
    assert (tent.category, tent.price, tent.attributes["regular_price"]) == ("tents", 249.0,
                                                                            "289.00")
    assert tent.description.splitlines() == [
        "Freestanding 2-person tent with two doors and vestibules.", "Packed weight 1.9 kg",
        "Aluminium poles"]
    assert tsv["TRL-1004"].attributes["availability"] == "preorder" and not tsv[
        "TRL-1004"].in_stock
    assert tsv["TRL-1005"].in_stock and tsv["TRL-1005"].image is None


def test_store_keeps_url_and_migrates_an_old_database(tmp_path):
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)  # the schema before product links existed
    con.executescript(
        "CREATE TABLE products (id TEXT PRIMARY KEY, title TEXT NOT NULL, description TEXT NOT "
        "NULL, category TEXT NOT NULL, price REAL NOT NULL, currency TEXT NOT NULL, attributes "
        "TEXT NOT NULL, image TEXT, in_stock INTEGER NOT NULL, content_hash TEXT NOT NULL, "
        "position INTEGER NOT NULL);"
        "INSERT INTO products VALUES ('a','A','','bags',1.0,'USD','{}',NULL,1,'h',0);"
    )
    con.commit()
    con.close()
    store = CatalogStore(db)
    assert store.get("a").url is None
    linked = Product("b", "B", "", "bags", 2.0, url="https://shop.example/b")
    report = store.merge([linked, Product("a", "A", "", "bags", 1.0)])
    assert (report.new, report.updated) == (1, 1)
    store.close()
    assert CatalogStore(db).get("b") == linked


def test_api_returns_the_product_url():
    from shelfwise.serve.app import _product_out

    out = _product_out(Product("b", "B", "", "bags", 2.0, url="https://shop.example/b"))
    assert out.url == "https://shop.example/b" and out.model_dump()["url"] == out.url
    assert _product_out(Product("c", "C", "", "bags", 2.0)).url is None
