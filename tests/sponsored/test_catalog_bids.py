"""Bids and the sponsored flag in the catalog: parsing, named rejects, CLI exit code, migration."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from pathlib import Path

import pytest

from shelfwise.catalog import CatalogStore, Product, parse_product
from shelfwise.cli import main
from shelfwise.errors import CatalogError

BASE = {"id": "p1", "title": "Red bag", "category": "bags", "price": "10"}


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("fields", "message"), [
    ({"bid": "-0.5"}, "field 'bid': must be a finite number >= 0"),
    ({"bid": "abc"}, "field 'bid': must be a number >= 0"),
    ({"bid": "nan"}, "field 'bid': must be a finite number >= 0"),
    ({"bid": "inf"}, "field 'bid': must be a finite number >= 0"),
    ({"bid": True}, "field 'bid': must be a number >= 0"),
    ({"sponsored": "maybe"}, "field 'sponsored': must be true/false"),
])
def test_malformed_bids_are_named(fields, message, tmp_path):
    with pytest.raises(CatalogError, match=message):
        parse_product({**BASE, **fields}, tmp_path)


@pytest.mark.parametrize(("fields", "sponsored", "bid"), [
    ({}, False, 0.0),
    ({"bid": "0.35"}, True, 0.35),  # a bid alone makes the product an ad candidate
    ({"bid": " 1.5 ", "sponsored": "no"}, False, 1.5),
    ({"sponsored": "yes"}, True, 0.0),
    ({"bid": 2, "sponsored": 1}, True, 2.0),
])
def test_bid_and_flag_parse(fields, sponsored, bid, tmp_path):
    p = parse_product({**BASE, **fields}, tmp_path)
    assert (p.sponsored, p.bid) == (sponsored, bid)


def test_product_refuses_bad_bid():
    with pytest.raises(CatalogError, match="bid must be a finite number >= 0"):
        Product("x", "t", "", "bags", 1.0, bid=float("nan"))


def test_hash_of_products_without_ads_is_unchanged_and_bids_count():
    plain = Product("x", "t", "", "bags", 1.0)
    assert plain.content_hash() == Product("x", "t", "", "bags", 1.0, bid=0.0).content_hash()
    assert Product("x", "t", "", "bags", 1.0, sponsored=True, bid=0.2).content_hash() != \
        plain.content_hash()


def test_ingest_exits_2_on_a_malformed_bid_and_reads_cpc(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,title,category,price,bid\na,Red bag,bags,10,0.5\nb,Hat,hats,5,-3\n")
    code, _, err = _cli("ingest", str(bad), "-w", str(tmp_path / "ws"), "--no-build-index")
    assert code == 2
    assert err.startswith("error: ")
    assert "row 2: field 'bid': must be a finite number >= 0" in err
    assert "Traceback" not in err

    good = tmp_path / "good.csv"
    good.write_text("id,title,category,price,CPC,Sponsored\na,Red bag,bags,10,0.5,\n"
                    "b,Hat,hats,5,,yes\nc,Cap,hats,4,,\n")
    code, _, err = _cli("ingest", str(good), "-w", str(tmp_path / "ws"), "--no-build-index")
    assert code == 0, err
    store = CatalogStore(tmp_path / "ws" / "catalog.sqlite")
    got = {p.id: (p.sponsored, p.bid) for p in store.all()}
    store.close()
    assert got == {"a": (True, 0.5), "b": (True, 0.0), "c": (False, 0.0)}


def test_old_catalog_database_is_migrated(tmp_path: Path):
    db = tmp_path / "catalog.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE products (id TEXT PRIMARY KEY, title TEXT NOT NULL,
            description TEXT NOT NULL, category TEXT NOT NULL, price REAL NOT NULL,
            currency TEXT NOT NULL, attributes TEXT NOT NULL, image TEXT,
            in_stock INTEGER NOT NULL, content_hash TEXT NOT NULL, position INTEGER NOT NULL);
        INSERT INTO products VALUES ('old', 'Old bag', '', 'bags', 9.0, 'USD', '{}', NULL, 1,
            'h', 0);
    """)
    conn.commit()
    conn.close()
    store = CatalogStore(db)
    old = store.require("old")
    assert (old.sponsored, old.bid, old.url) == (False, 0.0, None)
    store.merge([Product("new", "Ad bag", "", "bags", 12.0, sponsored=True, bid=0.8)])
    assert (store.require("new").sponsored, store.require("new").bid) == (True, 0.8)
    store.close()
