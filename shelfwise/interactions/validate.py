"""Vectorised checks and conversion of one batch of interaction records.

:func:`validate_batch` turns a :class:`~shelfwise.interactions.readers.RawBatch` into the
columns of the rows that can be stored (:class:`Clean`) and a list of :class:`BadRow`. Every
check works on whole columns (pyarrow compute, numpy, pandas for ISO 8601 times); Python loops
run only over the rows that fail, over the distinct kind words of a batch, and to hash the ids.

Rules (the first broken rule of a row is its reason):

* ``user``, ``product``: text (or whole numbers), trimmed, not empty, at most 256 characters,
  no control characters, valid UTF-8.
* ``time``: ISO 8601 with or without a zone (no zone means UTC; a date alone is midnight
  UTC), or unix seconds, or unix milliseconds (a number of magnitude >= 1e11 is taken as
  milliseconds); between 1970 and 2100. Stored to the millisecond.
* ``kind``: a word of the kind table (see :mod:`.fields`), else the default kind when one is
  given for rows without one.
* ``value``: optional; a number or a price with a currency (``"15.00 USD"``), finite, >= 0. A
  purchase without a value gets the catalog price times the quantity.
* ``quantity``: optional (default 1); a whole number from 1 to 1,000,000.
* ``session``: optional text.
* the product must be in the workspace catalog (else an ``unknown_product`` reject, which
  never stops an import).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shelfwise.events import interaction_event_ids
from shelfwise.feeds.columns import normalize_header
from shelfwise.interactions.readers import RawBatch

__all__ = ["BadRow", "Catalog", "Clean", "validate_batch"]

MAX_ID_CHARS = 256
MAX_QUANTITY = 1_000_000
TIME_MIN = 0.0
TIME_MAX = 4102444800.0  # 2100-01-01T00:00:00Z
MS_THRESHOLD = 1e11
"""Numbers of this magnitude or more are unix milliseconds (1e11 seconds is the year 5138)."""

INVALID = "invalid"
UNKNOWN_PRODUCT = "unknown_product"


@dataclass(frozen=True)
class BadRow:
    """A rejected row."""

    index: int
    """Position in the batch (-1 for rows the reader rejected)."""
    row: int
    """1-based data row number in the file."""
    field: str
    reason: str
    category: str
    """``invalid`` (stops an import without --skip-invalid) or ``unknown_product``."""


@dataclass
class Clean:
    """Columns of the rows that passed, ready for ``EventStore.log_interactions``."""

    event_id: list[str]
    user_id: list[str]
    product_id: list[str]
    kind: list[str]
    time: list[float]
    value: list[float | None]
    quantity: list[int]
    session_id: list[str | None]
    rows: np.ndarray = field(repr=False)
    """int64 ``(m,)`` row numbers of these rows. Rows are ordered by (user, time), not by
    row number."""

    def __len__(self) -> int:
        return len(self.event_id)


@dataclass(frozen=True)
class Catalog:
    """The workspace's product ids and prices, for membership and purchase values."""

    ids: Any
    """pyarrow string array ``(p,)``."""
    prices: np.ndarray
    """float64 ``(p,)``, aligned with ``ids``."""

    @classmethod
    def from_pairs(cls, ids: Sequence[str], prices: Sequence[float]) -> Catalog:
        """From parallel lists."""
        import pyarrow as pa

        return cls(pa.array(list(ids), type=pa.string()),
                   np.asarray(list(prices), dtype=np.float64))


class _Marks:
    """First reason per row, filled column by column (later checks never overwrite)."""

    def __init__(self, n: int, rows: np.ndarray) -> None:
        self.ok = np.ones(n, dtype=bool)
        self.rows = rows
        self.bad: list[BadRow] = []

    def mark(self, mask: np.ndarray, fld: str, message: Any, values: Any = None,
             category: str = INVALID) -> None:
        """Reject rows in ``mask`` still ok; ``message`` is a str or ``f(value) -> str``."""
        hit = np.flatnonzero(np.asarray(mask, dtype=bool) & self.ok)
        if not hit.size:
            return
        self.ok[hit] = False
        for i in hit.tolist():
            text = message(_show(values[i]) if values is not None else None) \
                if callable(message) else message
            self.bad.append(BadRow(i, int(self.rows[i]), fld, text, category))


