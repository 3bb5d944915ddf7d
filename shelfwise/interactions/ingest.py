"""The import loop: file -> batches -> validation -> event log, with rejects and a summary.

:func:`import_interactions` streams a file through :mod:`.readers` and :mod:`.validate` into
:meth:`shelfwise.events.EventStore.log_interactions` (one transaction per batch). Memory holds
one batch: rejects are written to their file as they come, and the summary keeps counts.

Stopping rules. A malformed row (missing user, unreadable time, negative quantity...) stops
the import with a :class:`InteractionImportError` naming the file, row and field, unless
``skip_invalid`` is set; every row before it has been stored (re-running after the fix adds
only the rest, since ids come from the content). A product that is not in the catalog is a
reject of its own kind (``unknown_product``): it is written to the rejects file and counted,
and never stops an import (a shop's history always names products it no longer sells). An
import that stores no row at all (every row rejected, or an empty file) is an error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from shelfwise.errors import ConfigError, ShelfwiseError
from shelfwise.events import INTERACTION_KINDS, EventStore, InteractionColumns
from shelfwise.feeds.detect import detect_format
from shelfwise.interactions.fields import check_required, kind_table
from shelfwise.interactions.readers import open_reader
from shelfwise.interactions.validate import (
    INVALID,
    UNKNOWN_PRODUCT,
    BadRow,
    Catalog,
    validate_batch,
)

__all__ = ["ImportOptions", "ImportSummary", "InteractionImportError", "import_interactions"]

DEFAULT_BATCH_SIZE = 65536


class InteractionImportError(ShelfwiseError):
    """An interactions file has a bad row (without ``--skip-invalid``) or loads nothing."""


@dataclass(frozen=True)
class ImportOptions:
    """How to read an interactions file.

    Args:
        fmt: ``auto`` (by content) or ``csv``, ``tsv``, ``jsonl``, ``parquet``.
        column_map: ``{field: column}`` (see :func:`~.fields.parse_field_map`).
        kind_map: ``{normalised word: kind}`` added to the default kind words.
        default_kind: kind of rows without one (a file of orders has no kind column).
        skip_invalid: write malformed rows to the rejects file and go on, instead of stopping.
        rejects_path: the rejects file (JSON Lines); default ``<FILE>.rejects.jsonl``.
        batch_size: rows per batch (one transaction each), >= 1.
        progress: show a progress bar on stderr.

    """

    fmt: str = "auto"
    column_map: dict[str, str] = field(default_factory=dict)
    kind_map: dict[str, str] = field(default_factory=dict)
    default_kind: str | None = None
    skip_invalid: bool = False
    rejects_path: Path | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    progress: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.default_kind is not None and self.default_kind not in INTERACTION_KINDS:
            raise ConfigError(f"--kind: {self.default_kind!r} is not a kind; choose one of: "
                              f"{', '.join(INTERACTION_KINDS)}")


@dataclass
class ImportSummary:
    """What an import did."""

    file: str
    format: str
    columns: dict[str, str]
    """field -> column of the file."""
    read: int = 0
    """Records read (rows the reader could not parse included)."""
    inserted: int = 0
    """New interactions stored."""
    duplicates: int = 0
    """Valid rows already in the log (same content: a re-import), or repeated in the file."""
    rejected: int = 0
    """Rows written to the rejects file (invalid + unknown products)."""
    invalid: int = 0
    """Malformed rows (only with ``skip_invalid``; else the import stopped at the first)."""
    unknown_products: int = 0
    """Rows naming a product that is not in the catalog."""
    rejects_file: str | None = None
    kinds: dict[str, int] = field(default_factory=dict)
    """Valid rows per kind."""
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)
    """The first few reject messages."""

    @property
    def rows_per_second(self) -> float:
        """Records read per second of wall time."""
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary of ``shelfwise ingest-events --json``."""
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        out["rows_per_second"] = round(self.rows_per_second, 1)
        return out


