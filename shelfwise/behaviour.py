"""Behaviour models of one workspace: trained from its event log, saved in it, loaded to serve.

The models themselves live in :mod:`encoders.behaviour` (EASE, ALS, item-kNN, SASRec); this
module is the workspace layer around them:

- the training data is the event log (organic interactions a shop imported and clicks and
  purchases of served slates, :func:`~shelfwise.evaluate.log_interactions.interactions_from_log`),
  over the products of the workspace's index (the item universe, in index order);
- every model is wrapped with :func:`~encoders.behaviour.with_content` and the index's
  product vectors, so products without events still get scores and vectors (cold start);
- models are saved without pickles to ``<workspace>/models/behaviour/<name>/`` and listed in
  ``<workspace>/models/behaviour/manifest.json`` with their role (``item``: EASE/ALS/item-kNN,
  the item-to-item source; ``sequence``: SASRec, the behaviour ANN source and the shopper's
  sequence vector) and the fitted source blend (:mod:`shelfwise.candidates`).

What ``shelfwise train`` (no ``--model``) trains, :func:`needed_models`: the item model chosen
by catalog size (:func:`~encoders.behaviour.choose_item_model`: EASE up to 20,000 products,
ALS above), plus SASRec when at least :data:`SASREC_MIN_SHOPPERS` shoppers have
:data:`SASREC_MIN_EVENTS` or more events (a sequence model learns nothing from a handful of
sequences; below that the item model and content carry the recommendations).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encoders.artefacts import read_json_object
from shelfwise.errors import ConfigError, IndexError_, ShelfwiseError
from shelfwise.workspace import Workspace

__all__ = [
    "ITEM_MODELS",
    "SASREC_MIN_EVENTS",
    "SASREC_MIN_SHOPPERS",
    "SEQUENCE_MODELS",
    "BehaviourModels",
    "BehaviourTrainReport",
    "ModelTrainReport",
    "behaviour_root",
    "needed_models",
    "train_behaviour",
]

ITEM_MODELS = ("ease", "als", "itemknn")
"""Models that serve the item-to-item source (score a history over the catalog)."""

SEQUENCE_MODELS = ("sasrec",)
"""Models that serve the behaviour ANN source (sequence vector + item embeddings)."""

SASREC_MIN_SHOPPERS = 20
"""Fewest shoppers with :data:`SASREC_MIN_EVENTS` events before ``shelfwise train`` adds SASRec."""

SASREC_MIN_EVENTS = 3
"""Events a shopper needs to count as a sequence (one to predict, two to learn the order)."""

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
"""Largest manifest read back (model names, roles and the blend: a few kB)."""


class BehaviourModelError(ShelfwiseError):
    """A saved behaviour model or the manifest is missing, unreadable or inconsistent."""


def behaviour_root(ws: Workspace) -> Path:
    """``<workspace>/models/behaviour``: one folder per model plus ``manifest.json``."""
    return ws.models_dir / "behaviour"


def role_of(name: str) -> str:
    """``item`` or ``sequence`` for a registered model name.

    Raises:
        ConfigError: unknown name; the message lists the valid names.
    """
    if name in ITEM_MODELS:
        return "item"
    if name in SEQUENCE_MODELS:
        return "sequence"
    raise ConfigError(f"unknown behaviour model {name!r}; choose one of: "
                      f"{', '.join(ITEM_MODELS + SEQUENCE_MODELS)}")


def needed_models(n_items: int, n_sequences: int, *,
                  min_sequences: int = SASREC_MIN_SHOPPERS) -> list[str]:
    """The models ``shelfwise train`` trains for a workspace (see the module docstring).

    Args:
        n_items: products in the catalog (the index).
        n_sequences: shoppers with at least :data:`SASREC_MIN_EVENTS` events.
        min_sequences: threshold for SASRec.
    """
    from encoders.behaviour import choose_item_model

    names = [choose_item_model(max(int(n_items), 1))]
    if n_sequences >= min_sequences:
        names.append("sasrec")
    return names


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class ModelTrainReport:
    """One trained model."""

    name: str
    role: str
    folder: str
    seconds: float
    n_events: int
    n_users: int
    n_items: int
    items_with_events: int
    by_source: dict[str, int]
    by_kind: dict[str, int]


@dataclass(frozen=True)
class BehaviourTrainReport:
    """What :func:`train_behaviour` did."""

    models: list[ModelTrainReport]
    skipped: list[str]
    """Models not trained, each with the reason."""
    blend: dict[str, float] | None
    """Fitted source-blend weights (feature -> weight), or None when not refitted."""
    blend_users: int
    """Validation shoppers the blend was fitted on (0 when not refitted)."""
    seconds: float
    manifest: str
    dropped_unknown_items: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _content_of(ws: Workspace) -> tuple[list[str], np.ndarray, Any]:
    """Product ids of the index (item order), their vectors ``(n, d)`` and the index."""
    from index import VectorIndex

    if not (ws.index_dir / "meta.json").is_file():
        raise IndexError_(f"{ws.index_dir}: no product index yet; run `shelfwise index build` "
                          "(or `shelfwise demo`) before training behaviour models")
    index = VectorIndex.load(ws.index_dir)
    ids = list(index.ids)
    if not ids:
        raise IndexError_(f"{ws.index_dir}: the product index is empty")
    return ids, np.asarray(index.vectors(ids), np.float32), index


def _n_sequences(data: Any, min_events: int = SASREC_MIN_EVENTS) -> int:
    counts = np.bincount(data.user, minlength=data.n_users)
    return int((counts >= min_events).sum())


def _build(name: str, options: Mapping[str, Any] | None, content: np.ndarray) -> Any:
    from encoders.behaviour import make_behaviour_model, with_content

    return with_content(make_behaviour_model(name, **dict(options or {})), content)


def train_behaviour(ws: Workspace, models: Sequence[str] | None = None, *,
                    options: Mapping[str, Mapping[str, Any]] | None = None,
                    fit_blend: bool | None = None, progress: bool = False,
                    min_sequences: int = SASREC_MIN_SHOPPERS) -> BehaviourTrainReport:
    """Train behaviour models from the workspace's event log and save them in the workspace.

    Args:
        ws: the workspace (needs a product index and interactions in the event log).
        models: registry names; ``None``: :func:`needed_models`.
        options: hyperparameters per model name, e.g. ``{"sasrec": {"max_seconds": 30}}``.
        fit_blend: refit the candidate-source blend on a validation split (each shopper's
            last item held out, models refitted without it). Default: True when ``models`` is
            None (the workspace set), else False (the saved blend is kept).
        progress: progress bars.
        min_sequences: threshold of :func:`needed_models`.

    Returns:
        The report (models, skipped ones with reasons, blend weights).

    Raises:
        ConfigError: an unknown model name (the valid names are listed) or bad options.
        IndexError_: no product index.
        NotEnoughInteractionsError: the event log has no interactions on indexed products.
    """
    from shelfwise.evaluate.log_interactions import interactions_from_log
    from shelfwise.events import SQLiteEventStore

    t0 = time.perf_counter()
    chosen = None if models is None else [m.strip().lower() for m in models]
    for name in chosen or []:
        role_of(name)
    opts = {k.lower(): dict(v) for k, v in (options or {}).items()}
    for name in opts:
        role_of(name)
    ids, content, _ = _content_of(ws)
    store = SQLiteEventStore(ws.events_db)
    try:
        log = interactions_from_log(store, catalog_ids=ids)
    finally:
        store.close()
    data = log.data
    n_seq = _n_sequences(data)
    skipped: list[str] = []
    if chosen is None:
        chosen = needed_models(len(ids), n_seq, min_sequences=min_sequences)
        if "sasrec" not in chosen:
            skipped.append(f"sasrec: only {n_seq} shoppers have >= {SASREC_MIN_EVENTS} events "
                           f"(needs {min_sequences}; train it anyway with --model sasrec)")
        do_blend = True if fit_blend is None else fit_blend
    else:
        do_blend = bool(fit_blend)
    root = behaviour_root(ws)
    manifest = read_manifest(root)
    reports = []
    fitted: dict[str, Any] = {}
    for name in chosen:
        t1 = time.perf_counter()
        model = _build(name, opts.get(name), content)
        model.fit(data, progress=progress)
        folder = root / name
        model.save(folder)
        fitted[name] = model
        manifest[role_of(name)] = name
        reports.append(ModelTrainReport(
            name=name, role=role_of(name), folder=str(folder),
            seconds=round(time.perf_counter() - t1, 3), n_events=data.n_events,
            n_users=data.n_users, n_items=data.n_items,
            items_with_events=int((data.item_counts() > 0).sum()), by_source=log.by_source,
            by_kind=log.by_kind))
    blend: dict[str, float] | None = None
    blend_users = 0
    notes: list[str] = []
    if do_blend:
        try:
            weights, blend_users = _fit_workspace_blend(ws, data, manifest, opts, content, ids)
            blend = weights
            manifest["blend"] = weights
        except ShelfwiseError as exc:
            notes.append(f"blend not refitted: {exc}")
    manifest["trained_at"] = time.time()
    write_manifest(root, manifest)
    return BehaviourTrainReport(reports, skipped, blend, blend_users,
                                round(time.perf_counter() - t0, 3), str(root / MANIFEST),
                                log.dropped_unknown_items, notes)


def _fit_workspace_blend(ws: Workspace, data: Any, manifest: dict[str, Any],
                         opts: Mapping[str, Mapping[str, Any]], content: np.ndarray,
                         ids: list[str]) -> tuple[dict[str, float], int]:
    """Fit the source blend on each shopper's last item, models refitted without it."""
    from shelfwise.candidates import fit_blend_on_split
    from shelfwise.evaluate.splits import make_split

    split = make_split(data, "leave-last-out")
    item_name = manifest.get("item")
    seq_name = manifest.get("sequence")
    item = _build(item_name, opts.get(item_name), content) if item_name else None
    seq = _build(seq_name, opts.get(seq_name), content) if seq_name else None
    for m in (item, seq):
        if m is not None:
            m.fit(split.train)
    models = BehaviourModels(tuple(ids), item, seq)
    return fit_blend_on_split(models, content, split.train, split.test, policy=None)


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest's JSON object (empty when there is none yet).

    Raises:
        BehaviourModelError: the file exists but is not a JSON object.
    """
    path = root / MANIFEST
    if not path.is_file():
        return {}
    return read_json_object(path, BehaviourModelError, max_bytes=MAX_MANIFEST_BYTES)


def write_manifest(root: Path, manifest: Mapping[str, Any]) -> None:
    """Write the manifest atomically."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(dict(manifest), indent=1), encoding="utf-8")
    tmp.replace(root / MANIFEST)


