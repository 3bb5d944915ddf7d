"""The behaviour-model protocol, its interaction data, saving without pickles and the registry.

A behaviour model learns from the event log which items go together (item-item models:
EASE, ALS, item-kNN) or follow each other (the sequential model) and scores every item of
the catalog for a shopper's history. All of them share one protocol
(:class:`BehaviourModel`): ``fit`` on :class:`Interactions`, ``score`` a batch of histories,
embed items (``item_vectors``) and, where the model has them, shoppers (``user_vectors``),
``save`` / ``load`` a folder.

Saved folder (every model)::

    folder/config.json   {"model": name, "format_version": 1, "config": {...},
                          "item_ids": [...], "arrays": {name: {"shape", "dtype"}},
                          "checksum": sha256 of arrays.npz, "meta": {...}}
    folder/arrays.npz    numpy arrays, read with ``allow_pickle=False``

:func:`load_behaviour_model` reads the model name from ``config.json`` and dispatches
through the registry; a changed, truncated or non-finite file raises :class:`EncoderError`
naming the file and the array.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

from encoders.artefacts import read_json_object
from encoders.errors import ConfigError, EncoderError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import scipy.sparse as sp

CONFIG_FILE = "config.json"
ARRAYS_FILE = "arrays.npz"
FORMAT_VERSION = 1
MAX_CONFIG_BYTES = 512 * 1024 * 1024
"""Largest ``config.json`` read back (it lists every item id: tens of millions fit)."""

EASE_MAX_ITEMS = 20_000
"""Largest catalog for which :func:`choose_item_model` picks EASE.