def _show(value: Any) -> str:
    if hasattr(value, "as_py"):
        value = value.as_py()
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="backslashreplace")
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _null_mask(arr: Any) -> np.ndarray:
    import pyarrow.compute as pc

    return np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), dtype=bool)


def _scalars_only(arr: Any, fld: str, marks: _Marks) -> None:
    """Reject objects, arrays and booleans (the words match the JSON Lines careful path)."""
    import pyarrow as pa

    t = arr.type
    present = ~_null_mask(arr)
    if pa.types.is_struct(t) or pa.types.is_map(t):
        marks.mark(present, fld, "must be a single value, got an object")
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        marks.mark(present, fld, "must be a single value, got an array")
    elif pa.types.is_boolean(t):
        values = arr.to_pylist()
        marks.mark(present, fld, lambda v: f"must be text or a number, got {v.lower()}",
                   [str(v) for v in values])


def _text(arr: Any, fld: str, marks: _Marks) -> Any:
    """``arr`` as a trimmed pyarrow string array; empty -> null; bad cells rejected -> null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(arr)
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        try:
            arr = arr.cast(pa.string())
            arr.validate(full=True)  # the cast itself does not check UTF-8
        except pa.ArrowInvalid:
            values = arr.cast(pa.binary()).to_pylist()
            bad = np.zeros(n, dtype=bool)
            out: list[str | None] = []
            for i, v in enumerate(values):
                try:
                    out.append(None if v is None else v.decode("utf-8"))
                except UnicodeDecodeError:
                    bad[i] = True
                    out.append(None)
            marks.mark(bad, fld, "is not valid UTF-8 text")
            arr = pa.array(out, type=pa.string())
    elif pa.types.is_integer(t):
        arr = arr.cast(pa.string())
    elif pa.types.is_floating(t):
        vals = arr.to_numpy(zero_copy_only=False).astype(np.float64)
        whole = np.isfinite(vals) & (np.floor(vals) == vals) & (np.abs(vals) < 2**53)
        nulls = _null_mask(arr)
        marks.mark(~whole & ~nulls, fld, lambda v: f"must be text or a whole number, got {v}",
                   arr)
        safe = np.where(whole, vals, 0).astype(np.int64)
        arr = pa.array(safe, mask=~whole | nulls).cast(pa.string())
    elif pa.types.is_null(t):
        arr = pa.nulls(n, pa.string())
    elif not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        marks.mark(~_null_mask(arr), fld, f"must be text, got a {t} value")
        arr = pa.nulls(n, pa.string())
    arr = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    length = pc.fill_null(pc.greater(pc.utf8_length(arr), MAX_ID_CHARS), False)
    marks.mark(length.to_numpy(zero_copy_only=False), fld,
               f"is longer than {MAX_ID_CHARS} characters")
    ctrl = pc.fill_null(pc.match_substring_regex(arr, r"[\x00-\x1f\x7f]"), False)
    marks.mark(ctrl.to_numpy(zero_copy_only=False), fld, "contains control characters")
    return arr


_NOT_FINITE = frozenset({"nan", "inf", "infinity"})
_NUMBER = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"


def _numbers(arr: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    """``(float64 values (nan where not a number), numeric mask, text array or None)``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    n = len(arr)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        vals = arr.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        return vals, ~_null_mask(arr), None
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        try:
            arr = arr.cast(pa.string())
            arr.validate(full=True)
        except pa.ArrowInvalid:
            arr = pa.array([None if v is None else v.decode("utf-8", "replace")
                            for v in arr.cast(pa.binary()).to_pylist()], type=pa.string())
        t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        is_num = pc.fill_null(pc.match_substring_regex(arr, _NUMBER), False)
        mask = is_num.to_numpy(zero_copy_only=False)
        vals = np.full(n, np.nan)
        if mask.any():
            nums = pc.utf8_trim_whitespace(pc.filter(arr, is_num)).cast(pa.float64())
            vals[mask] = nums.to_numpy(zero_copy_only=False)
        return vals, mask, arr
    return np.full(n, np.nan), np.zeros(n, dtype=bool), None


