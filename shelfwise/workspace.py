"""The workspace folder: where one shop's catalog, index, models and events live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORKSPACE = "./shelfwise-data"
WORKSPACE_ENV = "SHELFWISE_HOME"


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace folder (default ``./shelfwise-data``, or ``$SHELFWISE_HOME``)."""

    root: Path

    @classmethod
    def resolve(cls, root: str | Path | None = None) -> Workspace:
        """The workspace at ``root``, else ``$SHELFWISE_HOME``, else ``./shelfwise-data``."""
        chosen = root or os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
        return cls(Path(chosen).expanduser().resolve())

    def ensure(self) -> Workspace:
        """Create the folder tree if it does not exist yet; returns self."""
        for folder in (self.root, self.images_dir, self.index_dir, self.models_dir,
                       self.cache_dir, self.policies_dir, self.demo_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def catalog_db(self) -> Path:
        """SQLite file with the products."""
        return self.root / "catalog.sqlite"

    @property
    def events_db(self) -> Path:
        """SQLite file (WAL) with impressions, clicks and purchases."""
        return self.root / "events.sqlite"

    @property
    def images_dir(self) -> Path:
        """Product images (the demo store writes its PNGs here)."""
        return self.root / "images"

    @property
    def index_dir(self) -> Path:
        """The saved product index (FAISS file + metadata JSON)."""
        return self.root / "index"

    @property
    def models_dir(self) -> Path:
        """Models trained here (e.g. the aligned image encoder)."""
        return self.root / "models"

    @property
    def cache_dir(self) -> Path:
        """Embedding cache keyed by content hash."""
        return self.root / "cache"

    @property
    def policies_dir(self) -> Path:
        """Slate-policy checkpoints."""
        return self.root / "policies"

    @property
    def demo_dir(self) -> Path:
        """Demo-store extras: the latent attribute table used as ground truth."""
        return self.root / "demo"

    @property
    def config_file(self) -> Path:
        """Optional ``shelfwise.toml`` with configuration overrides."""
        return self.root / "shelfwise.toml"
