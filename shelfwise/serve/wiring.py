"""Load a :class:`RecommendationService` from a workspace (engine, policy, event log, chat).

``POST /chat`` is answered by the shopping assistant of :mod:`shelfwise.shop`
(``open_assistant``) when that module is importable, else by :class:`QueryChat` (each message
is a search query for the shared :class:`~shelfwise.recommender.Recommender`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError
from shelfwise.recommender import (
    RecommendedItem,
    Recommender,
    RecommendResponse,
    UnknownProductError,
    template_reason,
)
from shelfwise.serve.service import ChatBackend, ChatTurn, RecommendationService
from shelfwise.workspace import Workspace

__all__ = ["AssistantChat", "check_policy_serves", "load_policy", "open_service"]


def _workspace(workspace: Any) -> Workspace:
    if isinstance(workspace, Workspace):
        return workspace
    return Workspace.resolve(workspace)


def load_policy(ws: Workspace, spec: str, *, seed: int | None = None,
                options: dict[str, Any] | None = None) -> Any:
    """The policy ``spec``: a checkpoint path, a checkpoint in ``policies/``, or a registry name.

    A registry name gives a fresh policy (seeded with ``seed``, built with ``options``).

    Raises:
        ConfigError: ``spec`` looks like a path and does not exist.
        PolicyError: unknown policy name or unreadable checkpoint (the message says which).
    """
    from agent.policy import load_policy as load_checkpoint
    from agent.policy import make_policy

    path = Path(spec).expanduser()
    found = path if path.exists() else None
    if found is None:
        for candidate in (ws.policies_dir / spec, ws.policies_dir / f"{spec}.npz",
                          ws.policies_dir / f"{spec}.json"):
            if candidate.exists():
                found = candidate
                break
    if found is not None:
        return load_checkpoint(found)
    if any(sep in spec for sep in ("/", "\\")) or path.suffix:
        raise ConfigError(f"--policy: policy checkpoint not found: {spec}")
    opts = dict(options or {})
    if seed is not None:
        opts.setdefault("seed", seed)
    return make_policy(spec, **opts)


def open_service(workspace: Any = None, *, policy: str = "linucb", llm: bool = False,
                 seed: int | None = None, policy_options: dict[str, Any] | None = None,
                 chat: ChatBackend | None = None, assistant: bool = True,
                 checkpoints: bool | None = None, checkpoint_every: int | None = None,
                 checkpoint_seconds: float | None = None,
                 llm_config: Any = None) -> RecommendationService:
    """Open the workspace's engine, policy and event log as a service for the server.

    Online policy updates are checkpointed to ``policies/online`` (periodically, and when the
    service closes or the app shuts down) and reloaded here when the same base policy was
    served before (:mod:`shelfwise.online_checkpoints`; the ``[online]`` config section).

    Args:
        workspace: a Workspace, a path, or None (``$SHELFWISE_HOME`` or ``./shelfwise-data``).
        policy: slate policy: registry name, checkpoint name in ``policies/``, or a path.
        llm: rerank and explain with the language model of ``llm_config``.
        seed: seed of the policy and the served order (None: fresh entropy).
        policy_options: extra keyword arguments for a fresh policy.
        chat: the chat backend; default the shopping assistant of :mod:`shelfwise.shop` when
            importable (and ``assistant`` is true), else :class:`QueryChat`.
        assistant: try the shopping assistant for ``POST /chat``.
        checkpoints: save and reload online updates (None: ``[online] checkpoints``).
        checkpoint_every: save after this many updates (None: the config's).
        checkpoint_seconds: save this long after an unsaved update (None: the config's).
        llm_config: the :class:`~shelfwise.config.LLMConfig` (backend, model, timeouts,
            rerank weight); None: the workspace's ``[llm]`` section. At ``rerank_weight``
            0 no score call is made.
    """
    from shelfwise.engine import Engine
    from shelfwise.events import SQLiteEventStore
    from shelfwise.llm_setup import resolve_llm_config
    from shelfwise.online_checkpoints import enable_for_workspace

    ws = _workspace(workspace)
    if llm_config is None:
        llm_config = resolve_llm_config(ws.config_file)
    chat_assistant: AssistantChat | None = None
    if chat is None and assistant:
        # a policy file path is loaded below; the assistant starts with the default policy
        chat_assistant = AssistantChat.open(
            ws, policy="linucb" if _looks_like_path(policy) else policy, llm=llm,
            llm_config=llm_config)
    if chat_assistant is not None:
        # the assistant's recommender serves /recommend, /chat and /feedback: one policy,
        # one event log, one engine in memory
        rec = chat_assistant.recommender
        if seed is not None or policy_options or _looks_like_path(policy):
            rec.policy = load_policy(ws, policy, seed=seed, options=policy_options)
        chat = chat_assistant
        closers = [chat_assistant.close]
        llm_stats = getattr(getattr(chat_assistant.assistant, "tools", None), "llm_stats", None)
    else:
        engine = Engine.open(ws)
        pol = load_policy(ws, policy, seed=seed, options=policy_options)
        store = SQLiteEventStore(ws.events_db)
        reranker = model = None
        if llm:
            from shelfwise.llm_setup import make_reranker, needs_scores, open_chat_model

            # this path has no explainer: the model is loaded only when its scores are used
            model = open_chat_model(llm_config) if needs_scores(llm_config) else None
            reranker = make_reranker(llm_config, model)
        rec = Recommender(engine, pol, store, reranker, llm_weight=llm_config.rerank_weight)
        closers = [store.close, engine.close]
        llm_stats = _summary_of(llm_config, model if llm else None, reranker, rec)
    try:
        check_policy_serves(rec, policy)
        if enable_for_workspace(rec, ws, enabled=checkpoints, every=checkpoint_every,
                                seconds=checkpoint_seconds):
            check_policy_serves(rec, str(rec.checkpoints.path))  # the reloaded online updates
    except Exception:
        for fn in closers:
            fn()
        raise
    closers.insert(0, rec.close_checkpoints)  # the last updates are saved before anything closes
    if seed is not None:
        rec._seeds = np.random.SeedSequence(seed)  # reproducible served orders

    def close() -> None:
        for fn in closers:
            fn()

    service = RecommendationService(rec, chat=chat, images_root=ws.images_dir,
                                    workspace_root=ws.root, on_close=close)
    # read by /metrics (shelfwise_llm_*): the model's calls, retries and counted fallbacks
    service.llm_stats = llm_stats  # type: ignore[attr-defined]
    return service


def _summary_of(cfg: Any, model: Any, reranker: Any, rec: Recommender) -> Any:
    from shelfwise.llm_setup import llm_summary

    return lambda: llm_summary(cfg, model, reranker, rec)


def check_policy_serves(rec: Recommender, spec: str) -> None:
    """Refuse to start serving a policy that could not answer any request.

    The policy's dimensions must be the index's, and a trained policy must answer a probe
    request built from indexed products with finite scores and positive propensities;
    otherwise every request would fail (409/500 forever) instead of the start.

    Raises:
        PolicyError: names ``spec`` and what is wrong.
    """
    from shelfwise.errors import PolicyError, ShelfwiseError

    policy = rec.policy
    dim = int(rec.engine.dim)
    d_u, d_c = getattr(policy, "state_dim", None), getattr(policy, "cand_dim", None)
    # candidates may carry trailing scalar columns (e.g. source scores) after the item vector
    for got, what, bad in ((d_u, "states", d_u != dim), (d_c, "candidates", (d_c or dim) < dim)):
        if got is not None and bad:
            raise PolicyError(
                f"--policy {spec}: the policy was built for {got}-d {what} but this "
                f"workspace's index is {dim}-d; train it on this workspace (shelfwise train)")
    ids = list(rec.engine.index.ids[:8])
    if d_u is None or d_c is None or len(ids) < 2:
        return  # a fresh policy has nothing learned that could be broken
    vecs = np.asarray(rec.engine.index.vectors(ids), dtype=np.float64)
    state = vecs.mean(axis=0)
    cands = np.concatenate([vecs, np.zeros((len(ids), d_c - dim))], axis=1)
    if not np.any(state):
        state = vecs[0]
    try:
        with np.errstate(all="ignore"):
            slate = policy.select(state, cands, 2, np.random.default_rng(0))
    except (ShelfwiseError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        raise PolicyError(f"--policy {spec}: the policy cannot answer a request: {exc}") from exc
    values = np.concatenate([np.asarray(slate.scores, dtype=np.float64),
                             np.asarray(slate.propensities, dtype=np.float64)])
    props = np.asarray(slate.propensities, dtype=np.float64)
    if not np.all(np.isfinite(values)) or not np.all(props > 0):
        raise PolicyError(
            f"--policy {spec}: the policy answers with NaN or infinite scores or propensities "
            "(its parameters are broken); retrain it or serve another policy")


def _looks_like_path(spec: str) -> bool:
    return any(sep in spec for sep in ("/", "\\")) or bool(Path(spec).suffix)


class AssistantChat:
    """``POST /chat`` through :func:`shelfwise.shop.open_assistant`'s ``ShoppingAssistant``.

    The assistant logs its own impressions; this adapter turns its reply into a
    :class:`ChatTurn` whose slate carries the logged positions, propensities and scores, so
    that ``POST /feedback`` works on chat slates exactly as on ``/recommend`` ones.

    Args:
        assistant: has ``respond(conversation_id, message) -> AssistantReply``.
        recommender: the recommender whose policy and event log the assistant uses.
        owns_recommender: close the recommender's event log in :meth:`close`.
    """

    def __init__(self, assistant: Any, recommender: Recommender, *,
                 owns_recommender: bool = False) -> None:
        self.assistant = assistant
        self.recommender = recommender
        self._owns = owns_recommender

    @classmethod
    def open(cls, ws: Workspace, *, policy: str, llm: bool,
             llm_config: Any = None) -> AssistantChat | None:
        """The adapter over ``shelfwise.shop.open_assistant``, or None when it is missing.

        Raises:
            ShelfwiseError: the assistant's recommender cannot be found (``assistant.tools
                .recommender``), so that chat and feedback could not share one policy.
        """
        try:
            from shelfwise.shop import open_assistant
        except ImportError:
            return None
        assistant = open_assistant(ws, llm=llm, policy=policy, llm_config=llm_config)
        rec = _find_recommender(assistant)
        if rec is None:
            raise ConfigError("shelfwise.shop.open_assistant returned an assistant without "
                              "tools.recommender; the server cannot share its policy")
        return cls(assistant, rec, owns_recommender=True)

    def respond(self, conversation_id: str, user_id: str | None, message: str) -> ChatTurn:
        """Answer one message of ``user_id`` in a conversation."""
        from shelfwise.serve.why import why_sentences

        reply = self.assistant.respond(conversation_id, message, user_id)
        reacted = len(getattr(reply, "reactions_recorded", None) or [])
        fallback = bool(getattr(reply, "rerank_fallback", None))
        products = list(getattr(reply, "products", None) or [])
        to_dict = getattr(reply, "intent_dict", None)
        extra = {"summary": str(getattr(reply, "summary", "") or ""),
                 "intent": to_dict() if callable(to_dict) else None,
                 "kind": str(getattr(reply, "kind", "shopping"))}
        if not products or not reply.slate_id:
            return ChatTurn(reply.text, None, reacted, fallback, **extra)
        slate = self._slate(reply, conversation_id, user_id or conversation_id, products)
        why = why_sentences(slate, self._impression(reply.slate_id))
        return ChatTurn(reply.text, slate, reacted, fallback or slate.llm_fallback, why=why,
                        **extra)

    def _served(self, conversation_id: str, slate_id: str) -> RecommendResponse | None:
        """The recommender's response behind the reply (its scores), when the tools keep it."""
        last = getattr(getattr(self.assistant, "tools", None), "last_response", None)
        resp = last(conversation_id) if callable(last) else None
        return resp if resp is not None and resp.slate_id == slate_id else None

    def _slate(self, reply: Any, conversation_id: str, user_id: str, products: list[Any],
               ) -> RecommendResponse:
        served = self._served(conversation_id, reply.slate_id)
        by_id = {it.product.id: it for it in served.items} if served is not None else {}
        imp = self._impression(reply.slate_id) if served is None else None
        reasons = list(getattr(reply, "reasons", None) or [])
        query = getattr(getattr(reply, "intent", None), "query", None) or None
        items = []
        for view in products:
            try:
                product = self.recommender.product(view.id)
            except UnknownProductError:
                continue
            shown = len(items)
            reason = reasons[shown] if shown < len(reasons) and reasons[shown] else ""
            got = by_id.get(view.id)
            if got is not None:
                items.append(RecommendedItem(
                    product=product, score=got.score, policy_score=got.policy_score,
                    llm_score=got.llm_score, reason=reason or got.reason, position=shown,
                    propensity=got.propensity))
                continue
            score = propensity = 0.0
            if imp is not None and view.id in imp.item_ids:
                slot = imp.item_ids.index(view.id)
                propensity = float(imp.propensities[slot])
                scores = getattr(imp, "scores", None)
                score = float(scores[slot]) if scores is not None and len(scores) > slot else 0.0
            items.append(RecommendedItem(
                product=product, score=score, policy_score=score, llm_score=None,
                reason=reason or template_reason(product, query), position=shown,
                propensity=propensity))
        if served is not None:
            return RecommendResponse(reply.slate_id, served.user_id, items, served.policy,
                                     served.policy_version, served.query or query,
                                     served.reranked, served.llm_fallback, served.event_id)
        policy = str(getattr(imp, "policy", "") or getattr(self.recommender.policy, "name", ""))
        version = str(getattr(imp, "policy_version", "") or "0")
        fallback = getattr(reply, "rerank_fallback", None)
        return RecommendResponse(reply.slate_id, getattr(imp, "user_id", user_id), items, policy,
                                 version, query, reranked=fallback is False,
                                 llm_fallback=bool(fallback))

    def _impression(self, slate_id: str) -> Any:
        getter = getattr(self.recommender.events, "impression", None)
        try:
            if getter is not None:
                return getter(slate_id)
            return self.recommender.events.feedback_for(slate_id).impression
        except Exception:  # the slate is still shown; only its scores are missing
            return None

    def close(self) -> None:
        """Close what the assistant opened."""
        closer = getattr(self.assistant, "close", None)
        if callable(closer):
            closer()
        elif self._owns:
            self.recommender.events.close()
            engine_close = getattr(self.recommender.engine, "close", None)
            if callable(engine_close):
                engine_close()


def _find_recommender(assistant: Any) -> Recommender | None:
    for holder in (assistant, getattr(assistant, "tools", None)):
        rec = getattr(holder, "recommender", None)
        if isinstance(rec, Recommender):
            return rec
    return None


def image_root(ws: Workspace) -> Path:
    """Folder relative image paths are resolved against."""
    return ws.images_dir
