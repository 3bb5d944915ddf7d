"""The shop behind the chat assistant: :class:`WorkspaceShopTools` and :func:`open_assistant`.

``agent.assistant.ShoppingAssistant`` talks to a shop through the ``ShopTools`` protocol;
this module implements it over a workspace's :class:`~shelfwise.engine.Engine` and
:class:`~shelfwise.recommender.Recommender`, so that every slate the assistant shows is chosen
by the policy, (optionally) reordered by the language model with logged propensities, and
logged as an impression; reactions ("like 2", "buy 3") become click and purchase events that
update the policy online.

Intent → index filters: wanted categories and price bounds become a
:class:`index.SearchFilter`; excluded colours and materials ("not leather") are enforced as
excluded product ids (a post-filter over the catalog's facts), so the policy never sees them.
Wanted colours and materials ("red leather bag") narrow the candidates the same way when at
least ``k`` products have them; otherwise the material, then the colour, is relaxed. Without
this the policy, which scores all of the ~100 retrieved bags, could answer "red leather bag"
with a pink canvas clutch (it did, with a fresh LinUCB, before this rule).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shelfwise.errors import ConfigError

if TYPE_CHECKING:
    from agent.assistant import ShoppingAssistant
    from agent.explain import GroundingVocab
    from agent.intent import Intent, IntentVocab
    from shelfwise.config import LLMConfig
    from shelfwise.engine import Engine
    from shelfwise.recommender import Recommender, RecommendResponse
    from shelfwise.workspace import Workspace

__all__ = ["WorkspaceShopTools", "WorkspaceSlate", "grounding_vocab", "intent_vocab",
           "open_assistant"]


def intent_vocab(engine: Any | None = None,
                 synonyms: Mapping[str, Sequence[str]] | None = None) -> IntentVocab:
    """Words the intent parser knows: the shop's vocabulary (``shelfwise.vocabulary``).

    Categories, colours and materials come from the engine's catalog, synonyms from the
    ``[vocabulary]`` section of the workspace's ``shelfwise.toml``.

    Args:
        engine: an engine over the shop (None: no categories, generic colour and material
            words only).
        synonyms: extra words per catalog category, on top of the configured ones.

    Raises:
        ConfigError: an invalid ``[vocabulary]`` section.
    """
    from agent.intent import IntentVocab

    if engine is None:
        return IntentVocab()
    return engine.vocabulary.intent_vocab(synonyms)


def grounding_vocab(engine: Any | None = None) -> GroundingVocab:
    """Words the reason checker knows (a reason may only use those its product has).

    The shop's categories, category words, colours, materials and patterns, plus generic
    English colour, material and pattern words (a model may invent any of them).
    """
    from agent.explain import GroundingVocab

    if engine is None:
        return GroundingVocab()
    return engine.vocabulary.grounding_vocab()


@dataclass(frozen=True)
class WorkspaceSlate:
    """A logged slate, as :class:`agent.assistant.ShopSlate` (products in served order)."""

    slate_id: str | None
    """Id of the logged impression's slate (None when nothing matched)."""
    products: list[Any]
    """Catalog :class:`~shelfwise.catalog.Product` objects, served order."""
    policy_scores: list[float]
    """Score each product was served with (the blend when the model reranked)."""
    response: RecommendResponse | None = None
    """The full recommender response (reasons, propensities, fallback flags)."""
    reasons: list[str] = field(default_factory=list)
    """The recommender's reason per product (the assistant writes its own)."""