EASE inverts a dense ``(n_items, n_items)`` Gram matrix: at 20,000 items that is 3.2 GB in
float64 and a few minutes of one ``O(n^3)`` solve on a laptop CPU; above it, ALS (memory
``O((n_users + n_items) d)``) takes over, the same way the vector index switches from exact
to HNSW by size."""


# --------------------------------------------------------------------------- interactions


@dataclass(frozen=True, eq=False)  # eq on arrays is ambiguous; identity instead
class Interactions:
    """Implicit feedback, one row per event, sorted by (user, time).

    Attributes:
        user: int64 ``(n,)``, user index in ``0..n_users-1``.
        item: int64 ``(n,)``, item index in ``0..n_items-1``.
        time: float64 ``(n,)``, unix seconds; non-decreasing within each user.
        weight: float32 ``(n,)``, > 0 (e.g. purchase > add-to-cart > click > view).
        n_users: number of users (rows of :meth:`csr`).
        n_items: number of items (columns of :meth:`csr`); items without events are allowed
            (new products: cold start).
        item_ids: product id of each item index, ``len == n_items``, unique.
        user_ids: shopper id of each user index, ``len == n_users``, unique.

    Raises:
        ConfigError: a field has the wrong dtype, shape or range, or rows are not sorted;
            the message names the field and the first bad row.

    """

    user: np.ndarray
    item: np.ndarray
    time: np.ndarray
    weight: np.ndarray
    n_users: int
    n_items: int
    item_ids: tuple[str, ...]
    user_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        for name, dtype in (("user", np.int64), ("item", np.int64), ("time", np.float64),
                            ("weight", np.float32)):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.ndim != 1:
                raise ConfigError(f"Interactions.{name} must be a 1-d numpy array, "
                                  f"got {type(arr).__name__} {getattr(arr, 'shape', '')}")
            if arr.dtype != dtype:
                raise ConfigError(f"Interactions.{name} must have dtype {np.dtype(dtype).name}, "
                                  f"got {arr.dtype.name}")
        n = self.user.shape[0]
        for name in ("item", "time", "weight"):
            if getattr(self, name).shape[0] != n:
                raise ConfigError(f"Interactions.{name} has {getattr(self, name).shape[0]} rows, "
                                  f"Interactions.user has {n}")
        for name in ("n_users", "n_items"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ConfigError(f"Interactions.{name} must be a positive int, got {v!r}")
        for name, count in (("item_ids", self.n_items), ("user_ids", self.n_users)):
            ids = getattr(self, name)
            if not isinstance(ids, tuple) or len(ids) != count:
                raise ConfigError(f"Interactions.{name} must be a tuple of {count} ids, "
                                  f"got {type(ids).__name__} of length {len(ids)}")
            if len(set(ids)) != count:
                dup = _first_duplicate(ids)
                raise ConfigError(f"Interactions.{name} has a duplicate id {dup!r}")
        for name, bound in (("user", self.n_users), ("item", self.n_items)):
            arr = getattr(self, name)
            bad = np.flatnonzero((arr < 0) | (arr >= bound))
            if bad.size:
                raise ConfigError(f"Interactions.{name}[{bad[0]}] = {arr[bad[0]]} is outside "
                                  f"0..{bound - 1}")
        bad = np.flatnonzero(~np.isfinite(self.time))
        if bad.size:
            raise ConfigError(f"Interactions.time[{bad[0]}] is not finite ({self.time[bad[0]]})")
        bad = np.flatnonzero(~(np.isfinite(self.weight) & (self.weight > 0)))
        if bad.size:
            raise ConfigError(f"Interactions.weight[{bad[0]}] = {self.weight[bad[0]]} must be a "
                              "finite number > 0")
        if n > 1:
            du = np.diff(self.user)
            dt = np.diff(self.time)
            bad = np.flatnonzero((du < 0) | ((du == 0) & (dt < 0)))
            if bad.size:
                raise ConfigError(f"Interactions rows must be sorted by (user, time); row "
                                  f"{bad[0] + 1} sorts before row {bad[0]}")

    @property
    def n_events(self) -> int:
        """Number of rows (events)."""
        return int(self.user.shape[0])

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        item_ids: Sequence[str] | None = None,
        user_ids: Sequence[str] | None = None,
    ) -> Interactions:
        """Build from a table of events.

        Args:
            df: columns ``user_id``, ``product_id``, ``time`` (unix seconds, or a datetime
                column, read as UTC) and optionally ``weight`` (> 0; 1.0 when absent).
                Rows may come in any order; ties in time keep their input order.
            item_ids: the catalog, in item-index order; products of the catalog without
                events still get an index (cold start). Default: the sorted distinct
                ``product_id`` values.
            user_ids: the shoppers, in user-index order. Default: the sorted distinct
                ``user_id`` values.

        Raises:
            ConfigError: a column is missing, a value is empty or invalid, or a product or
                user is not among ``item_ids`` / ``user_ids`` (the message names the row).

        """
        import pandas as pd

        missing = [c for c in ("user_id", "product_id", "time") if c not in df.columns]
        if missing:
            raise ConfigError(f"interaction table lacks column(s) {', '.join(missing)}; "
                              f"it has {', '.join(map(str, df.columns))}")
        if len(df) == 0:
            raise ConfigError("interaction table has no rows")
        users = df["user_id"].astype(str).to_numpy()
        products = df["product_id"].astype(str).to_numpy()
        for col, arr in (("user_id", users), ("product_id", products)):
            empty = np.flatnonzero((df[col].isna().to_numpy()) | (np.char.str_len(
                arr.astype(str)) == 0))
            if empty.size:
                raise ConfigError(f"interaction row {empty[0]}: {col} is empty")
        t = df["time"]
        if pd.api.types.is_datetime64_any_dtype(t):
            ts = pd.to_datetime(t, utc=True)
            if ts.isna().any():
                raise ConfigError(f"interaction row {int(np.flatnonzero(ts.isna())[0])}: "
                                  "time is missing")
            times = (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(np.float64)
        else:
            try:
                times = pd.to_numeric(t, errors="raise").to_numpy(np.float64)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"interaction column time must be unix seconds or datetimes: "
                                  f"{exc}") from exc
        bad = np.flatnonzero(~np.isfinite(times))
        if bad.size:
            raise ConfigError(f"interaction row {bad[0]}: time {times[bad[0]]} is not finite")
        if "weight" in df.columns:
            try:
                weights = pd.to_numeric(df["weight"], errors="raise").to_numpy(np.float64)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"interaction column weight must be numeric: {exc}") from exc
            bad = np.flatnonzero(~(np.isfinite(weights) & (weights > 0)))
            if bad.size:
                raise ConfigError(f"interaction row {bad[0]}: weight {weights[bad[0]]} must be "
                                  "a finite number > 0")
        else:
            weights = np.ones(len(df))

        item_tuple = _id_tuple(item_ids, products, "item_ids")
        user_tuple = _id_tuple(user_ids, users, "user_ids")
        item_idx = _index_of(products, item_tuple, "product_id", "item_ids")
        user_idx = _index_of(users, user_tuple, "user_id", "user_ids")
        order = np.lexsort((times, user_idx))  # stable: equal times keep input order
        return cls(
            user=user_idx[order].astype(np.int64),
            item=item_idx[order].astype(np.int64),
            time=times[order].astype(np.float64),
            weight=weights[order].astype(np.float32),
            n_users=len(user_tuple),
            n_items=len(item_tuple),
            item_ids=item_tuple,
            user_ids=user_tuple,
        )

    def csr(self, *, binary: bool = False) -> sp.csr_matrix:
        """User-item matrix ``(n_users, n_items)`` float32; repeated events add their weights.

        Args:
            binary: 1.0 wherever a user has any event with the item, instead of the sum.

        """
        import scipy.sparse as sp

        values = np.ones(self.n_events, np.float32) if binary else self.weight
        m = sp.csr_matrix((values, (self.user, self.item)), shape=(self.n_users, self.n_items),
                          dtype=np.float32)
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    def sequences(self) -> list[np.ndarray]:
        """Each user's items in time order, ``n_users`` int64 arrays (empty for silent users)."""
        return [s.copy() for s in self._sequences]

    @cached_property
    def _sequences(self) -> list[np.ndarray]:
        bounds = np.searchsorted(self.user, np.arange(self.n_users + 1))
        return [self.item[bounds[u]:bounds[u + 1]] for u in range(self.n_users)]

    def item_counts(self) -> np.ndarray:
        """Summed weight per item, float64 ``(n_items,)``."""
        return np.bincount(self.item, weights=self.weight.astype(np.float64),
                           minlength=self.n_items)