def _times(arr: Any, marks: _Marks) -> np.ndarray:
    """Unix seconds ``(n,)`` float64 (nan for rejected rows)."""
    import pandas as pd
    import pyarrow as pa

    t = arr.type
    nulls = _null_mask(arr)
    marks.mark(nulls, "time", "is missing")
    if pa.types.is_timestamp(t):
        unit = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[t.unit]
        secs = arr.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64) * unit
        secs[nulls] = np.nan
    elif pa.types.is_date(t):
        secs = arr.cast(pa.date32()).cast(pa.int32()).to_numpy(
            zero_copy_only=False).astype(np.float64) * 86400.0
        secs[nulls] = np.nan
    else:
        vals, numeric, text = _numbers(arr)
        big = numeric & (np.abs(np.nan_to_num(vals, nan=0.0, posinf=1e300, neginf=-1e300))
                         >= MS_THRESHOLD)
        secs = np.where(big, vals / 1000.0, vals)
        secs[~numeric] = np.nan
        rest = ~numeric & ~nulls
        if text is not None and rest.any():
            idx = np.flatnonzero(rest)
            strs = pa.array(text).take(pa.array(idx)).to_pandas()
            parsed = pd.to_datetime(strs, format="ISO8601", utc=True, errors="coerce")
            ok = ~parsed.isna().to_numpy()
            stamps = parsed[ok].astype("datetime64[ns, UTC]").astype("int64").to_numpy()
            secs[idx[ok]] = stamps.astype(np.float64) / 1e9
        elif rest.any():
            marks.mark(rest, "time", f"must be a time, got a {t} value")
        bad = rest & np.isnan(secs)
        marks.mark(bad, "time", lambda v: f"cannot read {v} as a time: use ISO 8601 "
                   "(2024-05-01T12:30:00Z) or unix seconds or milliseconds", arr)
    out_of_range = ~np.isnan(secs) & ((secs < TIME_MIN) | (secs >= TIME_MAX))
    marks.mark(out_of_range | (np.isnan(secs) & ~nulls), "time",
               lambda v: f"{v} is outside 1970-2100", arr)
    return np.rint(np.where(np.isfinite(secs), secs, 0.0) * 1000.0) / 1000.0


def _kinds(arr: Any | None, n: int, table: Mapping[str, str], default: str | None,
           marks: _Marks) -> np.ndarray:
    import pyarrow.compute as pc

    if arr is None:
        return np.full(n, default, dtype=object)
    text = _text(arr, "kind", marks)
    uniques = pc.unique(text)
    words = uniques.to_pylist()
    canon = np.array([None if w is None else table.get(normalize_header(w)) for w in words]
                     + [None], dtype=object)
    idx = pc.index_in(text, value_set=uniques, skip_nulls=False).to_numpy(
        zero_copy_only=False)
    idx = np.where(np.isnan(idx.astype(np.float64)), len(words), idx).astype(np.int64) \
        if idx.dtype.kind == "f" else idx.astype(np.int64)
    kinds = canon[idx]
    missing = _null_mask(text)
    if default is not None:
        kinds[missing] = default
    else:
        marks.mark(missing, "kind", "is missing (give --kind for rows without one)")
    unknown = ~missing & np.array([k is None for k in kinds], dtype=bool)
    marks.mark(unknown, "kind", lambda v: f"unknown kind {v}: use view, click, add_to_cart "
               f"or purchase, or map the word with --map-kind WORD=purchase", text)
    return kinds


def _values(arr: Any | None, n: int, marks: _Marks) -> np.ndarray:
    """float64 ``(n,)``, nan where missing."""
    if arr is None:
        return np.full(n, np.nan)
    from shelfwise.feeds.prices import PriceError, parse_price

    vals, numeric, text = _numbers(arr)
    nulls = _null_mask(arr)
    rest = np.flatnonzero(~numeric & ~nulls)
    if rest.size and text is None:
        marks.mark(~numeric & ~nulls, "value", f"must be a number, got a {arr.type} value")
    elif rest.size:
        cells = text.take(rest).to_pylist()
        bad = np.zeros(n, dtype=bool)
        for i, cell in zip(rest.tolist(), cells, strict=True):
            if str(cell).strip().lower().lstrip("+-") in _NOT_FINITE:
                vals[i] = np.inf  # named as not finite below
                continue
            try:
                vals[i] = parse_price(cell).amount
            except (PriceError, TypeError, ValueError):
                bad[i] = True
        marks.mark(bad, "value", lambda v: f"cannot read {v} as a number", arr)
    present = ~nulls
    marks.mark(present & ~np.isfinite(vals) & ~np.isnan(vals), "value",
               lambda v: f"must be a finite number, got {v}", arr)
    marks.mark(present & np.isnan(vals) & numeric, "value",
               lambda v: f"must be a finite number, got {v}", arr)
    with np.errstate(invalid="ignore"):
        marks.mark(present & (vals < 0), "value", lambda v: f"must be >= 0, got {v}", arr)
    return np.where(present, vals, np.nan)


