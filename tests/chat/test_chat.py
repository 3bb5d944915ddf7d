"""``shopper chat`` and the workspace shop tools.

Rule-based (``--no-llm``) or a fake chat model everywhere except ``test_chat_once_real_llm``,
which loads the real SmolLM2 (marker ``llm``).
"""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models import FakeListChatModel

from agent.intent import parse_intent
from shelfwise.cli import main
from shelfwise.shop import intent_vocab, open_assistant


class FakeScorer(FakeListChatModel):
    """Score-mode fake: fixed log-probabilities per label."""

    def next_token_logprobs(self, messages, candidates):
        return {c: -0.3 * i for i, c in enumerate(candidates)}


def _once(capsys, ws, message, *extra):
    code = main(["chat", "--once", message, "--json", "--workspace", str(ws.root), *extra])
    out = capsys.readouterr()
    return code, out


def test_chat_once_json_no_llm(demo_copy, capsys):
    code, out = _once(capsys, demo_copy, "waterproof jacket under 150", "--no-llm")
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["slate_id"] and data["products"]
    for p in data["products"]:
        assert p["category"] == "jackets" and p["price"] <= 150 and p["reason"].strip()
        assert {"id", "title", "attributes", "position"} <= set(p)
    assert data["intent"]["max_price"] == 150 and data["intent"]["categories"] == ["jackets"]
    assert data["fallback"] is None and data["reranked"] is False


def test_chat_once_logs_the_slate_for_the_given_user(demo_copy, capsys):
    from shelfwise.events import SQLiteEventStore

    code, out = _once(capsys, demo_copy, "a red bag", "--no-llm", "--user", "alice",
                      "--conversation", "conv-a")
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["user_id"] == "alice" and data["conversation_id"] == "conv-a"
    with SQLiteEventStore(demo_copy.events_db) as events:
        imp = events.impression(data["slate_id"])
    assert imp.user_id == "alice" and imp.session_id == "conv-a"


@pytest.mark.parametrize(("message", "match"), [("", "message is empty"),
                                                ("   ", "message is empty")])
def test_chat_empty_message_is_a_clear_error(demo_copy, capsys, message, match):
    code, out = _once(capsys, demo_copy, message, "--no-llm")
    assert code == 2 and match in out.err


def test_chat_missing_workspace_index(tmp_path, capsys):
    code, out = _once(capsys, type("W", (), {"root": tmp_path / "empty"}), "bag", "--no-llm")
    assert code == 2 and out.err.startswith("error:")


def test_synonyms_map_to_catalog_categories(demo_engine):
    vocab = intent_vocab(demo_engine)
    for word, cat in [("handbag", "bags"), ("purse", "bags"), ("sneakers", "shoes"),
                      ("trainers", "shoes"), ("boots", "shoes"), ("parka", "jackets"),
                      ("coat", "jackets"), ("blazer", "jackets"), ("jumper", "sweaters"),
                      ("cardigan", "sweaters"), ("hoodie", "sweaters")]:
        assert parse_intent(f"a {word} please", vocab=vocab).categories == {cat}, word


def test_assistant_with_fake_model_reacts_and_excludes(demo_copy):
    model = FakeScorer(responses=["A: A fine choice."] * 10)
    # weight > 0: the model's scores are asked for (at 0 the score call is skipped)
    assistant = open_assistant(demo_copy, llm=True, chat_model=model, k=4, llm_weight=0.3)
    tools = assistant.tools
    r1 = assistant.respond("c1", "a bag under 200, not leather")
    assert r1.products and r1.slate_id
    assert all(p.category == "bags" and p.price <= 200 for p in r1.products)
    assert all(p.attributes.get("material") != "leather" for p in r1.products)
    resp = tools.last_response("c1")
    assert resp.reranked and resp.prompt_hash and not resp.llm_fallback
    assert [p.id for p in r1.products] == [it.product.id for it in resp.items]
    r2 = assistant.respond("c1", "buy 2")
    assert r2.reactions_recorded and r2.reactions_recorded[0].product_id == r1.products[1].id
    assert tools.events_recorded == 1 and tools.recommender.policy_updates == 1
    r3 = assistant.respond("c1", "more like #1")
    assert r3.products and r1.products[0].id not in {p.id for p in r3.products}


@pytest.mark.llm
@pytest.mark.slow
def test_chat_once_real_llm(demo_copy, capsys):
    code, out = _once(capsys, demo_copy, "waterproof jacket under 150")
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["products"]
    for p in data["products"]:
        assert p["category"] == "jackets" and p["price"] <= 150 and p["reason"].strip()
    # the default [llm] rerank_weight is 0: the model writes reasons but is not asked to
    # score the slate, so there is no rerank that could fall back
    assert data["fallback"] is None


def test_wanted_colour_and_material_narrow_the_slate_then_relax(demo_copy):
    """The demo's latent table says how many products have the asked-for facts."""
    from shelfwise.demo_store import load_latent

    latent = load_latent(demo_copy)
    assistant = open_assistant(demo_copy, llm=False, k=5)
    cheap_red_leather = latent[(latent.category == "bags") & (latent.colour == "red")
                               & (latent.material == "leather") & (latent.price <= 100)]
    assert len(cheap_red_leather) >= 5  # the known answer exists
    reply = assistant.respond("c-wanted", "red leather bag under 100")
    assert len(reply.products) == 5
    for p in reply.products:
        assert (p.category, p.attributes["colour"], p.attributes["material"]) == \
            ("bags", "red", "leather") and p.price <= 100
    # a material no bag has: the material is relaxed, the colour kept
    assert "velvet" not in set(latent.material)
    reply = assistant.respond("c-relax", "red velvet bag")
    assert len(reply.products) == 5
    assert all(p.category == "bags" and p.attributes["colour"] == "red" for p in reply.products)