def _first_duplicate(ids: Iterable[str]) -> str:
    seen: set[str] = set()
    for x in ids:
        if x in seen:
            return x
        seen.add(x)
    return ""  # pragma: no cover - only called when a duplicate exists


def _id_tuple(given: Sequence[str] | None, values: np.ndarray, name: str) -> tuple[str, ...]:
    if given is None:
        return tuple(str(x) for x in np.unique(values))
    out = tuple(str(x) for x in given)
    if not out:
        raise ConfigError(f"{name} must not be empty")
    if len(set(out)) != len(out):
        raise ConfigError(f"{name} has a duplicate id {_first_duplicate(out)!r}")
    return out


def _index_of(values: np.ndarray, ids: tuple[str, ...], col: str, name: str) -> np.ndarray:
    import pandas as pd

    out = pd.Index(ids).get_indexer(values).astype(np.int64)
    bad = np.flatnonzero(out < 0)
    if bad.size:
        raise ConfigError(f"interaction row {bad[0]}: {col} {values[bad[0]]!r} is not in {name}")
    return out


# --------------------------------------------------------------------------- config


@dataclass
class BehaviourConfig:
    """Base of the per-model hyperparameter dataclasses (validated on construction)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""

    @classmethod
    def from_kwargs(cls, model: str, kwargs: dict[str, Any]) -> BehaviourConfig:
        """Build from keyword arguments; unknown names raise :class:`ConfigError`."""
        names = [f.name for f in fields(cls)]
        for key in kwargs:
            if key not in names:
                valid = ", ".join(sorted(names)) or "(none)"
                raise ConfigError(f"unknown argument {key!r} for behaviour model {model!r}; "
                                  f"valid arguments: {valid}")
        try:
            return cls(**kwargs)
        except TypeError as exc:  # pragma: no cover - names were checked above
            raise ConfigError(f"bad arguments for behaviour model {model!r}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields."""
        return asdict(self)