class _Rejects:
    """The rejects file, opened on the first reject and written as rejects come."""

    def __init__(self, path: Path, source: Path) -> None:
        self.path = path
        self.source = source
        self._fh: IO[str] | None = None

    def write(self, bad: BadRow, raw: dict[str, Any]) -> None:
        if self._fh is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("w", encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot write the rejects file {self.path}: "
                                  f"{exc.strerror or exc}; choose another with --rejects") from exc
        self._fh.write(json.dumps({"file": str(self.source), "row": bad.row, "field": bad.field,
                                   "reason": bad.reason, "category": bad.category, "raw": raw},
                                  ensure_ascii=True, default=str) + "\n")

    @property
    def written(self) -> bool:
        return self._fh is not None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _raw_record(batch: Any, index: int, columns: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fld, col in columns.items():
        arr = batch.columns.get(fld)
        if arr is None:
            continue
        v = arr[index].as_py()
        if isinstance(v, bytes):
            v = v.decode("utf-8", errors="backslashreplace")
        if isinstance(v, str):
            v = v[:200]
        elif v is not None and not isinstance(v, int | float):
            v = str(v)[:200]
        out[col] = v
    return out


def import_interactions(path: str | Path, store: EventStore, catalog: Catalog,
                        options: ImportOptions | None = None) -> ImportSummary:
    """Import a file of past interactions into the event log as organic events.

    Args:
        path: CSV/TSV, JSON Lines or Parquet file.
        store: the event log.
        catalog: the workspace's product ids and prices.
        options: how to read it.

    Returns:
        Counts, the rejects file and timings.

    Raises:
        FileFormatError: the file is missing, empty, binary garbage or not a table.
        ConfigError: a required field has no column, a bad ``--map``, or the rejects file
            cannot be written.
        InteractionImportError: a malformed row (without ``skip_invalid``; the message names
            the file, row and field), or no row stored at all.
    """
    options = options or ImportOptions()
    t0 = time.perf_counter()
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"interactions file not found: {path}")
    fmt = detect_format(path, options.fmt)
    where = str(path)

    def check(found: dict[str, str], header: list[str]) -> None:
        check_required(found, header, where, options.default_kind)

    reader = open_reader(path, fmt, options.column_map, options.batch_size, check)
    summary = ImportSummary(file=where, format=reader.fmt, columns=dict(reader.fields))
    rejects = _Rejects(options.rejects_path or path.with_name(path.name + ".rejects.jsonl"),
                       path)
    words = kind_table(options.kind_map)
    bar = None
    if options.progress:
        from tqdm import tqdm

        bar = tqdm(total=reader.total_rows, unit=" rows", unit_scale=True, desc=path.name,
                   leave=False, dynamic_ncols=True, disable=None)
    try:
        for batch in reader.batches:
            clean, bad = validate_batch(batch, catalog, words, options.default_kind) \
                if len(batch) else (None, [BadRow(-1, p.row, p.field, p.reason, INVALID)
                                           for p in batch.problems])
            summary.read += len(batch) + len(batch.problems)
            stop: BadRow | None = None
            if not options.skip_invalid:
                invalid = [b for b in bad if b.category == INVALID]
                if invalid:
                    stop = min(invalid, key=lambda b: b.row)
                    bad = [b for b in bad if b.row <= stop.row and
                           (b.category != INVALID or b is stop)]
            problems = {p.row: p.raw for p in batch.problems}
            for b in bad:
                raw = problems.get(b.row, {}) if b.index < 0 else \
                    _raw_record(batch, b.index, reader.fields)
                rejects.write(b, raw)
                summary.rejected += 1
                if b.category == UNKNOWN_PRODUCT:
                    summary.unknown_products += 1
                else:
                    summary.invalid += 1
                if len(summary.examples) < 5:
                    summary.examples.append(f"row {b.row}: {b.field}: {b.reason}")
            if clean is not None and len(clean):
                if stop is not None:
                    clean = _before(clean, stop.row)
                cols = InteractionColumns(clean.event_id, clean.user_id, clean.product_id,
                                          clean.kind, clean.time, clean.value, clean.quantity,
                                          clean.session_id, presorted=True)
                added = store.log_interactions(cols)
                summary.inserted += added
                summary.duplicates += len(cols) - added
                for k in clean.kind:
                    summary.kinds[k] = summary.kinds.get(k, 0) + 1
            if bar is not None:
                bar.update(len(batch) + len(batch.problems))
            if stop is not None:
                summary.rejects_file = str(rejects.path)
                loaded = summary.inserted + summary.duplicates
                raise InteractionImportError(
                    f"{where}: row {stop.row}: {stop.field}: {stop.reason}; the {loaded:,} "
                    f"valid rows before it were stored (a re-run adds only the rest); fix the "
                    f"row, or pass --skip-invalid to write bad rows to the rejects file and go "
                    f"on")
    finally:
        rejects.close()
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - t0
    if rejects.written:
        summary.rejects_file = str(rejects.path)
    loaded = summary.inserted + summary.duplicates
    if loaded == 0:
        if summary.read == 0:
            raise InteractionImportError(f"{where}: no interactions in the file (no data rows)")
        raise InteractionImportError(
            f"{where}: nothing loaded: all {summary.read:,} rows were rejected "
            f"({summary.unknown_products:,} unknown products, {summary.invalid:,} invalid); "
            f"reasons in {summary.rejects_file}")
    return summary


def _before(clean: Any, row: int) -> Any:
    """The rows of ``clean`` numbered below ``row``."""
    import numpy as np

    keep = np.flatnonzero(clean.rows < row)
    pick = keep.tolist()

    def sub(values: Sequence[Any]) -> list[Any]:
        return [values[i] for i in pick]

    return type(clean)(sub(clean.event_id), sub(clean.user_id), sub(clean.product_id),
                       sub(clean.kind), sub(clean.time), sub(clean.value), sub(clean.quantity),
                       sub(clean.session_id), clean.rows[keep])
