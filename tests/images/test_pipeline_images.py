"""Index builds over catalogs with some, no, broken and not-yet-fetched images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from shelfwise.catalog import CatalogStore, Product
from shelfwise.cli import main
from shelfwise.pipeline import MIN_ALIGN_IMAGES, build_workspace_index, load_encoders
from shelfwise.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parents[1] / "textonly"))
from _shop import products, write_catalog  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _pngs import png_declaring  # noqa: E402

FAST_ALIGN = "[encoders]\nalign_epochs = 2\n"


def _ws(tmp_path: Path) -> Workspace:
    ws = Workspace.resolve(tmp_path / "ws").ensure()
    ws.config_file.write_text(FAST_ALIGN)
    return ws


def _text_vector(engine, product_id: str) -> np.ndarray:
    product = engine.catalog.require(product_id)
    return engine.encoders.encode_texts([product.text()])[0]


def _ingest(capsys, ws: Workspace, catalog: Path) -> dict:
    code = main(["ingest", str(catalog), "--json", "--workspace", str(ws.root)])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)["index"]


def test_some_images_fuse_only_where_there_is_one(tmp_path, capsys):
    from shelfwise.engine import Engine

    ws = _ws(tmp_path)
    index = _ingest(capsys, ws, write_catalog(tmp_path / "files", n_images=24))
    assert index["images_used"] == 24 and index["images_missing"] == 0
    assert index["image_model"].startswith("aligned") and index["aligner_trained"] is True
    engine = Engine.open(ws)
    try:
        with_image, without = "k0003", "k0050"
        for pid, fused in ((with_image, True), (without, False)):
            cos = float(engine.index.vectors([pid])[0] @ _text_vector(engine, pid))
            assert (cos < 0.999) if fused else cos == pytest.approx(1.0, abs=1e-5)
        hits = engine.search(image=tmp_path / "files" / "pics" / "k0003.png", k=5)
        assert len(hits) == 5  # image queries work on a partly pictured catalog
    finally:
        engine.close()


def test_vanished_unreadable_and_bomb_images_become_text_only(tmp_path, capsys):
    from shelfwise.engine import Engine

    ws = _ws(tmp_path)
    files = tmp_path / "files"
    _ingest(capsys, ws, write_catalog(files, n_images=24))
    (files / "pics" / "k0001.png").unlink()
    (files / "pics" / "k0002.png").write_bytes(b"these bytes are not a picture")
    (files / "pics" / "k0003.png").write_bytes(png_declaring(30_000, 30_000))
    report = build_workspace_index(ws, progress=False)
    assert report.images_missing == 3 and report.images_used == 21
    assert report.images_not_fetched == 0
    reasons = dict(report.missing_images)
    assert reasons["k0001"].startswith("image file not found:")
    assert "not a readable image" in reasons["k0002"]
    assert "decompression bomb" in reasons["k0003"]
    engine = Engine.open(ws)
    try:
        for pid in ("k0001", "k0002", "k0003"):
            cos = float(engine.index.vectors([pid])[0] @ _text_vector(engine, pid))
            assert cos == pytest.approx(1.0, abs=1e-5)
    finally:
        engine.close()


def test_too_few_images_give_a_text_only_index(tmp_path, capsys):
    ws = _ws(tmp_path)
    index = _ingest(capsys, ws, write_catalog(tmp_path / "files", n_images=MIN_ALIGN_IMAGES - 1))
    assert index["image_model"] == "none" and index["images_used"] == 0
    assert index["aligner_trained"] is False
    code = main(["encoders", "align-images", "--workspace", str(ws.root)])
    err = capsys.readouterr().err
    assert code == 2 and f"at least {MIN_ALIGN_IMAGES} products with usable images" in err


def test_load_encoders_none_opens_only_the_text_encoder(tmp_path):
    encoders = load_encoders(Workspace.resolve(tmp_path), "default", "none")
    assert encoders.has_images is False and encoders.encode_texts(["a mug"]).shape == (1, 384)
    with pytest.raises(Exception, match="this index is text-only"):
        encoders.encode_images([tmp_path / "x.png"])


def _url_catalog(ws: Workspace, base: str, n_urls: int) -> None:
    rows = products()
    items = [
        Product(r["id"], r["title"], r["description"], r["category"], float(r["price"]),
                image=f"{base}/img/{i}.png" if i < n_urls else None)
        for i, r in enumerate(rows)
    ]
    store = CatalogStore(ws.catalog_db)
    try:
        store.upsert(items)
    finally:
        store.close()


def test_images_fetch_cli_then_index_uses_the_downloads(tmp_path, image_server, capsys):
    ws = _ws(tmp_path)
    _url_catalog(ws, image_server.base, 24)
    before = build_workspace_index(ws, progress=False)
    assert before.images_not_fetched == 24 and before.image_model == "none"

    argv = ["images", "fetch", "--json", "--workspace", str(ws.root)]
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["fetch"]["requested"] == 24 and data["fetch"]["fetched"] == 24
    assert data["fetch"]["failed"] == [] and data["fetch"]["cached"] == 0
    assert data["index"]["images_used"] == 24 and data["index"]["images_not_fetched"] == 0
    assert data["index"]["image_model"].startswith("aligned")

    code = main([*argv, "--no-build-index"])
    out = capsys.readouterr()
    assert code == 0, out.err
    again = json.loads(out.out)
    assert (again["fetch"]["fetched"], again["fetch"]["cached"]) == (0, 24)
    assert again["index"] is None
    assert image_server.hits["/img/0.png"] == 1

    code = main(["images", "fetch", "--workspace", str(ws.root), "--no-build-index"])
    out = capsys.readouterr()
    assert code == 0 and "0 fetched, 24 already cached, 0 failed" in out.out


def test_images_fetch_cli_errors(tmp_path, image_server, capsys):
    ws = _ws(tmp_path)
    code = main(["images", "fetch", "--workspace", str(ws.root)])
    assert code == 2 and "no catalog yet" in capsys.readouterr().err

    store = CatalogStore(ws.catalog_db)
    store.upsert([Product("a", "A mug", "", "mugs", 5.0, image=f"{image_server.base}/missing.png"),
                  Product("b", "A pan", "", "pans", 9.0, image=f"{image_server.base}/page.html")])
    store.close()
    code = main(["images", "fetch", "--json", "--workspace", str(ws.root)])
    out = capsys.readouterr()
    assert code == 2
    assert "error: none of the 2 image URLs could be fetched" in out.err
    assert "Traceback" not in out.err
    data = json.loads(out.out)  # the report is printed before the error
    assert data["fetch"]["requested"] == 2 and len(data["fetch"]["failed"]) == 2

    code = main(["images", "fetch", "--workers", "0", "--workspace", str(ws.root)])
    assert code == 2 and "workers must be an integer in [1, 64], got 0" in capsys.readouterr().err

    assert main(["images", "fetch", "--help"]) == 0
    help_text = capsys.readouterr().out
    for option in ("--force", "--workers", "--timeout", "--retries", "--no-build-index",
                   "--json"):
        assert option in help_text
