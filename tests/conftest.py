"""Shared pytest setup: offline by default. Part-specific fixtures live in each tests/<part>/conftest.py."""

from __future__ import annotations

import os

# Tests never reach a model hub: everything they load is bundled in a package or built locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
