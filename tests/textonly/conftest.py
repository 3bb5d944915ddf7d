"""Fixtures of the non-demo shop tests: a text-only workspace built once per module.

Every test here runs with ``HF_HUB_OFFLINE=1`` / ``TRANSFORMERS_OFFLINE=1`` and with the CLIP
loader replaced by one that fails the test, so that reaching it (as ``load_encoders`` used to
for the image model ``"none"``) is caught at once instead of after hub retries.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _shop import write_catalog  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def offline_and_no_clip(offline_no_clip):
    """Every test here runs offline with the CLIP loader forbidden (tests/conftest.py)."""
    yield


def ingest(workspace_root: Path, catalog: Path, *extra: str) -> dict:
    """``shelfwise ingest CATALOG --json`` into ``workspace_root``; returns its JSON."""
    import contextlib
    import io

    from shelfwise.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["ingest", str(catalog), "--json", "--workspace", str(workspace_root),
                     *extra])
    if code != 0:
        raise AssertionError(f"ingest exited {code}: {err.getvalue()[-2000:]}")
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def textonly_built(tmp_path_factory, offline_and_no_clip):
    """A workspace holding the 60-product shop, no images, ingested by the CLI (index built)."""
    from shelfwise.workspace import Workspace

    base = tmp_path_factory.mktemp("textonly")
    catalog = write_catalog(base / "files")
    report = ingest(base / "ws", catalog)
    return Workspace.resolve(base / "ws"), report


@pytest.fixture()
def textonly_ws(textonly_built, tmp_path):
    """A private, writable copy of the text-only workspace."""
    from shelfwise.workspace import Workspace

    shutil.copytree(textonly_built[0].root, tmp_path / "ws")
    return Workspace.resolve(tmp_path / "ws")
