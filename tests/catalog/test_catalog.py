"""Catalog loaders and store: good files in three formats, and every bad-input case named."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image

from shelfwise.catalog import CatalogStore, Product, load_catalog, load_products
from shelfwise.errors import CatalogError

HEADER = "id,title,description,category,price,currency,attributes,image,in_stock\n"


@pytest.fixture()
def image(tmp_path):
    path = tmp_path / "bag.png"
    Image.new("RGB", (8, 8), (200, 20, 20)).save(path)
    return path


def _csv(tmp_path, rows: str, name: str = "cat.csv"):
    path = tmp_path / name
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def test_csv_round_trip_with_attributes_and_images(tmp_path, image):
    path = _csv(
        tmp_path,
        'a1,Red Bag,Nice,Bags,10.5,eur,"{""colour"": ""red""}",bag.png,no\n'
        "a2,Blue Shoe,,shoes,3,,,,\n",
    )
    products = load_products(path)
    assert [p.id for p in products] == ["a1", "a2"]
    a1 = products[0]
    assert (a1.category, a1.price, a1.currency, a1.in_stock) == ("bags", 10.5, "EUR", False)
    assert a1.attributes == {"colour": "red"} and a1.image == str(image.resolve())
    assert products[1].image is None and products[1].in_stock and products[1].currency == "USD"
    assert "colour: red" in a1.text() and a1.title in a1.text()


def test_jsonl_and_parquet_and_attr_columns(tmp_path):
    rows = [
        {"id": "j1", "title": "Hat", "category": "hats", "price": 5, "attr_colour": "black"},
        {
            "id": "j2",
            "title": "Cap",
            "category": "hats",
            "price": 7.25,
            "attributes": {"material": "wool"},
        },
    ]
    jl = tmp_path / "c.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    pq = tmp_path / "c.parquet"
    pd.DataFrame(
        [{"id": "j1", "title": "Hat", "category": "hats", "price": 5.0, "attr_colour": "black"}]
    ).to_parquet(pq)
    from_jl = load_products(jl)
    assert from_jl[0].attributes == {"colour": "black"}
    assert from_jl[1].attributes == {"material": "wool"}
    assert load_products(pq)[0].attributes == {"colour": "black"}


BAD_ROWS = [
    ("x1,,d,bags,10,,,,\n", "row 1: field 'title': is missing or empty"),
    ("x1,T,d,bags,-3,,,,\n", "row 1: field 'price': must be >= 0, got -3"),
    ("x1,T,d,bags,cheap,,,,\n", "row 1: field 'price': must be a number, got 'cheap'"),
    ("x1,T,d,,10,,,,\n", "row 1: field 'category': is missing or empty"),
    (
        "x1,T,d,bags,10,,,,\nx1,U,d,bags,11,,,,\n",
        "row 2: field 'id': duplicate id 'x1' \\(first seen in row 1\\)",
    ),
    ("x1,T,d,bags,10,,[1],,\n", "row 1: field 'attributes': must be a JSON object"),
    ("x1,T,d,bags,10,,,,maybe\n", "row 1: field 'in_stock': must be true or false, got 'maybe'"),
    ("x1,T,d,bags,nan,,,,\n", "row 1: field 'price': must be a finite number"),
]


@pytest.mark.parametrize(("rows", "message"), BAD_ROWS)
def test_bad_rows_name_file_row_and_field(tmp_path, rows, message):
    (tmp_path / "notimage.png").write_text("not a png")
    path = _csv(tmp_path, rows)
    with pytest.raises(CatalogError, match=f"cat.csv: {message}"):
        load_products(path)


def test_missing_image_file_loads_the_product_without_it_and_lists_it(tmp_path):
    # Deliberate change (issue 9): a missing picture no longer refuses the product; it gets a
    # text-only vector and is named in the side file.
    path = _csv(tmp_path, "x1,T,d,bags,10,,,missing.png,\n")
    result = load_catalog(path)
    assert result.products[0].image is None and not result.rejects
    assert [m.kind for m in result.missing_images] == ["image_missing"]
    assert "missing.png" in result.missing_images[0].reason
    side = [json.loads(x) for x in result.rejects_path.read_text().splitlines()]
    assert side[0]["kind"] == "image_missing" and side[0]["raw"] == {"id": "x1"}


def test_unreadable_image_file_loads_the_product_without_it_and_lists_why(tmp_path):
    # Issue 9: a picture that is not an image costs the product its image, not its row;
    # only files over the byte/pixel limits (possible bombs) refuse the row.
    (tmp_path / "notimage.png").write_text("not a png")
    path = _csv(tmp_path, "x1,T,d,bags,10,,,notimage.png,\n")
    result = load_catalog(path)
    assert result.products[0].image is None and not result.rejects
    assert "not a readable image" in result.missing_images[0].reason
    assert result.missing_images[0].reason.endswith("loaded without an image")


def test_non_utf8_text_is_named(tmp_path):
    path = tmp_path / "cat.csv"
    path.write_bytes(HEADER.encode() + b"x1,Caf\xe9 Bag,d,bags,10,,,,\n")
    with pytest.raises(CatalogError, match="row 1: field 'title': is not valid UTF-8 text"):
        load_products(path)


def test_wrong_types_in_jsonl(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(
        json.dumps({"id": "a", "title": ["x"], "category": "c", "price": 1}) + "\n" + "{not json\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match="row 1: field 'title': must be text, got list"):
        load_products(path)
    result = load_catalog(path, skip_invalid=True)
    assert [r.field for r in result.rejects] == ["title", "json"]
    assert "not valid JSON" in result.rejects[1].reason


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.xlsx", "x", "unsupported file format '.xlsx' \\(a spreadsheet\\)"),
        (
            "c.csv",
            "name,price\nx,1\n",
            "CSV header lacks required column\\(s\\) id, title, category",
        ),
        ("c.csv", "", "c.csv: the file is empty"),
        ("c.parquet", "garbage", "not a readable Parquet file"),
    ],
)
def test_bad_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CatalogError, match=message):
        load_products(path)


def test_missing_file(tmp_path):
    with pytest.raises(CatalogError, match="nope.csv: catalog file not found"):
        load_products(tmp_path / "nope.csv")


def test_skip_invalid_writes_every_reject_with_its_reason(tmp_path):
    path = _csv(
        tmp_path,
        "ok1,T,d,bags,1,,,,\nbad1,,d,bags,1,,,,\nok2,T,d,bags,2,,,,\n"
        "bad2,T,d,bags,-1,,,,\nok1,T,d,bags,3,,,,\n",
    )
    result = load_catalog(path, skip_invalid=True)
    assert [p.id for p in result.products] == ["ok1", "ok2"]
    assert result.rejects_path == tmp_path / "cat.csv.rejects.jsonl"
    lines = [json.loads(x) for x in result.rejects_path.read_text().splitlines()]
    assert [(r["row"], r["field"]) for r in lines] == [(2, "title"), (4, "price"), (5, "id")]
    assert all(r["reason"] for r in lines) and lines[0]["raw"]["id"] == "bad1"
    # every input row is accounted for: loaded + rejected == rows in the file
    assert len(result.products) + len(lines) == 5


def test_store_upsert_get_and_order(tmp_path):
    store = CatalogStore(tmp_path / "c.sqlite")
    a = Product("a", "A", "", "bags", 1.0, attributes={"colour": "red"})
    b = Product("b", "B", "", "hats", 2.0)
    assert store.upsert([a, b]) == 2
    store.upsert([Product("a", "A2", "", "bags", 5.0)])
    assert len(store) == 2 and store.get("a").title == "A2" and store.get("zz") is None
    assert [p.id for p in store.all()] == ["a", "b"]
    assert [p.id for p in store.by_ids(["b", "zz", "a"])] == ["b", "a"]
    assert store.categories() == ["bags", "hats"]
    with pytest.raises(CatalogError, match="unknown product id 'zz'"):
        store.require("zz")
    store.close()
    reopened = CatalogStore(tmp_path / "c.sqlite")
    assert reopened.get("b") == b
