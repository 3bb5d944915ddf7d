"""How the server is wired: policy loading and the shop assistant behind ``POST /chat``."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from shelfwise.errors import ConfigError, PolicyError
from shelfwise.serve.service import ChatTurn, QueryChat
from shelfwise.serve.wiring import AssistantChat, load_policy


@dataclass
class _View:
    id: str


@dataclass
class _Intent:
    query: str | None


@dataclass
class _Reply:
    text: str
    products: list
    reasons: list
    slate_id: str | None
    intent: _Intent
    reactions_recorded: list = field(default_factory=list)
    rerank_fallback: bool | None = None


class _FakeAssistant:
    """Stands in for ``shelfwise.shop``'s assistant: logs a slate through the recommender and
    shows its items in reverse order with its own reasons."""

    def __init__(self, recommender):
        self.recommender = recommender

    def respond(self, conversation_id, message, user_id=None):
        if message == "add #1 to cart":
            return _Reply("Added to cart: #1.", [], [], "s", _Intent(None), ["r"])
        s = self.recommender.recommend(conversation_id, message, k=3)
        views = [_View(i.product.id) for i in reversed(s.items)]
        return _Reply("here you go", views, [f"because {v.id}" for v in views], s.slate_id,
                      _Intent(message), rerank_fallback=True)


def test_assistant_reply_becomes_a_slate_with_logged_scores(service):
    chat = AssistantChat(_FakeAssistant(service.recommender), service.recommender)
    turn = chat.respond("conv-w", "conv-w", "green dress")
    assert isinstance(turn, ChatTurn) and turn.reply == "here you go"
    slate = turn.slate
    imp = service.recommender.events.impression(slate.slate_id)
    assert [i.product.id for i in slate.items] == list(reversed(imp.item_ids))
    for shown, item in enumerate(slate.items):
        slot = imp.item_ids.index(item.product.id)
        assert item.position == shown and item.reason == f"because {item.product.id}"
        assert item.propensity == pytest.approx(imp.propensities[slot])
        assert item.policy_score == pytest.approx(imp.scores[slot])
    assert slate.policy == imp.policy and slate.query == "green dress"
    assert slate.llm_fallback is True and turn.llm_fallback is True

    react = chat.respond("conv-w", "conv-w", "add #1 to cart")
    assert react.slate is None and react.events_logged == 1


def test_query_chat_is_the_fallback(service):
    turn = QueryChat(service.recommender, k=3).respond("c-q", "u-q", "wool scarf")
    assert len(turn.slate.items) == 3 and "wool scarf" in turn.reply


def test_chat_backend_in_use(service):
    try:
        import shelfwise.shop  # noqa: F401
    except ImportError:
        assert isinstance(service.chat_backend, QueryChat)
    else:
        assert isinstance(service.chat_backend, AssistantChat)


def test_load_policy_by_name_checkpoint_and_errors(serve_ws, tmp_path):
    pol = load_policy(serve_ws, "greedy", seed=1)
    assert pol.name == "greedy"
    from agent.policy import make_policy

    saved = make_policy("linucb", dim=8, seed=0)
    serve_ws.policies_dir.mkdir(parents=True, exist_ok=True)
    saved.save(serve_ws.policies_dir / "test-ckpt.npz")
    try:
        loaded = load_policy(serve_ws, "test-ckpt")  # a checkpoint name in policies/
    finally:
        (serve_ws.policies_dir / "test-ckpt.npz").unlink()
    assert (loaded.name, loaded.version) == ("linucb", saved.version)
    with pytest.raises(PolicyError, match="unknown policy 'slateQ'"):
        load_policy(serve_ws, "slateQ")
    with pytest.raises(ConfigError, match="policy checkpoint not found"):
        load_policy(serve_ws, str(tmp_path / "missing.npz"))