def check_number(cfg: Any, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, integer: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``cfg.<name>`` is a finite number in range.

    Args:
        cfg: config object.
        name: field name (named in the message).
        low: smallest allowed value (exclusive when ``low_open``).
        high: largest allowed value (inclusive).
        low_open: ``low`` itself is not allowed.
        integer: the value must be an int.

    """
    v = getattr(cfg, name)
    kind = "an int" if integer else "a number"
    ok = not isinstance(v, bool) and isinstance(v, int if integer else int | float)
    ok = ok and math.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v <= high
    if not ok:
        rng = ""
        if low is not None:
            rng += f" {'>' if low_open else '>='} {low}"
        if high is not None:
            rng += f"{',' if rng else ''} <= {high}"
        raise ConfigError(f"{name} must be {kind}{rng}, got {v!r}")


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class BehaviourModel(Protocol):
    """What every behaviour model offers (batch-first, item indices of :class:`Interactions`)."""

    name: str

    def fit(self, data: Interactions, *, progress: bool = False) -> None:
        """Learn from the interactions (replaces anything learned before)."""
        ...

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores ``(len(histories), n_items)`` float32; higher = better.

        Each history is an int64 array of item indices in time order (last = most recent).
        History items are NOT masked here (the caller masks them).
        """
        ...

    def item_vectors(self) -> np.ndarray | None:
        """Item embeddings ``(n_items, d)`` float32, or None when the model has none."""
        ...

    def user_vectors(self, histories: Sequence[np.ndarray]) -> np.ndarray | None:
        """Shopper embeddings ``(len(histories), d)`` float32, or None."""
        ...

    def save(self, folder: Path) -> None:
        """Write the model to ``folder`` (created if missing)."""
        ...

    @classmethod
    def load(cls, folder: Path) -> BehaviourModel:
        """Read a model written by :meth:`save`."""
        ...


ModelT = TypeVar("ModelT", bound="BaseBehaviourModel")


class BaseBehaviourModel:
    """Shared plumbing: config, fitted state, history checks, popularity fallback, save/load.

    Subclasses set ``name`` and ``config_cls`` and implement ``_fit``, ``_score``,
    ``_arrays`` (what to save) and ``_restore`` (rebuild from saved arrays).

    An empty history is scored by training popularity (summed event weight, scaled to
    [0, 1]) by every model, so a shopper with no history still gets a sensible ranking.
    """

    name: ClassVar[str] = ""
    config_cls: ClassVar[type[BehaviourConfig]] = BehaviourConfig

    def __init__(self, config: BehaviourConfig | None = None, **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise ConfigError("pass either config or keyword arguments, not both")
        if config is None:
            config = self.config_cls.from_kwargs(self.name, kwargs)
        elif not isinstance(config, self.config_cls):
            raise ConfigError(f"config for {self.name!r} must be a {self.config_cls.__name__}, "
                              f"got {type(config).__name__}")
        self.config = config
        self.item_ids: tuple[str, ...] = ()
        self.item_counts: np.ndarray | None = None  # float32 (n_items,), summed event weight

    # -- public protocol ------------------------------------------------------------------

    @property
    def n_items(self) -> int:
        """Number of items the model scores (0 before ``fit``)."""
        return len(self.item_ids)

    @property
    def fitted(self) -> bool:
        """Whether ``fit`` or ``load`` has run."""
        return self.item_counts is not None

    @property
    def popularity(self) -> np.ndarray:
        """Training popularity ``(n_items,)`` float32 in [0, 1] (summed weight / largest)."""
        self._require_fitted()
        counts = self.item_counts
        top = float(counts.max())  # type: ignore[union-attr]
        return (counts / top if top > 0 else counts).astype(np.float32)  # type: ignore[operator]

    def fit(self, data: Interactions, *, progress: bool = False) -> None:
        """Learn from ``data``; see the class docstring of each model.

        Raises:
            ConfigError: ``data`` is not :class:`Interactions`.

        """
        if not isinstance(data, Interactions):
            raise ConfigError(f"fit needs Interactions, got {type(data).__name__}")
        self.item_counts = None  # a failed fit leaves the model unfitted
        self.item_ids = data.item_ids
        self._fit(data, progress=progress)
        self.item_counts = data.item_counts().astype(np.float32)

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Scores ``(len(histories), n_items)`` float32; higher = better; history not masked.

        Raises:
            EncoderError: the model is not fitted.
            ConfigError: a history is not 1-d integer or holds an index outside the catalog.

        """
        hs = self.check_histories(histories)
        if not hs:
            return np.zeros((0, self.n_items), np.float32)
        out = np.asarray(self._score(hs), dtype=np.float32)
        empty = [i for i, h in enumerate(hs) if h.size == 0]
        if empty:
            out[empty] = self.popularity
        return out

    def item_vectors(self) -> np.ndarray | None:
        """Item embeddings ``(n_items, d)`` float32, or None (this default)."""
        self._require_fitted()
        return None

    def user_vectors(self, histories: Sequence[np.ndarray]) -> np.ndarray | None:
        """Shopper embeddings ``(len(histories), d)`` float32, or None (this default)."""
        self.check_histories(histories)
        return None

    def save(self, folder: Path) -> None:
        """Write ``config.json`` and ``arrays.npz`` to ``folder`` (created if missing).

        Raises:
            EncoderError: the model is not fitted or the folder cannot be written.

        """
        self._require_fitted()
        arrays = {"item_counts": np.asarray(self.item_counts, np.float32), **self._arrays()}
        write_model_files(Path(folder), self.name, self.config.to_dict(), self.item_ids, arrays,
                          meta=self._meta())

    @classmethod
    def load(cls: type[ModelT], folder: Path) -> ModelT:
        """Read a model written by :meth:`save`.

        Raises:
            EncoderError: files missing, checksum mismatch, wrong model name, an array with
                non-finite values or an inconsistent shape (the message names file and array).
            ConfigError: the saved config has unknown or invalid fields.

        """
        folder = Path(folder)
        saved = read_model_files(folder)
        if saved.model != cls.name:
            raise EncoderError(f"{folder / CONFIG_FILE}: holds a {saved.model!r} model, "
                               f"not {cls.name!r}")
        model = cls(cls.config_cls.from_kwargs(cls.name, saved.config))
        model.item_ids = saved.item_ids
        counts = check_array(saved.arrays, "item_counts", (len(saved.item_ids),), folder)
        if (counts < 0).any():
            raise EncoderError(f"{folder / ARRAYS_FILE}: array 'item_counts' has negative values")
        model.item_counts = counts.astype(np.float32)
        model._restore(saved.arrays, saved.meta, folder)
        return model

    # -- helpers for subclasses -----------------------------------------------------------

    def check_histories(self, histories: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Validate histories and return them as int64 arrays.

        Raises:
            EncoderError: the model is not fitted.
            ConfigError: a history is not 1-d integer or holds an index outside the catalog.

        """
        self._require_fitted()
        if isinstance(histories, np.ndarray) and histories.ndim == 1 and histories.dtype != object:
            raise ConfigError("histories must be a sequence of arrays (one per shopper), "
                              "got one 1-d array; wrap it in a list")
        out = []
        for i, h in enumerate(histories):
            a = np.asarray(h)
            if a.size == 0:
                out.append(np.zeros(0, np.int64))
                continue
            if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
                raise ConfigError(f"histories[{i}] must be a 1-d integer array, got "
                                  f"{a.dtype.name} of shape {a.shape}")
            bad = np.flatnonzero((a < 0) | (a >= self.n_items))
            if bad.size:
                raise ConfigError(f"histories[{i}][{bad[0]}] = {a[bad[0]]} is outside the "
                                  f"catalog 0..{self.n_items - 1}")
            out.append(a.astype(np.int64))
        return out

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise EncoderError(f"behaviour model {self.name!r} is not fitted; call fit() or "
                               "load() first")

    def _meta(self) -> dict[str, Any]:
        """Extra JSON-ready values saved beside the arrays (e.g. training statistics)."""
        return {}

    # -- to implement ---------------------------------------------------------------------

    def _fit(self, data: Interactions, *, progress: bool) -> None:
        raise NotImplementedError

    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], folder: Path) -> None:
        raise NotImplementedError


