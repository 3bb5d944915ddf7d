"""shelfwise's own recommender as an offline scorer, beside the baselines of :mod:`.offline`.

:class:`RecommenderScorer` has ``fit(train)`` / ``score(histories)``, so
:func:`~shelfwise.evaluate.offline.evaluate_offline` trains and ranks it on the same split as
most-popular, item-kNN and EASE. It runs the serving path on arrays:

1. ``fit``: a validation split *inside* the training part (each shopper's last training item
   held out); the behaviour models (item model + SASRec, each completed by content) are fitted
   on the rest; the candidate-source blend is fitted on the held-out items
   (:func:`~shelfwise.candidates.fit_blend_on_split`); then the item model is refitted on the
   whole training part (seconds). The sequence model is not refitted (it is the slow one): it
   was trained without each shopper's last training item, which it still sees as *input*
   when scoring. Nothing here ever sees the test items.
2. ``score``: per shopper, the content state (recency-weighted mean of content vectors) and the
   history give merged candidates (:class:`~shelfwise.candidates.CandidateSources`, history
   excluded); they are ordered by ``policy logits + blend`` (the mode of the served
   Plackett-Luce distribution; the policy is a fresh ``linucb`` as ``shelfwise serve`` starts
   with); every other product ranks below them, by the item model's score.

Variants (``variant``): ``default`` (all sources, policy + blend), ``no-policy`` (blend only),
``content`` (content source and the policy only: what shelfwise did before behaviour models),
``behaviour`` (behaviour sources and blend only: no content vectors, no policy).

With ``record_sources=True``, ``score`` keeps, per shopper, the sources that retrieved each
candidate (:attr:`RecommenderScorer.last_sources`), so a benchmark can say how the items of
a top-10 got there (e.g. products held out of training: through the content ANN, or through
the behaviour models' content completion).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError

VARIANTS = ("default", "no-policy", "content", "behaviour")

NEW_ITEMS = ("as-served", "neutral-popularity")
"""How products without events meet the blend's ``popular_score`` feature: ``as-served``
(what the recommender serves: their popularity is 0, the lowest, so a blend that weighs
popularity pushes them down) or ``neutral-popularity`` (a what-if, not served: their
standardised ``popular_score`` is set to 0, the candidates' mean, before the blend)."""

__all__ = ["NEW_ITEMS", "VARIANTS", "RecommenderScorer"]

_FITTED: dict[tuple[Any, ...], tuple[Any, Any]] = {}
"""Fitted models of the current run, keyed by training log identity, name and options."""
_INNER: dict[int, tuple[Any, Any]] = {}
"""The inner validation split of the current training log."""


class RecommenderScorer:
    """The shelfwise recommender as a ``fit`` / ``score`` model (see the module docstring).

    Args:
        content: content vectors ``(n_items, d)`` in the log's item order (unit norm).
        variant: one of :data:`VARIANTS`.
        item_model: registry name of the item model (``ease``, ``als``, ``itemknn``).
        sequence_model: ``sasrec`` or None.
        model_options: hyperparameters per model name.
        n_candidates: candidates per shopper (the recommender's ``n_candidates``).
        config: a :class:`shelfwise.config.CandidatesConfig` (default: the defaults).
        seed: seed of the policy and the validation sample.
        record_sources: keep the candidates' sources of the last :meth:`score` call in
            :attr:`last_sources`.
        new_items: one of :data:`NEW_ITEMS` (``neutral-popularity`` is a what-if for the
            cold-start benchmark, not what ``recommend`` serves).
    """

    name = "shelfwise"

    def __init__(self, content: np.ndarray, *, variant: str = "default",
                 item_model: str = "ease", sequence_model: str | None = "sasrec",
                 model_options: Mapping[str, Mapping[str, Any]] | None = None,
                 n_candidates: int = 100, config: Any = None, seed: int = 0,
                 record_sources: bool = False, new_items: str = "as-served") -> None:
        if variant not in VARIANTS:
            raise ConfigError(f"unknown variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
        if new_items not in NEW_ITEMS:
            raise ConfigError(f"unknown new_items {new_items!r}; choose one of: "
                              f"{', '.join(NEW_ITEMS)}")
        self.new_items = new_items
        self.content = np.asarray(content, np.float32)
        self.variant = variant
        self.item_model_name = item_model
        self.sequence_model_name = sequence_model
        self.options = {k: dict(v) for k, v in (model_options or {}).items()}
        self.n = int(n_candidates)
        self.config = config
        self.seed = int(seed)
        self.sources: Any = None
        self.policy: Any = None
        self.blend: dict[str, float] | None = None
        self.blend_users = 0
        self.record_sources = bool(record_sources)
        self.last_sources: list[dict[int, tuple[str, ...]]] = []
        """Per shopper of the last ``score`` call (with ``record_sources``): item index ->
        the candidate sources that retrieved it. Items not in it ranked below the candidates."""

    def _model(self, name: str) -> Any:
        from encoders.behaviour import make_behaviour_model, with_content

        return with_content(make_behaviour_model(name, **self.options.get(name, {})),
                            self.content)

    def _fitted(self, name: str, data: Any, progress: bool) -> Any:
        """A model fitted on ``data``, shared by the scorers of one run.

        Variants differ only downstream of the models, so SASRec trains once per training
        log, not once per variant.
        """
        key = (id(data), data.n_events, name, repr(sorted(self.options.get(name, {}).items())),
               self.content.shape)
        hit = _FITTED.get(key)
        if hit is not None and hit[0] is data:
            return hit[1]
        model = self._model(name)
        model.fit(data, progress=progress)
        _FITTED.clear() if len(_FITTED) > 8 else None
        _FITTED[key] = (data, model)
        return model

    def fit(self, data: Any, *, progress: bool = False) -> None:
        """Fit models, blend and policy on ``data`` (the training part of a split)."""
        from agent.policy import make_policy
        from index import ItemMeta, VectorIndex
        from shelfwise.behaviour import BehaviourModels
        from shelfwise.candidates import CandidateSources, fit_blend_on_split
        from shelfwise.config import CandidatesConfig
        from shelfwise.evaluate.splits import make_split

        if self.content.shape[0] != data.n_items:
            raise ConfigError(f"content has {self.content.shape[0]} rows, the log has "
                              f"{data.n_items} items")
        cfg = self.config if self.config is not None else CandidatesConfig()
        if self.variant == "content":
            cfg = cfg.model_copy(update={"behaviour_models": False})
        elif self.variant == "behaviour":
            cfg = cfg.model_copy(update={"content": 0})
        self.config = cfg
        d = self.content.shape[1]
        use_policy = self.variant in ("default", "content")
        self.policy = make_policy("linucb", dim=d, seed=self.seed) if use_policy else None
        ids = tuple(data.item_ids)
        index = VectorIndex(d, "auto")
        index.add(list(ids), self.content, [ItemMeta("item", 0.0)] * len(ids))
        models = None
        if self.variant != "content":
            inner = _INNER.get(id(data))
            if inner is None or inner[0] is not data:
                _INNER.clear()
                inner = (data, make_split(data, "leave-last-out"))
                _INNER[id(data)] = inner
            inner = inner[1]
            item = self._fitted(self.item_model_name, inner.train, progress)
            seq = None
            if self.sequence_model_name:
                seq = self._fitted(self.sequence_model_name, inner.train, progress)
            models = BehaviourModels(ids, item, seq)
            offset_policy = self.policy if use_policy else _ZeroPolicy()
            self.blend, self.blend_users = fit_blend_on_split(
                models, self.content, inner.train, inner.test, policy=offset_policy, config=cfg,
                n=self.n, seed=self.seed)
            item = self._fitted(self.item_model_name, data, progress)
            models = BehaviourModels(ids, item, seq, self.blend)
        self.sources = CandidateSources(index, models, cfg)

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores ``(len(histories), n_items)``: candidates by policy logits + blend first."""
        from encoders.fusion import UserStateBuilder
        from shelfwise.candidates import FEATURE_NAMES, policy_logits

        if self.sources is None:
            raise ConfigError("RecommenderScorer.score called before fit")
        src = self.sources
        ids = src.index.ids
        row_of = {p: i for i, p in enumerate(ids)}
        builder = UserStateBuilder()
        beh = src.behaviour
        out = np.empty((len(histories), len(ids)), np.float32)
        self.last_sources = []
        no_events = None
        if self.new_items == "neutral-popularity" and beh is not None:
            no_events = np.asarray(beh.popularity()) == 0  # (n_items,) log1p(0 events)
        pop_col = FEATURE_NAMES.index("popular_score")
        for u, hist in enumerate(histories):
            hist = np.asarray(hist, np.int64)[-src.config.history_items:]
            state = builder.build(self.content[hist], None) if self.variant != "behaviour" \
                else np.zeros(self.content.shape[1], np.float32)
            cs = src.generate(state, [ids[i] for i in hist], None, self.n)
            below = np.zeros(len(ids), np.float64)
            if beh is not None and hist.size:
                below = beh.item_scores(hist).astype(np.float64)
                below = (below - below.min()) / max(float(np.ptp(below)), 1e-12)
            out[u] = below - 1e3
            if len(cs):
                logits = cs.prior.copy()
                if no_events is not None:
                    new = no_events[[beh.index_of[p] for p in cs.ids]]
                    if new.any():
                        feats = cs.features.astype(np.float64)
                        feats[new, pop_col] = 0.0
                        logits = feats @ src.weights
                if self.policy is not None:
                    logits += src.policy_scale * policy_logits(self.policy, state,
                                                               cs.vectors).mean(axis=0)
                out[u, [row_of[p] for p in cs.ids]] = logits
            if self.record_sources:
                self.last_sources.append({row_of[p]: s for p, s in
                                          zip(cs.ids, cs.sources, strict=True)})
        return out


class _ZeroPolicy:
    """No policy: a zero offset (the ``no-policy`` and ``behaviour`` variants)."""

    name = "none"

    def score(self, state: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return np.zeros(np.asarray(candidates).shape[0])
