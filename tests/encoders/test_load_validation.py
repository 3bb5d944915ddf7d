"""Saved encoder artefacts (aligned image model, embedding cache) are validated on load."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from encoders.aligned import AlignedImageEncoder
from encoders.artefacts import Fields, parse_json_object, safe_repr
from encoders.cache import DB_FILE, EmbeddingCache
from encoders.errors import EncoderError, IndexError_, PolicyError

# ---------------------------------------------------------------------------- aligned model


@pytest.fixture()
def model_dir(tmp_path) -> Path:
    return AlignedImageEncoder(out_dim=8, channels=(4, 4), text_model="tiny").save(tmp_path / "m")


def _config(**changes: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        cfg = json.loads((folder / "config.json").read_text())
        cfg.update(changes)
        (folder / "config.json").write_text(json.dumps(cfg))
    return edit


def _raw_config(text: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / "config.json").write_text(text)
    return edit


def _nan_weight(folder: Path) -> None:
    import torch

    state = torch.load(folder / "weights.pt", weights_only=True)
    key = next(k for k in state if k.endswith("head.2.weight"))
    state[key][0, 0] = float("nan")
    torch.save(state, folder / "weights.pt")
    cfg = json.loads((folder / "config.json").read_text())
    cfg.pop("name")  # so that the finiteness check, not the name check, is what refuses
    (folder / "config.json").write_text(json.dumps(cfg))


ALIGNED_CASES = [
    ("config a list", _raw_config("[]"), r"config '.*config.json' is corrupt: .*JSON object"),
    ("config NaN", _raw_config('{"format": "shelfwise-aligned-cnn", "out_dim": NaN}'),
     r"is corrupt: .*NaN is not a finite number"),
    ("config nested", _raw_config("[" * 50_000 + "]" * 50_000), r"nested too deeply"),
    ("version as string", _config(version="1"), r"has format version '1'"),
    ("absurd out_dim", _config(out_dim=10**12),
     r"field 'out_dim' must be an integer in \[1, 65536\], got 1000000000000"),
    ("float out_dim", _config(out_dim=8.5), r"field 'out_dim' must be an integer"),
    ("absurd channels", _config(channels=[4, 10**9]),
     r"field 'channels' entry 1 must be an integer in \[1, 1024\]"),
    ("too many blocks", _config(channels=[4] * 100),
     r"field 'channels' has 100 items, more than 8"),
    ("no blocks", _config(channels=[]), r"field 'channels' must list at least one conv block"),
    ("channels not a list", _config(channels="4,4"), r"field 'channels' must be a JSON array"),
    ("other image size", _config(image_size=4096),
     r"field 'image_size' must be an integer in \[64, 64\]"),
    ("text model not a string", _config(text_model=5), r"field 'text_model' must be a string"),
    ("unknown field", _config(extra=True), r"unknown field\(s\) 'extra'"),
    ("dims disagree with weights", _config(out_dim=16), r"do not match .*config.json"),
    ("NaN weights", _nan_weight, r"tensor 'head.2.weight' holds NaN or infinite values"),
]


@pytest.mark.parametrize(("damage", "match"), [c[1:] for c in ALIGNED_CASES],
                         ids=[c[0] for c in ALIGNED_CASES])
def test_damaged_aligned_model_is_refused(model_dir, damage, match):
    AlignedImageEncoder.load(model_dir)  # intact: loads
    damage(model_dir)
    with pytest.raises(EncoderError, match=match):
        AlignedImageEncoder.load(model_dir)


def test_oversized_weights_file_is_refused(model_dir, monkeypatch):
    from encoders import aligned

    monkeypatch.setattr(aligned, "MAX_WEIGHTS_BYTES", 100)
    with pytest.raises(EncoderError, match=r"weights '.*weights.pt' are \d+ bytes, more than"):
        AlignedImageEncoder.load(model_dir)


# ---------------------------------------------------------------------------- embedding cache


def _filled(tmp_path: Path) -> EmbeddingCache:
    cache = EmbeddingCache(tmp_path, "text:m")
    table = np.arange(12, dtype=np.float32).reshape(3, 4) + 1
    cache.get_or_compute(["a", "b", "c"], lambda pos: table[pos])
    cache.close()
    return EmbeddingCache(tmp_path, "text:m")


def _sql(tmp_path: Path, statement: str, *args: object) -> None:
    conn = sqlite3.connect(tmp_path / DB_FILE)
    conn.execute(statement, args)
    conn.commit()
    conn.close()


CACHE_CASES = [
    ("NaN vector", lambda p: _sql(p, "UPDATE vectors SET data = ? WHERE key = 'b'",
                                  np.array([1, np.nan, 0, 0], dtype="<f4").tobytes()),
     r"key 'b'\): it holds NaN or infinite values"),
    ("ragged bytes", lambda p: _sql(p, "UPDATE vectors SET data = ? WHERE key = 'b'", b"12345"),
     r"key 'b'\): its data is not float32 bytes"),
    ("text data", lambda p: _sql(p, "UPDATE vectors SET data = 'abcd' WHERE key = 'b'"),
     r"key 'b'\): its data is not float32 bytes"),
    ("wrong dim", lambda p: _sql(p, "UPDATE vectors SET dim = 5 WHERE key = 'b'"),
     r"key 'b'\): dim 5 does not match its 4 values"),
    ("widths differ", lambda p: _sql(p, "UPDATE vectors SET dim = 2, data = ? WHERE key = 'c'",
                                     np.ones(2, dtype="<f4").tobytes()),
     r"width 2 differs from the namespace's 4"),
    ("other schema", lambda p: (_sql(p, "DROP TABLE vectors"),
                                _sql(p, "CREATE TABLE vectors (x)")),
     r"cannot read the embedding cache .*no such column"),
]


@pytest.mark.parametrize(("damage", "match"), [c[1:] for c in CACHE_CASES],
                         ids=[c[0] for c in CACHE_CASES])
def test_damaged_cache_row_is_refused(tmp_path, damage, match):
    _filled(tmp_path).close()
    damage(tmp_path)
    cache = EmbeddingCache(tmp_path, "text:m")
    with pytest.raises(EncoderError, match=match):
        cache.get_or_compute(["a", "b", "c"], lambda pos: np.zeros((len(pos), 4)))
    cache.close()


def test_cache_file_that_is_not_a_database(tmp_path):
    (tmp_path / DB_FILE).write_bytes(b"not a database at all" * 100)
    with pytest.raises(EncoderError, match=r"cannot open the embedding cache"):
        EmbeddingCache(tmp_path, "text:m")


# ---------------------------------------------------------------------------- shared layer


@pytest.mark.parametrize(("text", "error", "match"), [
    ("", PolicyError, r"src is not valid JSON"),
    (b"\xff\xfe{}", IndexError_, r"src is not UTF-8 text"),
    ('{"a": -Infinity}', PolicyError, r"-Infinity is not a finite number"),
    ('{"a": 1E+400}', EncoderError, r"number 1E\+400 does not fit a float"),
    ('{"a": 1, "a": 2}', PolicyError, r"duplicate key 'a'"),
    ('"just a string"', IndexError_, r"src must hold a JSON object, got str"),
    ("{" * 200_000, PolicyError, r"(nested too deeply|not valid JSON)"),
])
def test_parse_json_object_table(text, error, match):
    with pytest.raises(error, match=match):
        parse_json_object(text, "src", error)


@pytest.mark.parametrize(("data", "call", "match"), [
    ({"n": True}, lambda f: f.get_int("n", 0, 9), r"src: field 'n' must be an integer in \[0, 9\]"),
    ({"n": 10**400}, lambda f: f.get_int("n", 0, 9), r"got an integer of 1329 bits"),
    ({}, lambda f: f.get_int("n", 0, 9), r"src: field 'n' is missing"),
    ({"x": 1.5}, lambda f: f.get_float("x", 0.0, 1.0), r"field 'x' must be a finite number"),
    ({"x": float("inf")}, lambda f: f.get_float("x"), r"field 'x' must be a finite number"),
    ({"s": "a" * 2000}, lambda f: f.get_str("s"), r"field 's' is 2000 characters long"),
    ({"s": "b"}, lambda f: f.get_str("s", choices={"a"}), r"field 's' is 'b'; expected one of: a"),
    ({"o": {"k": []}}, lambda f: f.get_obj("o").get_bool("k"),
     r"field 'o.k' must be true or false, got a list of 0 items"),
    ({"h": "ABC"}, lambda f: f.get_sha256("h"), r"field 'h' must be a 64-digit hex SHA-256"),
])
def test_fields_table(data, call, match):
    with pytest.raises(PolicyError, match=match):
        call(Fields(data, "src", PolicyError))


def test_safe_repr_never_fails():
    assert safe_repr(10**5000) == "an integer of 16610 bits"
    assert safe_repr("x" * 500).endswith("...")
