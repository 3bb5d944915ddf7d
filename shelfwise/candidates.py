"""Candidates from several named sources, merged, each with its provenance and source scores.

Sources (:data:`SOURCES`), each retrieving products that pass the request's filters (category,
price, stock, excluded ids: a text query's constraints and the shopper's own history apply to
every source alike):

- ``content``: nearest products to the content state (query and history content vectors) in
  the product index;
- ``behaviour``: nearest products to the shopper's sequence vector (SASRec) in a FAISS index
  of the sequence model's item embeddings (inner product through the standard MIPS-to-cosine
  augmentation, so the ranking is ``h . e`` exactly); products added after training get
  their embedding from content (:meth:`~encoders.behaviour.ContentBackedModel.content_to_vectors`);
- ``item2item``: the item model's (EASE, ALS or item-kNN) top products for the shopper's last
  items;
- ``popular``: most popular products (the fallback when a shopper has no history and no query).

The lists are merged round-robin (each source's best first; a product found by several
sources appears once and keeps all their names) up to the requested size. Then every source
*scores every merged candidate* (not only the ones it found), so the policy sees comparable
numbers: :class:`CandidateSet` carries per candidate the sources that found it, the raw source
scores ``(n, 4)`` and blend features ``(n, 8)``: each source's score standardised over the
candidates, and a 0/1 "found by this source" flag.

How source scores reach the policy (the choice this module documents). The slate policies
keep their protocol and their checkpoints' dimensions: ``state`` is the content state
``(d,)`` and ``candidates`` the content vectors ``(n, d)``. The source features enter as a
*prior* on the policy's logits: the served slate is sampled Plackett-Luce from
``(policy * policy logits + features @ w) / temperature`` (:func:`select_with_prior`), so every
position keeps an exact propensity and online updates still teach the policy its own part
(bandits learn the residual the blend does not explain). ``w`` is fitted by maximum
likelihood of each shopper's next item among their candidates (a conditional logit over the
features and the policy's logits, whose weight ``policy`` >= 0 is fitted too, :func:`fit_blend`:
on a log where content predicts little, a fresh policy's cosine logits get a small weight)
on a validation split of the event log: each shopper's last item held out and the models
refitted without it (:func:`fit_blend_on_split`, run by ``shelfwise train``). Without a
fitted blend the :data:`DEFAULT_BLEND` applies. The ``random`` policy ignores the prior (it
stays a uniform logging policy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError, ShelfwiseError

__all__ = [
    "DEFAULT_BLEND",
    "NotEnoughBlendDataError",
    "FEATURE_NAMES",
    "SOURCES",
    "CandidateSet",
    "CandidateSources",
    "fit_blend",
    "fit_blend_on_split",
    "policy_logits",
    "select_with_prior",
    "slot_marginals",
]

SOURCES = ("content", "behaviour", "item2item", "popular")
"""The candidate sources, in merge order."""

FEATURE_NAMES = tuple(f"{s}_score" for s in SOURCES) + tuple(f"{s}_hit" for s in SOURCES)
"""Blend features per candidate: standardised source scores, then found-by-source flags."""

DEFAULT_BLEND: Mapping[str, float] = {
    "content_score": 0.0, "behaviour_score": 1.0, "item2item_score": 1.5, "popular_score": 0.5,
    "content_hit": 0.0, "behaviour_hit": 0.0, "item2item_hit": 0.0, "popular_hit": 0.0}
"""Blend weights used until ``shelfwise train`` fits them (logit units per standard deviation)."""


class NotEnoughBlendDataError(ShelfwiseError):
    """No validation shopper's next item was among their candidates: nothing to fit on."""


@dataclass(frozen=True)
class CandidateSet:
    """Merged candidates of one request.

    Attributes:
        ids: product ids, ``n``.
        vectors: content vectors ``(n, d)`` float32 (what the policy sees).
        sources: per candidate, the sources that retrieved it (merge order).
        scores: raw source scores ``(n, len(SOURCES))`` float32 (0 where a source has no
            model or no input, e.g. ``behaviour`` for a shopper without history).
        features: blend features ``(n, len(FEATURE_NAMES))`` float32.
        prior: blend logits ``features @ w``, float64 ``(n,)``.
    """

    ids: list[str]
    vectors: np.ndarray
    sources: list[tuple[str, ...]]
    scores: np.ndarray
    features: np.ndarray
    prior: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def source_labels(self) -> tuple[str, ...]:
        """Per candidate, its sources joined by ``+`` (what the impression log stores)."""
        return tuple("+".join(s) for s in self.sources)


