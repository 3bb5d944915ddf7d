"""Every command that opens the engine warns once when the catalog changed after the index."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from shelfwise.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from _shop import write_catalog  # noqa: E402

WARNING = "warning: the product index is older than the catalog"


@pytest.fixture(autouse=True)
def fresh_warning_memory(monkeypatch):
    """The warning is printed once per process; each test starts as a new process would."""
    import shelfwise.engine

    monkeypatch.setattr(shelfwise.engine, "_STALE_WARNED", set())


def _search(capsys, ws) -> str:
    code = main(["search", "mug", "-k", "2", "--json", "--workspace", str(ws.root)])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.err


def test_ingest_without_index_build_warns_until_rebuilt(textonly_ws, tmp_path, capsys):
    from shelfwise.engine import Engine

    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"id": "new1", "title": "Teal Stoneware Mug", "price": 9.5,
                                 "category": "mugs", "description": "A teal mug."}) + "\n")
    code = main(["ingest", str(extra), "--no-build-index", "--workspace",
                 str(textonly_ws.root)])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()

    err = _search(capsys, textonly_ws)
    assert err.count(WARNING) == 1
    assert "61 products now, 60 indexed" in err and "`shelfwise index build`" in err
    assert WARNING not in _search(capsys, textonly_ws)  # once per process

    engine = Engine.open(textonly_ws, warn_stale=False)  # library callers can ask quietly
    try:
        assert engine.index_warning and "61 products now" in engine.index_warning
    finally:
        engine.close()

    assert main(["index", "build", "--json", "--workspace", str(textonly_ws.root)]) == 0
    capsys.readouterr()
    import shelfwise.engine

    shelfwise.engine._STALE_WARNED.clear()
    assert WARNING not in _search(capsys, textonly_ws)


def test_reingesting_the_same_rows_is_not_stale(textonly_ws, tmp_path, capsys):
    catalog = write_catalog(tmp_path / "again")
    code = main(["ingest", str(catalog), "--no-build-index", "--workspace",
                 str(textonly_ws.root)])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    assert WARNING not in _search(capsys, textonly_ws)


def test_changed_product_is_stale(textonly_ws, capsys):
    from shelfwise.catalog import CatalogStore

    store = CatalogStore(textonly_ws.catalog_db)
    try:
        mug = store.require("k0020")
        store.upsert([type(mug)(**{**mug.to_dict(), "price": mug.price + 1})])
    finally:
        store.close()
    err = _search(capsys, textonly_ws)
    assert err.count(WARNING) == 1 and "60 products now, 60 indexed" in err
