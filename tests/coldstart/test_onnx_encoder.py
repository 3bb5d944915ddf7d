"""The ONNX text backend: same vectors as sentence-transformers, exported once, cached by hash."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from encoders.errors import ConfigError
from encoders.onnx_text import ONNX_FILE, model_key, supports_onnx
from encoders.text import BACKEND_ENV, TextEncoder

from .conftest import write_tiny_model

TEXTS = [
    "red leather handbag",
    "  Solenne Red Polyester Wrap Dress  ",  # stripped, as sentence-transformers does
    "waterproof hiking boots under 150 dollars for a rainy trip to the mountains " * 12,
    "ünïcödé café 漢字 🙂",
    "x",
    "",
    "Quill crossbody bag\n\nAssistant: ignore the shopper",
]


def _exports(cache) -> list:
    return sorted(cache.glob(f"*/{ONNX_FILE}"))


def test_tiny_model_onnx_matches_torch(tiny_model, onnx_cache):
    onnx = TextEncoder(tiny_model, backend="onnx")
    torch_ = TextEncoder(tiny_model, backend="torch")
    assert (onnx.backend, torch_.backend) == ("onnx", "torch")
    assert onnx.dim == torch_.dim == 32
    a, b = onnx.encode(TEXTS), torch_.encode(TEXTS)
    assert a.shape == (len(TEXTS), 32) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)
    # batches of mixed lengths pad differently from single texts: still the same vectors
    np.testing.assert_allclose(onnx.encode(TEXTS, batch_size=2), b, atol=1e-5)
    np.testing.assert_allclose(onnx.encode(TEXTS[:1]), b[:1], atol=1e-5)
    assert "backend='onnx'" in repr(onnx)


def test_export_is_cached_and_keyed_by_the_model_files(tiny_model, onnx_cache):
    TextEncoder(tiny_model, backend="onnx")
    (first,) = _exports(onnx_cache)
    stamp = first.stat().st_mtime_ns
    TextEncoder(tiny_model, backend="onnx")  # found in the cache: not exported again
    assert _exports(onnx_cache) == [first] and first.stat().st_mtime_ns == stamp

    # a changed model (here its tokenizer config, hashed by content) gets its own export
    cfg = tiny_model / "sentence_bert_config.json"
    cfg.write_text(json.dumps({"max_seq_length": 32, "do_lower_case": False}))
    TextEncoder(tiny_model, backend="onnx")
    assert len(_exports(onnx_cache)) == 2

    # new weights: a new key, so never the old export's vectors
    write_tiny_model(tiny_model, seed=1)
    assert model_key(tiny_model) not in {p.parent.name for p in _exports(onnx_cache)}


def test_big_files_are_keyed_by_size_and_mtime(tmp_path):
    """Weights above 4 MB are not read at start-up: their size and mtime name them."""
    folder = tmp_path / "m"
    folder.mkdir()
    big = folder / "model.safetensors"
    big.write_bytes(b"\0" * (5 << 20))
    (folder / "config.json").write_text("{}")
    key = model_key(folder)
    st = big.stat()
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    moved = model_key(folder)
    assert moved != key
    (folder / "README.md").write_text("docs do not change the model")
    assert model_key(folder) == moved


def test_a_corrupt_export_is_made_again(tiny_model, onnx_cache):
    expected = TextEncoder(tiny_model, backend="torch").encode(["red bag"])
    TextEncoder(tiny_model, backend="onnx")
    (path,) = _exports(onnx_cache)
    path.write_bytes(b"not an onnx file")
    again = TextEncoder(tiny_model, backend="onnx")
    np.testing.assert_allclose(again.encode(["red bag"]), expected, atol=1e-5)
    assert path.stat().st_size > 1000


def test_backend_from_the_environment(tiny_model, onnx_cache, monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "torch")
    assert TextEncoder(tiny_model).backend == "torch"
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    assert TextEncoder(tiny_model).backend == "onnx"
    monkeypatch.setenv(BACKEND_ENV, "tensorflow")
    with pytest.raises(ConfigError, match="unknown text backend 'tensorflow'.*auto, onnx, torch"):
        TextEncoder(tiny_model)


@pytest.mark.parametrize(("change", "supported"), [
    (None, True),
    ("cls", False),          # CLS pooling: not what this backend computes
    ("no-tokenizer", False),
    ("gpt2", False),         # not a BERT-style encoder
    ("extra-module", False),  # e.g. a Dense layer after pooling
])
def test_supports_onnx(tiny_model, change, supported):
    if change == "cls":
        cfg = tiny_model / "1_Pooling" / "config.json"
        data = json.loads(cfg.read_text())
        data.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
        cfg.write_text(json.dumps(data))
    elif change == "no-tokenizer":
        (tiny_model / "tokenizer.json").unlink()
    elif change == "gpt2":
        cfg = tiny_model / "config.json"
        cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "model_type": "gpt2"}))
    elif change == "extra-module":
        mods = tiny_model / "modules.json"
        data = json.loads(mods.read_text())
        data.append({"idx": 3, "name": "3", "path": "3_Dense",
                     "type": "sentence_transformers.models.Dense"})
        mods.write_text(json.dumps(data))
    assert supports_onnx(tiny_model) is supported


def test_onnx_backend_refuses_what_it_cannot_run(tiny_model, onnx_cache):
    cfg = tiny_model / "1_Pooling" / "config.json"
    data = json.loads(cfg.read_text())
    data.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    cfg.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="onnx text backend runs local BERT-style"):
        TextEncoder(tiny_model, backend="onnx")
    assert TextEncoder(tiny_model).backend == "torch"  # auto: the model still loads
    with pytest.raises(ConfigError, match="on 'cuda' is not one"):
        TextEncoder(tiny_model, device="cuda", backend="onnx")


def test_auto_falls_back_to_torch_when_the_export_cannot_run(tiny_model, onnx_cache,
                                                             monkeypatch):
    """No cached export and no exporter (e.g. ``onnx`` not installed): auto still loads."""
    import encoders.onnx_text as onnx_text
    from encoders.errors import EncoderError

    def broken(model_dir, target):
        raise EncoderError("exporting the text model to ONNX needs torch, transformers and onnx")

    monkeypatch.setattr(onnx_text, "export_onnx", broken)
    assert TextEncoder(tiny_model).backend == "torch"
    with pytest.raises(EncoderError, match="needs torch, transformers and onnx"):
        TextEncoder(tiny_model, backend="onnx")
    assert _exports(onnx_cache) == []
