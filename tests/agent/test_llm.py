"""The real local model (SmolLM2-135M-Instruct through llama-cpp-python) and the llm module."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.messages import HumanMessage

from agent.llm import LlamaCppChatModel, default_chat_model, default_gguf_path
from agent.rerank import Reranker
from encoders.errors import ConfigError, LLMError
from tests.agent.conftest import make_products


def test_default_path_and_bad_backend() -> None:
    assert default_gguf_path().name.endswith(".gguf")
    with pytest.raises(ConfigError, match="choose one of: llama-cpp, transformers"):
        default_chat_model("gpt")


def test_missing_model_file_is_an_llm_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = LlamaCppChatModel(model_path=str(tmp_path / "nope.gguf"))
    with pytest.raises(LLMError, match="model_path"):
        model.invoke([HumanMessage("hi")])


@pytest.mark.llm
def test_real_model_scores_and_generates() -> None:
    model = default_chat_model()
    assert isinstance(model, LlamaCppChatModel)
    lp = model.next_token_logprobs([HumanMessage("Answer A or B.")], ["A", "B"])
    assert set(lp) == {"A", "B"} and all(v < 0 for v in lp.values())
    with pytest.raises(ConfigError, match="one token"):
        model.next_token_logprobs([HumanMessage("x")], ["A long candidate"])
    products = make_products(10)
    rr = Reranker(model, mode="score", timeout_s=60)
    res = rr.rerank("black leather bag", "likes bags", products,
                    np.linspace(1, 0, 10), 10)
    assert not res.fallback and res.mode_used == "score"
    assert sorted(res.order) == list(range(10))
    gen = Reranker(model, mode="generate", timeout_s=60).rerank(
        "black leather bag", "", products[:4], np.linspace(1, 0, 4), 4)
    assert sorted(gen.order) == list(range(4))  # valid even when the tiny model falls back
    assert isinstance(model.invoke([HumanMessage("Say hi")]).content, str)


@pytest.fixture(scope="module")
def smollm_tokenizer_dir(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The default model's tokenizer, read from its GGUF file and saved as a plain folder."""
    from transformers import AutoTokenizer

    gguf = default_gguf_path()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    folder = tmp_path_factory.mktemp("smollm-tokenizer")
    tok.save_pretrained(folder)
    return folder


def test_transformers_backend_on_a_tiny_local_checkpoint(smollm_tokenizer_dir) -> None:  # type: ignore[no-untyped-def]
    """A randomly initialised 2-layer Llama saved next to the real tokenizer: the regular
    (non-GGUF) checkpoint path of TransformersChatModel, no download."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(smollm_tokenizer_dir)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                      max_position_embeddings=256)
    LlamaForCausalLM(cfg).save_pretrained(smollm_tokenizer_dir)
    model = default_chat_model("transformers", model_dir=str(smollm_tokenizer_dir),
                               gguf_file=None, max_new_tokens=5)
    out = model.invoke([HumanMessage("hello")])
    assert isinstance(out.content, str)
    with pytest.raises(LLMError, match="cannot load model_dir"):
        default_chat_model("transformers", model_dir=str(smollm_tokenizer_dir / "missing"),
                           gguf_file=None).invoke([HumanMessage("hi")])


@pytest.mark.llm
def test_transformers_backend_reads_the_default_gguf() -> None:
    model = default_chat_model("transformers", max_new_tokens=8)
    out = model.invoke([HumanMessage("Name one colour.")])
    assert isinstance(out.content, str) and out.content.strip()


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_bad_thread_setting_is_a_clear_error(monkeypatch, value) -> None:  # type: ignore[no-untyped-def]
    from agent.llm import default_n_threads

    monkeypatch.setenv("SHELFWISE_LLM_THREADS", value)
    with pytest.raises(ConfigError, match="SHELFWISE_LLM_THREADS must be a positive integer"):
        default_n_threads()


def test_thread_setting_overrides_the_default(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from agent.llm import default_n_threads

    monkeypatch.setenv("SHELFWISE_LLM_THREADS", "2")
    assert default_n_threads() == 2
    monkeypatch.delenv("SHELFWISE_LLM_THREADS")
    assert default_n_threads() >= 1


def test_gguf_without_chat_template_gets_a_plain_transcript(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A base model's GGUF (Gemma 3 270M) has no chat template; prompts still render.

    The loaded llama.cpp model is doubled by a stub that has only what ``format_prompt``
    reads (metadata and the special tokens): this tests the template choice, not llama.cpp.
    """
    import threading

    from langchain_core.messages import SystemMessage

    class _Vocab:
        def decode(self, ids: list[int]) -> str:
            return {1: "<s>", 2: "</s>"}[ids[0]]

    class _BaseModel:
        metadata: dict[str, str] = {}

        def tokenizer(self) -> _Vocab:
            return _Vocab()

        def token_eos(self) -> int:
            return 2

        def token_bos(self) -> int:
            return 1

    model = LlamaCppChatModel(model_path="base-model.gguf")
    monkeypatch.setattr(LlamaCppChatModel, "_llama",
                        lambda self: (_BaseModel(), threading.Lock()))
    prompt = model.format_prompt([SystemMessage("Rank the products."),
                                  HumanMessage("A: red bag\nB: blue bag")])
    assert prompt == "<s>Rank the products.\n\nUser: A: red bag\nB: blue bag\nAssistant:"
