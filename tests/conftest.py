"""Shared pytest setup: offline by default, and the demo workspace built once per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Tests never reach a model hub: everything they load is bundled in a package or built locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEMO_PRODUCTS = 2000


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory):
    """The full demo store (2,000 products, images, aligned image encoder, index), built once.

    Read-only for tests: a test that writes (events, policies, catalog) takes ``demo_copy``.
    """
    from shelfwise.demo_store import generate_demo_store
    from shelfwise.pipeline import build_workspace_index
    from shelfwise.workspace import Workspace

    ws = Workspace.resolve(tmp_path_factory.mktemp("demo") / "ws")
    prebuilt = os.environ.get("SHELFWISE_TEST_DEMO")
    if prebuilt:  # developer shortcut: reuse a demo workspace built by this same code
        shutil.copytree(prebuilt, ws.root)
        return ws
    generate_demo_store(ws, DEMO_PRODUCTS, seed=0)
    build_workspace_index(ws, progress=False)
    return ws


@pytest.fixture()
def demo_copy(demo_workspace, tmp_path):
    """A private, writable copy of the demo workspace (catalog, images, index, models, cache)."""
    from shelfwise.workspace import Workspace

    target = tmp_path / "ws"
    shutil.copytree(demo_workspace.root, target)
    return Workspace.resolve(target)


@pytest.fixture(scope="session")
def demo_engine(demo_workspace):
    """An ``Engine`` over the shared demo workspace (read-only use)."""
    from shelfwise.engine import Engine

    engine = Engine.open(demo_workspace)
    yield engine
    engine.close()


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def _no_clip(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
    raise AssertionError("the CLIP loader was reached though no CLIP model was chosen")


@pytest.fixture(scope="module")
def offline_no_clip():
    """Hub access fails fast and reaching the CLIP loader fails the test (module-wide).

    Folders whose catalogs choose no CLIP model use it autouse (tests/images, tests/textonly).
    """
    from encoders.image import ClipEncoder

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.setattr(ClipEncoder, "__init__", _no_clip)
        yield



# ---------------------------------------------------------------------------- headless browser

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium, driven through Playwright by the ``browser``-marked tests."""


def pytest_collection_modifyitems(config, items):
    """Skip ``browser`` tests when Chromium is missing, except in CI.

    CI sets ``SHELFWISE_REQUIRE_BROWSER=1``: there a missing browser fails instead of skipping.
    """
    if os.access(CHROMIUM, os.X_OK) or os.environ.get("SHELFWISE_REQUIRE_BROWSER") == "1":
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: run scripts/install-browser.sh "
                                   "(apt-get install chromium) to run the browser tests")
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the module's tests (closed after them)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()
