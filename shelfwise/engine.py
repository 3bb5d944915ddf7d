"""The retrieval engine: one object over a workspace's catalog, encoders and product index.

Every surface (CLI, chat, HTTP, batch, notebooks) goes through :class:`Engine`: text and image
queries, "more like this", shopper state from history, and candidate retrieval for the policy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from shelfwise.catalog import CatalogStore, Product
from shelfwise.errors import ConfigError, IndexError_
from shelfwise.workspace import Workspace

LEXICAL_WEIGHT = 0.1
"""Weight of exact query words in text search (``shelfwise.lexical``): one of three query words
found adds 0.033 to a cosine score; the spread of the dense top 10 is typically 0.05-0.1."""

LEXICAL_POOL = 50
"""Dense candidates re-scored by exact words in text search (at least 5 k)."""

FACET_WEIGHT = 1.0
"""Weight of the share of named facts a product has (``shelfwise.lexical.facet_match``): "red
leather handbag" names colour, material and category; a product with two of the three loses
0.33 to one with all three, and one with only the category 0.67: more than the spread of
cosine scores among the retrieved candidates (about 0.1-0.3), so products with all named
facts come first, then cosine and word overlap order each tier."""

FACET_POOL = 200
"""Dense candidates re-scored when the query names facts (a wider net for the facts)."""

QUERY_CACHE_SIZE = 4096
"""Query texts whose vectors an engine keeps (least recently used dropped; 6 MB at 384-d).
Encoding is deterministic, so a cached vector is the one the encoder would return; shops see
the same head queries again and again, and a cached one costs microseconds instead of a
MiniLM forward pass (about 10 ms on one core)."""

_STALE_WARNED: set[Path] = set()
"""Workspaces whose stale-index warning this process has printed (it is printed once)."""


@dataclass(frozen=True)
class Hit:
    """One search result: the product and its score (cosine; plus word overlap for text)."""

    product: Product
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every product field plus ``score``."""
        return {**self.product.to_dict(), "score": round(float(self.score), 6)}


