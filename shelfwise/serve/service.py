"""What the HTTP server needs, in one object: slates, chat turns, feedback, products, images.

The server (:mod:`shelfwise.serve.app`) only translates HTTP to calls on a
:class:`RecommendationService` and back; everything it serves goes through the shared
:class:`shelfwise.recommender.Recommender` (retrieve → policy → rerank → log).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shelfwise.recommender import (
    FeedbackResult,
    Recommender,
    RecommendResponse,
    UnknownProductError,
)

__all__ = ["ChatBackend", "ChatTurn", "QueryChat", "RecommendationService"]


@dataclass(frozen=True)
class ChatTurn:
    """The assistant's answer to one message."""

    reply: str
    """Text shown to the shopper."""
    slate: RecommendResponse | None
    """The slate the answer shows, if any."""
    events_logged: int = 0
    """Clicks or purchases recorded from the message ("add #2 to cart")."""
    llm_fallback: bool = False
    """True when a language model step fell back to rules or the policy's order."""
    summary: str = ""
    """One line for a chat bubble (the cards carry the products); ``reply`` when empty."""
    intent: dict[str, Any] | None = None
    """The parsed intent the answer served (:meth:`agent.assistant.AssistantReply.intent_dict`),
    or None when the chat backend parses none."""
    why: list[str] | None = None
    """Per shown product, in words: which source found it, what the policy and model thought."""
    kind: str = "shopping"
    """What the message was; only ``shopping`` gets products."""


class ChatBackend(Protocol):
    """Answers chat messages; keeps each conversation's state by id."""

    def respond(self, conversation_id: str, user_id: str | None, message: str) -> ChatTurn:
        """Answer one message of a conversation.

        ``user_id`` None means the conversation's shopper as given earlier, else the
        conversation id.
        """
        ...


class QueryChat:
    """The simplest chat: each message is a search query for the recommender.

    Used when the language-model shopping assistant is not available. It keeps no intent
    beyond the last message, but every slate is chosen, explained and logged by the same
    :class:`Recommender` as ``POST /recommend``.
    """

    def __init__(self, recommender: Recommender, *, k: int = 8) -> None:
        self.recommender = recommender
        self.k = k

    def respond(self, conversation_id: str, user_id: str | None, message: str) -> ChatTurn:
        """Recommend for the message as a query (for ``user_id``, else the conversation id)."""
        slate = self.recommender.recommend(user_id or conversation_id, message, k=self.k,
                                           session_id=conversation_id)
        if not slate.items:
            return ChatTurn("I could not find products for that; try other words.", slate)
        return ChatTurn(f"Here are {len(slate.items)} picks for \u201c{message}\u201d.", slate,
                        llm_fallback=slate.llm_fallback)