# --------------------------------------------------------------------------- serving


class BehaviourModels:
    """Fitted models over one item universe, with the product id <-> item index mapping.

    Args:
        item_ids: product id of each item index (the models' ``item_ids``).
        item_model: scores a history over every item (EASE, ALS, item-kNN), or None.
        sequence_model: has ``user_vectors`` and ``item_vectors`` (SASRec), or None.
        blend: source-blend weights (feature name -> weight) or None (the defaults).

    Raises:
        ConfigError: a model's items differ from ``item_ids``, or no model at all.
    """

    def __init__(self, item_ids: tuple[str, ...], item_model: Any = None,
                 sequence_model: Any = None, blend: Mapping[str, float] | None = None) -> None:
        if item_model is None and sequence_model is None:
            raise ConfigError("BehaviourModels needs an item model, a sequence model or both")
        self.item_ids = tuple(item_ids)
        self.index_of = {pid: i for i, pid in enumerate(self.item_ids)}
        self.item_model = item_model
        self.sequence_model = sequence_model
        self.blend = dict(blend) if blend else None
        for m in (item_model, sequence_model):
            if m is not None and m.fitted and tuple(m.item_ids) != self.item_ids:
                raise ConfigError(f"behaviour model {m.name!r} was trained on other items than "
                                  "the ones given")

    @property
    def n_items(self) -> int:
        """Items of the models."""
        return len(self.item_ids)

    def popularity(self) -> np.ndarray:
        """``log(1 + summed event weight)`` per item, float32 ``(n_items,)``."""
        m = self.item_model if self.item_model is not None else self.sequence_model
        return np.log1p(np.asarray(m.item_counts, np.float64)).astype(np.float32)

    def indices(self, product_ids: Sequence[str]) -> np.ndarray:
        """Item indices of the known ids, in the order given (unknown ids left out), int64."""
        return np.array([self.index_of[p] for p in product_ids if p in self.index_of],
                        dtype=np.int64)

    def item_scores(self, history: np.ndarray) -> np.ndarray | None:
        """Item-model scores of one history ``(n_items,)`` float32, or None without a model."""
        if self.item_model is None:
            return None
        return np.asarray(self.item_model.score([history])[0], np.float32)

    def sequence_vector(self, history: np.ndarray) -> np.ndarray | None:
        """The sequence model's shopper vector ``(d_b,)``, or None (no model / no history)."""
        if self.sequence_model is None or history.size == 0:
            return None
        v = self.sequence_model.user_vectors([history])
        return None if v is None else np.asarray(v[0], np.float32)

    def item_vectors(self) -> np.ndarray | None:
        """The sequence model's (content-completed) item vectors ``(n_items, d_b)``, or None."""
        if self.sequence_model is None:
            return None
        v = self.sequence_model.item_vectors()
        return None if v is None else np.asarray(v, np.float32)

    @classmethod
    def load(cls, ws: Workspace) -> BehaviourModels | None:
        """The workspace's models named in the manifest, or None when none were trained.

        Raises:
            BehaviourModelError: the manifest names a model whose files are missing or broken.
        """
        from encoders.behaviour import load_behaviour_model
        root = behaviour_root(ws)
        manifest = read_manifest(root)
        loaded: dict[str, Any] = {}
        for role in ("item", "sequence"):
            name = manifest.get(role)
            if not name:
                continue
            try:
                loaded[role] = load_behaviour_model(root / str(name))
            except ShelfwiseError as exc:
                raise BehaviourModelError(f"{root / str(name)}: {exc}; retrain with "
                                          f"`shelfwise train --model {name}`") from exc
        if not loaded:
            return None
        ids = next(iter(loaded.values())).item_ids
        if "item" in loaded and "sequence" in loaded and \
                loaded["item"].item_ids != loaded["sequence"].item_ids:
            # trained on different catalogs: keep the newer one's items (the item model)
            loaded.pop("sequence")
        blend = manifest.get("blend")
        return cls(tuple(ids), loaded.get("item"), loaded.get("sequence"),
                   blend if isinstance(blend, dict) else None)