def history_matrix(histories: Sequence[np.ndarray], n_items: int,
                   weights: Sequence[np.ndarray] | None = None) -> sp.csr_matrix:
    """Binary (or weighted) ``(len(histories), n_items)`` float32 CSR of the histories.

    Repeated items count once when unweighted; with ``weights`` they add up.
    """
    import scipy.sparse as sp

    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    cols = np.concatenate(list(histories)) if histories else np.zeros(0, np.int64)
    vals = (np.concatenate([np.asarray(w, np.float32) for w in weights]) if weights is not None
            else np.ones(cols.shape[0], np.float32))
    m = sp.csr_matrix((vals, (rows, cols)), shape=(len(histories), n_items), dtype=np.float32)
    m.sum_duplicates()
    if weights is None:
        m.data[:] = 1.0
    return m


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


def progress_steps(progress: bool, total: int | None, desc: str, unit: str = "step") -> Any:
    """A tqdm bar over ``total`` steps when ``progress``, else a no-op.

    The no-op has the same methods (``update``, ``set_postfix_str``, ``close``).
    """
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit)


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class SavedModel:
    """What :func:`read_model_files` returns (already validated)."""

    model: str
    config: dict[str, Any]
    item_ids: tuple[str, ...]
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]


def write_model_files(folder: Path, model: str, config: dict[str, Any],
                      item_ids: Sequence[str], arrays: dict[str, np.ndarray],
                      meta: dict[str, Any] | None = None) -> None:
    """Write ``arrays.npz`` (no pickles) and ``config.json`` (with its sha256) to ``folder``.

    Raises:
        EncoderError: an array holds objects or non-finite values, or the folder cannot be
            written.

    """
    for key, arr in arrays.items():
        if arr.dtype == object:
            raise EncoderError(f"array {key!r} of model {model!r} holds Python objects")
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            raise EncoderError(f"array {key!r} of model {model!r} has non-finite values; "
                               "training diverged")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        npz = folder / ARRAYS_FILE
        tmp = folder / (ARRAYS_FILE + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        tmp.replace(npz)
        doc = {
            "model": model,
            "format_version": FORMAT_VERSION,
            "config": config,
            "item_ids": list(item_ids),
            "arrays": {k: {"shape": list(a.shape), "dtype": a.dtype.str} for k, a in
                       arrays.items()},
            "checksum": _sha256(npz),
            "meta": meta or {},
        }
        tmp_json = folder / (CONFIG_FILE + ".tmp")
        tmp_json.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        tmp_json.replace(folder / CONFIG_FILE)
    except OSError as exc:
        raise EncoderError(f"cannot write behaviour model to {folder}: {exc}") from exc


def read_model_files(folder: Path) -> SavedModel:
    """Read and check a folder written by :func:`write_model_files`.

    Raises:
        EncoderError: a file is missing or unreadable, the checksum does not match, an array
            is missing, of another shape or dtype than recorded, or holds non-finite values.

    """
    folder = Path(folder)
    cfg_path, npz_path = folder / CONFIG_FILE, folder / ARRAYS_FILE
    for p in (cfg_path, npz_path):
        if not p.is_file():
            raise EncoderError(f"behaviour model file {p} is missing")
    # no NaN, no overflowing numbers, no nesting that crashes the parser (encoders.artefacts)
    doc = read_json_object(cfg_path, EncoderError, max_bytes=MAX_CONFIG_BYTES)
    for key, typ in (("model", str), ("format_version", int), ("config", dict),
                     ("item_ids", list), ("arrays", dict), ("checksum", str)):
        if not isinstance(doc.get(key), typ):
            raise EncoderError(f"{cfg_path}: field {key!r} is missing or not a {typ.__name__}")
    if doc["format_version"] != FORMAT_VERSION:
        raise EncoderError(f"{cfg_path}: format_version {doc['format_version']} is not "
                           f"supported (expected {FORMAT_VERSION})")
    if _sha256(npz_path) != doc["checksum"]:
        raise EncoderError(f"{npz_path}: checksum does not match {cfg_path} (file changed or "
                           "truncated)")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise EncoderError(f"{npz_path}: not a readable array file ({exc})") from exc
    for key, spec in doc["arrays"].items():
        arr = arrays.get(key)
        if arr is None:
            raise EncoderError(f"{npz_path}: array {key!r} is missing")
        if list(arr.shape) != spec.get("shape") or arr.dtype.str != spec.get("dtype"):
            raise EncoderError(f"{npz_path}: array {key!r} has shape {arr.shape} {arr.dtype.str},"
                               f" recorded {spec.get('shape')} {spec.get('dtype')}")
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            raise EncoderError(f"{npz_path}: array {key!r} has non-finite values")
    item_ids = tuple(str(x) for x in doc["item_ids"])
    if not item_ids or len(set(item_ids)) != len(item_ids):
        raise EncoderError(f"{cfg_path}: item_ids must be non-empty and unique")
    meta = doc.get("meta") or {}
    if not isinstance(meta, dict):
        raise EncoderError(f"{cfg_path}: field 'meta' must be an object")
    return SavedModel(doc["model"], doc["config"], item_ids, arrays, meta)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_array(arrays: dict[str, np.ndarray], key: str, shape: tuple[int | None, ...],
                folder: Path) -> np.ndarray:
    """Return ``arrays[key]`` after checking its shape (None = any size on that axis).

    Raises:
        EncoderError: missing, or another number of axes / size than ``shape``.

    """
    arr = arrays.get(key)
    if arr is None:
        raise EncoderError(f"{folder / ARRAYS_FILE}: array {key!r} is missing")
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape,
                                                                                strict=True)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise EncoderError(f"{folder / ARRAYS_FILE}: array {key!r} has shape {arr.shape}, "
                           f"expected {want}")
    return arr