def _quantities(arr: Any | None, n: int, marks: _Marks) -> np.ndarray:
    if arr is None:
        return np.ones(n, dtype=np.int64)
    vals, numeric, _text_arr = _numbers(arr)
    nulls = _null_mask(arr)
    with np.errstate(invalid="ignore"):
        good = numeric & np.isfinite(vals) & (vals == np.floor(vals)) & (vals >= 1) & \
            (vals <= MAX_QUANTITY)
    marks.mark(~nulls & ~good, "quantity",
               lambda v: f"must be a whole number from 1 to {MAX_QUANTITY:,}, got {v}", arr)
    return np.where(good, vals, 1).astype(np.int64)


def validate_batch(batch: RawBatch, catalog: Catalog, kind_words: Mapping[str, str],
                   default_kind: str | None) -> tuple[Clean, list[BadRow]]:
    """Check and convert one batch.

    Args:
        batch: the records as read.
        catalog: product ids and prices of the workspace.
        kind_words: normalised word -> kind (see :func:`~.fields.kind_table`).
        default_kind: kind of rows without one (``--kind``), or None.

    Returns:
        The rows that can be stored, and the rejected ones (reader problems first, then in
        batch order, each with its first broken rule).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(batch)
    marks = _Marks(n, batch.rows)
    for i, fld, reason in batch.cell_problems:
        one = np.zeros(n, dtype=bool)
        one[i] = True
        marks.mark(one, fld, reason)
    cols = batch.columns
    for fld, arr in cols.items():
        _scalars_only(arr, fld, marks)
    user = _text(cols["user"], "user", marks)
    marks.mark(_null_mask(user), "user", "is missing")
    product = _text(cols["product"], "product", marks)
    marks.mark(_null_mask(product), "product", "is missing")
    times = _times(cols["time"], marks)
    kinds = _kinds(cols.get("kind"), n, kind_words, default_kind, marks)
    values = _values(cols.get("value"), n, marks)
    qty = _quantities(cols.get("quantity"), n, marks)
    session = _text(cols["session"], "session", marks) if "session" in cols \
        else pa.nulls(n, pa.string())
    pos = pc.index_in(product, value_set=catalog.ids).to_numpy(zero_copy_only=False)
    pos = np.where(np.isnan(pos.astype(np.float64)), -1, pos).astype(np.int64) \
        if pos.dtype.kind == "f" else pos.astype(np.int64)
    marks.mark(pos < 0, "product", lambda v: f"unknown product {v}: not in the workspace "
               "catalog", product, category=UNKNOWN_PRODUCT)

    keep = np.flatnonzero(marks.ok)
    if keep.size > 1:  # in the log's key order (user, time): see EventStore.log_interactions
        order = pc.sort_indices(pa.table({"u": user.take(pa.array(keep)),
                                          "t": pa.array(times[keep])}),
                                sort_keys=[("u", "ascending"), ("t", "ascending")])
        keep = keep[order.to_numpy()]
    price = np.where(pos >= 0, catalog.prices[np.maximum(pos, 0)] if len(catalog.prices)
                     else 0.0, np.nan)
    fill = (kinds == "purchase") & np.isnan(values)
    values = np.where(fill, price * qty, values)
    take = pa.array(keep)
    user_l = user.take(take).to_pylist()
    product_l = product.take(take).to_pylist()
    kind_l = kinds[keep].tolist()
    time_l = times[keep].tolist()
    vals = values[keep]
    value_l = [None if v != v else v for v in vals.tolist()]
    qty_l = qty[keep].tolist()
    session_l = session.take(take).to_pylist()
    ids = interaction_event_ids(user_l, product_l, kind_l, time_l, value_l, qty_l, session_l)
    bad = [BadRow(-1, p.row, p.field, p.reason, INVALID) for p in batch.problems] + marks.bad
    return Clean(ids, user_l, product_l, kind_l, time_l, value_l, qty_l, session_l,
                 batch.rows[keep]), bad