def blend_vector(blend: Mapping[str, float] | None) -> np.ndarray:
    """Weights in :data:`FEATURE_NAMES` order, float64 ``(8,)``; missing names weigh 0.

    Raises:
        ConfigError: an unknown feature name or a non-finite weight.
    """
    given = {k: v for k, v in dict(DEFAULT_BLEND if blend is None else blend).items()
             if k != "policy"}  # the policy's scale is read by CandidateSources
    unknown = sorted(set(given) - set(FEATURE_NAMES))
    if unknown:
        raise ConfigError(f"unknown blend feature(s) {unknown}; valid: {', '.join(FEATURE_NAMES)}")
    w = np.array([float(given.get(n, 0.0)) for n in FEATURE_NAMES], np.float64)
    if not np.isfinite(w).all():
        raise ConfigError("blend weights must be finite numbers")
    return w


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def _top(scores: np.ndarray, allowed: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` best allowed scores, best first."""
    idx = np.flatnonzero(allowed & np.isfinite(scores))
    if n <= 0 or idx.size == 0:
        return np.zeros(0, np.int64)
    if idx.size > n:
        part = np.argpartition(-scores[idx], n - 1)[:n]
        idx = idx[part]
    return idx[np.argsort(-scores[idx], kind="stable")]


class CandidateSources:
    """The named sources over a content index and (optionally) behaviour models.

    Args:
        content_index: the product :class:`index.VectorIndex` (content vectors, metadata).
        behaviour: :class:`shelfwise.behaviour.BehaviourModels`, or None (content only).
        config: a :class:`shelfwise.config.CandidatesConfig` (counts per source, mix).
    """

    def __init__(self, content_index: Any, behaviour: Any = None, config: Any = None) -> None:
        from shelfwise.config import CandidatesConfig

        self.index = content_index
        self.config = config if config is not None else CandidatesConfig()
        self.behaviour = behaviour if self.config.behaviour_models else None
        blend = getattr(self.behaviour, "blend", None) or {}
        self.weights = blend_vector(blend or None)
        self.policy_scale = float(blend.get("policy", 1.0))
        """Weight of the policy's logits beside the blend (fitted with it; 1 by default)."""
        self._pop: np.ndarray | None = None
        self._beh_index: Any = None
        self._beh_vectors: np.ndarray | None = None
        self._beh_row: dict[str, int] = {}
        self._beh_scale = 1.0
        if self.behaviour is not None:
            self._pop = self.behaviour.popularity()
            self._build_behaviour_index()

    # -- set-up -------------------------------------------------------------------------

    def _build_behaviour_index(self) -> None:
        """FAISS index of sequence-model item vectors (MIPS via one augmented coordinate)."""
        from index import ItemMeta, VectorIndex

        beh = self.behaviour
        V = beh.item_vectors()
        if V is None:
            return
        in_index = [i for i, pid in enumerate(beh.item_ids) if pid in self.index]
        ids = [beh.item_ids[i] for i in in_index]
        vecs = V[in_index]
        # Products indexed after training: their behaviour vector comes from content.
        known = set(beh.item_ids)
        new = [pid for pid in self.index.ids if pid not in known]
        mapper = getattr(beh.sequence_model, "content_to_vectors", None)
        if new and mapper is not None:
            try:
                vecs = np.concatenate([vecs, mapper(self.index.vectors(new))])
                ids = ids + new
            except Exception:  # noqa: BLE001 - a score model or another content width: skip
                pass
        if not ids:
            return
        norms = np.linalg.norm(vecs, axis=1)
        scale = float(norms.max()) or 1.0
        extra = np.sqrt(np.maximum(0.0, 1.0 - (norms / scale) ** 2))[:, None]
        aug = np.concatenate([vecs / scale, extra], axis=1).astype(np.float32)
        aug[np.linalg.norm(aug, axis=1) == 0, -1] = 1.0
        idx = VectorIndex(aug.shape[1], "auto")
        idx.add(ids, aug, [ItemMeta(m.category, m.price, m.in_stock) for m in
                           (self.index.meta(p) for p in ids)])
        self._beh_index = idx
        self._beh_vectors = vecs.astype(np.float32)
        self._beh_row = {p: i for i, p in enumerate(ids)}
        self._beh_scale = scale

    # -- generation ---------------------------------------------------------------------

    def generate(self, state: np.ndarray, history_ids: Sequence[str] = (), filters: Any = None,
                 n: int = 100, *, query: bool = False,
                 exclude_history: bool | None = None) -> CandidateSet:
        """Merged candidates for one request.

        Args:
            state: the content state ``(d,)`` (query and history); zeros for a new shopper
                without query (content ANN is then skipped).
            history_ids: the shopper's products, oldest first.
            filters: an :class:`index.SearchFilter` applied to every source.
            n: most candidates returned.
            query: the shopper typed a query (popular products then only fill in
                ``popular_with_query`` places).
            exclude_history: leave the shopper's products out; default the config's.

        Returns:
            The :class:`CandidateSet` (possibly empty when nothing passes the filters).
        """
        cfg = self.config
        excl = cfg.exclude_history if exclude_history is None else exclude_history
        history = [h for h in history_ids if h]
        if excl and history:
            filters = _with_excluded(filters, history)
        state = np.asarray(state, np.float32)
        has_state = bool(np.any(state))
        lists: dict[str, list[tuple[str, float]]] = {}
        if has_state and cfg.content > 0:
            ids, sc = self.index.search(state[None, :], cfg.content, filters)
            lists["content"] = [(i, float(s)) for i, s in zip(ids[0], sc[0], strict=True)
                                if i is not None]
        beh = self.behaviour
        item_row: np.ndarray | None = None
        h_vec: np.ndarray | None = None
        allowed: np.ndarray | None = None
        if beh is not None:
            hist = beh.indices(history)[-cfg.history_items:]
            allowed = self._allowed(filters)
            if hist.size:
                item_row = beh.item_scores(hist)
                if item_row is not None and cfg.item2item > 0:
                    top = _top(item_row, allowed, cfg.item2item)
                    lists["item2item"] = [(beh.item_ids[i], float(item_row[i])) for i in top]
                h_vec = beh.sequence_vector(hist)
                if h_vec is not None and self._beh_index is not None and cfg.behaviour > 0:
                    q = np.concatenate([h_vec, [0.0]]).astype(np.float32)
                    ids, _ = self._beh_index.search(q[None, :], cfg.behaviour, filters)
                    found = [i for i in ids[0] if i is not None]
                    vecs = self._beh_vectors[[self._beh_row[i] for i in found]] \
                        if found else np.zeros((0, h_vec.shape[0]), np.float32)
                    lists["behaviour"] = list(zip(found, (vecs @ h_vec).tolist(), strict=True))
            n_pop = cfg.popular_with_query if query else cfg.popular
            if n_pop > 0 and self._pop is not None:
                top = _top(self._pop.astype(np.float64), allowed, n_pop)
                lists["popular"] = [(beh.item_ids[i], float(self._pop[i])) for i in top]
        if not lists and not has_state:
            # no history, no query, no behaviour models: the content centroid (as before)
            centroid = self._centroid()
            ids, sc = self.index.search(centroid[None, :], max(cfg.content, 1), filters)
            lists["content"] = [(i, float(s)) for i, s in zip(ids[0], sc[0], strict=True)
                                if i is not None]
        merged, found_by = _round_robin(lists, n)
        return self._score(merged, found_by, state if has_state else None, item_row, h_vec)

    def _centroid(self) -> np.ndarray:
        ids = self.index.ids
        mean = self.index.vectors(ids).mean(axis=0) if ids else np.zeros(self.index.dim)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)

    def _allowed(self, filters: Any) -> np.ndarray:
        """Boolean ``(n_items,)`` over the behaviour models' items passing ``filters``."""
        beh = self.behaviour
        mask = np.zeros(beh.n_items, dtype=bool)
        ok = beh.indices(self.index.filtered_ids(filters))
        mask[ok] = True
        return mask

    def _score(self, ids: list[str], found_by: list[tuple[str, ...]], state: np.ndarray | None,
               item_row: np.ndarray | None, h_vec: np.ndarray | None) -> CandidateSet:
        n = len(ids)
        d = self.index.dim
        vectors = self.index.vectors(ids) if ids else np.zeros((0, d), np.float32)
        scores = np.zeros((n, len(SOURCES)), np.float32)
        if n:
            if state is not None:
                scores[:, 0] = vectors @ state
            beh = self.behaviour
            if beh is not None:
                rows = np.array([beh.index_of.get(i, -1) for i in ids])
                known = rows >= 0
                if h_vec is not None and self._beh_vectors is not None:
                    brow = np.array([self._beh_row.get(i, -1) for i in ids])
                    ok = brow >= 0
                    scores[ok, 1] = self._beh_vectors[brow[ok]] @ h_vec
                if item_row is not None:
                    scores[known, 2] = item_row[rows[known]]
                if self._pop is not None:
                    scores[known, 3] = self._pop[rows[known]]
        feats = np.zeros((n, len(FEATURE_NAMES)), np.float32)
        for j, name in enumerate(SOURCES):
            if n:
                feats[:, j] = _standardise(scores[:, j].astype(np.float64))
                feats[:, len(SOURCES) + j] = [name in f for f in found_by]
        prior = feats.astype(np.float64) @ self.weights
        return CandidateSet(ids, np.asarray(vectors, np.float32), found_by, scores, feats, prior)


def _round_robin(lists: Mapping[str, list[tuple[str, float]]],
                 n: int) -> tuple[list[str], list[tuple[str, ...]]]:
    """Merge the sources' lists (each best first) round-robin, up to ``n`` distinct ids."""
    order = [s for s in SOURCES if lists.get(s)]
    found: dict[str, list[str]] = {}
    for s in order:  # provenance counts every source that found an id, merged or not
        for pid, _ in lists[s]:
            found.setdefault(pid, []).append(s)
    merged: list[str] = []
    seen: set[str] = set()
    pos = dict.fromkeys(order, 0)
    while len(merged) < n and any(pos[s] < len(lists[s]) for s in order):
        for s in order:
            lst = lists[s]
            while pos[s] < len(lst) and lst[pos[s]][0] in seen:
                pos[s] += 1
            if pos[s] < len(lst) and len(merged) < n:
                pid = lst[pos[s]][0]
                merged.append(pid)
                seen.add(pid)
                pos[s] += 1
    return merged, [tuple(found[p]) for p in merged]


def _with_excluded(filters: Any, exclude_ids: Sequence[str]) -> Any:
    from index import SearchFilter

    base = filters if filters is not None else SearchFilter()
    return replace(base, exclude_ids=frozenset(base.exclude_ids) | frozenset(exclude_ids))


# --------------------------------------------------------------------------- policy side


def policy_logits(policy: Any, state: np.ndarray, candidates: np.ndarray,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """The policy's Plackett-Luce logits ``(m, n)`` (``m`` > 1 for mixtures such as LinTS).

    Uses the policy's public ``logits(state, candidates, rng)`` (the distribution its own
    ``select`` samples from), else its ``_logits`` hook after its input checks; a policy
    with neither contributes its ``score`` as logits. ``rng`` feeds posterior draws
    (default a fixed seed).
    """
    public = getattr(policy, "logits", None)
    if callable(public):
        gen = rng if rng is not None else np.random.default_rng(0)
        return np.atleast_2d(np.asarray(public(state, candidates, gen), np.float64))
    hook = getattr(policy, "_logits", None)
    prepare = getattr(policy, "_prepare", None)
    if hook is None or prepare is None:
        return np.atleast_2d(np.asarray(policy.score(state, candidates), np.float64))
    s, c = prepare(state, candidates)
    return np.atleast_2d(np.asarray(hook(s, c), np.float64))


def slot_marginals(logits: np.ndarray, order: np.ndarray, rng: np.random.Generator, *,
                   n_samples: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """How likely the served items were where they are, under Plackett-Luce ``logits``.

    The impression log stores, per slot, the *position-wise marginal* P(item at this slot)
    that position-based estimators (IPS, SNIPS, DR) divide by; a slate's conditional draw
    probabilities are not that beyond the first slot. The first slot is exact (the softmax,
    averaged over mixture components); later slots come from
    :func:`agent.policy.base.plackett_luce_marginals` (exact for two slots of one logit
    vector, else Monte Carlo), floored at ``1 / n_samples`` so that a served item never logs 0.

    Args:
        logits: ``(n,)`` or ``(m, n)`` (an equal mixture of ``m`` components).
        order: ``(k,)`` the served candidate positions, slot 0 first.
        rng: randomness of the Monte Carlo draws.
        n_samples: draws.

    Returns:
        ``(at_slot (k,), included (k,))``: P(order[j] at slot j) and P(order[j] anywhere in
        the top k).

    """
    from agent.policy.base import plackett_luce_marginals

    lg = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    order = np.asarray(order, dtype=np.int64)
    k = order.shape[0]
    marg = plackett_luce_marginals(lg, k, n_samples=n_samples,
                                   seed=int(rng.integers(2**63)))  # (k, n)
    at_slot = marg[np.arange(k), order]
    z = lg - lg.max(axis=1, keepdims=True)
    at_slot[0] = (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))[:, order[0]].mean()
    included = marg[:, order].sum(axis=0)  # P(in the top k) = sum over slots
    floor = 1.0 / n_samples
    return np.clip(at_slot, floor, 1.0), np.clip(np.maximum(included, at_slot), floor, 1.0)


def select_with_prior(policy: Any, state: np.ndarray, candidates: np.ndarray,
                      prior: np.ndarray, k: int, rng: np.random.Generator, *,
                      temperature: float = 1.0, policy_scale: float = 1.0) -> Any:
    """A slate sampled Plackett-Luce from ``(policy logits + prior) / temperature``.

    Args:
        policy: a :class:`agent.policy.SlatePolicy` (dimensions unchanged).
        state: ``(d_u,)`` the content state.
        candidates: ``(n, d_c)`` content vectors.
        prior: ``(n,)`` blend logits of the candidates' source features.
        k: slate size, ``1 <= k <= n``.
        rng: randomness of the draw.
        temperature: > 0.
        policy_scale: weight of the policy's logits (fitted with the blend).

    Returns:
        An :class:`agent.policy.Slate` with exact per-position propensities of this draw,
        the position-wise marginals of the shown items (:func:`slot_marginals`) and, as
        scores, the combined logits of the shown items. The ``random`` policy ignores the
        prior and uses its own ``select``.
    """
    from agent.policy.base import Slate, plackett_luce_propensities, sample_plackett_luce

    if getattr(policy, "name", "") == "random" or prior is None:
        return policy.select(state, candidates, k, rng)
    if not 1 <= k <= candidates.shape[0]:
        raise ConfigError(f"k must be between 1 and {candidates.shape[0]}, got {k}")
    logits = (float(policy_scale) * policy_logits(policy, state, candidates, rng)
              + np.asarray(prior, np.float64)[None, :]) / float(temperature)
    comp = int(rng.integers(logits.shape[0])) if logits.shape[0] > 1 else 0
    order = sample_plackett_luce(logits[comp], k, rng)
    props = np.clip(plackett_luce_propensities(logits, order), np.finfo(np.float64).tiny, 1.0)
    scores = logits.mean(axis=0)[order] * float(temperature)
    at_slot, _ = slot_marginals(logits, order, rng)
    return Slate(item_ids=order, scores=scores, propensities=props,
                 policy=str(policy.name), version=str(policy.version), marginals=at_slot)


# --------------------------------------------------------------------------- fitting


def fit_blend(pools: Sequence[tuple[np.ndarray, np.ndarray, int]], *, l2: float = 1e-2,
              scale_offset: bool = False) -> np.ndarray:
    """Maximum-likelihood blend weights of a conditional logit with a fixed offset.

    Args:
        pools: per shopper ``(features (n, f), offset (n,), target row)``: the candidates'
            blend features, the policy's logits (fixed coefficient 1) and which candidate
            the shopper chose next.
        l2: ridge penalty on the weights (per shopper).
        scale_offset: also fit a weight >= 0 on the offset (returned last, ``(f + 1,)``)
            instead of fixing it at 1.

    Returns:
        Weights float64 ``(f,)`` maximising ``mean log softmax(offset + F w)[target]``, with
        the weights of the ``*_score`` features of :data:`FEATURE_NAMES` kept >= 0.

    Raises:
        NotEnoughBlendDataError: no pool holds its target.
    """
    from scipy.optimize import minimize

    pools = [p for p in pools if 0 <= p[2] < p[0].shape[0]]
    if pools and scale_offset:
        pools = [(np.column_stack([F, o]), np.zeros_like(o), t) for F, o, t in pools]
    if not pools:
        raise NotEnoughBlendDataError("no validation shopper's next item is among their "
                                      "candidates; the blend cannot be fitted")
    f = pools[0][0].shape[1]
    F = np.concatenate([p[0] for p in pools]).astype(np.float64)
    off = np.concatenate([p[1] for p in pools]).astype(np.float64)
    sizes = np.array([p[0].shape[0] for p in pools])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    tgt = starts + np.array([p[2] for p in pools])
    seg = np.repeat(np.arange(len(pools)), sizes)
    m = len(pools)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = off + F @ w
        zmax = np.maximum.reduceat(z, starts)
        e = np.exp(z - zmax[seg])
        tot = np.add.reduceat(e, starts)
        lse = np.log(tot) + zmax
        p = e / tot[seg]
        nll = float((lse - z[tgt]).sum()) / m + l2 * float(w @ w)
        grad = (F.T @ p - F[tgt].sum(axis=0)) / m + 2 * l2 * w
        return nll, grad

    # a source's score never counts against a candidate (weights of *_score >= 0): without
    # the bound, a log whose next items sit far from the history in content space learns a
    # negative content weight, which would then push results away from a typed query
    names = list(FEATURE_NAMES) + (["policy_score"] if scale_offset else [])
    bounds = [(0.0, None) if n.endswith("_score") else (None, None) for n in names][:f]
    res = minimize(loss, np.zeros(f), jac=True, method="L-BFGS-B", bounds=bounds)
    return np.asarray(res.x, np.float64)


def fit_blend_on_split(models: Any, content: np.ndarray, train: Any, evalset: Any, *,
                       policy: Any = None, config: Any = None, n: int = 100,
                       max_users: int = 3000, seed: int = 0) -> tuple[dict[str, float], int]:
    """Fit blend weights on held-out next items (models already fitted on ``train`` only).

    Args:
        models: :class:`shelfwise.behaviour.BehaviourModels` fitted without the held-out items.
        content: content vectors ``(n_items, d)`` in the models' item order.
        train: the training :class:`~encoders.behaviour.Interactions` (unused except for ids).
        evalset: an :class:`~shelfwise.evaluate.splits.EvalSet` (histories, targets).
        policy: whose logits are the offset; default a fresh ``linucb`` (what ``serve``
            starts with when no checkpoint exists).
        config: a :class:`shelfwise.config.CandidatesConfig`.
        n: candidates per shopper.
        max_users: validation shoppers used at most (a seeded sample).
        seed: seed of that sample.

    Returns:
        ``(feature name -> weight, shoppers whose target was among the candidates)``.

    Raises:
        NotEnoughBlendDataError: no shopper's target was among their candidates.
    """
    from encoders.fusion import UserStateBuilder
    from index import ItemMeta, VectorIndex

    ids = list(models.item_ids)
    index = VectorIndex(content.shape[1], "auto")
    index.add(ids, np.asarray(content, np.float32), [ItemMeta("item", 0.0)] * len(ids))
    cands = CandidateSources(index, models, config)
    cands.weights = np.zeros(len(FEATURE_NAMES))
    builder = UserStateBuilder()
    if policy is None:
        from agent.policy import make_policy

        policy = make_policy("linucb", dim=content.shape[1], seed=seed)
    rng = np.random.default_rng(seed)
    users = np.arange(len(evalset))
    if users.size > max_users:
        users = np.sort(rng.choice(users, size=max_users, replace=False))
    pools = []
    for u in users:
        hist = evalset.histories[u][-cands.config.history_items:]
        hist_ids = [ids[i] for i in hist]
        state = builder.build(content[hist], None)
        cs = cands.generate(state, hist_ids, None, n)
        if not len(cs):
            continue
        targets = {ids[t] for t in evalset.targets[u]}
        rows = [j for j, pid in enumerate(cs.ids) if pid in targets]
        if not rows:
            continue
        off = policy_logits(policy, state, cs.vectors).mean(axis=0)
        pools.append((cs.features, off, rows[0]))
    w = fit_blend(pools, scale_offset=True)
    out = {name: round(float(v), 6) for name, v in zip(FEATURE_NAMES, w[:-1], strict=True)}
    out["policy"] = round(float(w[-1]), 6)
    return out, len(pools)
