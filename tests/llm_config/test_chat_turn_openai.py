"""A chat turn on the demo store through an OpenAI-compatible endpoint (a fake on 127.0.0.1):
rerank and reasons go through it; a hanging or garbage-speaking endpoint is a counted
fallback, never a crash."""

from __future__ import annotations

import json

import pytest

from shelfwise.config import LLMConfig


def _rerank_requests(server) -> int:
    return sum("Rank ALL the products" in str(b["messages"][-1]["content"])
               for b in server.requests)


def test_chat_turns_through_openai_endpoint_and_its_failures(demo_copy, fake_openai):
    from shelfwise.shop import open_assistant

    cfg = LLMConfig(backend="openai", base_url=fake_openai.base_url, model="fake-model",
                    rerank_weight=0.5, timeout_s=1.0, retries=0, capable=True)
    assistant = open_assistant(demo_copy, k=4, llm_config=cfg)
    tools = assistant.tools
    # a model declared capable also parses intents (structured output); a small one does not
    assert assistant.intent_model is not None
    small = open_assistant(demo_copy, k=4, llm_config=cfg.model_copy(update={"capable": False}))
    assert small.intent_model is None

    r1 = assistant.respond("c1", "a bag for my commute")
    assert r1.products and len(r1.reasons) == len(r1.products)
    resp = tools.last_response("c1")
    assert resp.reranked and not resp.llm_fallback and resp.prompt_hash
    assert _rerank_requests(fake_openai) == 1
    assert all(b["model"] == "fake-model" for b in fake_openai.requests)
    stats = tools.llm_stats()
    assert stats["backend"] == "openai" and stats["score_call"] is True
    assert stats["calls"]["ok"] >= 2 and stats["calls"]["failed"] == 0  # rerank + reasons
    assert stats["fallbacks"]["rerank"] == 0

    fake_openai.mode, fake_openai.hang_s = "hang", 3.0
    r2 = assistant.respond("c2", "a warm scarf")
    assert r2.products and all(t.strip() for t in r2.reasons)  # served anyway
    assert tools.last_response("c2").llm_fallback
    stats = tools.llm_stats()
    assert stats["fallbacks"]["rerank"] == 1 and stats["calls"]["timeouts"] >= 1

    fake_openai.mode = "garbage"
    r3 = assistant.respond("c3", "shoes for running")
    assert r3.products and tools.last_response("c3").llm_fallback
    stats = tools.llm_stats()
    assert stats["fallbacks"]["rerank"] == 2 and stats["calls"]["errors"] >= 1
    assert stats["calls"]["failed"] >= 2


@pytest.mark.slow
def test_chat_cli_with_llm_options_reports_the_model(demo_copy, fake_openai, capsys):
    from shelfwise.cli import main

    code = main(["chat", "--workspace", str(demo_copy.root), "--once", "a bag for my commute",
                 "--json", "--llm-backend", "openai", "--llm-url", fake_openai.base_url,
                 "--llm-model", "fake-model", "--llm-weight", "0.5", "--llm-timeout", "5"])
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["products"] and data["reranked"] is True and data["fallback"] is False
    assert data["llm"]["backend"] == "openai" and data["llm"]["rerank_weight"] == 0.5
    assert data["llm"]["calls"]["ok"] >= 1 and data["llm"]["fallbacks"]["rerank"] == 0
    assert _rerank_requests(fake_openai) == 1


def test_server_metrics_count_model_calls_and_fallbacks(demo_copy, fake_openai):
    from fastapi.testclient import TestClient

    from shelfwise.serve import create_app
    from shelfwise.serve.wiring import open_service

    cfg = LLMConfig(backend="openai", base_url=fake_openai.base_url, model="fake-model",
                    rerank_weight=0.5, timeout_s=1.0, retries=0)
    service = open_service(demo_copy, policy="linucb", llm=True, seed=0, llm_config=cfg)
    try:
        with TestClient(create_app(service)) as client:
            ok = client.post("/chat", json={"conversation_id": "m1", "message": "a red bag"})
            assert ok.status_code == 200, ok.text
            fake_openai.mode = "garbage"
            bad = client.post("/chat", json={"conversation_id": "m2", "message": "a hat"})
            assert bad.status_code == 200, bad.text  # served in policy order, not a 500
            text = client.get("/metrics").text
    finally:
        service.close()
    assert 'shelfwise_llm_fallbacks_total{kind="rerank"} 1.0' in text
    assert 'shelfwise_llm_calls_total{outcome="errors"}' in text
    assert 'shelfwise_llm_calls_total{outcome="failed"} 0.0' not in text
    assert "shelfwise_llm_rerank_weight 0.5" in text
