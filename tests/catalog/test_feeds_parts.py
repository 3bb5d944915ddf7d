"""The small parts of the feed readers: column names, --map, format detection, prices, HTML."""

from __future__ import annotations

import pandas as pd
import pytest

from shelfwise.errors import CatalogError, ConfigError
from shelfwise.feeds.columns import normalize_header, parse_column_map, resolve_columns
from shelfwise.feeds.detect import FileFormatError, detect_format, sniff_delimiter
from shelfwise.feeds.html import html_to_text
from shelfwise.feeds.prices import PriceError, parse_availability, parse_price


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Sale Price", "sale_price"),
        ("\ufeffsale_price", "sale_price"),
        ("SALE-PRICE", "sale_price"),
        ("  sale   price ", "sale_price"),
        ("Body (HTML)", "body_html"),
        ("Option1 Name", "option1_name"),
        ("g:image_link", "g_image_link"),
        ("***", ""),
    ],
)
def test_normalize_header(name, expected):
    assert normalize_header(name) == expected


def test_parse_column_map_and_resolve():
    mapping = parse_column_map(["title=Name", "price=\"Sale Price\"", " Attr Brand = Vendor "])
    assert mapping == {"title": "Name", "price": "Sale Price", "attr_brand": "Vendor"}
    header = ["NAME", "sale price", "Vendor", "ID", "Category"]
    cols = resolve_columns(header, ["id", "title", "category", "price"], mapping)
    assert cols == {"title": "NAME", "price": "sale price", "attr_brand": "Vendor", "id": "ID",
                    "category": "Category"}
    with pytest.raises(ConfigError, match="column map title='Nom': no such column"):
        resolve_columns(header, ["title"], {"title": "Nom"})


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["title"], "--map 'title': expected FIELD=COLUMN"),
        (["=Name"], "--map '=Name': expected FIELD=COLUMN"),
        (["title="], "--map 'title=': expected FIELD=COLUMN"),
        (["title=A", "Title=B"], "--map 'Title=B': field 'title' is already mapped to 'A'"),
    ],
)
def test_parse_column_map_errors_name_the_item(items, message):
    with pytest.raises(ConfigError, match=message):
        parse_column_map(items)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.csv", "id,title\n1,x\n", "csv"),
        ("a.csv", "id\ttitle\n1\tx\n", "tsv"),  # a TSV named .csv
        ("a.txt", "id;title;price\n1;x;2\n", "csv"),
        ("a.tsv", "id,title\n", "csv"),  # content wins over the name
        ("a", '{"id": 1}\n', "jsonl"),
        ("feed.xml", "<?xml version='1.0'?><rss/>", "xml"),
        ("feed.txt", "\ufeff<rss/>", "xml"),
        ("a.jsonl", '\n\n{"id": 1}\n', "jsonl"),
    ],
)
def test_detect_format_by_content(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert detect_format(path, None) == expected


def test_detect_parquet_by_magic_even_when_misnamed(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    assert detect_format(path, None) == "parquet"
    assert detect_format(path, "csv") == "csv"  # forced


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", b"", "a.csv: the file is empty"),
        ("a.csv", b"  \n\n", "a.csv: the file is empty"),
        ("a.csv", bytes(range(256)) * 4, "a.csv: binary data"),
        ("a.csv", b"PK\x03\x04rest", "a ZIP archive or Office document"),
        ("a.csv", b"\x1f\x8b\x08\x00", "a compressed file"),
        ("a.json", b'[{"id": 1}]', "a JSON array; write JSON Lines"),
        ("a.jsonl", b"id,title\n", "not JSON Lines"),
        ("a.parquet", b"garbage", "not a readable Parquet file"),
        ("a.xlsx", b"x", "unsupported file format '.xlsx'"),
        ("a.exe", b"x", "unsupported file format '.exe'"),
    ],
)
def test_detect_format_refuses_with_a_named_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=message):
        detect_format(path, None)


def test_detect_format_unknown_forced(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a\n")
    with pytest.raises(FileFormatError, match="unknown format 'xls'; choose one of: auto, csv"):
        detect_format(path, "xls")


def test_sniff_delimiter_ignores_quoted_separators():
    assert sniff_delimiter('"a,b,c";d;e\n1;2;3') == ";"
    assert sniff_delimiter("only\n") == ","
    assert sniff_delimiter("a|b|c\n") == "|"


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("15.00 USD", 15.0, "USD"),
        ("$15", 15.0, "USD"),
        ("1.299,00 EUR", 1299.0, "EUR"),
        ("EUR 12", 12.0, "EUR"),
        ("£9.99", 9.99, "GBP"),
        ("12,50 €", 12.5, "EUR"),
        ("1,299.00", 1299.0, None),
        ("1 299,00 SEK", 1299.0, "SEK"),
        ("CHF 12.-", 12.0, "CHF"),
        ("usd 7", 7.0, "USD"),
        (" 42 ", 42.0, None),
        (3, 3.0, None),
        (2.5, 2.5, None),
    ],
)
def test_parse_price_common_forms(text, amount, currency):
    price = parse_price(text)
    assert price.amount == pytest.approx(amount) and price.currency == currency


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("cheap", "must be a number, got 'cheap'"),
        ("12 USD EUR", "names two currencies \\(EUR, USD\\)"),
        ("1e400", "must be a finite number"),
        ("nan", "must be a finite number"),
        (float("inf"), "must be a finite number"),
        (10**400, "integer too large for a float"),
        ("1,2,3", "ambiguous number"),
        ("", "is missing or empty"),
        (True, "must be a number, got True"),
        ("9" * 100, "100-character text"),
    ],
)
def test_parse_price_errors(value, message):
    with pytest.raises(PriceError, match=message):
        parse_price(value)
    assert issubclass(PriceError, CatalogError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("in_stock", (True, "in_stock")),
        ("In Stock", (True, "in_stock")),
        ("out_of_stock", (False, "out_of_stock")),
        ("out of stock", (False, "out_of_stock")),
        ("preorder", (False, "preorder")),
        ("backorder", (False, "backorder")),
        ("yes", (True, None)),
        ("FALSE", (False, None)),
        (True, (True, None)),
        (0, (False, None)),
        (7, (True, None)),
        ("12", (True, None)),
        ("0", (False, None)),
        ("", (True, None)),
        (None, (True, None)),
    ],
)
def test_parse_availability(value, expected):
    assert parse_availability(value) == expected


def test_parse_availability_error():
    with pytest.raises(PriceError, match="must be true or false, got 'maybe'"):
        parse_availability("maybe")
    with pytest.raises(PriceError, match="whole quantity"):
        parse_availability(1.5)


def test_html_to_text():
    html = ("<p>Warm &amp; <b>dry</b></p><ul><li>one</li><li>two</li></ul>"
            "<script>alert(1)</script><style>p{}</style>line<br>break")
    assert html_to_text(html) == "Warm & dry\none\ntwo\nline\nbreak"
    assert html_to_text("plain   text\n here") == "plain text here"
    assert html_to_text("size < 10 & light") == "size < 10 & light"
