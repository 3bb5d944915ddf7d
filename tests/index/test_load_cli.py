"""Every command that opens the product index refuses a damaged one: ``error: ...``, exit 2."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from index import VectorIndex
from shelfwise.cli import main
from shelfwise.workspace import Workspace


def _edit(**changes: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        meta = json.loads((folder / "meta.json").read_text())
        meta.update(changes)
        (folder / "meta.json").write_text(json.dumps(meta))
    return edit


def _text(old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        text = json.dumps(json.loads((folder / "meta.json").read_text()))
        assert old in text
        (folder / "meta.json").write_text(text.replace(old, new, 1))
    return edit


DAMAGE = [
    ("invalid-spec", _edit(resolved_spec="IVF,,Flat"),
     r"field 'resolved_spec' is 'IVF,,Flat', which FAISS cannot build for dimension 8"),
    ("absurd-dimension", _edit(dimension=10**12),
     r"field 'dimension' must be an integer in \[1, 65536\], got 1000000000000"),
    ("nan-literal", _text('"count": 20', '"count": NaN'), r"NaN is not a finite number"),
    ("deep-nesting", lambda f: (f / "meta.json").write_text("[" * 100_000 + "]" * 100_000),
     r"is not valid JSON: nested too deeply"),
]


@pytest.fixture()
def ws(tmp_path) -> Workspace:
    space = Workspace.resolve(tmp_path / "ws").ensure()
    index = VectorIndex(8, "Flat", model_names={"text": "default"})
    index.add([f"p{i}" for i in range(20)],
              np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32))
    index.save(space.index_dir)
    return space


def _commands(ws: Workspace, tmp_path: Path) -> dict[str, list[str]]:
    users = tmp_path / "users.csv"
    users.write_text("user_id,query\nu1,red bag\n")
    return {
        "search": ["search", "red bag"],
        "similar": ["similar", "p1"],
        "chat": ["chat", "--once", "red bag", "--no-llm"],
        "serve": ["serve", "--no-llm"],
        "train": ["train", "--policy", "linucb", "--sessions", "10"],
        "batch": ["batch", str(users), str(tmp_path / "out"), "--no-progress"],
    }


@pytest.mark.parametrize("command", ["search", "similar", "chat", "serve", "train", "batch"])
@pytest.mark.parametrize(("damage", "match"), [c[1:] for c in DAMAGE], ids=[c[0] for c in DAMAGE])
def test_command_refuses_damaged_index(ws, tmp_path, capsys, command, damage, match):
    damage(ws.index_dir)
    argv = [*_commands(ws, tmp_path)[command], "--workspace", str(ws.root)]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert re.search(r"^error: .*meta.json.*" + match, err, re.M), err
    assert "Traceback" not in err
