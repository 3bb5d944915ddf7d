"""A text-only shop (60 kitchen goods and books, no images) end to end, offline.

The same kinds of checks as the demo store's CLI, API and batch tests: search, similar,
chat --once, train, serve (TestClient) and batch. ``train --from sim`` needs the demo store's
latent attribute table (the simulator's ground truth), so on this shop it is a clear error and
training runs ``--from events`` on the slates the chat logged.
"""

from __future__ import annotations

import json
import uuid

import pandas as pd
import pytest

from shelfwise.cli import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ingest_builds_a_text_only_index(textonly_built):
    ws, report = textonly_built
    assert report["loaded"] == 60 and report["rejected"] == 0
    index = report["index"]
    assert index["n_products"] == 60 and index["image_model"] == "none"
    assert index["images_used"] == 0 and index["images_missing"] == 0
    assert index["images_encoded"] == 0 and index["aligner_trained"] is False
    assert not (ws.models_dir / "image-aligner").exists()  # nothing to align, nothing trained
    meta = json.loads((ws.index_dir / "meta.json").read_text())
    assert meta["model_names"]["image"] == "none"


def test_search_and_similar(textonly_ws, capsys):
    w = ["--workspace", str(textonly_ws.root)]
    code, out, err = _run(capsys, "search", "cast iron skillet", "-k", "3", "--json", *w)
    assert code == 0, err
    hits = json.loads(out)
    assert hits[0]["title"] == "Cast Iron Skillet" and hits[0]["category"] == "cookware"
    assert "warning" not in err  # the index is fresh
    code, out, err = _run(capsys, "search", "italian recipes", "--category", "cookbooks",
                          "--max-price", "40", "-k", "5", "--json", *w)
    assert code == 0, err
    hits = json.loads(out)
    assert hits and all(h["category"] == "cookbooks" and h["price"] <= 40 for h in hits)
    assert "Italian" in hits[0]["title"]
    code, out, err = _run(capsys, "similar", "k0040", "-k", "4", "--json", *w)  # a novel
    assert code == 0, err
    hits = json.loads(out)
    assert len(hits) == 4 and "k0040" not in {h["id"] for h in hits}
    assert sum(h["category"] == "novels" for h in hits) >= 3


def test_image_search_is_a_clear_error(textonly_ws, tmp_path, capsys):
    from PIL import Image

    pic = tmp_path / "q.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(pic)
    code, out, err = _run(capsys, "search", "--image", str(pic), "--workspace",
                          str(textonly_ws.root))
    assert code == 2 and out == ""
    assert "error: this index is text-only" in err and "Traceback" not in err


def test_chat_once_then_train_from_events(textonly_ws, capsys):
    w = ["--workspace", str(textonly_ws.root)]
    code, out, err = _run(capsys, "chat", "--once", "a cookbook under 30", "--no-llm",
                          "--json", "--user", "ana", *w)
    assert code == 0, err
    data = json.loads(out)
    assert data["slate_id"] and data["products"]
    assert all(p["price"] <= 30 and p["reason"].strip() for p in data["products"])
    code, out, err = _run(capsys, "chat", "--once", "a sharp knife", "--no-llm", "--json",
                          "--user", "ben", *w)
    assert code == 0, err
    assert json.loads(out)["products"]

    code, out, err = _run(capsys, "train", "--policy", "linucb", "--from", "sim", *w)
    assert code == 2 and "no demo store here" in err and "Traceback" not in err

    code, out, err = _run(capsys, "train", "--policy", "linucb", "--from", "events",
                          "--json", *w)
    assert code == 0, err
    report = json.loads(out)
    assert report["policy"] == "linucb"
    assert (textonly_ws.policies_dir / "linucb").exists()


def test_serve_api(textonly_ws):
    from fastapi.testclient import TestClient

    from shelfwise.serve import RecommendationService, create_app

    svc = RecommendationService.open(textonly_ws, policy="linucb", llm=False, seed=0)
    try:
        with TestClient(create_app(svc)) as client:
            r = client.post("/recommend", json={"user_id": "u1", "query": "coffee mug", "k": 4})
            assert r.status_code == 200, r.text
            slate = r.json()
            assert slate["slate_id"] and len(slate["items"]) == 4
            assert sum(i["product"]["category"] == "mugs" for i in slate["items"]) >= 2
            pid = slate["items"][0]["product"]["id"]
            fb = client.post("/feedback", json={"event_id": uuid.uuid4().hex, "kind": "click",
                                                "slate_id": slate["slate_id"], "product_id": pid})
            assert fb.status_code == 200, fb.text
            r = client.post("/chat", json={"conversation_id": "c1",
                                           "message": "a travel guide to Kyoto"})
            assert r.status_code == 200, r.text
            assert r.json()["slate"]["items"]
            product = client.get(f"/products/{pid}")
            assert product.status_code == 200 and product.json()["id"] == pid
            assert client.get(f"/products/{pid}/image").status_code == 404  # no picture
            health = client.get("/health").json()
            assert health["status"] == "ok" and health["products"] == 60
    finally:
        svc.close()


def _users() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": [f"u{i}" for i in range(12)],
        "query": ["cast iron pan", None, "a novel", None] * 3,
        "history": [[], ["k0021", "k0022"], [], ["k0030"]] * 3,
    })


def test_batch_slates_without_ray(textonly_built):
    from shelfwise.batch import OUTPUT_COLUMNS, SlateGenerator, resolve_policy
    from shelfwise.engine import Engine

    engine = Engine.open(textonly_built[0])
    try:
        policy = resolve_policy("greedy", None, dim=engine.dim, seed=0)
        slates = SlateGenerator(engine, policy, k=3, seed=0, reasons="template").slates(_users())
    finally:
        engine.close()
    assert list(slates.columns) == list(OUTPUT_COLUMNS) and len(slates) == 36
    assert slates["reason"].notna().all()
    first = slates[slates["user_id"] == "u0"]["product_id"].tolist()
    assert {int(p[1:]) // 10 for p in first} == {0}  # "cast iron pan" -> cookware (k00xx)


@pytest.mark.ray
def test_batch_cli_on_ray(textonly_built, tmp_path, capsys):
    users = tmp_path / "users.parquet"
    _users().to_parquet(users)
    code, out, err = _run(capsys, "batch", str(users), str(tmp_path / "slates"), "--k", "3",
                          "--workers", "1", "--reasons", "template", "--no-progress", "--json",
                          "--workspace", str(textonly_built[0].root))
    assert code == 0, err
    assert json.loads(out)["users"] == 12
    slates = pd.read_parquet(tmp_path / "slates")
    assert len(slates) == 36 and slates["product_id"].str.match(r"k00\d\d").all()