class Engine:
    """Search and candidate retrieval over one workspace.

    Attributes:
        workspace: The workspace folder.
        catalog: The product store.
        index: The product ``VectorIndex`` (unit vectors, dimension ``dim``).
        encoders: The ``ProductEncoders`` the index was built with.
    """

    def __init__(
        self,
        workspace: Workspace,
        catalog: CatalogStore,
        index: Any,
        encoders: Any,
        *,
        half_life: float = 5.0,
        query_weight: float = 0.5,
        lexical_weight: float = LEXICAL_WEIGHT,
        facet_weight: float = FACET_WEIGHT,
    ) -> None:
        from encoders.fusion import UserStateBuilder

        self.workspace = workspace
        self.catalog = catalog
        self.index = index
        self.encoders = encoders
        self.state_builder = UserStateBuilder(half_life=half_life, query_weight=query_weight)
        if not 0.0 <= lexical_weight <= 1.0:
            raise ConfigError(f"lexical_weight must be in [0, 1], got {lexical_weight}")
        self.lexical_weight = float(lexical_weight)
        if not 0.0 <= facet_weight <= 10.0:
            raise ConfigError(f"facet_weight must be in [0, 10], got {facet_weight}")
        self.facet_weight = float(facet_weight)
        self._product_cache: dict[str, Product] = {}
        self._query_vectors = lru_cache(maxsize=QUERY_CACHE_SIZE)(self._encode_query_uncached)
        self._centroid: np.ndarray | None = None
        self._sources: Any = None
        self.behaviour_warning: str | None = None
        """Set when the workspace's behaviour models could not be loaded (content only then)."""
        self.index_warning: str | None = None
        """Set by :meth:`open` when the catalog changed after the index was built."""

    @classmethod
    def open(
        cls, workspace: Workspace | str | Path | None = None, *, warn_stale: bool = True
    ) -> Engine:
        """Load the catalog, the saved index and the encoders it was built with.

        When the catalog changed after the index was built (e.g. ``shelfwise ingest
        --no-build-index``), ``index_warning`` says so and, with ``warn_stale``, a
        ``warning: ...`` line goes to stderr, once per process and workspace.

        Raises:
            IndexError_: no index yet (run ``shelfwise index build``), or a corrupt one.
        """
        from index import VectorIndex
        from shelfwise.pipeline import index_staleness, load_encoders

        ws = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
        if not (ws.index_dir / "meta.json").is_file():
            raise IndexError_(
                f"{ws.index_dir}: no product index yet; run `shelfwise index build` "
                "(or `shelfwise demo`)"
            )
        index = VectorIndex.load(ws.index_dir)
        names = index.model_names
        encoders = load_encoders(ws, names.get("text", "default"), names.get("image", "aligned"))
        engine = cls(ws, CatalogStore(ws.catalog_db), index, encoders)
        engine.index_warning = index_staleness(ws)
        if engine.index_warning and warn_stale and ws.root not in _STALE_WARNED:
            _STALE_WARNED.add(ws.root)
            print(f"warning: {engine.index_warning}", file=sys.stderr, flush=True)
        return engine

    @property
    def dim(self) -> int:
        return int(self.index.dim)

    def close(self) -> None:
        self.catalog.close()

    # ---- queries -------------------------------------------------------------------------
    def encode_query(self, text: str) -> np.ndarray:
        """The query vector of a shopper's words, float32 ``(d,)`` unit norm.

        The last :data:`QUERY_CACHE_SIZE` distinct texts are remembered (a copy is returned,
        so callers may change it).
        """
        if not isinstance(text, str) or not text.strip():
            raise ConfigError("query text must be a non-empty string")
        return self._query_vectors(text).copy()

    def _encode_query_uncached(self, text: str) -> np.ndarray:
        from shelfwise.threads import one_thread

        with one_thread():  # one short text: threads only wait on each other
            return np.asarray(self.encoders.encode_texts([text])[0], dtype=np.float32)

    def encode_image(self, image: Any) -> np.ndarray:
        """The query vector of an image (path or PIL image), float32 ``(d,)`` unit norm."""
        return self.encoders.encode_images([image])[0]

    def query_vector(self, text: str | None = None, image: Any = None) -> np.ndarray:
        """Text, image, or both (their normalised mean), as one ``(d,)`` vector."""
        parts = []
        if text is not None:
            parts.append(self.encode_query(text))
        if image is not None:
            parts.append(self.encode_image(image))
        if not parts:
            raise ConfigError("give a query text, an image, or both")
        v = np.mean(parts, axis=0)
        return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)

    def products(self, ids: Sequence[str | None]) -> list[Product]:
        """Products for ids (cached in memory); unknown or ``None`` ids are skipped."""
        missing = [i for i in ids if i is not None and i not in self._product_cache]
        for p in self.catalog.by_ids(missing):
            self._product_cache[p.id] = p
        return [self._product_cache[i] for i in ids if i is not None and i in self._product_cache]

    def search_vector(self, vector: np.ndarray, k: int = 10, filters: Any = None) -> list[Hit]:
        """Top-k products for a ``(d,)`` query vector, best first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        ids, scores = self.index.search(np.asarray(vector, dtype=np.float32)[None, :], k, filters)
        by_id = {p.id: p for p in self.products(list(ids[0]))}
        return [
            Hit(by_id[i], float(s))
            for i, s in zip(ids[0], scores[0], strict=True)
            if i is not None and i in by_id
        ]

    def search(
        self, text: str | None = None, image: Any = None, filters: Any = None, k: int = 10
    ) -> list[Hit]:
        """Products for a text and/or image query, with optional ``SearchFilter``.

        With text, the dense top ``max(5 k, LEXICAL_POOL)`` (``FACET_POOL`` when the query
        names facts of the shop's vocabulary) is re-scored by ``cosine + lexical_weight *
        overlap + facet_weight * facets`` (:mod:`shelfwise.lexical`), so that products having
        the facts and exact words the shopper named come first; image-only queries are pure
        cosine.
        """
        vector = self.query_vector(text, image)
        if text is None or (self.lexical_weight == 0.0 and self.facet_weight == 0.0):
            return self.search_vector(vector, k, filters)
        from shelfwise.lexical import facet_match, query_facets, term_overlap

        vocab = self.vocabulary if self.facet_weight > 0.0 else None
        named = vocab is not None and len(query_facets(text, vocab)) > 0
        pool = self.search_vector(
            vector, max(5 * k, LEXICAL_POOL, FACET_POOL if named else 0), filters)
        products = [h.product for h in pool]
        scores = np.array([h.score for h in pool]) + self.lexical_weight * term_overlap(
            text, products)
        if named:
            scores = scores + self.facet_weight * facet_match(text, products, vocab)
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(pool[i].product, float(scores[i])) for i in order]

    @property
    def vocabulary(self) -> Any:
        """The shop's :class:`~shelfwise.vocabulary.ShopVocabulary` (cached per catalog version).

        Raises:
            ConfigError: an invalid ``[vocabulary]`` section in ``shelfwise.toml``.
        """
        from shelfwise.vocabulary import load_vocabulary

        return load_vocabulary(self.workspace, self.catalog)

    def similar(self, product_id: str, k: int = 10, filters: Any = None) -> list[Hit]:
        """Products most like ``product_id`` (itself excluded).

        Raises:
            IndexError_: unknown product id.
        """
        from index import SearchFilter

        vector = self.index.vector(product_id)
        base = filters or SearchFilter()
        excluded = SearchFilter(
            categories=base.categories,
            min_price=base.min_price,
            max_price=base.max_price,
            in_stock_only=base.in_stock_only,
            exclude_ids=base.exclude_ids | {product_id},
        )
        return self.search_vector(vector, k, excluded)

    # ---- shoppers and candidates -----------------------------------------------------------
    def centroid(self) -> np.ndarray:
        """The normalised mean product vector ``(d,)``: the cold-start state."""
        if self._centroid is None:
            mean = self.index.vectors(self.index.ids).mean(axis=0)
            self._centroid = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        return self._centroid

    def user_state(self, history_ids: Sequence[str], query: str | None = None) -> np.ndarray:
        """A shopper's state ``(d,)``: recency-weighted mean of history (oldest first) + query.

        Unknown history ids are ignored (products may have been removed since).
        """
        known = [i for i in history_ids if i in self.index]
        history = self.index.vectors(known) if known else np.zeros((0, self.dim), np.float32)
        q = self.encode_query(query) if query else None
        return self.state_builder.build(history, q)

    @property
    def candidate_sources(self) -> Any:
        """The named candidate sources (:class:`shelfwise.candidates.CandidateSources`).

        Built on first use from the ``[candidates]`` config section and the behaviour models
        that ``shelfwise train`` saved (none: content only). Models that cannot be loaded
        leave a ``behaviour_warning`` (printed once on stderr) and content-only candidates.

        Raises:
            ConfigError: an invalid ``[candidates]`` section in ``shelfwise.toml``.
        """
        if self._sources is None:
            from shelfwise.behaviour import BehaviourModels
            from shelfwise.candidates import CandidateSources
            from shelfwise.config import load_config
            from shelfwise.errors import ShelfwiseError

            cfg = load_config(self.workspace.config_file).candidates
            models = None
            if cfg.behaviour_models:
                try:
                    models = BehaviourModels.load(self.workspace)
                except ShelfwiseError as exc:
                    self.behaviour_warning = f"behaviour models not used: {exc}"
                    print(f"warning: {self.behaviour_warning}", file=sys.stderr, flush=True)
            self._sources = CandidateSources(self.index, models, cfg)
        return self._sources

    def reload_behaviour(self) -> None:
        """Forget the loaded sources; the next request loads the (re)trained models."""
        self._sources = None

    def behaviour_state(self, history_ids: Sequence[str]) -> np.ndarray | None:
        """The sequence model's vector of a history ``(d_b,)``, or None (no model/history)."""
        beh = self.candidate_sources.behaviour
        if beh is None:
            return None
        hist = beh.indices(list(history_ids))[-self.candidate_sources.config.history_items:]
        return beh.sequence_vector(hist)

    def candidate_set(self, state: np.ndarray, history_ids: Sequence[str], n: int = 100,
                      filters: Any = None, *, query: bool = False,
                      exclude_history: bool | None = None) -> Any:
        """Merged candidates of every named source, with provenance and source scores.

        Args:
            state: the content state ``(d,)`` (:meth:`user_state`).
            history_ids: the shopper's products, oldest first.
            n: most candidates.
            filters: an ``index.SearchFilter``, applied to every source.
            query: the shopper typed a query.
            exclude_history: leave the history out (default ``[candidates] exclude_history``).

        Returns:
            A :class:`shelfwise.candidates.CandidateSet`.
        """
        return self.candidate_sources.generate(state, history_ids, filters, n, query=query,
                                               exclude_history=exclude_history)

    def candidates(
        self, state: np.ndarray, n: int = 100, filters: Any = None, *,
        history: Sequence[str] | None = None, query: bool = False,
    ) -> tuple[list[str], np.ndarray]:
        """Candidates for the policy.

        Without ``history``: the ``n`` nearest products to ``state`` (content only). With
        ``history`` (possibly empty): the merged named sources (:meth:`candidate_set`; history
        excluded by default).

        Returns:
            ``(ids, features)``: ``len(ids) <= n`` product ids and float32 ``(len(ids), d)``
            product vectors. A zero state (cold start, no query) gets the first ``n`` products
            that pass the filters, ordered by the index (content only), or the popular ones
            (named sources with behaviour models).
        """
        if history is not None:
            cs = self.candidate_set(state, history, n, filters, query=query)
            return list(cs.ids), cs.vectors
        state = np.asarray(state, dtype=np.float32)
        if not np.any(state):
            state = self.centroid()
        ids, _ = self.index.search(state[None, :], n, filters)
        found = [i for i in ids[0] if i is not None]
        feats = self.index.vectors(found) if found else np.zeros((0, self.dim), np.float32)
        return found, feats

    # ---- shoppers as vectors -------------------------------------------------------------
    def build_user_index(
        self, histories: dict[str, Sequence[str]], *, save: bool = True
    ) -> Any:
        """Index shoppers by their state vectors, for lookalike search and batch jobs.

        Args:
            histories: ``user_id -> product ids`` (oldest first); users whose history holds no
                known product are left out.
            save: Also save it to ``<workspace>/users-index``.

        Returns:
            A ``VectorIndex`` of ``(n_users, d)`` user states keyed by user id.
        """
        from index import ItemMeta, VectorIndex

        ids, states = [], []
        for user_id, history in histories.items():
            state = self.user_state(list(history))
            if np.any(state):
                ids.append(str(user_id))
                states.append(state)
        if not ids:
            raise ConfigError("no user has a history with known products")
        users = VectorIndex(self.dim, "auto", model_names=self.index.model_names)
        users.add(ids, np.stack(states), [ItemMeta("user", 0.0)] * len(ids))
        if save:
            users.save(self.workspace.root / "users-index")
        return users

    def lookalikes(self, users: Any, user_id: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` shoppers most like ``user_id`` in a user index: ``[(user_id, score)]``."""
        from index import SearchFilter

        ids, scores = users.search(
            users.vector(user_id)[None, :], k, SearchFilter(exclude_ids=frozenset({user_id}))
        )
        return [(i, float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i is not None]
