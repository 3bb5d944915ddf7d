"""GET /products/{id}/image serves the downloaded copy of an image URL once it was fetched.

The recommender is doubled (a catalog lookup only): this tests the service's choice of file.
"""

from types import SimpleNamespace

from shelfwise.catalog import Product
from shelfwise.image_fetch import ImageUrlCache
from shelfwise.serve.service import RecommendationService
from shelfwise.workspace import Workspace

URL = "https://cdn.example.invalid/p1.png"


def _service(ws: Workspace) -> RecommendationService:
    product = Product(id="p1", title="Mug", description="", category="kitchen", price=5.0,
                      image=URL)
    catalog = SimpleNamespace(product=lambda pid: product)
    return RecommendationService(catalog, chat=object(), workspace_root=ws.root)


def test_unfetched_url_is_a_redirect_target_and_fetched_one_a_local_file(tmp_path):
    ws = Workspace.resolve(tmp_path / "ws").ensure()
    service = _service(ws)
    assert service.image("p1") == URL  # nothing fetched: the browser is sent to the shop's CDN
    with ImageUrlCache(ws) as cache:
        stored = cache.store(URL, b"\x89PNG fake bytes", ".png")
    assert service.image("p1") == stored  # fetched: served offline from the workspace
    assert stored.read_bytes().startswith(b"\x89PNG")
