"""Files that can never crash ingest: one table per reader, each case a named error.

Every case is checked twice: the loader raises :class:`CatalogError` (or rejects the record
with ``skip_invalid``) with the asserted message, and ``shelfwise ingest`` prints
``error: ...`` and exits 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import struct
import zlib

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from shelfwise.catalog import load_catalog
from shelfwise.cli import main
from shelfwise.errors import CatalogError

J = json.dumps
GOOD = {"id": "ok", "title": "Camp Stove", "category": "stoves", "price": 40}


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _check(tmp_path, name: str, content: bytes, message: str, *, row_level: bool) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)
    code, _out, err = _cli("ingest", str(path), "-w", str(tmp_path / "ws"), "--no-build-index")
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err), err
    if row_level:  # with skip_invalid the record is a named reject instead
        result = load_catalog(path, skip_invalid=True, rejects_path=tmp_path / "r.jsonl")
        assert result.rejects and any(
            re.search(message.split(": ", 1)[-1], r.message()) for r in result.rejects
        ), [r.message() for r in result.rejects]
        lines = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
        assert lines and all(json.loads(x)["reason"] for x in lines)


DEEP = "[" * 100_000 + "]" * 100_000
JSONL_CASES = [
    ("deep nesting", '{"id": "a", "title": ' + DEEP + "}",
     "row 1: field 'json': JSON nested too deeply to read", True),
    ("number beyond a float", J({**GOOD, "price": 1e400}).replace("Infinity", "1e400"),
     "row 1: field 'price': must be a finite number", True),
    ("integer too long to convert", J(GOOD).replace("40", "1" * 5000),
     "row 1: field 'json': not readable JSON: .*digits", True),
    ("integer too large for a float", J(GOOD).replace("40", "1" * 400),
     "row 1: field 'price': .*integer too large for a float", True),
    ("integer id too long to print", J(GOOD).replace('"ok"', "9" * 4299) .replace("40", "1"),
     None, False),
    ("lone surrogate", J({**GOOD, "title": "\ud800"}),
     "row 1: field 'title': is not valid UTF-8 text", True),
    ("lone surrogate in a key", J({**GOOD, "attributes": {"\udfff": "x"}}),
     "row 1: field 'attributes.*is not valid UTF-8 text", True),
    ("json array", "[1, 2]", "a.jsonl: a JSON array; write JSON Lines", False),
    ("line not an object", '{"id": "x"\n[1, 2]',
     "row 1: field 'json': not valid JSON.*", True),
    ("bad json", "{nope", "row 1: field 'json': not valid JSON", True),
    ("empty file", "", "a.jsonl: the file is empty", False),
    ("blank lines only", "\n \n", "a.jsonl: the file is empty", False),
]


@pytest.mark.parametrize(("case", "text", "message", "row_level"), JSONL_CASES,
                         ids=[c[0] for c in JSONL_CASES])
def test_jsonl_reader(tmp_path, case, text, message, row_level):
    if message is None:  # a 4299-digit integer id is text; it loads
        path = tmp_path / "a.jsonl"
        path.write_text(text + "\n", encoding="utf-8")
        assert len(load_catalog(path).products[0].id) == 4299
        return
    _check(tmp_path, "a.jsonl", text.encode("utf-8", "surrogatepass") + b"\n", message,
           row_level=row_level)


def test_jsonl_line_separators_inside_strings_do_not_split_records(tmp_path):
    rows = [{**GOOD, "id": "a", "title": "Tent\u2028Pro", "description": "one\u2029two\x85"},
            {**GOOD, "id": "b"}]
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")
    products = load_catalog(path).products
    assert [p.id for p in products] == ["a", "b"] and products[0].title == "Tent\u2028Pro"


HEADER = b"id,title,category,price\n"
CSV_CASES = [
    ("empty", b"", "a.csv: the file is empty", False),
    ("binary garbage", bytes(range(256)) * 8, "a.csv: binary data", False),
    ("zip", b"PK\x03\x04" + b"\x00" * 40, "a ZIP archive or Office document", False),
    ("infinite price", HEADER + b"a,T,c,1e400\n", "row 1: field 'price': must be a finite", True),
    ("bad utf8", HEADER + b"a,Caf\xe9,c,1\n", "row 1: field 'title': is not valid UTF-8", True),
    ("too many cells", HEADER + b"a,T,c,1,x\n", "row 1: field 'row': has 5 cells but the header",
     True),
    ("no required columns", b"name,cost\nx,1\n",
     "CSV header lacks required column\\(s\\) id, title, category, price", False),
    ("currency conflict", b"id,title,category,price,currency\na,T,c,15 USD,EUR\n",
     "row 1: field 'price': is in USD but the currency column says EUR", True),
    ("bad url", b"id,title,category,price,url\na,T,c,1,javascript:alert(1)\n",
     "row 1: field 'url': must be an http\\(s\\):// address", True),
    ("huge field", HEADER + b'a,"' + b"x" * 200_000 + b'",c,1\n', "malformed CSV", False),
]


@pytest.mark.parametrize(("case", "content", "message", "row_level"), CSV_CASES,
                         ids=[c[0] for c in CSV_CASES])
def test_csv_reader(tmp_path, case, content, message, row_level):
    _check(tmp_path, "a.csv", content, message, row_level=row_level)


def test_header_only_file_loads_nothing_and_the_cli_says_so(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(HEADER)
    assert load_catalog(path).products == []
    code, _out, err = _cli("ingest", str(path), "-w", str(tmp_path / "ws"), "--no-build-index")
    assert code == 2 and "error: " in err and "nothing loaded (the file holds no products)" in err


def test_parquet_reader(tmp_path):
    cases = []
    truncated = io.BytesIO()
    pd.DataFrame([GOOD]).to_parquet(truncated)
    cases.append(("a.parquet", b"garbage", "not a readable Parquet file", False))
    cases.append(("b.parquet", truncated.getvalue()[:40], "not a readable Parquet file", False))
    inf = io.BytesIO()
    pq.write_table(pa.table({"id": ["a"], "title": ["T"], "category": ["c"],
                             "price": [math.inf]}), inf)
    cases.append(("c.parquet", inf.getvalue(), "row 1: field 'price': must be a finite", True))
    nested = io.BytesIO()
    pq.write_table(pa.table({"id": ["a"], "title": [{"x": 1}], "category": ["c"],
                             "price": [1.0]}), nested)
    cases.append(("d.parquet", nested.getvalue(), "row 1: field 'title': must be text, got dict",
                  True))
    for name, content, message, row_level in cases:
        sub = tmp_path / name.split(".")[0]
        sub.mkdir()
        _check(sub, name, content, message, row_level=row_level)


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>&lol3;</g:id></item></channel></rss>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>&x;</g:id></item></channel></rss>
"""
ITEM = ("<item><g:id>{id}</g:id><g:title>Stove</g:title><g:price>{price}</g:price>"
        "<g:availability>{avail}</g:availability></item>")
