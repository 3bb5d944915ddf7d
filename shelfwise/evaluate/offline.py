"""Offline evaluation on logs: any number of scorers beside the baselines, in one run.

The command a data team runs on day one (``shelfwise evaluate --offline``), and the engine of
``benchmarks/offline_ml100k.py``. Evaluation is configuration (:class:`OfflineConfig`), not
code per experiment:

1. split the interactions by time (:mod:`~shelfwise.evaluate.splits`: leave-last-out or a
   global time split);
2. fit every model on the training part: the baselines (most-popular, item-kNN, EASE by
   default, built from the behaviour registry) and the candidates passed in;
3. score each evaluated shopper's history over the whole catalog, put the history last
   (``exclude_history``, the default), rank, and read every metric off that one ranked list
   (:mod:`~shelfwise.evaluate.offline_metrics`);
4. bootstrap over shoppers (the same resamples for every model), and the paired difference of
   each model against the reference baseline (most-popular by default).

Scorers. A value in ``scorers`` is either

- an object with ``fit(data, progress=...)`` and ``score(histories)`` (a
  :class:`encoders.behaviour.BehaviourModel`, or a small adapter around anything else that must
  be trained on the split): it is fitted **in place** on the training part, timed; or
- a plain callable ``histories -> scores`` (``Sequence[int64 array]`` -> ``(n, n_items)``),
  used as it is. It must not have seen the held-out interactions; that is the caller's
  responsibility.

Histories are item indices of the log's :class:`~encoders.behaviour.Interactions` in time
order; scores are higher-is-better, ``-inf`` allowed, NaN not.

Sampled negatives (``negatives=N``) rank each shopper's targets among N items drawn at random
from the items that are neither targets nor (unless ``exclude_history=False``) history. The
numbers are not comparable with full ranking and are inflated; the protocol label of every
output says ``SAMPLED``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from encoders.behaviour.base import EASE_MAX_ITEMS, Interactions, make_behaviour_model
from shelfwise.errors import ConfigError, ShelfwiseError
from shelfwise.evaluate.offline_metrics import (
    Interval,
    RankedLists,
    bootstrap_means,
    coverage,
    interval,
    per_user_metrics,
    popularity_percentile,
    rank_targets,
)
from shelfwise.evaluate.popular import MostPopular
from shelfwise.evaluate.splits import (
    SPLITS,
    EvalSet,
    NotEnoughInteractionsError,
    Split,
    make_split,
)

Scorer = Callable[[Sequence[np.ndarray]], np.ndarray]
"""``histories`` (``n`` int64 arrays of item indices) -> ``(n, n_items)`` scores."""

BASELINES = ("mostpop", "itemknn", "ease")
"""The baselines run beside every evaluation by default."""

__all__ = [
    "BASELINES",
    "ModelResult",
    "OfflineConfig",
    "OfflineReport",
    "Scorer",
    "build_baseline",
    "evaluate_offline",
]


@dataclass(frozen=True)
class OfflineConfig:
    """How to evaluate; checked on construction (:class:`ConfigError` names the field)."""

    split: str = "leave-last-out"
    """``"leave-last-out"`` (per shopper, by time) or ``"time"`` (one global cut)."""
    ks: tuple[int, ...] = (10, 20)
    """Cut-offs K of ``hr@K``, ``ndcg@K``, ``coverage@K``, ``pop@K``."""
    exclude_history: bool = True
    """Put the shopper's own history last in the ranking (they cannot be recommended)."""
    negatives: int | None = None
    """``None``: full ranking over the catalog. ``N``: rank the targets among N sampled
    negatives per shopper (labelled ``SAMPLED`` everywhere)."""
    validation: bool = False
    """Leave-last-out only: hold out the second-to-last item too (see ``on``)."""
    on: str = "test"
    """Which held-out set to score: ``"test"`` or ``"valid"`` (needs ``validation``)."""
    cut_time: float | None = None
    """Time split: the cut (unix seconds); default from ``test_fraction``."""
    test_fraction: float = 0.2
    """Time split: share of interactions after the default cut."""
    baselines: tuple[str, ...] = BASELINES
    """Baselines to run beside the scorers: ``mostpop`` or any behaviour-registry name. With
    more than :data:`~encoders.behaviour.EASE_MAX_ITEMS` items, ``ease`` becomes ``als``."""
    baseline_configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Hyperparameters per baseline name, e.g. ``{"ease": {"l2": 500.0}}``."""
    reference: str | None = "mostpop"
    """Model whose metrics the paired differences are taken against; ``None`` for none."""
    n_bootstrap: int = 1000
    """Bootstrap resamples of the shoppers (>= 10)."""
    seed: int = 0
    """Seed of the bootstrap, the tie-breaks and the sampled negatives."""
    min_users: int = 10
    """Fewest evaluated shoppers; below it :class:`NotEnoughInteractionsError`."""
    batch_users: int = 1024
    """Most shoppers scored at once; also capped so that one batch holds at most 2**22
    scores (the ranking keeps a few arrays of that size: about 130 MB in all)."""
    progress: bool = False
    """Progress bars while models train."""

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"split: unknown split {self.split!r}; choose one of: "
                              f"{', '.join(SPLITS)}")
        ks = tuple(self.ks)
        if not ks or any(isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1
                         for k in ks):
            raise ConfigError(f"ks must be positive ints, got {self.ks!r}")
        object.__setattr__(self, "ks", tuple(sorted({int(k) for k in ks})))
        if self.negatives is not None and (isinstance(self.negatives, bool)
                                           or not isinstance(self.negatives, int)
                                           or self.negatives < 1):
            raise ConfigError(f"negatives must be a positive int or None, got {self.negatives!r}")
        if self.on not in ("test", "valid"):
            raise ConfigError(f"on must be 'test' or 'valid', got {self.on!r}")
        if self.on == "valid" and not self.validation:
            raise ConfigError("on='valid' needs validation=True")
        if self.validation and self.split != "leave-last-out":
            raise ConfigError("validation=True is only available with the leave-last-out split")
        if self.n_bootstrap < 10:
            raise ConfigError(f"n_bootstrap must be at least 10, got {self.n_bootstrap}")
        if self.min_users < 1:
            raise ConfigError(f"min_users must be at least 1, got {self.min_users}")
        if self.batch_users < 1:
            raise ConfigError(f"batch_users must be at least 1, got {self.batch_users}")
        object.__setattr__(self, "baselines", tuple(self.baselines))
        unknown = set(self.baseline_configs) - set(self.baselines)
        if unknown:
            raise ConfigError(f"baseline_configs names {sorted(unknown)!r}, which are not in "
                              f"baselines {list(self.baselines)!r}")

    @property
    def mode(self) -> str:
        """``"full"`` or ``"sampled"``."""
        return "full" if self.negatives is None else "sampled"


@dataclass(frozen=True)
class ModelResult:
    """One model's numbers.

    Attributes:
        name: the model's name in this run.
        role: ``"baseline"`` or ``"candidate"``.
        fit_seconds: wall time of ``fit`` on the training part; ``None`` for a plain callable.
        score_seconds: wall time of scoring every evaluated shopper.
        metrics: ``"hr@K"``, ``"ndcg@K"``, ``"mrr"``, ``"pop@K"`` with bootstrap intervals,
            and ``"coverage@K"`` (no interval: NaN bounds).
        diff: paired-bootstrap difference ``metric(model) - metric(reference)`` for the
            per-shopper metrics; empty for the reference itself or without one.

    """

    name: str
    role: str
    fit_seconds: float | None
    score_seconds: float
    metrics: dict[str, Interval]
    diff: dict[str, Interval]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN -> None)."""
        return {"name": self.name, "role": self.role, "fit_seconds": self.fit_seconds,
                "score_seconds": self.score_seconds,
                "metrics": {k: _interval_dict(v) for k, v in self.metrics.items()},
                "diff_vs_reference": {k: _interval_dict(v) for k, v in self.diff.items()}}


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _interval_dict(v: Interval) -> dict[str, float | None]:
    return {"value": _num(v.value), "low": _num(v.low), "high": _num(v.high)}


