"""``shelfwise ingest-events`` and ``shelfwise events export`` on a tiny workspace.

The workspace holds 20 products ``p0000..p0019`` (no index: importing needs only the catalog).
Bad files and bad rows are table-driven: each case asserts the named message and exit 2.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shelfwise.catalog import CatalogStore, Product
from shelfwise.cli import main
from shelfwise.events import SQLiteEventStore
from shelfwise.workspace import Workspace

HEADER = "customer_id,SKU,Timestamp,Event,Revenue,Qty,session\n"
GOOD = ("c1,p0001,2024-01-02T03:04:05Z,view,,,s1\n"
        "c1,p0002,1704164646,order,12.5,2,s1\n"
        "c2,p0003,1704164647000,addtocart,,,\n")


@pytest.fixture
def ws(tmp_path):
    space = Workspace.resolve(tmp_path / "ws").ensure()
    store = CatalogStore(space.catalog_db)
    store.upsert([Product(id=f"p{i:04d}", title=f"thing {i}", description="", category="bags",
                          price=10.0 + i, attributes={}, image=None, in_stock=True)
                  for i in range(20)])
    store.close()
    return space


def run(capsys, ws, *argv):
    code = main([*argv, "--workspace", str(ws.root)])
    out = capsys.readouterr()
    return code, out


def ingest(capsys, ws, path, *extra):
    code, out = run(capsys, ws, "ingest-events", str(path), "--json", *extra)
    return code, (json.loads(out.out) if code == 0 else None), out.err


def stored(ws):
    with SQLiteEventStore(ws.events_db) as store:
        return list(store.interactions())


def write(tmp_path, name, text, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_shop_columns_and_words(ws, tmp_path, capsys):
    path = write(tmp_path, "hist.csv", HEADER + GOOD + "c2,p9999,2024-01-02,view,,,\n")
    code, summary, err = ingest(capsys, ws, path)
    assert code == 0, err
    assert summary["columns"] == {"user": "customer_id", "product": "SKU", "time": "Timestamp",
                                  "kind": "Event", "value": "Revenue", "quantity": "Qty",
                                  "session": "session"}
    assert (summary["read"], summary["inserted"], summary["duplicates"],
            summary["rejected"], summary["unknown_products"]) == (4, 3, 0, 1, 1)
    assert summary["kinds"] == {"view": 1, "purchase": 1, "add_to_cart": 1}
    assert summary["rows_per_second"] > 0 and summary["seconds"] >= 0
    rejects = [json.loads(line) for line in open(summary["rejects_file"], encoding="utf-8")]
    assert rejects == [{"file": str(path), "row": 4, "field": "product",
                        "reason": "unknown product 'p9999': not in the workspace catalog",
                        "category": "unknown_product",
                        "raw": {"customer_id": "c2", "SKU": "p9999", "Timestamp": "2024-01-02",
                                "Event": "view", "Revenue": None, "Qty": None,
                                "session": None}}]
    rows = {(r.user_id, r.product_id): r for r in stored(ws)}
    assert rows[("c1", "p0001")].time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    buy = rows[("c1", "p0002")]
    assert (buy.kind, buy.value, buy.quantity, buy.session_id, buy.time) == (
        "purchase", 12.5, 2, "s1", 1704164646.0)
    assert rows[("c2", "p0003")].time == 1704164647.0  # milliseconds recognised
    assert rows[("c2", "p0003")].kind == "add_to_cart"


def test_reimport_adds_nothing(ws, tmp_path, capsys):
    path = write(tmp_path, "hist.csv", HEADER + GOOD)
    assert ingest(capsys, ws, path)[1]["inserted"] == 3
    code, again, _ = ingest(capsys, ws, path)
    assert code == 0 and (again["inserted"], again["duplicates"]) == (0, 3)
    assert len(stored(ws)) == 3
    # the same rows in another format and order are the same interactions
    jsonl = write(tmp_path, "hist.jsonl", "\n".join(json.dumps(r) for r in [
        {"user": "c2", "product": "p0003", "time": 1704164647000, "kind": "add_to_cart"},
        {"user": "c1", "product": "p0001", "time": "2024-01-02T04:04:05+01:00",
         "kind": "view", "session": "s1"}]) + "\n")
    code, third, err = ingest(capsys, ws, jsonl)
    assert code == 0, err
    assert (third["inserted"], third["duplicates"]) == (0, 2)


def test_tsv_jsonl_parquet_and_maps(ws, tmp_path, capsys):
    tsv = write(tmp_path, "views.txt", "visitor\titem\twhen\n"
                "v1\tp0005\t2024-03-01 10:00:00\n")
    code, s, err = ingest(capsys, ws, tsv, "--kind", "view", "--map", "time=when")
    assert code == 0, err
    assert s["format"] == "tsv" and s["columns"]["time"] == "when" and s["kinds"] == {"view": 1}
    jsonl = write(tmp_path, "ev.jsonl", json.dumps(
        {"uid": "j1", "sku": "p0006", "at": 1709287200, "what": "bestellung",
         "note": "a\u2028b"}) + "\n")
    code, s, err = ingest(capsys, ws, jsonl, "--map", "user=uid", "--map", "time=at",
                          "--map", "kind=what", "--map-kind", "Bestellung=purchase")
    assert code == 0, err
    assert s["inserted"] == 1 and s["kinds"] == {"purchase": 1}
    table = pa.table({"user_id": ["q1", "q1"], "product_id": ["p0007", "p0008"],
                      "ts": pa.array([1_709_287_200_000, 1_709_287_260_000],
                                     pa.timestamp("ms", tz="UTC")),
                      "type": pa.array(["click", "purchase"]).dictionary_encode(),
                      "quantity": [1, 3]})
    pq.write_table(table, tmp_path / "ev.parquet")
    code, s, err = ingest(capsys, ws, tmp_path / "ev.parquet")
    assert code == 0, err
    assert s["format"] == "parquet" and s["inserted"] == 2
    by_product = {r.product_id: r for r in stored(ws)}
    assert by_product["p0006"].value == pytest.approx(16.0)  # purchase: catalog price x 1
    assert by_product["p0008"].value == pytest.approx(54.0)  # 18.0 x 3
    assert by_product["p0007"].value is None and by_product["p0007"].time == 1709287200.0
    assert by_product["p0005"].time == datetime(2024, 3, 1, 10, tzinfo=UTC).timestamp()


BAD_ROWS = [
    ("c1,,2024-01-02,view,,,", "product", "is missing"),
    (",p0001,2024-01-02,view,,,", "user", "is missing"),
    ("c1,p0001,yesterday,view,,,", "time", "cannot read 'yesterday' as a time"),
    ("c1,p0001,2024-13-45,view,,,", "time", "cannot read '2024-13-45' as a time"),
    ("c1,p0001,-5,view,,,", "time", "is outside 1970-2100"),
    ("c1,p0001,1e400,view,,,", "time", "'1e400' is outside 1970-2100"),
    ("c1,p0001," + "9" * 400 + ",view,,,", "time", "is outside 1970-2100"),
    ("c1,p0001,2024-01-02,,,,", "kind", "is missing"),
    ("c1,p0001,2024-01-02,wishlist,,,", "kind", "unknown kind 'wishlist'"),
    ("c1,p0001,2024-01-02,order,NaN,,", "value", "must be a finite number"),
    ("c1,p0001,2024-01-02,order,-3,,", "value", "must be >= 0, got '-3'"),
    ("c1,p0001,2024-01-02,order,lots,,", "value", "cannot read 'lots' as a number"),
    ("c1,p0001,2024-01-02,order,,-2,", "quantity", "must be a whole number from 1"),
    ("c1,p0001,2024-01-02,order,,1.5,", "quantity", "must be a whole number from 1"),
    ("c1,p0001,2024-01-02,order,,0,", "quantity", "must be a whole number from 1"),
    ("c\x01x,p0001,2024-01-02,view,,,", "user", "contains control characters"),
    ("c1,p0001,2024-01-02,view,,,,,", "row", "malformed CSV row (line 3): expected 7 cells, got 9"),
]


@pytest.mark.parametrize(("line", "field", "message"), BAD_ROWS)
def test_bad_row_stops_with_a_named_error(ws, tmp_path, capsys, line, field, message):
    path = write(tmp_path, "bad.csv", HEADER + "c9,p0000,2024-01-01,view,,,\n" + line + "\n"
                 + "c9,p0004,2024-01-03,view,,,\n")
    code, _, err = ingest(capsys, ws, path)
    assert code == 2
    assert err.startswith(f"error: {path}: row 2: {field}: ")
    assert message in err and "--skip-invalid" in err and "Traceback" not in err
    assert [r.product_id for r in stored(ws)] == ["p0000"]  # the row before it is stored


@pytest.mark.parametrize(("line", "field", "message"), BAD_ROWS)
def test_bad_row_is_a_named_reject_with_skip_invalid(ws, tmp_path, capsys, line, field,
                                                     message):
    path = write(tmp_path, "bad.csv", HEADER + "c9,p0000,2024-01-01,view,,,\n" + line + "\n"
                 + "c9,p0004,2024-01-03,view,,,\n")
    rejects = tmp_path / "out" / "rejects.jsonl"
    code, s, err = ingest(capsys, ws, path, "--skip-invalid", "--rejects", str(rejects))
    assert code == 0, err
    assert (s["inserted"], s["rejected"], s["invalid"]) == (2, 1, 1)
    assert s["rejects_file"] == str(rejects)
    (reject,) = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert (reject["row"], reject["field"], reject["category"]) == (2, field, "invalid")
    assert message in reject["reason"]


JSONL_BAD = [
    ('{"user": "u", "product": "p0001", "time": 1, "kind": "view"' + "]" * 1,
     "json", "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "json", "JSON"),
    ('{"user": "u", "product": "p0001", "time": ' + "9" * 5000 + ', "kind": "view"}',
     "time", "is outside 1970-2100"),
    ('{"user": "u\\ud800", "product": "p0001", "time": 1, "kind": "view"}', "row",
     "lone surrogate"),
    ('{"user": {"id": 1}, "product": "p0001", "time": 1, "kind": "view"}', "user",
     "must be a single value, got an object"),
    ('{"user": "u", "product": "p0001", "time": 10e400, "kind": "view"}', "time",
     "outside 1970-2100"),
    ('{"user": "u", "product": "p0001", "time": 1, "kind": "view", "quantity": '
     + "9" * 30 + "}", "quantity", "must be a whole number from 1"),
    # a column that changes type sends the chunk to the careful path
    ('{"user": "u", "product": "p0001", "time": 1, "kind": "view", "quantity": '
     + "9" * 30 + '}\n{"user": "u", "product": "p0001", "time": 2, "kind": "view", '
     '"quantity": "2"}', "quantity", "number too large"),
    ('{"user": true, "product": "p0001", "time": 1, "kind": "view"}', "user",
     "must be text or a number, got true"),
    ('["u", "p0001"]', "json", "each line must be a JSON object, got list"),
]


@pytest.mark.parametrize(("line", "field", "message"), JSONL_BAD)
def test_jsonl_hazards_are_named_rejects(ws, tmp_path, capsys, line, field, message):
    first = json.dumps({"user": "u0", "product": "p0000", "time": 1000, "kind": "view"})
    path = write(tmp_path, "bad.jsonl", first + "\n" + line + "\n")
    code, _, err = ingest(capsys, ws, path)
    assert code == 2 and f"row 2: {field}: " in err and message in err, err
    assert "Traceback" not in err
    rejects = tmp_path / "r.jsonl"
    code, s, err = ingest(capsys, ws, path, "--skip-invalid", "--rejects", str(rejects))
    assert code == 0, err
    assert s["invalid"] == 1 and message in rejects.read_text(encoding="utf-8")


def test_unicode_line_separator_inside_jsonl_is_one_record(ws, tmp_path, capsys):
    path = write(tmp_path, "sep.jsonl", json.dumps(
        {"user": "a\u2028b", "product": "p0001", "time": 5, "kind": "view"},
        ensure_ascii=False) + "\n")
    code, s, err = ingest(capsys, ws, path)
    assert code == 0, err
    assert s["read"] == 1 and s["inserted"] == 1
    assert [r.user_id for r in stored(ws)] == ["a\u2028b"]


def test_undecodable_bytes_reject_only_their_row(ws, tmp_path, capsys):
    path = write(tmp_path, "latin.csv", (HEADER + "c1,p0001,2024-01-02,view,,,\n").encode()
                 + b"caf\xe9,p0002,2024-01-02,view,,,\n", mode="wb")
    code, _, err = ingest(capsys, ws, path)
    assert code == 2 and "row 2: user: is not valid UTF-8 text" in err
    code, s, err = ingest(capsys, ws, path, "--skip-invalid")
    # row 1 was stored by the run that stopped; the re-run adds nothing twice
    assert code == 0 and (s["inserted"], s["duplicates"], s["invalid"]) == (0, 1, 1)


@pytest.mark.parametrize(("content", "extra", "message"), [
    (b"", (), "the file is empty"),
    (b"\x00\x01\x02\xff" * 200, (), "binary data"),
    (b"PK\x03\x04garbage", (), "ZIP archive"),
    (b"user,product,kind\nu,p0001,view\n", (), "no time column"),
    (b"user,product,time\nu,p0001,1\n", (), "no kind column"),
    (b"user,product,time,kind\n", (), "no interactions in the file (no data rows)"),
    (b"user,product,time,kind\nu,p0099,1,view\n", (), "nothing loaded: all 1 rows were "
     "rejected (1 unknown products, 0 invalid)"),
    (b"user,product,time,kind\nu,p0001,1,view\n", ("--map", "user=customer"),
     "--map user=customer: no such column"),
    (b"user,product,time,kind\nu,p0001,1,view\n", ("--map", "colour=x"),
     "unknown field 'colour'"),
    (b"user,product,time,kind\nu,p0001,1,view\n", ("--map-kind", "order=wish"),
     "'wish' is not a kind"),
    (b"user,product,time,kind\nu,p0001,1,view\n", ("--kind", "order2"),
     "--kind: 'order2' is not a kind"),
    (b"user,product,time,kind\nu,p0001,1,view\n", ("--format", "xls"), "unknown format 'xls'"),
])
def test_bad_files_are_named_errors(ws, tmp_path, capsys, content, extra, message):
    path = write(tmp_path, "f.csv", content, mode="wb")
    code, _, err = ingest(capsys, ws, path, *extra)
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert "Traceback" not in err


def test_bad_parquet_and_missing_things(ws, tmp_path, capsys):
    bad = write(tmp_path, "x.parquet", b"PAR1" + b"\x00" * 50, mode="wb")
    code, _, err = ingest(capsys, ws, bad)
    assert code == 2 and "not a readable Parquet file" in err
    code, _, err = ingest(capsys, ws, tmp_path / "nope.csv")
    assert code == 2 and "interactions file not found" in err
    empty_ws = Workspace.resolve(tmp_path / "empty")
    code, out = run(capsys, empty_ws, "ingest-events", str(bad))
    assert code == 2 and "no catalog yet" in out.err


def test_export_writes_organic_and_served_rows(ws, tmp_path, capsys):
    from shelfwise.events import Click, Impression

    path = write(tmp_path, "hist.csv", HEADER + GOOD)
    assert ingest(capsys, ws, path)[0] == 0
    with SQLiteEventStore(ws.events_db) as store:
        store.log_impression(Impression("e1", "s1", "c1", ("p0004", "p0005"), (0.5, 0.5),
                                        "random", "1", time=1.7e9))
        store.log_click(Click("k1", "s1", "c1", "p0005", 1, time=1.7e9 + 1))
    out = tmp_path / "log.parquet"
    code, res = run(capsys, ws, "events", "export", str(out), "--json")
    assert code == 0, res.err
    summary = json.loads(res.out)
    assert summary["rows"] == 6 and summary["by_source"] == {"organic": 3, "served": 3}
    table = pq.read_table(out)
    assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC")
    df = table.to_pandas()
    assert sorted(df["kind"]) == ["add_to_cart", "click", "impression", "impression",
                                  "purchase", "view"]
    served = df[df["source"] == "served"]
    assert served["slate_id"].eq("s1").all() and served["propensity"].notna().sum() == 2
    assert df[df["source"] == "organic"]["propensity"].isna().all()
    code, res = run(capsys, ws, "events", "export", str(out))
    assert code == 2 and "exists; pass --overwrite" in res.err
    code, res = run(capsys, ws, "events", "export", str(out), "--overwrite")
    assert code == 0 and "6 rows (3 organic, 3 served)" in res.out


def test_export_without_a_log(tmp_path, capsys):
    code, res = run(capsys, Workspace.resolve(tmp_path / "none"), "events", "export",
                    str(tmp_path / "x.parquet"))
    assert code == 2 and "no event log" in res.err


@pytest.mark.parametrize("argv", [["ingest-events", "--help"], ["events", "--help"],
                                  ["events", "export", "--help"]])
def test_help(capsys, argv):
    assert main(argv) == 0
    assert "Usage" in capsys.readouterr().out