FEED = '<rss xmlns:g="http://base.google.com/ns/1.0"><channel>{items}</channel></rss>'
XML_CASES = [
    ("entity bomb", BOMB, "XML refused: .*entity", False),
    ("external entity", EXTERNAL, "XML refused", False),
    ("malformed", '<rss><channel><item><g:id>1</g:id></channel></rss>',
     "not well-formed XML", False),
    ("no items", "<rss><channel><title>x</title></channel></rss>",
     "no <item> or <entry> elements", False),
    ("deep nesting", "<a>" * 50_000 + "</a>" * 50_000, "no <item> or <entry> elements", False),
    ("missing price", FEED.format(items=ITEM.format(id="a", price="", avail="in_stock")),
     "item 1: field 'price': is missing or empty", True),
    ("bad availability", FEED.format(items=ITEM.format(id="a", price="5 USD", avail="soon")),
     "item 1: field 'availability': must be true or false, got 'soon'", True),
    ("bad price", FEED.format(items=ITEM.format(id="a", price="five USD", avail="in_stock")),
     "item 1: field 'price': must be a number", True),
]


@pytest.mark.parametrize(("case", "text", "message", "row_level"), XML_CASES,
                         ids=[c[0] for c in XML_CASES])
def test_merchant_xml_reader(tmp_path, case, text, message, row_level):
    _check(tmp_path, "feed.xml", text.encode(), message, row_level=row_level)


MC_HEADER = "id\ttitle\tlink\timage_link\tavailability\tprice\n"
TSV_CASES = [
    ("bad link", MC_HEADER + "a\tT\tnot a link\t\tin_stock\t5 USD\n",
     "row 1: field 'link': is not a valid web address", True),
    ("bad image link", MC_HEADER + "a\tT\t\tftp://x/y.png\tin_stock\t5 USD\n",
     "row 1: field 'image_link': must be a file path or an http\\(s\\):// address", True),
    ("two currencies", MC_HEADER + "a\tT\t\t\tin_stock\t5 USD EUR\n",
     "row 1: field 'price': names two currencies", True),
    ("missing title", MC_HEADER + "a\t\t\t\tin_stock\t5 USD\n",
     "row 1: field 'title': is missing or empty", True),
    ("forced on a non-feed", "name\tcost\nx\t1\n", "not Merchant Center product data", False),
]


@pytest.mark.parametrize(("case", "text", "message", "row_level"), TSV_CASES,
                         ids=[c[0] for c in TSV_CASES])
def test_merchant_tsv_reader(tmp_path, case, text, message, row_level):
    path = tmp_path / "feed.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        load_catalog(path, fmt="merchant-tsv")
    code, _out, err = _cli("ingest", str(path), "-w", str(tmp_path / "ws"), "--no-build-index",
                           "--format", "merchant-tsv")
    assert code == 2 and err.startswith("error: "), err
    if row_level:
        result = load_catalog(path, fmt="merchant-tsv", skip_invalid=True)
        assert len(result.rejects) == 1 and not result.products


