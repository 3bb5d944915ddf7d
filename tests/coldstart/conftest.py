"""A tiny sentence-transformers model folder (2-layer BERT, 32-d) made by the tests.

It has the default model's tokenizer and pipeline (Transformer -> mean Pooling -> Normalize)
with random weights, so exporting it to ONNX takes a second instead of the ten a MiniLM
export takes, and tests can change it to see a new export.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt",
                   "special_tokens_map.json")


def write_tiny_model(folder: Path, seed: int = 0, pooling: str = "mean") -> Path:
    """Write a tiny random BERT sentence-transformers folder to ``folder``."""
    import torch
    from transformers import BertConfig, BertModel

    from encoders.text import default_text_model_path

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=512)
    BertModel(config).eval().save_pretrained(folder)
    source = default_text_model_path()
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, folder / name)
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ]))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 32,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }))
    return folder


@pytest.fixture(scope="session")
def tiny_model_source(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture()
def tiny_model(tiny_model_source, tmp_path):
    """A private copy of the tiny model folder (tests may change it)."""
    target = tmp_path / "model"
    shutil.copytree(tiny_model_source, target)
    return target


@pytest.fixture()
def onnx_cache(tmp_path, monkeypatch):
    """An empty export cache for this test."""
    from encoders.onnx_text import CACHE_ENV

    folder = tmp_path / "onnx-cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder
