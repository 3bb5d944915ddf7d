"""``fetch_images``: downloads over a loopback server, limits, retries, and the URL cache."""

from __future__ import annotations

import pytest

from shelfwise.catalog import Product
from shelfwise.errors import ConfigError
from shelfwise.image_fetch import FetchReport, cached_image_path, fetch_images, fetched_dir
from shelfwise.images import MAX_IMAGE_BYTES
from shelfwise.workspace import Workspace

FAST = {"progress": False, "timeout": 0.5, "retries": 2, "backoff": 0.0, "workers": 4}


def _p(pid: str, image: str | None) -> Product:
    return Product(pid, f"thing {pid}", "", "things", 1.0, image=image)


@pytest.fixture()
def ws(tmp_path) -> Workspace:
    return Workspace.resolve(tmp_path / "ws").ensure()


def _catalog(base: str, refused: str) -> list[Product]:
    products = [_p(f"ok{i}", f"{base}/img/{i}.png") for i in range(5)]
    products += [
        _p("shares-url", f"{base}/img/0.png"),       # same URL as ok0: one download
        _p("same-bytes", f"{base}/same.png"),        # other URL, same bytes: one file
        _p("flaky", f"{base}/flaky.png"),            # 503, 503, then the picture
        _p("missing", f"{base}/missing.png"),        # 404
        _p("html", f"{base}/page.html"),             # not an image
        _p("huge", f"{base}/huge.png"),              # over MAX_IMAGE_BYTES, no length
        _p("declared", f"{base}/declared-huge.png"), # Content-Length over the limit
        _p("slow", f"{base}/slow.png"),              # read timeout
        _p("down", f"{base}/down.png"),              # 500 every time
        _p("bomb", f"{base}/bomb.png"),              # declares 30000x30000
        _p("big-pixels", f"{base}/big-pixels.png"),  # declares 7000x7000 (49 MP > 40 MP)
        _p("refused", refused),                      # nothing listening
        _p("local", "/tmp/not-a-url.png"),           # not a URL: not requested
        _p("none", None),
    ]
    return products


def test_fetch_counts_limits_and_reasons(ws, image_server, refused_url):
    products = _catalog(image_server.base, refused_url)
    report = fetch_images(ws, products, **FAST)
    assert isinstance(report, FetchReport)
    assert report.requested == 17 and report.urls == 16
    assert (report.fetched, report.cached, len(report.failed)) == (8, 0, 9)
    assert report.requested == report.fetched + report.cached + len(report.failed)
    reasons = dict(report.failed)
    assert set(reasons) == {"missing", "html", "huge", "declared", "slow", "down", "bomb",
                            "big-pixels", "refused"}
    assert "HTTP 404" in reasons["missing"]
    assert "not a readable image" in reasons["html"]
    assert f"over {MAX_IMAGE_BYTES:,} bytes; stopped" in reasons["huge"]
    assert "52,428,800 bytes, over" in reasons["declared"]
    assert "timed out" in reasons["slow"]
    assert "HTTP 500" in reasons["down"] and "after 3 attempts" in reasons["down"]
    assert "decompression bomb" in reasons["bomb"]
    assert "7000x7000 pixels, over the limit of 40,000,000" in reasons["big-pixels"]
    assert "ConnectError" in reasons["refused"] and "after 3 attempts" in reasons["refused"]
    for pid, why in report.failed:  # every reason names the URL it is about
        assert next(p.image for p in products if p.id == pid) in why
    # retries: 2 for flaky (then success), 2 for down, 2 for refused; none for 4xx/timeouts
    assert report.retries == 6
    hits = image_server.hits
    assert hits["/flaky.png"] == 3 and hits["/down.png"] == 3
    assert hits["/missing.png"] == 1 and hits["/slow.png"] == 1 and hits["/img/0.png"] == 1
    # reading stopped soon after the limit (socket buffers aside), not at the 200 MiB served
    assert MAX_IMAGE_BYTES < image_server.sent["/huge.png"] < MAX_IMAGE_BYTES + 16 * 2**20
    # content-hash files: 5 pictures + flaky's; same.png shares ok0's file
    files = sorted(f.name for f in fetched_dir(ws).glob("*.png"))
    assert len(files) == 6
    assert cached_image_path(ws, f"{image_server.base}/same.png") == cached_image_path(
        ws, f"{image_server.base}/img/0.png")
    assert cached_image_path(ws, f"{image_server.base}/missing.png") is None
    assert report.bytes_downloaded > 0 and report.seconds > 0
    out = report.to_dict()
    assert out["failed"][0].keys() == {"id", "reason"} and out["requested"] == 17


def test_second_run_uses_the_cache_and_force_downloads_again(ws, image_server):
    products = [_p(f"ok{i}", f"{image_server.base}/img/{i}.png") for i in range(4)]
    first = fetch_images(ws, products, **FAST)
    assert (first.requested, first.fetched, first.cached, first.failed) == (4, 4, 0, [])
    second = fetch_images(ws, products, **FAST)
    assert (second.requested, second.fetched, second.cached, second.failed) == (4, 0, 4, [])
    assert all(image_server.hits[f"/img/{i}.png"] == 1 for i in range(4))  # nothing re-read
    forced = fetch_images(ws, products, force=True, **FAST)
    assert (forced.fetched, forced.cached) == (4, 0)
    assert all(image_server.hits[f"/img/{i}.png"] == 2 for i in range(4))


def test_a_deleted_cache_file_is_fetched_again(ws, image_server):
    products = [_p("a", f"{image_server.base}/img/1.png")]
    fetch_images(ws, products, **FAST)
    path = cached_image_path(ws, products[0].image)
    assert path is not None and path.is_file()
    path.unlink()
    assert cached_image_path(ws, products[0].image) is None
    again = fetch_images(ws, products, **FAST)
    assert (again.fetched, again.cached) == (1, 0) and path.is_file()


def test_nothing_to_fetch_touches_nothing(ws):
    report = fetch_images(ws, [_p("a", None), _p("b", "/x/y.png")], progress=False)
    assert (report.requested, report.fetched, report.cached, report.failed) == (0, 0, 0, [])
    assert not (fetched_dir(ws) / "urls.sqlite").exists()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"workers": 0}, "workers must be an integer in"),
    ({"timeout": 0}, "timeout must be in"),
    ({"retries": -1}, "retries must be an integer in"),
    ({"max_bytes": MAX_IMAGE_BYTES + 1}, "max_bytes must be in"),
])
def test_bad_arguments(ws, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        fetch_images(ws, [], progress=False, **kwargs)
