"""The product vector index: FAISS behind one small class.

Vectors are L2-normalised on the way in and compared by inner product, so scores are cosine
similarities in ``[-1, 1]``. Product ids are strings; FAISS sees int64 *slot* numbers
(``faiss.IndexIDMap2`` for flat and HNSW indexes, the native ids of IVF indexes).

Index type (``spec``):

* ``"auto"`` (default): exact ``IndexFlatIP`` while the index holds fewer than
  ``auto_threshold`` (50,000) items; the add that crosses it rebuilds the index as
  ``"HNSW32"``. It never switches back.
* any FAISS factory string (``"Flat"``, ``"HNSW16"``, ``"IVF1024,PQ32"``...) is passed to
  ``faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)`` unchanged. Indexes that
  need training (IVF, PQ) are trained on the vectors of the first ``add``.

Removal: flat and IVF indexes remove vectors for real. HNSW graphs cannot, so a removed
item becomes a *tombstone*: it stays in the graph, every search filters it out, and once
tombstones exceed ``tombstone_fraction`` (25%) of the graph the whole index is rebuilt from
the live vectors. ``upsert`` is remove + add.

Filtered search (``SearchFilter``) still returns ``k`` results when at least ``k`` items
pass. When few items pass (``<= exact_threshold``, 2,048 by default) the index computes
exact dot products over just those items. Otherwise a flat index searches with a FAISS
``IDSelectorBitmap`` (exact), HNSW searches with the selector and a widened ``efSearch``
and IVF with the selector and a widened ``nprobe``; rows that still come back short are
retried wider and finally answered exactly. Other index types over-fetch and post-filter.

Files (``save``/``load``): ``index.faiss`` (``faiss.write_index`` format), ``meta.json``
(dimension, spec, model names, count, per-item ids and metadata, SHA-256 of every side
file, format version) and, only for index types that cannot reconstruct vectors,
``vectors.npy`` (float32, loaded with ``allow_pickle=False``). Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from encoders.artefacts import (
    MAX_DIM,
    Fields,
    check_finite,
    check_text,
    read_json_object,
    read_npy_bytes,
    safe_repr,
)
from encoders.errors import ConfigError, IndexError_
from index.records import ItemMeta, SearchFilter

FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
META_FILE = "meta.json"
VECTORS_FILE = "vectors.npy"
AUTO_HNSW_SPEC = "HNSW32"
"""What ``spec="auto"`` becomes at ``auto_threshold`` items."""

DEFAULT_EF_CONSTRUCTION = 80
DEFAULT_EF_SEARCH = 64
DEFAULT_NPROBE = 16
SMALL_BATCH = 4
"""Searches of at most this many queries run FAISS on one thread."""
_DEFAULT_META = ItemMeta(category="", price=0.0, in_stock=True)


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - faiss-cpu is a core dependency
        raise IndexError_("faiss is not installed; install it with: pip install faiss-cpu") from exc
    return faiss


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    # faiss errors read "Error in <C++ signature> at <file>:<line>: <message>"; keep the message.
    last = text[-1] if text else type(exc).__name__
    return last.split(": ", 1)[-1] if last.startswith("Error in") else last


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class VectorIndex:
    """A FAISS vector index keyed by string product ids, with per-item metadata and filters.

    Args:
        dim: Vector dimension ``d``.
        spec: ``"auto"`` or a FAISS factory string (see the module docstring).
        model_names: The encoders that made the vectors, e.g. ``{"text": "all-MiniLM-L6-v2"}``;
            saved with the index and checked by ``load(expect_models=...)``.
        ef_construction: HNSW build breadth (``efConstruction``) for HNSW indexes.
        ef_search: HNSW search breadth (``efSearch``); searches use ``max(ef_search, k)``.
        nprobe: IVF lists visited per query (capped at the number of lists).
        exact_threshold: When at most this many items pass a filter, search them exactly.
        auto_threshold: Item count at which ``spec="auto"`` switches from exact to HNSW.
        tombstone_fraction: Rebuild an HNSW index once this fraction of it is tombstones.

    Not thread-safe for writers: serialise ``add``/``upsert``/``remove`` with searches.
    """

    def __init__(
        self,
        dim: int,
        spec: str = "auto",
        model_names: Mapping[str, str] | None = None,
        *,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        nprobe: int = DEFAULT_NPROBE,
        exact_threshold: int = 2048,
        auto_threshold: int = 50_000,
        tombstone_fraction: float = 0.25,
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim <= 0:
            raise ConfigError(f"dim must be a positive integer; got {dim!r}")
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(f"spec must be 'auto' or a FAISS factory string; got {spec!r}")
        for name, value in (
            ("ef_construction", ef_construction),
            ("ef_search", ef_search),
            ("nprobe", nprobe),
            ("auto_threshold", auto_threshold),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1; got {value!r}")
        if (
            isinstance(exact_threshold, bool)
            or not isinstance(exact_threshold, int | np.integer)
            or exact_threshold < 0
        ):
            raise ConfigError(f"exact_threshold must be an integer >= 0; got {exact_threshold!r}")
        if not 0.0 < float(tombstone_fraction) <= 1.0:
            raise ConfigError(f"tombstone_fraction must be in (0, 1]; got {tombstone_fraction!r}")
        self._dim = int(dim)
        self._spec = spec.strip()
        self._model_names = self._check_model_names(model_names)
        self._ef_construction = int(ef_construction)
        self._ef_search = int(ef_search)
        self._nprobe = int(nprobe)
        self.exact_threshold = int(exact_threshold)
        self._auto_threshold = int(auto_threshold)
        self._tombstone_fraction = float(tombstone_fraction)
        self._resolved = "Flat" if self._spec.lower() == "auto" else self._spec
        self._index = self._make_index(self._resolved)
        self._removable = self._kind() != "hnsw"
        self._init_slots(0)

    # ------------------------------------------------------------------ properties

    @property
    def dim(self) -> int:
        """Vector dimension ``d``."""
        return self._dim

    @property
    def spec(self) -> str:
        """The spec this index was created with (``"auto"`` or a factory string)."""
        return self._spec

    @property
    def resolved_spec(self) -> str:
        """The factory string of the FAISS index in use now (``"auto"`` resolved)."""
        return self._resolved

    @property
    def model_names(self) -> dict[str, str]:
        """The encoder names saved with the index (a copy)."""
        return dict(self._model_names)

    @property
    def ids(self) -> list[str]:
        """Product ids in the index, in insertion order."""
        n = self._n_slots
        return self._slot_pid[:n][self._alive[:n]].tolist()

    @property
    def faiss_index(self) -> Any:
        """The underlying FAISS index (read it; changing it bypasses the id bookkeeping)."""
        return self._index

    def __len__(self) -> int:
        return len(self._pid_slot)

    def __contains__(self, product_id: object) -> bool:
        return isinstance(product_id, str) and product_id in self._pid_slot

    def __repr__(self) -> str:
        return (
            f"VectorIndex(dim={self._dim}, spec={self._spec!r}, resolved={self._resolved!r}, "
            f"items={len(self)})"
        )

    def set_search_params(self, *, ef_search: int | None = None, nprobe: int | None = None) -> None:
        """Change HNSW ``efSearch`` and/or IVF ``nprobe`` for later searches."""
        for name, value in (("ef_search", ef_search), ("nprobe", nprobe)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1
            ):
                raise ConfigError(f"{name} must be an integer >= 1; got {value!r}")
        if ef_search is not None:
            self._ef_search = int(ef_search)
        if nprobe is not None:
            self._nprobe = int(nprobe)
        self._apply_search_params()

    # ------------------------------------------------------------------ faiss plumbing

    def _make_index(self, spec: str) -> Any:
        faiss = _faiss()
        try:
            base = faiss.index_factory(self._dim, spec, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ConfigError(
                f"spec {spec!r} is not a FAISS factory string faiss can build for dim "
                f"{self._dim}: {_first_line(exc)} "
                "(use 'auto', 'Flat', 'HNSW32', 'IVF1024,Flat', ...)"
            ) from exc
        if faiss.try_extract_index_ivf(base) is not None:
            index = base  # IVF stores our int64 ids natively
        elif isinstance(base, faiss.IndexIDMap | faiss.IndexIDMap2):
            index = base
        else:
            index = faiss.IndexIDMap2(base)
        self._index = index
        self._configure(build=True)
        return index

    def _configure(self, build: bool) -> None:
        """Set the per-type knobs of a fresh or freshly loaded FAISS index."""
        faiss = _faiss()
        ivf = faiss.try_extract_index_ivf(self._index)
        if ivf is not None and ivf.direct_map.type != faiss.DirectMap.Hashtable:
            # a hashtable direct map lets IVF remove and reconstruct by arbitrary id
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        inner = self._inner()
        if build and isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efConstruction = self._ef_construction
        self._apply_search_params()

    def _apply_search_params(self) -> None:
        faiss = _faiss()
        inner = self._inner()
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efSearch = self._ef_search
        ivf = faiss.try_extract_index_ivf(self._index)
        if ivf is not None:
            ivf.nprobe = min(self._nprobe, ivf.nlist)

    def _inner(self) -> Any:
        faiss = _faiss()
        index = self._index
        if isinstance(index, faiss.IndexIDMap | faiss.IndexIDMap2):
            index = faiss.downcast_index(index.index)
        return index

    def _kind(self) -> str:
        """``flat`` (exact), ``hnsw``, ``ivf`` (selector-capable IVF) or ``other``."""
        faiss = _faiss()
        inner = self._inner()
        if isinstance(inner, faiss.IndexFlat):
            return "flat"
        if isinstance(inner, faiss.IndexHNSW):
            return "hnsw"
        if isinstance(inner, faiss.IndexIVF):
            return "ivf"
        return "other"

    # ------------------------------------------------------------------ slot bookkeeping

    def _init_slots(self, capacity: int) -> None:
        cap = max(capacity, 16)
        self._n_slots = 0
        self._slot_pid = np.empty(cap, dtype=object)
        self._cat = np.zeros(cap, dtype=np.int32)
        self._price = np.zeros(cap, dtype=np.float64)
        self._stock = np.zeros(cap, dtype=bool)
        self._alive = np.zeros(cap, dtype=bool)
        self._pid_slot: dict[str, int] = {}
        self._categories: list[str] = []
        self._cat_code: dict[str, int] = {}
        self._copy: np.ndarray | None = None  # float32 vectors, only if reconstruct is unavailable
        self._can_reconstruct: bool | None = None  # decided on the first add
        self._n_tomb = 0

    def _grow(self, needed: int) -> None:
        cap = len(self._slot_pid)
        if needed <= cap:
            return
        new_cap = max(needed, cap * 2)
        for name in ("_slot_pid", "_cat", "_price", "_stock", "_alive"):
            old = getattr(self, name)
            new = (
                np.zeros(new_cap, dtype=old.dtype)
                if old.dtype != object
                else np.empty(new_cap, dtype=object)
            )
            new[: self._n_slots] = old[: self._n_slots]
            setattr(self, name, new)
        if self._copy is not None:
            new_copy = np.zeros((new_cap, self._dim), dtype=np.float32)
            new_copy[: self._n_slots] = self._copy[: self._n_slots]
            self._copy = new_copy

    def _code(self, category: str) -> int:
        code = self._cat_code.get(category)
        if code is None:
            code = len(self._categories)
            self._categories.append(category)
            self._cat_code[category] = code
        return code

    def _append(self, pids: list[str], metas: list[ItemMeta], vecs: np.ndarray) -> np.ndarray:
        n = len(pids)
        start = self._n_slots
        self._grow(start + n)
        end = start + n
        self._slot_pid[start:end] = pids
        self._cat[start:end] = [self._code(m.category) for m in metas]
        self._price[start:end] = [m.price for m in metas]
        self._stock[start:end] = [m.in_stock for m in metas]
        self._alive[start:end] = True
        if self._copy is not None:
            self._copy[start:end] = vecs
        self._pid_slot.update(zip(pids, range(start, end), strict=True))
        self._n_slots = end
        return np.arange(start, end, dtype=np.int64)

    def _get_vectors(self, slots: np.ndarray) -> np.ndarray:
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots) == 0:
            return np.zeros((0, self._dim), dtype=np.float32)
        if self._copy is not None:
            return self._copy[slots].copy()
        return np.asarray(self._index.reconstruct_batch(slots), dtype=np.float32)

    # ------------------------------------------------------------------ input checks

    @staticmethod
    def _check_model_names(model_names: Mapping[str, str] | None) -> dict[str, str]:
        if model_names is None:
            return {}
        if not isinstance(model_names, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in model_names.items()
        ):
            raise ConfigError(
                "model_names must map role to model name as strings, e.g. "
                f"{{'text': 'all-MiniLM-L6-v2'}}; got {model_names!r}"
            )
        return dict(model_names)

    @staticmethod
    def _check_ids(ids: Iterable[str], name: str) -> list[str]:
        if isinstance(ids, str):
            raise ConfigError(f"{name} must be a list of product ids, not a single string {ids!r}")
        try:
            pids = list(ids)
        except TypeError as exc:
            raise ConfigError(f"{name} must be a list of product ids; got {ids!r}") from exc
        for pid in pids:
            if not isinstance(pid, str) or not pid:
                raise ConfigError(f"{name} must hold non-empty strings; got {pid!r}")
        if len(set(pids)) != len(pids):
            seen: set[str] = set()
            dups = sorted({p for p in pids if p in seen or seen.add(p)})  # type: ignore[func-returns-value]
            raise ConfigError(
                f"{name} holds duplicate product ids: {', '.join(map(repr, dups[:5]))}"
            )
        return pids

    def _check_vectors(
        self, vectors: object, name: str, *, n: int | None = None, allow_zero: bool
    ) -> np.ndarray:
        try:
            arr = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be a float array of shape (n, {self._dim})") from exc
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self._dim:
            raise ConfigError(
                f"{name} must have shape (n, {self._dim}) or ({self._dim},); "
                f"got {np.shape(vectors)}"
            )
        if n is not None and arr.shape[0] != n:
            raise ConfigError(f"{name} has {arr.shape[0]} rows but {n} ids were given")
        finite = np.isfinite(arr).all(axis=1)
        if not finite.all():
            raise ConfigError(f"{name} row {int(np.argmin(finite))} holds NaN or infinite values")
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        zero = norms[:, 0] == 0
        if zero.any() and not allow_zero:
            raise ConfigError(
                f"{name} row {int(np.argmax(zero))} is all zeros and cannot be normalised"
            )
        norms[norms == 0] = 1.0
        return np.ascontiguousarray(arr / norms, dtype=np.float32)

    @staticmethod
    def _check_metas(metas: Sequence[ItemMeta] | None, n: int) -> list[ItemMeta]:
        if metas is None:
            return [_DEFAULT_META] * n
        metas = list(metas)
        if len(metas) != n:
            raise ConfigError(f"metas has {len(metas)} entries but {n} ids were given")
        for i, m in enumerate(metas):
            if not isinstance(m, ItemMeta):
                raise ConfigError(f"metas[{i}] must be an index.ItemMeta; got {type(m).__name__}")
        return metas

    def _slot_of(self, product_id: object, name: str) -> int:
        slot = self._pid_slot.get(product_id) if isinstance(product_id, str) else None
        if slot is None:
            raise IndexError_(f"{name}: unknown product id {product_id!r} (not in the index)")
        return slot

    # ------------------------------------------------------------------ writes

    def add(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        metas: Sequence[ItemMeta] | None = None,
    ) -> None:
        """Add new items.

        Args:
            ids: ``n`` product ids, none already in the index (use ``upsert`` to replace).
            vectors: float array ``(n, d)``; L2-normalised here, zero rows rejected.
            metas: ``n`` ``ItemMeta`` records; ``None`` gives every item
                ``ItemMeta(category="", price=0.0, in_stock=True)``.

        Raises:
            ConfigError: malformed ids, vectors or metas (the message names the argument).
            IndexError_: an id is already in the index.
        """
        pids = self._check_ids(ids, "ids")
        vecs = self._check_vectors(vectors, "vectors", n=len(pids), allow_zero=False)
        metas_ = self._check_metas(metas, len(pids))
        present = [p for p in pids if p in self._pid_slot]
        if present:
            raise IndexError_(
                f"ids: {len(present)} product id(s) already in the index, e.g. "
                f"{', '.join(map(repr, present[:5]))}; use upsert() to replace them"
            )
        if not pids:
            return
        self._add_vectors(pids, vecs, metas_)
        if (
            self._spec.lower() == "auto"
            and self._resolved == "Flat"
            and len(self) >= self._auto_threshold
        ):
            self._rebuild(spec=AUTO_HNSW_SPEC)

    def _add_vectors(self, pids: list[str], vecs: np.ndarray, metas: list[ItemMeta]) -> None:
        if not self._index.is_trained:
            try:
                self._index.train(vecs)
            except RuntimeError as exc:
                raise ConfigError(
                    f"spec {self._resolved!r} needs training and the first add gave only "
                    f"{len(vecs)} vectors: {_first_line(exc)}; add more vectors in the first call "
                    "or choose a smaller index (e.g. fewer IVF lists)"
                ) from exc
        first_slot = self._n_slots
        slots = np.arange(first_slot, first_slot + len(pids), dtype=np.int64)
        try:
            self._index.add_with_ids(vecs, slots)
        except RuntimeError as exc:
            raise IndexError_(f"FAISS could not add the vectors: {_first_line(exc)}") from exc
        if self._can_reconstruct is None:
            try:
                self._index.reconstruct(int(slots[0]))
                self._can_reconstruct = True
            except RuntimeError:
                self._can_reconstruct = False
                self._copy = np.zeros((len(self._slot_pid), self._dim), dtype=np.float32)
        self._append(pids, metas, vecs)

    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        metas: Sequence[ItemMeta] | None = None,
    ) -> None:
        """Add items, replacing the vector and metadata of ids already in the index."""
        pids = self._check_ids(ids, "ids")
        vecs = self._check_vectors(vectors, "vectors", n=len(pids), allow_zero=False)
        metas_ = self._check_metas(metas, len(pids))
        present = [p for p in pids if p in self._pid_slot]
        if present:
            self.remove(present)
        self.add(pids, vecs, metas_)

    def remove(self, ids: Sequence[str]) -> None:
        """Remove items by product id.

        Raises:
            IndexError_: an id is not in the index (nothing is removed then).
        """
        pids = self._check_ids(ids, "ids")
        missing = [p for p in pids if p not in self._pid_slot]
        if missing:
            raise IndexError_(
                f"ids: {len(missing)} unknown product id(s), e.g. "
                f"{', '.join(map(repr, missing[:5]))} (not in the index; nothing was removed)"
            )
        if not pids:
            return
        slots = np.array([self._pid_slot[p] for p in pids], dtype=np.int64)
        if self._removable:
            faiss = _faiss()
            try:
                self._index.remove_ids(faiss.IDSelectorBatch(slots))
            except RuntimeError:
                self._removable = False  # this index type cannot remove: use tombstones
        if not self._removable:
            self._n_tomb += len(slots)
        for p in pids:
            del self._pid_slot[p]
        self._alive[slots] = False
        self._slot_pid[slots] = None
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        ntotal = int(self._index.ntotal)
        if self._n_tomb and self._n_tomb > self._tombstone_fraction * ntotal:
            self._rebuild()
        elif self._n_slots > 4096 and len(self) < self._n_slots // 2:
            self._rebuild()  # keep slot numbers (and filter bitmaps) dense

    def _rebuild(self, spec: str | None = None) -> None:
        """Rebuild the FAISS index from the live vectors; renumbers slots densely."""
        faiss = _faiss()
        n = self._n_slots
        live = np.flatnonzero(self._alive[:n])
        vecs = self._get_vectors(live)
        pids = self._slot_pid[live].tolist()
        metas = [
            ItemMeta(self._categories[c], float(p), bool(s))
            for c, p, s in zip(self._cat[live], self._price[live], self._stock[live], strict=True)
        ]
        if (
            spec is None
            and not faiss.index_factory(
                self._dim, self._resolved, faiss.METRIC_INNER_PRODUCT
            ).is_trained
        ):
            # keep the trained quantizer / codebooks: clone and empty the index
            fresh = faiss.clone_index(self._index)
            fresh.reset()
            self._index = fresh
            self._configure(build=False)
        else:
            self._resolved = spec or self._resolved
            self._index = self._make_index(self._resolved)
        self._removable = self._kind() != "hnsw"
        self._init_slots(len(pids))
        if pids:
            self._add_vectors(pids, vecs, metas)

    # ------------------------------------------------------------------ reads

    def vector(self, product_id: str) -> np.ndarray:
        """The stored (L2-normalised) vector of one item, shape ``(d,)`` float32."""
        return self._get_vectors(np.array([self._slot_of(product_id, "product_id")]))[0]

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of several items, shape ``(n, d)`` float32, in the order given."""
        if isinstance(ids, str):
            raise ConfigError(f"ids must be a list of product ids, not a single string {ids!r}")
        slots = np.array([self._slot_of(p, "ids") for p in ids], dtype=np.int64)
        return self._get_vectors(slots)

    def meta(self, product_id: str) -> ItemMeta:
        """The ``ItemMeta`` stored with one item."""
        slot = self._slot_of(product_id, "product_id")
        return ItemMeta(
            self._categories[int(self._cat[slot])],
            float(self._price[slot]),
            bool(self._stock[slot]),
        )

    def filtered_ids(self, filters: SearchFilter | None = None) -> list[str]:
        """Ids of the items a search with ``filters`` may return, in insertion order."""
        mask = self._filter_mask(filters)
        if mask is None:
            return self.ids
        return self._slot_pid[: self._n_slots][mask].tolist()

    def _filter_mask(self, filters: SearchFilter | None) -> np.ndarray | None:
        """Boolean mask over slots of items that may be returned; None when all live items may."""
        if (filters is None or filters.is_empty) and self._n_tomb == 0:
            return None
        n = self._n_slots
        mask = self._alive[:n].copy()
        if filters is None:
            return mask
        if filters.categories is not None:
            codes = [self._cat_code[c] for c in filters.categories if c in self._cat_code]
            mask &= np.isin(self._cat[:n], np.array(codes, dtype=np.int32))
        if filters.min_price is not None:
            mask &= self._price[:n] >= filters.min_price
        if filters.max_price is not None:
            mask &= self._price[:n] <= filters.max_price
        if filters.in_stock_only:
            mask &= self._stock[:n]
        for pid in filters.exclude_ids:
            slot = self._pid_slot.get(pid)
            if slot is not None:
                mask[slot] = False
        return mask

    def search(
        self,
        queries: np.ndarray,
        k: int,
        filters: SearchFilter | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Find the ``k`` items most similar to each query.

        Args:
            queries: float array ``(q, d)``, or ``(d,)`` for one query (answered as ``q=1``).
                Normalised here; an all-zero query scores 0 against everything.
            k: results per query, ``>= 1``.
            filters: which items may be returned; ``None`` for all.

        Returns:
            ``(ids, scores)``: ``ids`` an object array ``(q, k)`` of product-id strings and
            ``scores`` float32 ``(q, k)`` inner products (cosine similarity), each row sorted
            by descending score. Rows are padded with ``None`` / ``-inf`` only when fewer than
            ``k`` items pass the filters.

        Raises:
            ConfigError: bad ``queries`` (shape, NaN), ``k`` or ``filters``.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError(f"k must be an integer >= 1; got {k!r}")
        k = int(k)
        if filters is not None and not isinstance(filters, SearchFilter):
            raise ConfigError(
                f"filters must be an index.SearchFilter or None; got {type(filters).__name__}"
            )
        qs = self._check_vectors(queries, "queries", allow_zero=True)
        nq = len(qs)
        out_ids = np.full((nq, k), None, dtype=object)
        out_scores = np.full((nq, k), -np.inf, dtype=np.float32)
        if len(self) == 0 or nq == 0:
            return out_ids, out_scores
        if nq > SMALL_BATCH:
            return self._search(qs, k, filters, out_ids, out_scores)
        # A few queries finish faster on one thread: OpenMP's hand-off costs more than the
        # search (measured 15 ms vs 0.3 ms for one query over 2k items on a busy 2-core box).
        faiss = _faiss()
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._search(qs, k, filters, out_ids, out_scores)
        finally:
            faiss.omp_set_num_threads(before)

    def _search(
        self,
        qs: np.ndarray,
        k: int,
        filters: SearchFilter | None,
        out_ids: np.ndarray,
        out_scores: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        mask = self._filter_mask(filters)
        if mask is None:
            scores, labels = self._index.search(qs, k)
        else:
            n_pass = int(mask.sum())
            if n_pass == 0:
                return out_ids, out_scores
            if n_pass <= max(self.exact_threshold, k):
                scores, labels = self._exact(qs, k, np.flatnonzero(mask))
            else:
                scores, labels = self._search_selected(qs, k, mask, n_pass)
        found = labels >= 0
        out_ids[found] = self._slot_pid[labels[found]]
        out_scores[found] = scores[found]
        return out_ids, out_scores

    def _exact(self, qs: np.ndarray, k: int, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the given slots; labels ``-1`` / scores ``-inf`` pad short rows."""
        nq = len(qs)
        scores = np.full((nq, k), -np.inf, dtype=np.float32)
        labels = np.full((nq, k), -1, dtype=np.int64)
        if len(slots) == 0:
            return scores, labels
        sims = qs @ self._get_vectors(slots).T  # (q, m)
        kk = min(k, len(slots))
        if kk < len(slots):
            top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        else:
            top = np.broadcast_to(np.arange(len(slots)), (nq, kk))
        top_s = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_s, axis=1, kind="stable")
        scores[:, :kk] = np.take_along_axis(top_s, order, axis=1)
        labels[:, :kk] = slots[np.take_along_axis(top, order, axis=1)]
        return scores, labels

    def _search_selected(
        self, qs: np.ndarray, k: int, mask: np.ndarray, n_pass: int
    ) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        bitmap = np.packbits(mask, bitorder="little")
        sel = faiss.IDSelectorBitmap(bitmap)
        kind = self._kind()
        ntotal = max(int(self._index.ntotal), 1)
        if kind == "flat":  # exact: the selector gives the filtered top-k directly
            params = faiss.SearchParameters(sel=sel)
            return self._index.search(qs, k, params=params)
        scores = np.full((len(qs), k), -np.inf, dtype=np.float32)
        labels = np.full((len(qs), k), -1, dtype=np.int64)
        pending = np.arange(len(qs))
        # expected share of visited items that pass, widened 2x for safety
        widen = 2.0 * ntotal / n_pass
        if kind == "hnsw":
            ef = max(self._ef_search, math.ceil(k * widen))
            while len(pending) and ef <= max(4096, 4 * k):
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
                s, lab = self._index.search(qs[pending], k, params=params)
                pending = self._keep(scores, labels, pending, s, lab)
                ef *= 4
        elif kind == "ivf":
            ivf = faiss.try_extract_index_ivf(self._index)
            nprobe = min(ivf.nlist, max(self._nprobe, math.ceil(self._nprobe * widen / 2)))
            while len(pending):
                params = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)
                s, lab = self._index.search(qs[pending], k, params=params)
                pending = self._keep(scores, labels, pending, s, lab)
                if nprobe >= ivf.nlist:
                    break
                nprobe = min(ivf.nlist, nprobe * 4)
        else:  # no selector support known: over-fetch and post-filter
            fetch = min(ntotal, math.ceil(k * widen))
            while len(pending):
                s, lab = self._index.search(qs[pending], fetch)
                ok = (lab >= 0) & mask[np.clip(lab, 0, len(mask) - 1)] & (lab < len(mask))
                s2 = np.full((len(pending), k), -np.inf, dtype=np.float32)
                l2 = np.full((len(pending), k), -1, dtype=np.int64)
                for row in range(len(pending)):
                    take = np.flatnonzero(ok[row])[:k]
                    s2[row, : len(take)] = s[row, take]
                    l2[row, : len(take)] = lab[row, take]
                pending = self._keep(scores, labels, pending, s2, l2)
                if fetch >= ntotal:
                    break
                fetch = min(ntotal, fetch * 4)
        if len(pending):  # still short after widening: answer those rows exactly
            s, lab = self._exact(qs[pending], k, np.flatnonzero(mask))
            scores[pending], labels[pending] = s, lab
        return scores, labels

    @staticmethod
    def _keep(
        scores: np.ndarray,
        labels: np.ndarray,
        pending: np.ndarray,
        s: np.ndarray,
        lab: np.ndarray,
    ) -> np.ndarray:
        """Store the rows that came back full; return the rows still short of k results."""
        full = (lab >= 0).all(axis=1)
        scores[pending[full]] = s[full]
        labels[pending[full]] = lab[full]
        return pending[~full]

    # ------------------------------------------------------------------ persistence

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``index.faiss``, ``meta.json`` (and ``vectors.npy`` if needed) into ``folder``.

        Files are written atomically (temp file + rename), ``meta.json`` last.

        Returns:
            The folder path.
        """
        faiss = _faiss()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        raw = faiss.serialize_index(self._index).tobytes()
        files: dict[str, dict[str, Any]] = {
            "index": {"name": INDEX_FILE, "sha256": _sha256(raw), "bytes": len(raw)}
        }
        _write_atomic(folder / INDEX_FILE, raw)
        n = self._n_slots
        if self._copy is not None:
            import io

            buf = io.BytesIO()
            np.save(buf, self._copy[:n], allow_pickle=False)
            vraw = buf.getvalue()
            files["vectors"] = {"name": VECTORS_FILE, "sha256": _sha256(vraw), "bytes": len(vraw)}
            _write_atomic(folder / VECTORS_FILE, vraw)
        elif (folder / VECTORS_FILE).exists():
            (folder / VECTORS_FILE).unlink()
        live = np.flatnonzero(self._alive[:n])
        items = {
            "ids": self._slot_pid[live].tolist(),
            "slots": live.tolist(),
            "category": [self._categories[c] for c in self._cat[live]],
            "price": self._price[live].tolist(),
            "in_stock": self._stock[live].tolist(),
        }
        meta = {
            "format": "shelfwise.VectorIndex",
            "format_version": FORMAT_VERSION,
            "dimension": self._dim,
            "spec": self._spec,
            "resolved_spec": self._resolved,
            "model_names": self._model_names,
            "count": len(self),
            "ntotal": int(self._index.ntotal),
            "next_slot": n,
            "params": {
                "ef_construction": self._ef_construction,
                "ef_search": self._ef_search,
                "nprobe": self._nprobe,
                "exact_threshold": self.exact_threshold,
                "auto_threshold": self._auto_threshold,
                "tombstone_fraction": self._tombstone_fraction,
            },
            "files": files,
            "items_sha256": _sha256(_canonical(items)),
            "items": items,
        }
        _write_atomic(folder / META_FILE, json.dumps(meta, indent=1).encode("utf-8"))
        return folder

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike[str],
        expect_dim: int | None = None,
        expect_models: Mapping[str, str] | None = None,
    ) -> VectorIndex:
        """Load an index written by ``save``, validating every field before using it.

        ``meta.json`` must be a JSON object with exactly the fields ``save`` writes, of their
        types: a dimension in ``[1, MAX_DIM]``, counts ``0 <= count <= ntotal <= next_slot``,
        a spec FAISS can build for that dimension (numbers in it at most
        ``MAX_SPEC_NUMBER``) and of the same kind as the stored index, search parameters in
        range, item lists of ``count`` entries (unique non-empty ids, unique slots below
        ``next_slot``, string categories, finite non-negative prices, boolean stock), and
        SHA-256 checksums that match the item list and every side file.

        Args:
            folder: the folder ``save`` wrote.
            expect_dim: if given, the dimension the caller's encoders produce.
            expect_models: if given, the encoder names the caller uses (compared exactly).

        Raises:
            IndexError_: a file is missing, truncated or corrupt, a field is missing, of the
                wrong type or out of range, or the index does not match ``expect_dim`` /
                ``expect_models``. The message names the file and the field.
        """
        faiss = _faiss()
        folder = Path(folder)
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise IndexError_(
                f"{meta_path} is missing: {folder} does not hold a saved index "
                "(build it first, e.g. `shelfwise index build`)"
            )
        m = _read_meta(meta_path)
        dim, count, ntotal, next_slot = m["dimension"], m["count"], m["ntotal"], m["next_slot"]
        if expect_dim is not None and dim != expect_dim:
            raise IndexError_(
                f"index at {folder} has dimension {dim} but the encoders produce {expect_dim}; "
                "rebuild the index with the current encoders"
            )
        if expect_models is not None and m["model_names"] != dict(expect_models):
            raise IndexError_(
                f"index at {folder} was built with models {m['model_names']} but the encoders "
                f"in use are {dict(expect_models)}; rebuild the index with the current encoders"
            )
        ids, slot_arr, categories, prices, stock = _check_items(m["items"], meta_path, count,
                                                                next_slot)
        if _sha256(_canonical(m["items"])) != m["items_sha256"]:
            raise IndexError_(f"{meta_path}: the item list fails its checksum (corrupt file)")
        raw = _read_checked(folder, m["files"]["index"], "index")
        try:
            index = faiss.deserialize_index(np.frombuffer(raw, dtype=np.uint8))
        except (RuntimeError, MemoryError) as exc:
            raise IndexError_(
                f"{folder / INDEX_FILE} cannot be read by FAISS: {_first_line(exc)}"
            ) from exc
        if index.d != dim:
            raise IndexError_(
                f"{folder / INDEX_FILE} has dimension {index.d} but {META_FILE} says {dim}"
            )
        if index.ntotal != ntotal:
            raise IndexError_(
                f"{folder / INDEX_FILE} holds {index.ntotal} vectors but {META_FILE} says {ntotal}"
            )
        kind = _index_kind(index)
        if kind != m["resolved_kind"]:
            raise IndexError_(
                f"{meta_path}: field 'resolved_spec' is {m['resolved_spec']!r} (a "
                f"{m['resolved_kind']} index) but {INDEX_FILE} holds a {kind} index"
            )
        if kind == "flat" and ntotal != count:
            raise IndexError_(
                f"{meta_path}: field 'ntotal' is {ntotal} but a {kind} index holds exactly its "
                f"{count} live items"
            )
        _check_faiss_ids(index, slot_arr, kind, folder / INDEX_FILE, next_slot)

        self = cls.__new__(cls)
        self._dim = dim
        self._spec, self._resolved = m["spec"], m["resolved_spec"]
        self._model_names = m["model_names"]
        params = m["params"]
        self._ef_construction = params["ef_construction"]
        self._ef_search = params["ef_search"]
        self._nprobe = params["nprobe"]
        self.exact_threshold = params["exact_threshold"]
        self._auto_threshold = params["auto_threshold"]
        self._tombstone_fraction = params["tombstone_fraction"]
        self._index = index
        self._configure(build=False)
        # an index that held tombstones when saved (HNSW, or a type whose remove failed)
        # keeps filtering them
        self._removable = self._kind() != "hnsw" and ntotal == count
        self._init_slots(next_slot)
        self._n_slots = next_slot
        self._slot_pid[slot_arr] = ids
        self._cat[slot_arr] = [self._code(c) for c in categories]
        self._price[slot_arr] = prices
        self._stock[slot_arr] = stock
        self._alive[slot_arr] = True
        self._pid_slot = dict(zip(ids, slot_arr.tolist(), strict=True))
        self._n_tomb = ntotal - count if not self._removable else 0
        self._can_reconstruct = True if count or ntotal else None
        if "vectors" in m["files"]:
            vraw = _read_checked(folder, m["files"]["vectors"], "vectors")
            copy = read_npy_bytes(vraw, str(folder / VECTORS_FILE), IndexError_,
                                  shape=(next_slot, dim), dtype=np.float32)
            check_finite({VECTORS_FILE: copy}, str(folder), IndexError_, what="file")
            self._copy = np.zeros((len(self._slot_pid), dim), dtype=np.float32)
            self._copy[:next_slot] = copy
            self._can_reconstruct = False
        return self


MAX_SPEC_NUMBER = 1 << 20
"""Largest number a saved FAISS factory string may contain (e.g. ``IVF1048576``)."""
MAX_ITEMS = 1 << 31
"""Largest item count or slot number a saved index may declare."""
MAX_META_BYTES = 4 << 30
"""Largest ``meta.json`` accepted (4 GiB; about 60 bytes per item)."""
_MAX_SEARCH_PARAM = 1 << 20
_META_FIELDS = (
    "format", "format_version", "dimension", "spec", "resolved_spec", "model_names", "count",
    "ntotal", "next_slot", "params", "files", "items_sha256", "items",
)


def read_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated ``meta.json`` of a saved index, without reading the FAISS file.

    For callers that need the dimension or counts before loading the index (the checks are
    those of :meth:`VectorIndex.load`, less the side files').

    Returns:
        the fields of ``meta.json`` (``dimension``, ``count``, ``spec``, ``model_names``...).

    Raises:
        IndexError_: missing or invalid ``meta.json`` (the message names file and field).
    """
    meta_path = Path(folder) / META_FILE
    if not meta_path.is_file():
        raise IndexError_(
            f"{meta_path} is missing: {folder} does not hold a saved index "
            "(build it first, e.g. `shelfwise index build`)"
        )
    m = _read_meta(meta_path)
    _check_items(m["items"], meta_path, m["count"], m["next_slot"])
    if _sha256(_canonical(m["items"])) != m["items_sha256"]:
        raise IndexError_(f"{meta_path}: the item list fails its checksum (corrupt file)")
    return m


def _index_kind(index: Any) -> str:
    """``flat``, ``hnsw``, ``ivf`` or ``other`` of a FAISS index (through an id map)."""
    faiss = _faiss()
    if isinstance(index, faiss.IndexIDMap | faiss.IndexIDMap2):
        index = faiss.downcast_index(index.index)
    if isinstance(index, faiss.IndexFlat):
        return "flat"
    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(index, faiss.IndexIVF) or faiss.try_extract_index_ivf(index) is not None:
        return "ivf"
    return "other"


def check_spec(spec: str, dim: int, where: str) -> str:
    """The kind (see :func:`_index_kind`) of the FAISS factory string ``spec`` at ``dim``.

    Raises:
        IndexError_: not printable ASCII, a number above ``MAX_SPEC_NUMBER``, or a string
            ``faiss.index_factory`` cannot build for ``dim``; ``where`` names file and field.
    """
    faiss = _faiss()
    if not spec.strip() or not spec.isascii() or not spec.isprintable():
        raise IndexError_(f"{where} is {spec!r}, not a FAISS factory string")
    numbers = [int(n) for n in re.findall(r"\d+", spec)]
    if any(n > MAX_SPEC_NUMBER for n in numbers):
        raise IndexError_(
            f"{where} is {spec!r}: a number above {MAX_SPEC_NUMBER} is not a sane FAISS "
            "factory parameter"
        )
    try:
        built = faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
    except (RuntimeError, MemoryError) as exc:
        raise IndexError_(
            f"{where} is {spec!r}, which FAISS cannot build for dimension {dim}: "
            f"{_first_line(exc)}"
        ) from exc
    return _index_kind(built)


def _read_meta(meta_path: Path) -> dict[str, Any]:
    """Parse and validate ``meta.json``; returns its fields as checked Python values."""
    # float_check off for speed on large files: the only floats (prices, tombstone_fraction)
    # are each checked for finiteness below
    meta = read_json_object(meta_path, IndexError_, max_bytes=MAX_META_BYTES, float_check=False)
    if meta.get("format") != "shelfwise.VectorIndex":
        raise IndexError_(f"{meta_path} is not a shelfwise vector index meta file")
    version = meta.get("format_version")
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise IndexError_(
            f"{meta_path} has format_version {safe_repr(version)}; this shelfwise "
            f"reads version {FORMAT_VERSION} (rebuild the index)"
        )
    f = Fields(meta, str(meta_path), IndexError_)
    f.only(*_META_FIELDS)
    out: dict[str, Any] = {"dimension": f.get_int("dimension", 1, MAX_DIM)}
    dim = out["dimension"]
    out["spec"] = f.get_str("spec", max_len=200)
    out["resolved_spec"] = f.get_str("resolved_spec", max_len=200)
    if out["spec"].strip().lower() != "auto":
        check_spec(out["spec"], dim, f"{meta_path}: field 'spec'")
    out["resolved_kind"] = check_spec(out["resolved_spec"], dim, f"{meta_path}: field "
                                                                 "'resolved_spec'")
    names = f.get_obj("model_names")
    out["model_names"] = {}
    for key, _ in names.items():
        check_text(key, f"{meta_path}: a key of field 'model_names'", IndexError_)
        out["model_names"][key] = names.get_str(key)
    for key in ("count", "ntotal", "next_slot"):
        out[key] = f.get_int(key, 0, MAX_ITEMS)
    count, ntotal, next_slot = out["count"], out["ntotal"], out["next_slot"]
    if not count <= ntotal <= next_slot:
        raise IndexError_(
            f"{meta_path}: fields 'count' ({count}), 'ntotal' ({ntotal}) and 'next_slot' "
            f"({next_slot}) must satisfy count <= ntotal <= next_slot"
        )
    # slots stay dense: removals rebuild the index once fewer than half are live
    # (_maybe_compact), so a saved index never has more than 2 * count + 4096 slots
    if next_slot > 2 * count + 4096:
        raise IndexError_(
            f"{meta_path}: field 'next_slot' is {next_slot}, more than 2 x count + 4096 "
            f"({2 * count + 4096}) slots for {count} items (corrupt file)"
        )
    p = f.get_obj("params")
    p.only("ef_construction", "ef_search", "nprobe", "exact_threshold", "auto_threshold",
           "tombstone_fraction")
    out["params"] = {
        "ef_construction": p.get_int("ef_construction", 1, _MAX_SEARCH_PARAM),
        "ef_search": p.get_int("ef_search", 1, _MAX_SEARCH_PARAM),
        "nprobe": p.get_int("nprobe", 1, _MAX_SEARCH_PARAM),
        "exact_threshold": p.get_int("exact_threshold", 0, MAX_ITEMS),
        "auto_threshold": p.get_int("auto_threshold", 1, MAX_ITEMS),
        "tombstone_fraction": p.get_float("tombstone_fraction", 0.0, 1.0, lo_open=True),
    }
    files = f.get_obj("files")
    files.only("index", "vectors")
    out["files"] = {}
    for role in ("index", "vectors"):
        if role not in files.data and role == "vectors":
            continue
        entry = files.get_obj(role)
        entry.only("name", "sha256", "bytes")
        out["files"][role] = {
            "name": entry.get_str("name", max_len=255),
            "sha256": entry.get_sha256("sha256"),
            "bytes": entry.get_int("bytes", 0, 1 << 50),
        }
    f.get_sha256("items_sha256")
    items = f.get_obj("items")
    items.only("ids", "slots", "category", "price", "in_stock")
    for key in ("ids", "slots", "category", "price", "in_stock"):
        n = len(items.get_list(key, max_len=MAX_ITEMS))
        if n != count:
            raise IndexError_(
                f"{meta_path}: field 'items.{key}' has {n} entries but field 'count' is "
                f"{count} (item lists disagree with count {count})"
            )
    out["items"] = meta["items"]
    out["items_sha256"] = meta["items_sha256"]
    return out


def _first_bad(values: list[Any], ok: Any) -> int | None:
    for i, v in enumerate(values):
        if not ok(v):
            return i
    return None


def _is_price(value: Any) -> bool:
    if type(value) not in (int, float):
        return False
    try:
        return math.isfinite(value) and value >= 0
    except OverflowError:  # an int too large for a float
        return False


def _all_of(values: list[Any], *types: type) -> bool:
    # map(type, ...) runs in C: a fast path for the common, valid case
    return set(map(type, values)) <= set(types)


def _check_items(
    items: dict[str, list[Any]], meta_path: Path, count: int, next_slot: int
) -> tuple[list[str], np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Types and ranges of the per-item lists (lengths are already ``count``)."""

    def fail(key: str, i: int | None, problem: str) -> NoReturn:
        raise IndexError_(f"{meta_path}: field 'items.{key}' entry {i} {problem}")

    ids, slots, categories = items["ids"], items["slots"], items["category"]
    prices, stock = items["price"], items["in_stock"]
    if not _all_of(ids, str) or "" in ids:
        i = _first_bad(ids, lambda v: type(v) is str and v != "")
        fail("ids", i, f"must be a non-empty string, got {safe_repr(ids[i or 0])}")
    if not _all_of(categories, str):
        i = _first_bad(categories, lambda v: type(v) is str)
        fail("category", i, f"must be a string, got {safe_repr(categories[i or 0])}")
    for key, values in (("ids", ids), ("category", categories)):
        try:
            "".join(values).encode("utf-8")
        except UnicodeEncodeError:
            i = _first_bad(values, lambda v: not any(0xD800 <= ord(c) <= 0xDFFF for c in v))
            fail(key, i, "holds a lone surrogate code point (not valid Unicode text)")
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(v for v in ids if v in seen or seen.add(v))  # type: ignore[func-returns-value]
        raise IndexError_(f"{meta_path}: field 'items.ids' lists {dup!r} twice")
    slot_arr = np.asarray(slots, dtype=np.int64).reshape(-1) if _all_of(slots, int) and all(
        -(2**63) <= v < 2**63 for v in (min(slots, default=0), max(slots, default=0))) else None
    if slot_arr is None or (len(slot_arr) and (slot_arr.min() < 0 or slot_arr.max() >= next_slot)):
        i = _first_bad(slots, lambda v: type(v) is int and 0 <= v < next_slot)
        fail("slots", i, f"must be an integer in [0, {next_slot}), got "
                         f"{safe_repr(slots[i or 0])} (item slots out of range)")
    if _has_repeats(slot_arr):
        raise IndexError_(f"{meta_path}: field 'items.slots' repeats a slot")
    price_arr = None
    if _all_of(prices, int, float):
        try:
            price_arr = np.asarray(prices, dtype=np.float64).reshape(-1)
        except OverflowError:
            price_arr = None
    if price_arr is None or not np.all(np.isfinite(price_arr) & (price_arr >= 0)):
        i = _first_bad(prices, _is_price)
        fail("price", i, f"must be a finite number >= 0, got {safe_repr(prices[i or 0])}")
    if not _all_of(stock, bool):
        i = _first_bad(stock, lambda v: type(v) is bool)
        fail("in_stock", i, f"must be true or false, got {safe_repr(stock[i or 0])}")
    return list(ids), slot_arr, list(categories), price_arr, np.asarray(stock, dtype=bool)


def _has_repeats(values: np.ndarray) -> bool:
    ordered = np.sort(values)
    return bool(np.any(ordered[1:] == ordered[:-1]))


def _check_faiss_ids(
    index: Any, slots: np.ndarray, kind: str, path: Path, next_slot: int
) -> None:
    """Every live slot of ``meta.json`` is an id FAISS holds (id-mapped indexes)."""
    faiss = _faiss()
    if not isinstance(index, faiss.IndexIDMap | faiss.IndexIDMap2):
        return
    held = faiss.vector_to_array(index.id_map)
    if len(held) and (held.min() < 0 or held.max() >= next_slot):
        raise IndexError_(f"{path} holds slot ids outside [0, {next_slot}) (corrupt file)")
    present = np.bincount(held, minlength=next_slot)
    if np.any(present > 1):
        raise IndexError_(f"{path} holds a slot id twice (corrupt file)")
    missing = slots[present[slots] == 0]
    if len(missing):
        raise IndexError_(
            f"{path} lacks slot {int(missing[0])} that {META_FILE} lists ({len(missing)} "
            "missing; the files do not belong together)"
        )
    if kind == "flat" and len(held) != len(slots):
        raise IndexError_(f"{path} holds slots that {META_FILE} does not list")


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _read_checked(folder: Path, entry: object, role: str) -> bytes:
    if not isinstance(entry, dict) or "name" not in entry or "sha256" not in entry:
        raise IndexError_(f"{folder / META_FILE} does not describe the {role} file")
    path = folder / str(entry["name"])
    if path.name != str(entry["name"]):
        raise IndexError_(f"{folder / META_FILE}: bad file name {entry['name']!r}")
    if not path.is_file():
        raise IndexError_(f"{path} is missing (the index folder is incomplete)")
    raw = path.read_bytes()
    if "bytes" in entry and len(raw) != entry["bytes"]:
        raise IndexError_(
            f"{path} is {len(raw)} bytes but was saved as {entry['bytes']} bytes "
            "(truncated or corrupt file)"
        )
    if _sha256(raw) != entry["sha256"]:
        raise IndexError_(
            f"{path} fails its sha256 checksum (corrupt file, or changed after saving)"
        )
    return raw