# --------------------------------------------------------------------------- registry


BEHAVIOUR_MODELS: dict[str, str] = {
    "ease": "encoders.behaviour.ease:EASEModel",
    "als": "encoders.behaviour.als:ALSModel",
    "itemknn": "encoders.behaviour.itemknn:ItemKNNModel",
    "sasrec": "encoders.behaviour.sasrec:SASRecModel",
}
"""Model name -> ``module:Class``; imported on use, so torch and implicit load only when
their model is built. A new model is one class and one line here."""

_WRAPPERS: dict[str, str] = {
    "content": "encoders.behaviour.content:ContentBackedModel",
}
"""Saved wrappers around a registered model (loadable, not buildable by name alone)."""


def behaviour_model_class(name: str) -> type[BaseBehaviourModel]:
    """The class registered under ``name``.

    Raises:
        ConfigError: unknown name; the message lists the valid ones.

    """
    if not isinstance(name, str) or name.lower() not in BEHAVIOUR_MODELS:
        raise ConfigError(f"unknown behaviour model {name!r}; choose one of: "
                          f"{', '.join(BEHAVIOUR_MODELS)}")
    module, _, cls = BEHAVIOUR_MODELS[name.lower()].partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def make_behaviour_model(name: str, **config: Any) -> BaseBehaviourModel:
    """Build an unfitted model by registry name with keyword hyperparameters.

    Raises:
        ConfigError: unknown model (the valid names are listed) or unknown / invalid argument
            (the valid arguments are listed).

    """
    return behaviour_model_class(name)(**config)