class WorkspaceShopTools:
    """:class:`agent.assistant.ShopTools` over an engine and a recommender.

    Args:
        engine: the workspace's :class:`~shelfwise.engine.Engine`.
        recommender: the :class:`~shelfwise.recommender.Recommender` that chooses and logs.
        in_stock_only: never show out-of-stock products.
    """

    def __init__(self, engine: Engine, recommender: Recommender, *,
                 in_stock_only: bool = True) -> None:
        self.engine = engine
        self.recommender = recommender
        self.in_stock_only = in_stock_only
        self._excluded_cache: dict[tuple[frozenset[str], frozenset[str]], frozenset[str]] = {}
        self._wanted_cache: dict[tuple[Any, ...], frozenset[str]] = {}
        self._lock = threading.Lock()
        self.events_recorded = 0
        """New click / purchase events logged through :meth:`record`."""
        self._last: OrderedDict[str, RecommendResponse] = OrderedDict()
        self.llm_stats: Any = None
        """``() -> dict`` of the language model's calls and fallbacks
        (:func:`shelfwise.llm_setup.llm_summary`), set by :func:`open_assistant`."""

    def last_response(self, conversation_id: str) -> RecommendResponse | None:
        """The recommender's last response in a conversation (fallback flags, propensities)."""
        with self._lock:
            return self._last.get(conversation_id)

    # -- intent → filters ------------------------------------------------------------------

    def filters(self, intent: Intent, k: int | None = None) -> Any:
        """The :class:`index.SearchFilter` of an intent (categories, price bounds, exclusions).

        With ``k``, wanted colours and materials also narrow it (:meth:`unwanted_ids`).

        Raises:
            ConfigError: ``min_price`` above ``max_price``.
        """
        from index import SearchFilter

        lo, hi = intent.min_price, intent.max_price
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"min_price {lo} is above max_price {hi}")
        flt = SearchFilter(categories=frozenset(intent.categories) or None, min_price=lo,
                           max_price=hi, in_stock_only=self.in_stock_only,
                           exclude_ids=self.excluded_ids(intent) | intent.exclude_ids)
        if k is None or not (intent.colours or intent.materials):
            return flt
        from dataclasses import replace

        return replace(flt, exclude_ids=flt.exclude_ids | self.unwanted_ids(intent, flt, k))

    def unwanted_ids(self, intent: Intent, flt: Any, k: int) -> frozenset[str]:
        """Products that pass ``flt`` but lack the intent's wanted colour or material.

        Tries colours and materials together, then colours only, then materials only, and
        returns the exclusions of the first that leaves at least ``k`` products (a product
        has a colour or material when its title or an attribute value names it); an empty
        set when none does. Cached per intent; otherwise one pass over the products the
        index lets through ``flt``.
        """
        key = (frozenset(intent.colours), frozenset(intent.materials), flt.categories,
               flt.min_price, flt.max_price, flt.in_stock_only, flt.exclude_ids, k)
        with self._lock:
            hit = self._wanted_cache.get(key)
        if hit is not None:
            return hit
        from agent.assistant import product_words

        passing = [(p.id, product_words(p)) for p in
                   self.engine.products(self.engine.index.filtered_ids(flt))]
        out: frozenset[str] = frozenset()
        for colours, materials in ((intent.colours, intent.materials), (intent.colours, ()),
                                   ((), intent.materials)):
            if not colours and not materials:
                continue
            keep = {pid for pid, words in passing
                    if (not colours or words & set(colours))
                    and (not materials or words & set(materials))}
            if len(keep) >= k:
                out = frozenset(pid for pid, _ in passing if pid not in keep)
                break
        with self._lock:
            if len(self._wanted_cache) > 256:
                self._wanted_cache.clear()
            self._wanted_cache[key] = out
        return out

    def excluded_ids(self, intent: Intent) -> frozenset[str]:
        """Products that break the intent's exclusions ("not red", "no leather")."""
        key = (frozenset(intent.exclude_colours), frozenset(intent.exclude_materials))
        if not key[0] and not key[1]:
            return frozenset()
        with self._lock:
            hit = self._excluded_cache.get(key)
        if hit is not None:
            return hit
        from dataclasses import replace

        from agent.assistant import violates
        from agent.intent import Intent as _Intent

        only_ex = replace(_Intent(), exclude_colours=key[0], exclude_materials=key[1])
        out = frozenset(p.id for p in self.engine.catalog.all() if violates(only_ex, p))
        with self._lock:
            if len(self._excluded_cache) > 256:
                self._excluded_cache.clear()
            self._excluded_cache[key] = out
        return out

    @staticmethod
    def _query(intent: Intent) -> str | None:
        words = [*sorted(intent.colours), *sorted(intent.materials)]
        text = " ".join([*words, intent.query]).strip()
        return text or (" ".join(sorted(intent.categories)) or None)

    # -- ShopTools -------------------------------------------------------------------------

    def search(self, intent: Intent, k: int) -> list[tuple[Any, float]]:
        """Products matching ``intent`` with their similarity, best first (nothing logged)."""
        flt = self.filters(intent, k)
        if intent.similar_to:
            hits = self.engine.similar(intent.similar_to, k, flt)
        else:
            hits = self.engine.search(text=self._query(intent), filters=flt, k=k)
        return [(h.product, float(h.score)) for h in hits]

    def recommend(self, conversation_id: str, intent: Intent, k: int, *,
                  user_id: str | None = None) -> WorkspaceSlate:
        """A policy-chosen slate for ``user_id`` (default: the conversation id), logged."""
        resp = self.recommender.recommend(user_id or conversation_id, self._query(intent),
                                          self.filters(intent, k), k,
                                          session_id=conversation_id,
                                          similar_to=intent.similar_to)
        with self._lock:
            self._last[conversation_id] = resp
            self._last.move_to_end(conversation_id)
            while len(self._last) > 1000:
                self._last.popitem(last=False)
        return WorkspaceSlate(resp.slate_id, [it.product for it in resp.items],
                              [float(it.score) for it in resp.items], resp,
                              [it.reason for it in resp.items])

    def details(self, product_id: str) -> Any | None:
        """One catalog product, or None."""
        try:
            return self.engine.catalog.get(product_id)
        except Exception:  # noqa: BLE001 - unknown or malformed id
            return None

    def compare(self, ids: Sequence[str]) -> str:
        """A short factual comparison: price, colour and material of each product."""
        from agent.products import format_price

        rows = [p for p in (self.details(i) for i in ids) if p is not None]
        if not rows:
            return "None of those products are in the catalog."
        parts = []
        for p in rows:
            attrs = ", ".join(f"{a}: {p.attributes[a]}" for a in ("colour", "material", "style")
                              if p.attributes.get(a))
            parts.append(f"{p.title} ({format_price(p.price, p.currency)}"
                         f"{'; ' + attrs if attrs else ''})")
        cheapest = min(rows, key=lambda p: p.price)
        return "; ".join(parts) + f". Cheapest: {cheapest.title}."

    def record(self, slate_id: str, product_id: str, kind: str) -> None:
        """Log a click or purchase of a shown product (updates the policy online)."""
        from shelfwise.events import new_event_id

        res = self.recommender.feedback(new_event_id(), slate_id, product_id, kind)  # type: ignore[arg-type]
        if res.new:
            with self._lock:
                self.events_recorded += 1