@dataclass(frozen=True)
class OfflineReport:
    """Everything one offline run measured, with the protocol that produced it.

    Attributes:
        protocol: one line naming split, ranking mode, history handling and sample size;
            printed beside every table and figure.
        split: the split name.
        mode: ``"full"`` or ``"sampled"``.
        negatives: sampled negatives per shopper, or ``None`` (full ranking).
        exclude_history: whether the history was put last.
        held_out: ``"test"`` or ``"valid"``.
        ks: the cut-offs.
        n_users: evaluated shoppers.
        n_items: catalog size.
        n_train_events: training interactions (after deduplication).
        n_targets: held-out (shopper, item) pairs.
        n_bootstrap: bootstrap resamples.
        seed: the seed of the run.
        reference: the model of the paired differences, or ``None``.
        notes: what the run changed or noticed (e.g. EASE replaced by ALS for size).
        models: one result per model, baselines first.

    """

    protocol: str
    split: str
    mode: str
    negatives: int | None
    exclude_history: bool
    held_out: str
    ks: tuple[int, ...]
    n_users: int
    n_items: int
    n_train_events: int
    n_targets: int
    n_bootstrap: int
    seed: int
    reference: str | None
    notes: tuple[str, ...]
    models: tuple[ModelResult, ...]

    def model(self, name: str) -> ModelResult:
        """The result of the model called ``name``.

        Raises:
            ConfigError: no such model (the message lists the names).

        """
        for m in self.models:
            if m.name == name:
                return m
        raise ConfigError(f"no model {name!r} in this report; it has: "
                          f"{', '.join(m.name for m in self.models)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the whole report."""
        return {"protocol": self.protocol, "split": self.split, "mode": self.mode,
                "negatives": self.negatives, "exclude_history": self.exclude_history,
                "held_out": self.held_out, "ks": list(self.ks), "n_users": self.n_users,
                "n_items": self.n_items, "n_train_events": self.n_train_events,
                "n_targets": self.n_targets, "n_bootstrap": self.n_bootstrap, "seed": self.seed,
                "reference": self.reference, "notes": list(self.notes),
                "models": [m.to_dict() for m in self.models]}


def build_baseline(name: str, n_items: int,
                   config: Mapping[str, Any] | None = None) -> tuple[str, Any, str | None]:
    """Build an unfitted baseline by name.

    Args:
        name: ``"mostpop"`` or a behaviour-registry name (``ease``, ``itemknn``, ``als``, ...).
        n_items: catalog size (``ease`` becomes ``als`` above
            :data:`~encoders.behaviour.EASE_MAX_ITEMS`).
        config: hyperparameters.

    Returns:
        ``(name used, model, note or None)``.

    Raises:
        ConfigError: unknown name (the valid ones are listed) or bad hyperparameters.

    """
    config = dict(config or {})
    note = None
    if name == "mostpop":
        return name, MostPopular(**config), None
    if name == "ease" and n_items > EASE_MAX_ITEMS:
        note = (f"ease replaced by als: {n_items:,} items is above EASE's dense limit of "
                f"{EASE_MAX_ITEMS:,}")
        name, config = "als", {}
    try:
        model = make_behaviour_model(name, **config)
    except ConfigError as exc:
        if "unknown behaviour model" in str(exc):
            raise ConfigError(f"unknown baseline {name!r}; choose mostpop or one of the "
                              f"behaviour models ({str(exc).split('choose one of: ')[-1]})"
                              ) from exc
        raise
    return name, model, note


def _protocol_label(split: Split, cfg: OfflineConfig, es: EvalSet, n_items: int) -> str:
    if cfg.negatives is None:
        ranking = f"full ranking over all {n_items:,} items"
    else:
        ranking = (f"SAMPLED: targets ranked among {cfg.negatives} random negatives per shopper "
                   "(not full ranking; not comparable with full-ranking numbers)")
    history = "history excluded" if cfg.exclude_history else "history INCLUDED"
    held = "validation item" if cfg.on == "valid" else "test"
    return (f"{split.description}; {held}; {ranking}; {history}; {len(es):,} shoppers; "
            f"95% bootstrap intervals over shoppers ({cfg.n_bootstrap} resamples, "
            f"seed {cfg.seed})")


def _sample_candidates(es: EvalSet, n_items: int, negatives: int, exclude_history: bool,
                       rng: np.random.Generator) -> list[np.ndarray]:
    """Targets plus ``negatives`` random other items per shopper (fewer if the catalog is small)."""
    out = []
    for hist, tgt in zip(es.histories, es.targets, strict=True):
        banned = np.zeros(n_items, dtype=bool)
        banned[tgt] = True
        if exclude_history:
            banned[hist] = True
        pool = np.flatnonzero(~banned)
        neg = rng.choice(pool, size=min(negatives, pool.shape[0]), replace=False)
        out.append(np.concatenate([np.asarray(tgt, dtype=np.int64), neg.astype(np.int64)]))
    return out


def _score_all(name: str, scorer: Scorer, es: EvalSet, n_items: int,
               cfg: OfflineConfig, rng: np.random.Generator,
               candidates: list[np.ndarray] | None) -> tuple[list[np.ndarray], np.ndarray, float]:
    """Score and rank every evaluated shopper in batches; returns ranks, top lists, seconds."""
    k_max = max(cfg.ks)
    ranks: list[np.ndarray] = []
    tops: list[np.ndarray] = []
    seconds = 0.0
    step = max(1, min(cfg.batch_users, (1 << 22) // max(n_items, 1)))
    for start in range(0, len(es), step):
        stop = min(start + step, len(es))
        hist = es.histories[start:stop]
        t0 = time.perf_counter()
        scores = np.asarray(scorer(hist))
        seconds += time.perf_counter() - t0
        if scores.shape != (stop - start, n_items):
            raise ShelfwiseError(f"model {name!r} returned scores of shape {scores.shape}, "
                                 f"expected ({stop - start}, {n_items})")
        if np.isnan(scores).any() or np.isposinf(scores).any():
            raise ShelfwiseError(f"model {name!r} returned NaN or +inf scores")
        lists = rank_targets(scores, es.targets[start:stop], k_max, rng,
                             excluded=hist if cfg.exclude_history and candidates is None
                             else None,
                             candidates=None if candidates is None
                             else candidates[start:stop])
        ranks += lists.target_ranks
        tops.append(lists.top)
    return ranks, np.concatenate(tops) if tops else np.zeros((0, k_max), np.int64), seconds


def evaluate_offline(data: Interactions, scorers: Mapping[str, Any] | None = None,
                     config: OfflineConfig | None = None) -> OfflineReport:
    """Evaluate ``scorers`` and the baselines on one split of ``data``.

    Args:
        data: the interaction log (user/item indices; see :class:`Interactions`).
        scorers: name -> model with ``fit``/``score`` (fitted in place on the training part) or
            a plain scoring callable (see the module docstring). ``None``: baselines only.
        config: the protocol; default :class:`OfflineConfig()` (leave-last-out, full ranking,
            history excluded).

    Returns:
        The report, baselines first, then the scorers in the order given.

    Raises:
        NotEnoughInteractionsError: fewer than ``config.min_users`` shoppers to evaluate.
        ConfigError: a name is used twice, a scorer is neither a model nor a callable, an
            unknown baseline, or a ``reference`` that is not in the run.
        ShelfwiseError: a model returned scores of the wrong shape or NaN.

    """
    cfg = config or OfflineConfig()
    scorers = dict(scorers or {})
    split = make_split(data, cfg.split, validation=cfg.validation, cut_time=cfg.cut_time,
                       test_fraction=cfg.test_fraction)
    es = split.valid if cfg.on == "valid" and split.valid is not None else split.test
    if len(es) < cfg.min_users:
        raise NotEnoughInteractionsError(
            f"only {len(es)} shoppers can be evaluated with the {cfg.split} split "
            f"({data.n_events} interactions from {data.n_users} shoppers; a shopper needs at "
            f"least {3 if cfg.validation else 2} distinct items"
            + (", before and after the cut" if cfg.split == "time" else "")
            + f"); at least {cfg.min_users} are needed")
    n_items = data.n_items
    models: list[tuple[str, str, Any]] = []
    notes: list[str] = []
    for b in cfg.baselines:
        name, model, note = build_baseline(b, n_items, cfg.baseline_configs.get(b))
        if note:
            notes.append(note)
        models.append((name, "baseline", model))
    for name, s in scorers.items():
        if not (callable(s) or (hasattr(s, "fit") and hasattr(s, "score"))):
            raise ConfigError(f"scorer {name!r} must have fit() and score() or be callable, got "
                              f"{type(s).__name__}")
        models.append((name, "candidate", s))
    names = [m[0] for m in models]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"model name(s) used twice in one run: {', '.join(dup)}")
    reference = cfg.reference if cfg.reference in names else None
    if cfg.reference is not None and reference is None and cfg.reference != "mostpop":
        raise ConfigError(f"reference {cfg.reference!r} is not in this run; models: "
                          f"{', '.join(names)}")

    candidates = None
    if cfg.negatives is not None:
        candidates = _sample_candidates(es, n_items, cfg.negatives, cfg.exclude_history,
                                        np.random.default_rng([cfg.seed, 2]))
    pop_pct = popularity_percentile(np.bincount(split.train.item, minlength=n_items))
    per_model: list[tuple[str, str, float | None, float, dict[str, np.ndarray],
                          dict[int, float]]] = []
    for name, role, model in models:
        fit_s: float | None = None
        if hasattr(model, "fit") and hasattr(model, "score"):
            t0 = time.perf_counter()
            model.fit(split.train, progress=cfg.progress)
            fit_s = time.perf_counter() - t0
            scorer: Scorer = model.score
        else:
            scorer = model
        # Every model gets the same tie-break stream, so equal scores are ordered alike.
        rng = np.random.default_rng([cfg.seed, 1])
        ranks, top, score_s = _score_all(name, scorer, es, n_items, cfg, rng, candidates)
        values = per_user_metrics(RankedLists(ranks, top), cfg.ks, pop_pct)
        cov = {k: coverage(top, k, n_items) for k in cfg.ks}
        per_model.append((name, role, fit_s, score_s, values, cov))

    metric_names = list(per_model[0][4])
    stacked = np.stack([pm[4][mn] for pm in per_model for mn in metric_names])
    boot = bootstrap_means(stacked, cfg.n_bootstrap, cfg.seed)
    boot = boot.reshape(len(per_model), len(metric_names), cfg.n_bootstrap)
    points = stacked.mean(axis=1).reshape(len(per_model), len(metric_names))
    ref_i = names.index(reference) if reference is not None else None
    results = []
    for i, (name, role, fit_s, score_s, _values, cov) in enumerate(per_model):
        metrics = {mn: interval(points[i, j], boot[i, j]) for j, mn in enumerate(metric_names)}
        for k in cfg.ks:
            metrics[f"coverage@{k}"] = Interval(cov[k], float("nan"), float("nan"))
        diff: dict[str, Interval] = {}
        if ref_i is not None and i != ref_i:
            diff = {mn: interval(points[i, j] - points[ref_i, j], boot[i, j] - boot[ref_i, j])
                    for j, mn in enumerate(metric_names)}
        results.append(ModelResult(name, role, fit_s, score_s, metrics, diff))
    return OfflineReport(
        protocol=_protocol_label(split, cfg, es, n_items), split=cfg.split, mode=cfg.mode,
        negatives=cfg.negatives, exclude_history=cfg.exclude_history, held_out=cfg.on,
        ks=cfg.ks, n_users=len(es), n_items=n_items, n_train_events=split.train.n_events,
        n_targets=es.n_targets, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed,
        reference=reference, notes=tuple(notes), models=tuple(results))