SH_HEADER = "Handle,Title,Body (HTML),Type,Option1 Name,Option1 Value,Variant Price,Status\n"
SHOPIFY_CASES = [
    ("variant row before product row",
     SH_HEADER + "tent,,,,,2p,100,\ntent,Tent,,Tents,Size,1p,90,active\n",
     "row 1: field 'handle': variant row for handle 'tent' comes before any product row", True),
    ("bad variant price", SH_HEADER + "tent,Tent,,Tents,Size,1p,90,active\ntent,,,,,2p,lots,\n",
     "row 1: field 'variant_price': row 2: must be a number, got 'lots'", True),
    ("no price at all", SH_HEADER + "tent,Tent,,Tents,Size,1p,,active\n",
     "row 1: field 'variant_price': no variant has a price", True),
    ("empty handle", SH_HEADER + ",Tent,,Tents,Size,1p,90,active\n",
     "row 1: field 'handle': is missing or empty", True),
    ("second product row", SH_HEADER + "t,Tent,,T,S,1,9,active\nt,Tent again,,T,S,2,9,active\n",
     "row 2: field 'handle': second product row for handle 't'", True),
]


@pytest.mark.parametrize(("case", "text", "message", "row_level"), SHOPIFY_CASES,
                         ids=[c[0] for c in SHOPIFY_CASES])
def test_shopify_reader(tmp_path, case, text, message, row_level):
    _check(tmp_path, "products_export.csv", text.encode(), message, row_level=row_level)


def test_shopify_all_drafts_is_nothing_loaded_with_the_reason(tmp_path):
    path = tmp_path / "products_export.csv"
    path.write_text(SH_HEADER + "t,Tent,,T,S,1,9,draft\nu,Cup,,C,S,1,9,archived\n")
    result = load_catalog(path)
    assert not result.products and [s.reason for s in result.skipped] == [
        "Status is draft: not for sale", "Status is archived: not for sale"]
    code, _out, err = _cli("ingest", str(path), "-w", str(tmp_path / "ws"), "--no-build-index")
    assert code == 2 and "nothing loaded (2 skipped (not for sale))" in err


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _bomb_png(path, side: int = 30_000) -> None:
    """A tiny PNG whose header declares side x side pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    idat = zlib.compress(row * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))


def test_image_bombs_and_giant_images_are_named_rejects_even_with_skip_invalid(tmp_path):
    _bomb_png(tmp_path / "bomb.png", 8_000)  # 64 Mpx: over shelfwise's 40 Mpx limit
    _bomb_png(tmp_path / "huge.png", 30_000)  # 900 Mpx: over Pillow's own limit too
    giant = tmp_path / "giant.png"
    Image.new("RGB", (4, 4)).save(giant)
    with giant.open("r+b") as fh:  # sparse: 25 MiB on paper, nothing on disk
        fh.truncate(25 * 1024 * 1024)
    Image.new("RGB", (4, 4), (0, 90, 0)).save(tmp_path / "fine.png")
    path = tmp_path / "a.csv"
    path.write_text("id,title,category,price,image\n"
                    "a,Tent,tents,10,bomb.png\nb,Tarp,tarps,5,giant.png\nc,Mat,mats,3,fine.png\n"
                    "d,Cot,cots,30,huge.png\n")
    with pytest.raises(CatalogError, match="row 1: field 'image': .*8000x8000 pixels, over the "
                                           "limit .*decompression bomb"):
        load_catalog(path)
    result = load_catalog(path, skip_invalid=True)
    assert [p.id for p in result.products] == ["c"]
    reasons = {r.row: r.reason for r in result.rejects}
    assert "decompression bomb" in reasons[1] and "bytes, over" in reasons[2]
    assert "decompression bomb" in reasons[4]
    code, out, err = _cli("ingest", str(path), "-w", str(tmp_path / "ws"), "--no-build-index",
                          "--skip-invalid", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["rejected"] == 3 and summary["loaded"] == 1
    assert summary["images"] == {"local": 1, "urls": 0, "urls_not_fetched": 0, "missing": 0}


SKIP_CASES = [
    ("a.jsonl", J(GOOD) + "\n" + J({**GOOD, "id": "b", "title": "\ud800"}) + "\n", 1),
    ("a.csv", (HEADER + b"a,T,c,1\nb,T,c,1e400\n").decode(), 1),
    ("feed.xml", FEED.format(items=ITEM.format(id="a", price="5 USD", avail="in_stock")
                             + ITEM.format(id="b", price="", avail="in_stock")), 1),
    ("products_export.csv", SH_HEADER + "tent,,,,,2p,100,\ntent,Tent,,Tents,Size,1p,90,active\n",
     1),
]


@pytest.mark.parametrize(("name", "text", "loaded"), SKIP_CASES, ids=[c[0] for c in SKIP_CASES])
def test_cli_skip_invalid_names_the_reject_and_loads_the_rest(tmp_path, name, text, loaded):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    code, out, err = _cli("ingest", str(path), "-w", str(tmp_path / "ws"), "--no-build-index",
                          "--skip-invalid", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["loaded"] == loaded and summary["rejected"] == 1
    rejects = [json.loads(x) for x in open(summary["rejects_file"], encoding="utf-8")]
    assert rejects[0]["kind"] == "rejected" and rejects[0]["reason"]