def _load_or_make_policy(ws: Workspace, name: str, dim: int) -> Any:
    from agent.policy import load_policy, make_policy

    folder = ws.policies_dir
    for cand in (folder / name, folder / f"{name}.npz", folder / f"{name}.json"):
        if cand.exists():
            return load_policy(cand)
    return make_policy(name, dim=dim)


def open_assistant(workspace: Workspace | str | None = None, *, llm: bool = True,
                   policy: str = "linucb", k: int = 5, chat_model: Any = None,
                   llm_weight: float | None = None,
                   llm_config: LLMConfig | None = None) -> ShoppingAssistant:
    """A chat shopping assistant over a built workspace.

    Args:
        workspace: the workspace (path or :class:`~shelfwise.workspace.Workspace`).
        llm: use a language model to rerank and explain (False: rule-based intent, policy
            order, template reasons; no model is loaded).
        policy: policy name; loaded from ``workspace.policies_dir / policy`` when a checkpoint
            exists, else a fresh one.
        k: products per answer.
        chat_model: the LangChain chat model (default: the one ``llm_config`` names).
        llm_weight: the model's weight in the served blend (default ``llm_config``'s
            ``rerank_weight``); at 0 the model's score call is skipped (no reranker).
        llm_config: the ``[llm]`` settings (default: the workspace's ``shelfwise.toml``,
            see :func:`shelfwise.llm_setup.resolve_llm_config`).

    Returns:
        The assistant; ``assistant.tools`` is the :class:`WorkspaceShopTools` and
        ``assistant.tools.recommender`` the :class:`~shelfwise.recommender.Recommender`.

    Raises:
        ShelfwiseError: the workspace has no index (build it first), or an unknown policy.
    """
    from agent.assistant import ShoppingAssistant
    from agent.explain import Explainer
    from shelfwise.engine import Engine
    from shelfwise.events import SQLiteEventStore
    from shelfwise.recommender import Recommender
    from shelfwise.workspace import Workspace

    ws = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    engine = Engine.open(ws)
    pol = _load_or_make_policy(ws, policy, engine.dim)
    store = SQLiteEventStore(ws.events_db)
    from shelfwise.llm_setup import make_reranker, open_chat_model, resolve_llm_config

    cfg = llm_config if llm_config is not None else resolve_llm_config(ws.config_file)
    if llm_weight is not None:
        cfg = cfg.model_copy(update={"rerank_weight": float(llm_weight)})
    reranker = model = None
    if llm and (chat_model is not None or cfg.backend != "none"):
        model = chat_model if chat_model is not None else open_chat_model(cfg)
        # no score call at weight 0 unless [llm] always_score asks for the scores
        reranker = make_reranker(cfg, model)
    # The recommender reranks (so the logged order and propensities are what is served); the
    # assistant only explains, with grounding-checked model sentences or templates.
    rec = Recommender(engine, pol, store, reranker, llm_weight=cfg.rerank_weight)
    from shelfwise.online_checkpoints import enable_for_workspace

    # online updates of earlier chats and servers on this policy continue (``[online]``);
    # the caller saves the last ones with ``rec.close_checkpoints()``
    enable_for_workspace(rec, ws)
    tools = WorkspaceShopTools(engine, rec)
    # [llm] capable: the model may write free-form (claim-checked) reasons
    explainer = Explainer(model, vocab=grounding_vocab(engine), capable=cfg.capable)
    from shelfwise.llm_setup import llm_summary

    tools.llm_stats = lambda: llm_summary(cfg, model, reranker, rec, explainer)
    # Structured intent parsing (and the model's opinion on non-shopping messages) only from
    # models declared capable: SmolLM2-135M returned usable JSON for 1 message in 6 and took
    # seconds per message, so the rule parser alone serves small local models.
    return ShoppingAssistant(tools, None, explainer, intent_vocab(engine), k=k,
                             intent_model=model if cfg.capable else None)
