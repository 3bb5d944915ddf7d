"""The demo workspace the benchmarks measure on: built once, then reused."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "shelfwise-data" / "bench"


def demo_workspace(path: str | Path | None = None) -> Path:
    """``path``, else ``$SHELFWISE_HOME``, else ``shelfwise-data/bench``; built if it has no index.

    Building (2,000 products, images, aligned image encoder, index) takes a few minutes once.
    """
    chosen = Path(path or os.environ.get("SHELFWISE_HOME") or DEFAULT).resolve()
    if not (chosen / "index" / "meta.json").is_file():
        from shelfwise.demo_store import generate_demo_store
        from shelfwise.pipeline import build_workspace_index
        from shelfwise.workspace import Workspace

        ws = Workspace.resolve(chosen)
        generate_demo_store(ws, 2000, seed=0, progress=True)
        build_workspace_index(ws, progress=True)
    return chosen