class RecommendationService:
    """The server's view of shelfwise.

    Args:
        recommender: the shared recommendation facade.
        chat: answers ``POST /chat``; default :class:`QueryChat` over ``recommender``.
        images_root: folder that relative product image paths are resolved against.
        workspace_root: also tried for relative image paths.
        on_close: called by :meth:`close` (e.g. to close the event store).
    """

    def __init__(self, recommender: Recommender, *, chat: ChatBackend | None = None,
                 images_root: str | Path | None = None,
                 workspace_root: str | Path | None = None,
                 on_close: Callable[[], None] | None = None) -> None:
        self.recommender = recommender
        self.chat_backend: ChatBackend = chat if chat is not None else QueryChat(recommender)
        self.images_root = Path(images_root) if images_root else None
        self.workspace_root = Path(workspace_root) if workspace_root else None
        self._on_close = on_close
        self._conv_locks: OrderedDict[str, threading.Lock] = OrderedDict()
        self._conv_guard = threading.Lock()

    @classmethod
    def open(cls, workspace: Any = None, *, policy: str = "linucb", llm: bool = False,
             seed: int | None = None, policy_options: dict[str, Any] | None = None,
             ) -> RecommendationService:
        """Load the engine, policy, event log (and optionally the language model) of a workspace.

        Args:
            workspace: a :class:`shelfwise.workspace.Workspace`, a path, or None for the default.
            policy: registry name of the slate policy; a checkpoint in the workspace's
                ``policies/<name>`` is loaded when present.
            llm: rerank and explain with the default local language model.
            seed: seed of the policy's randomness (None: fresh entropy).
            policy_options: extra keyword arguments for ``make_policy``.
        """
        from shelfwise.serve.wiring import open_service

        return open_service(workspace, policy=policy, llm=llm, seed=seed,
                            policy_options=policy_options)

    # -- the endpoints' work ---------------------------------------------------------------

    def recommend(self, user_id: str, query: str | None = None, filters: Any = None,
                  k: int = 10, session_id: str | None = None) -> RecommendResponse:
        """A logged slate for ``user_id`` (see :meth:`Recommender.recommend`)."""
        return self.recommender.recommend(user_id, query, filters, k, session_id=session_id)

    def chat(self, conversation_id: str, message: str, user_id: str | None = None) -> ChatTurn:
        """Answer one chat message; messages of one conversation are answered one at a time."""
        with self._conversation_lock(conversation_id):
            return self.chat_backend.respond(conversation_id, user_id, message)

    def _conversation_lock(self, conversation_id: str) -> threading.Lock:
        with self._conv_guard:
            lock = self._conv_locks.pop(conversation_id, None) or threading.Lock()
            self._conv_locks[conversation_id] = lock
            while len(self._conv_locks) > 10_000:
                self._conv_locks.popitem(last=False)
            return lock

    def feedback(self, event_id: str, slate_id: str, product_id: str, kind: str,
                 quantity: int = 1) -> FeedbackResult:
        """Record a click or purchase (idempotent by ``event_id``)."""
        return self.recommender.feedback(event_id, slate_id, product_id, kind,  # type: ignore[arg-type]
                                         quantity=quantity)

    def product(self, product_id: str) -> Any:
        """The product, or :class:`UnknownProductError`."""
        return self.recommender.product(product_id)

    def image(self, product_id: str) -> Path | str:
        """The product image: a local file (a fetched URL's cached copy), or a URL to redirect to.

        Raises:
            UnknownProductError: no such product, or it has no image (file).
        """
        product = self.product(product_id)
        ref = getattr(product, "image", None)
        if not ref:
            raise UnknownProductError(f"product {product_id!r} has no image")
        ref = str(ref)
        if ref.startswith(("http://", "https://")):
            return self._fetched_image(ref) or ref
        if ref.startswith("file://"):
            ref = ref[len("file://"):]
        path = Path(ref)
        tries = [path] if path.is_absolute() else [
            base / path for base in (self.images_root, self.workspace_root) if base is not None]
        for candidate in tries:
            if candidate.is_file():
                return candidate
        raise UnknownProductError(f"the image file of product {product_id!r} is missing")

    def _fetched_image(self, url: str) -> Path | None:
        """The downloaded copy of an image URL (``shelfwise images fetch``), if any."""
        if self.workspace_root is None:
            return None
        from shelfwise.image_fetch import cached_image_path
        from shelfwise.workspace import Workspace

        path = cached_image_path(Workspace.resolve(self.workspace_root), url)
        return path if path is not None and path.is_file() else None

    def product_count(self) -> int:
        """Number of products in the catalog."""
        try:
            return len(self.recommender.catalog)
        except TypeError:
            return -1

    @property
    def has_reranker(self) -> bool:
        """Whether a language model reranks slates."""
        return self.recommender.reranker is not None

    def policy_name(self) -> tuple[str, str]:
        """The policy's name and version."""
        pol = self.recommender.policy
        return (str(getattr(pol, "name", type(pol).__name__)), str(getattr(pol, "version", "0")))

    def close(self) -> None:
        """Release the event log and anything else opened by :meth:`open`."""
        if self._on_close is not None:
            self._on_close()