def load_behaviour_model(folder: Path) -> BaseBehaviourModel:
    """Load whichever registered model was saved in ``folder``.

    Raises:
        EncoderError: see :meth:`BaseBehaviourModel.load`; also an unregistered model name.

    """
    saved = read_model_files(Path(folder))
    if saved.model in _WRAPPERS:
        module, _, name = _WRAPPERS[saved.model].partition(":")
        cls = getattr(importlib.import_module(module), name)
    else:
        try:
            cls = behaviour_model_class(saved.model)
        except ConfigError as exc:
            raise EncoderError(f"{Path(folder) / CONFIG_FILE}: {exc}") from exc
    return cls.load(Path(folder))  # type: ignore[no-any-return]


def choose_item_model(n_items: int, *, ease_max_items: int = EASE_MAX_ITEMS) -> str:
    """Registry name of the item-item model for a catalog of ``n_items``.

    ``"ease"`` up to ``ease_max_items`` (default :data:`EASE_MAX_ITEMS`, 20,000) items,
    ``"als"`` above, like the vector index's ``"auto"`` spec.

    Raises:
        ConfigError: ``n_items`` or ``ease_max_items`` is not a positive int.

    """
    for name, v in (("n_items", n_items), ("ease_max_items", ease_max_items)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ConfigError(f"{name} must be a positive int, got {v!r}")
    return "ease" if n_items <= ease_max_items else "als"
