"""Cold start: content vectors stand in for the behaviour of items with few or no events.

:func:`with_content` wraps a behaviour model and a content matrix ``(n_items, d_c)`` (text,
image or fused product vectors from the content encoders) and returns a model with the same
protocol whose scores and item vectors cover every item of the catalog, including products
that had no interactions when the model was trained.

Two ways, chosen by what the wrapped model offers:

* **Vector models** (``item_vectors()`` is not None and ``score = user_vectors . item_vectors'``:
  ALS, SASRec): a ridge regression ``v = c W + b`` from content to the behaviour space is
  fitted on the items with events and applied to every item. An item's vector is the blend
  ``a v_learned + (1 - a) v_content`` with ``a = n / (n + blend_events)`` (``n`` its summed
  event weight), so new items get the mapped vector, rare items lean on their content and
  popular items keep what they learned. The completed vectors are what goes into the
  behaviour FAISS index, so new products are retrieved too; :meth:`ContentBackedModel.
  content_to_vectors` maps products added after training.
* **Score models** (EASE, item-kNN: no item vectors): an item's content-based score is the
  mean score of its ``neighbours`` nearest items with events in content space (cosine
  weights, clipped at 0), blended with its own score by the same ``a``. A new product then
  ranks like the established products that look like it.

The shopper side is the wrapped model's: a new item inside a history adds nothing to
ALS's or SASRec's sequence vector (its input embedding was not trained).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders.behaviour.base import (
    ARRAYS_FILE,
    BaseBehaviourModel,
    BehaviourConfig,
    Interactions,
    check_array,
    check_number,
    load_behaviour_model,
    read_model_files,
    write_model_files,
)
from encoders.errors import ConfigError, EncoderError

INNER_FOLDER = "inner"


@dataclass
class ContentConfig(BehaviourConfig):
    """How content completes a behaviour model (see the module docstring)."""

    ridge: float = 0.01
    """Ridge penalty of the content -> behaviour-vector map (vector models), relative to the
    mean eigenvalue of the centred content Gram matrix (``penalty = ridge * trace(A'A) /
    d_c``), so one value suits any content width and scale. Item vectors hold noise that
    content cannot explain; a small value fits that noise and misplaces new items."""
    blend_events: float = 1.0
    """Pseudo-events of the content estimate: an item with summed event weight ``n`` keeps
    ``n / (n + blend_events)`` of its learned vector or score. 0 = content only for items
    without events."""
    neighbours: int = 20
    """Items with events whose scores an item borrows (score models)."""
    weighting: str = "auto"
    """How items with events count in the content fit: ``"uniform"`` (each item once: a new
    item is expected to behave like a typical catalog item, most of which are rarely
    bought, so new items rank low), ``"events"`` (by summed event weight: like a typical
    *consumed* item), ``"sqrt"`` (by its square root), or ``"auto"``: ``"events"`` for
    vector models, ``"sqrt"`` for score models. Measured on MovieLens-100k with 10% of
    the movies held out of training (genre + decade content, ``benchmarks/
    behaviour_train.py``): ALS uniform gave held-out movies 0% of top-10 slots, events
    3.7% at no cost in overall NDCG@10; EASE events gave them 27% of the slots (they draw
    ~10% of the events) at -7% overall NDCG@10, sqrt 11% at -3%."""

    def validate(self) -> None:  # noqa: D102
        check_number(self, "ridge", low=0.0, low_open=True)
        check_number(self, "blend_events", low=0.0)
        check_number(self, "neighbours", low=1, integer=True)
        if self.weighting not in ("auto", "uniform", "sqrt", "events"):
            raise ConfigError("weighting must be 'auto', 'uniform', 'sqrt' or 'events', got "
                              f"{self.weighting!r}")


class ContentBackedModel(BaseBehaviourModel):
    """A behaviour model whose items without (enough) events are scored through content.

    Build it with :func:`with_content`. ``fit`` trains the wrapped model and then the content
    map; wrapping an already fitted model fits the map at once.
    """

    name = "content"
    config_cls = ContentConfig

    def __init__(self, inner: BaseBehaviourModel, content: np.ndarray | None,
                 config: ContentConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        if not isinstance(inner, BaseBehaviourModel) or isinstance(inner, ContentBackedModel):
            raise ConfigError("with_content needs a registered behaviour model (not already "
                              f"wrapped), got {type(inner).__name__}")
        self.inner = inner
        self.content = None if content is None else _check_content(content)
        self.alpha: np.ndarray | None = None   # (n_items,) share of the learned part
        self.vectors: np.ndarray | None = None  # (n_items, d) completed item vectors
        self.W: np.ndarray | None = None        # (d_c, d) content -> behaviour map
        self.b: np.ndarray | None = None        # (d,)
        self.M: Any = None                      # csr (n_items, n_items) content neighbours
        if inner.fitted and self.content is not None:
            self.item_ids = inner.item_ids
            self._fit_map()
            self.item_counts = inner.item_counts

    @property
    def uses_vectors(self) -> bool:
        """Whether content maps into the wrapped model's item-vector space."""
        return self.W is not None

    def _fit(self, data: Interactions, *, progress: bool) -> None:
        if self.content is None:  # pragma: no cover - only loaded models lack content
            raise EncoderError("this content-backed model was loaded without content vectors; "
                               "wrap the model again with with_content to refit")
        if self.content.shape[0] != data.n_items:
            raise ConfigError(f"content has {self.content.shape[0]} rows, the interactions "
                              f"have {data.n_items} items")
        self.inner.fit(data, progress=progress)
        self._fit_map()

    def _fit_map(self) -> None:
        cfg: ContentConfig = self.config  # type: ignore[assignment]
        inner = self.inner
        C = self.content
        assert C is not None  # noqa: S101 - checked by the callers
        if C.shape[0] != inner.n_items:
            raise ConfigError(f"content has {C.shape[0]} rows, the model has {inner.n_items} "
                              "items")
        counts = np.asarray(inner.item_counts, np.float64)
        warm = np.flatnonzero(counts > 0)
        if warm.size < 2:
            raise ConfigError("the content map needs at least 2 items with events")
        k = cfg.blend_events
        self.alpha = (counts / (counts + k) if k > 0 else (counts > 0).astype(np.float64)
                      ).astype(np.float32)
        iv = inner.item_vectors()
        if iv is not None:
            Cw = C[warm].astype(np.float64)
            Vw = iv[warm].astype(np.float64)
            sw = self._sample_weights(counts[warm])[:, None]       # (n_warm, 1), sum 1
            mu_c, mu_v = (sw * Cw).sum(axis=0), (sw * Vw).sum(axis=0)
            A = Cw - mu_c
            G = A.T @ (sw * A)
            penalty = cfg.ridge * max(float(np.trace(G)) / G.shape[0], 1e-12)
            W = np.linalg.solve(G + penalty * np.eye(G.shape[0]), A.T @ (sw * (Vw - mu_v)))
            self.W = W.astype(np.float32)
            self.b = (mu_v - mu_c @ W).astype(np.float32)
            mapped = self.content_to_vectors(C)
            a = self.alpha[:, None]
            self.vectors = (a * iv + (1.0 - a) * mapped).astype(np.float32)
        else:
            self.M = _content_neighbours(C, warm, cfg.neighbours,
                                         self._sample_weights(counts[warm]))

    def _sample_weights(self, counts: np.ndarray) -> np.ndarray:
        """Weight of each item with events in the content fit, summing to 1."""
        how = self.config.weighting  # type: ignore[attr-defined]
        if how == "auto":
            how = "events" if self.inner.item_vectors() is not None else "sqrt"
        w = counts if how == "events" else np.sqrt(counts) if how == "sqrt" else \
            np.ones_like(counts)
        return w / w.sum()

    def content_to_vectors(self, content: np.ndarray) -> np.ndarray:
        """Map content rows ``(m, d_c)`` into the behaviour space, ``(m, d)`` float32.

        For products added after training (no event, so no learned part).

        Raises:
            EncoderError: the wrapped model has no item vectors (a score model).
            ConfigError: ``content`` has another width than the training content.

        """
        if self.W is None or self.b is None:
            raise EncoderError(f"{self.inner.name!r} has no item vectors; content maps only "
                               "into vector models (als, sasrec)")
        c = _check_content(content)
        if c.shape[1] != self.W.shape[0]:
            raise ConfigError(f"content has width {c.shape[1]}, the map expects "
                              f"{self.W.shape[0]}")
        return (c @ self.W + self.b).astype(np.float32)

    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
        if self.vectors is not None:
            return self.inner.user_vectors(histories) @ self.vectors.T  # type: ignore[operator]
        S = self.inner.score(histories)
        borrowed = np.asarray((self.M @ S.T).T, np.float32)
        a = self.alpha
        return a * S + (1.0 - a) * borrowed  # type: ignore[operator]

    def item_vectors(self) -> np.ndarray | None:
        """Completed item vectors ``(n_items, d)`` float32 (vector models), else None."""
        self._require_fitted()
        return self.vectors

    def user_vectors(self, histories: Any) -> np.ndarray | None:
        """The wrapped model's shopper vectors (content does not change them)."""
        self.check_histories(histories)
        return self.inner.user_vectors(histories)

    # -- persistence: folder/{config.json, arrays.npz} + folder/inner/ -------------------

    def save(self, folder: Path) -> None:
        """Write the wrapped model to ``folder/inner`` and the content map to ``folder``."""
        self._require_fitted()
        folder = Path(folder)
        self.inner.save(folder / INNER_FOLDER)
        arrays: dict[str, np.ndarray] = {"item_counts": self.item_counts,  # type: ignore[dict-item]
                                         "alpha": self.alpha}  # type: ignore[dict-item]
        if self.vectors is not None:
            arrays.update(vectors=self.vectors, W=self.W, b=self.b)  # type: ignore[arg-type]
        else:
            arrays.update(M_data=self.M.data.astype(np.float32),
                          M_indices=self.M.indices.astype(np.int64),
                          M_indptr=self.M.indptr.astype(np.int64))
        write_model_files(folder, self.name, self.config.to_dict(), self.item_ids, arrays,
                          meta={"inner": self.inner.name})

    @classmethod
    def load(cls, folder: Path) -> ContentBackedModel:
        """Read a model written by :meth:`save` (wrapped model included).

        Raises:
            EncoderError: a file is missing, changed or inconsistent (named in the message).

        """
        import scipy.sparse as sp

        folder = Path(folder)
        saved = read_model_files(folder)
        if saved.model != cls.name:
            raise EncoderError(f"{folder}: holds a {saved.model!r} model, not {cls.name!r}")
        inner = load_behaviour_model(folder / INNER_FOLDER)
        if inner.item_ids != saved.item_ids:
            raise EncoderError(f"{folder}: item ids differ from those of {folder / INNER_FOLDER}")
        model = cls(inner, None, ContentConfig.from_kwargs(cls.name, saved.config))
        model.item_ids = saved.item_ids
        n = len(saved.item_ids)
        arr = saved.arrays
        model.alpha = check_array(arr, "alpha", (n,), folder).astype(np.float32)
        if "vectors" in arr:
            iv = inner.item_vectors()
            d = -1 if iv is None else iv.shape[1]
            model.vectors = check_array(arr, "vectors", (n, d), folder)
            model.W = check_array(arr, "W", (None, d), folder)
            model.b = check_array(arr, "b", (d,), folder)
        else:
            data = check_array(arr, "M_data", (None,), folder)
            indices = check_array(arr, "M_indices", (data.shape[0],), folder)
            indptr = check_array(arr, "M_indptr", (n + 1,), folder)
            if (indptr[0] != 0 or indptr[-1] != data.shape[0] or np.any(np.diff(indptr) < 0)
                    or (indices.size and (indices.min() < 0 or indices.max() >= n))):
                raise EncoderError(f"{folder / ARRAYS_FILE}: content-neighbour arrays are "
                                   f"inconsistent (not a {n}x{n} sparse matrix)")
            model.M = sp.csr_matrix((data, indices, indptr), shape=(n, n))
        model.item_counts = check_array(arr, "item_counts", (n,), folder).astype(np.float32)
        return model


def with_content(model: BaseBehaviourModel, content: np.ndarray,
                 **config: Any) -> ContentBackedModel:
    """Wrap ``model`` so items without (enough) events are scored through ``content``.

    Args:
        model: a registered behaviour model, fitted or not (``fit`` on the wrapper fits both).
        content: content vectors ``(n_items, d_c)`` float, one row per item index (e.g. the
            fused text/image product vectors), finite.
        **config: fields of :class:`ContentConfig` (``ridge``, ``blend_events``,
            ``neighbours``).

    Raises:
        ConfigError: bad content (shape, non-finite) or unknown config field.

    """
    return ContentBackedModel(model, content, ContentConfig.from_kwargs("content", config))


def _check_content(content: np.ndarray) -> np.ndarray:
    c = np.asarray(content)
    if c.ndim != 2 or c.shape[0] < 1 or c.shape[1] < 1:
        raise ConfigError(f"content must be a 2-d array (n_items, d_c), got shape {c.shape}")
    if not np.issubdtype(c.dtype, np.number):
        raise ConfigError(f"content must be numeric, got {c.dtype.name}")
    bad = np.flatnonzero(~np.isfinite(c).all(axis=1))
    if bad.size:
        raise ConfigError(f"content row {bad[0]} has non-finite values")
    return c.astype(np.float32)


def _content_neighbours(C: np.ndarray, warm: np.ndarray, k: int, prior: np.ndarray,
                        chunk: int = 1024) -> Any:
    """Content-neighbour weights, a sparse ``(n, n)`` float32 matrix.

    Row ``j`` holds cosine x ``prior`` weights (>= 0, summing to 1) on the ``k`` items of
    ``warm`` most similar to ``j`` in content, ``j`` itself excluded.
    """
    import scipy.sparse as sp

    n = C.shape[0]
    norms = np.linalg.norm(C, axis=1, keepdims=True)
    Cn = C / np.where(norms > 0, norms, 1.0)
    Cw = Cn[warm]
    k = min(k, warm.size)
    rows, cols, vals = [], [], []
    for s in range(0, n, chunk):
        sims = Cn[s:s + chunk] @ Cw.T                        # (b, n_warm)
        idx = np.arange(s, min(s + chunk, n))
        sims[warm[None, :] == idx[:, None]] = -np.inf         # not oneself
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < warm.size else \
            np.broadcast_to(np.arange(warm.size), (idx.size, warm.size))
        w = np.take_along_axis(sims, top, axis=1)
        w = np.where(np.isfinite(w), np.maximum(w, 0.0), 0.0) * prior[top]
        total = w.sum(axis=1, keepdims=True)
        w = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
        rows.append(np.repeat(idx, top.shape[1]))
        cols.append(warm[top].ravel())
        vals.append(w.ravel())
    m = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n, n), dtype=np.float32)
    m.eliminate_zeros()
    return m
