r"""Record batches from an interactions file, streamed, never crashing.

Each reader yields :class:`RawBatch` objects: the columns of up to ``batch_size`` records as
pyarrow arrays (any type: text, numbers, timestamps), their 1-based row numbers (the header is
not counted) and the rows that could not be read at all (a CSV line with the wrong number of
cells, a JSON Lines record that is not a JSON object, nested too deeply, holds an integer too
long to convert, a lone surrogate, or bytes that are not UTF-8). Memory holds one batch.

* CSV/TSV: ``pyarrow.csv.open_csv`` (delimiter sniffed), every column read as bytes and decoded
  by the validator, so that one undecodable cell rejects its row, not the file.
* JSON Lines: read as bytes and split on ``\n`` only (U+2028/U+2029 are legal inside JSON
  strings), each line parsed by :func:`shelfwise.feeds.tabular.parse_json_object`.
* Parquet: ``ParquetFile.iter_batches`` over the needed columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shelfwise.feeds.detect import FileFormatError, sniff_delimiter
from shelfwise.feeds.tabular import parse_json_object
from shelfwise.interactions.fields import resolve_fields

__all__ = ["RawBatch", "RowProblem", "open_reader"]

_NAMES = {"csv": "CSV", "tsv": "TSV", "jsonl": "JSON Lines", "parquet": "Parquet"}
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_MAX_INT = 2**63 - 1


@dataclass(frozen=True)
class RowProblem:
    """A row rejected by the reader before any field was read."""

    row: int
    """1-based data row number."""
    field: str
    """The field at fault, or ``row`` / ``json`` for the whole record."""
    reason: str
    """What is wrong, in words."""
    raw: dict[str, Any]
    """What the record held (text cut to 200 characters)."""


@dataclass
class RawBatch:
    """Up to ``batch_size`` records of the file.

    Attributes:
        columns: field -> pyarrow array ``(n,)`` (fields without a column are absent).
        rows: int64 ``(n,)`` 1-based data row numbers, increasing.
        problems: rows the reader rejected (not in ``columns``), row numbers inside or before
            this batch's range.
        cell_problems: ``(index into the batch, field, reason)`` of cells the reader could not
            turn into a value (the row is rejected by the validator).

    """

    columns: dict[str, Any]
    rows: np.ndarray
    problems: list[RowProblem] = field(default_factory=list)
    cell_problems: list[tuple[int, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.rows.shape[0])


@dataclass
class Reader:
    """An opened interactions file: its columns and a batch iterator."""

    path: Path
    fmt: str
    header: list[str]
    """Column names as written (JSON Lines: the keys of the first batch)."""
    fields: dict[str, str]
    """field -> column as written."""
    batches: Iterator[RawBatch]
    total_rows: int | None = None
    """Number of records when known up front (Parquet)."""

    @property
    def kind(self) -> str:
        """The format's display name."""
        return _NAMES.get(self.fmt, self.fmt)


def _cut(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, str):
        return value[:200]
    return value


def open_reader(path: Path, fmt: str, mapping: Mapping[str, str], batch_size: int,
                check: Callable[[dict[str, str], list[str]], None]) -> Reader:
    """Open ``path`` for streaming.

    Args:
        path: the file.
        fmt: ``csv``, ``tsv``, ``jsonl`` or ``parquet`` (see
            :func:`shelfwise.feeds.detect.detect_format`).
        mapping: ``{field: column}`` from ``--map``.
        batch_size: records per batch, >= 1.
        check: called with the resolved fields and the header before any batch is read
            (raises when a required field has no column).

    Raises:
        FileFormatError: the format is not a table format, or the file cannot be opened.
        ConfigError: a mapped column is not in the file (from ``check`` too).
    """
    if fmt in ("csv", "tsv"):
        return _open_csv(path, fmt, mapping, batch_size, check)
    if fmt == "jsonl":
        return _open_jsonl(path, mapping, batch_size, check)
    if fmt == "parquet":
        return _open_parquet(path, mapping, batch_size, check)
    raise FileFormatError(f"{path}: {fmt} is not a format for interactions; use CSV, TSV, "
                          "JSON Lines or Parquet")


# ---- CSV / TSV ---------------------------------------------------------------------------------

def _open_csv(path: Path, fmt: str, mapping: Mapping[str, str], batch_size: int,
              check: Callable[[dict[str, str], list[str]], None]) -> Reader:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        with path.open("rb") as fh:
            head = fh.read(64 * 1024)
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    delimiter = "\t" if fmt == "tsv" else sniff_delimiter(
        head.decode("utf-8", errors="replace").lstrip("\ufeff"))
    kind = _NAMES[fmt]
    try:
        probe = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16,
                                                                     use_threads=False),
                               parse_options=pacsv.ParseOptions(
                                   delimiter=delimiter, invalid_row_handler=lambda _r: "skip"))
        header = [str(n) for n in probe.schema.names]
        probe.close()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileFormatError(f"{path}: not a readable {kind} file: {exc}") from exc
    fields = resolve_fields(header, mapping, str(path))
    check(fields, header)
    bad_lines: list[tuple[int | None, int, int, str]] = []

    def on_invalid(row: Any) -> str:
        bad_lines.append((row.number, row.expected_columns, row.actual_columns,
                          str(row.text or "")[:200]))
        return "skip"

    wanted = list(dict.fromkeys(fields.values()))
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=max(1 << 20, min(batch_size * 64, 1 << 26)),
                                           use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted, column_types=dict.fromkeys(wanted, pa.binary()),
                strings_can_be_null=True, quoted_strings_can_be_null=True,
                null_values=[""]))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileFormatError(f"{path}: not a readable {kind} file: {exc}") from exc
    return Reader(path, fmt, header, fields, _csv_batches(reader, path, kind, fields, batch_size,
                                                          bad_lines))


def _csv_batches(reader: Any, path: Path, kind: str, fields: dict[str, str], batch_size: int,
                 bad_lines: list[tuple[int | None, int, int, str]]) -> Iterator[RawBatch]:
    import pyarrow as pa

    next_row = 1
    pending: dict[int, RowProblem] = {}  # data row number -> problem, for skipped lines

    def take_bad_lines() -> None:
        while bad_lines:
            line, expected, actual, text = bad_lines.pop(0)
            row = max(next_row, (line - 1) if line else next_row)
            while row in pending:
                row += 1
            where = f" (line {line})" if line else ""
            pending[row] = RowProblem(row, "row", f"malformed {kind} row{where}: expected "
                                      f"{expected} cells, got {actual}", {"line": text})

    buffered: list[Any] = []
    buffered_n = 0

    def emit(batches: list[Any]) -> RawBatch:
        nonlocal next_row
        table = pa.Table.from_batches(batches)
        n = table.num_rows
        numbers = np.empty(n, dtype=np.int64)
        take_bad_lines()
        problems: list[RowProblem] = []
        r = next_row
        for i in range(n):
            while r in pending:
                problems.append(pending.pop(r))
                r += 1
            numbers[i] = r
            r += 1
        next_row = r
        cols = {f: table.column(c).combine_chunks() for f, c in fields.items()}
        return RawBatch(cols, numbers, problems)

    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            buffered.append(batch)
            buffered_n += batch.num_rows
            while buffered_n >= batch_size:
                table = pa.Table.from_batches(buffered)
                head, rest = table.slice(0, batch_size), table.slice(batch_size)
                yield emit(head.to_batches())
                buffered = rest.to_batches()
                buffered_n = rest.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileFormatError(f"{path}: malformed {kind} after row {next_row - 1 + buffered_n}: "
                              f"{exc}") from exc
    finally:
        reader.close()
    if buffered_n:
        yield emit(buffered)
    take_bad_lines()
    if pending:
        yield RawBatch({}, np.zeros(0, dtype=np.int64), [pending[k] for k in sorted(pending)])


# ---- JSON Lines --------------------------------------------------------------------------------

def _open_jsonl(path: Path, mapping: Mapping[str, str], batch_size: int,
                check: Callable[[dict[str, str], list[str]], None]) -> Reader:
    import itertools

    try:
        fh = path.open("rb")
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    lines = _json_lines(fh, path)
    first = list(itertools.islice(lines, batch_size))
    # the header of a JSON Lines file: the keys seen in its first batch
    table = _fast_json(first)
    parsed = None
    if table is not None:
        header = [str(c) for c in table.column_names]
    else:
        parsed = list(_json_records(first))
        seen: dict[str, None] = {}
        for _n, obj, _p in parsed:
            for key in obj or ():
                seen.setdefault(str(key), None)
        header = list(seen)
    fields = resolve_fields(header, mapping, str(path))
    check(fields, header)

    def batches() -> Iterator[RawBatch]:
        try:
            if table is not None:
                yield _table_batch(table, first, fields)
            elif parsed:
                yield _json_batch(parsed, fields)
            while chunk := list(itertools.islice(lines, batch_size)):
                fast = _fast_json(chunk)
                yield _table_batch(fast, chunk, fields) if fast is not None else \
                    _json_batch(list(_json_records(chunk)), fields)
        finally:
            fh.close()

    return Reader(path, "jsonl", header, fields, batches())


def _json_lines(fh: Any, path: Path) -> Iterator[tuple[int, bytes]]:
    r"""``(row number, line)`` of every non-blank line; only ``\n`` ends a line."""
    number = 0
    try:
        for raw in fh:  # binary file objects split on b"\n" only
            raw = raw.rstrip(b"\r\n")
            if number == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            number += 1
            yield number, raw
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read file after row {number}: "
                              f"{exc.strerror or exc}") from exc


def _fast_json(chunk: Sequence[tuple[int, bytes]]) -> Any:
    """The chunk parsed by pyarrow's JSON reader, or None when any line needs the careful path.

    pyarrow refuses what the careful path names row by row (invalid JSON, lone surrogates,
    numbers beyond a double, a column that changes type, deep nesting); any refusal sends the
    whole chunk there.
    """
    if not chunk:
        return None
    import io

    import pyarrow as pa
    import pyarrow.json as pajson

    data = b"\n".join(raw for _n, raw in chunk)
    if not data.lstrip().startswith(b"{"):
        return None
    try:
        table = pajson.read_json(io.BytesIO(data), read_options=pajson.ReadOptions(
            use_threads=False, block_size=max(1 << 20, len(data) + 1)))
        for column in table.columns:
            column.validate(full=True)
    except (pa.ArrowException, ValueError, RecursionError):
        return None
    return table if table.num_rows == len(chunk) else None


def _table_batch(table: Any, chunk: Sequence[tuple[int, bytes]],
                 fields: Mapping[str, str]) -> RawBatch:
    import pyarrow as pa

    rows = np.fromiter((n for n, _raw in chunk), dtype=np.int64, count=len(chunk))
    names = set(table.column_names)
    cols = {f: (table.column(k).combine_chunks() if k in names else pa.nulls(len(chunk)))
            for f, k in fields.items()}
    return RawBatch(cols, rows)


def _json_records(chunk: Sequence[tuple[int, bytes]]) -> Iterator[
        tuple[int, dict[str, Any] | None, RowProblem | None]]:
    """``(row, object or None, problem or None)`` per line, parsed one by one."""
    for number, raw in chunk:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, None, RowProblem(number, "row", "not valid UTF-8 text (byte "
                                           f"{exc.start + 1} of the line)", {"line": _cut(raw)})
            continue
        obj, reason = parse_json_object(line)
        if obj is None:
            yield number, None, RowProblem(number, "json", reason or "not valid JSON",
                                           {"line": line[:200]})
            continue
        if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(obj):
            yield number, None, RowProblem(number, "row", "holds a lone surrogate code point "
                                           "(\\ud800-\\udfff), not valid Unicode text",
                                           {"line": line[:200]})
            continue
        yield number, obj, None


def _has_lone_surrogate(obj: Any) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):  # pragma: no cover - parsed JSON always dumps
        return True
    return False


def _json_batch(chunk: Sequence[tuple[int, dict[str, Any] | None, RowProblem | None]],
                fields: Mapping[str, str]) -> RawBatch:
    import pyarrow as pa

    problems = [p for _n, _o, p in chunk if p is not None]
    good = [(n, o) for n, o, _p in chunk if o is not None]
    rows = np.fromiter((n for n, _o in good), dtype=np.int64, count=len(good))
    cols: dict[str, Any] = {}
    cell_problems: list[tuple[int, str, str]] = []
    for fld, key in fields.items():
        values: list[Any] = []
        has_text = has_float = False
        for i, (_n, obj) in enumerate(good):
            v = obj.get(key)
            if isinstance(v, bool):
                cell_problems.append((i, fld, f"must be text or a number, got {str(v).lower()}"))
                v = None
            elif isinstance(v, int):
                if abs(v) > _MAX_INT:
                    cell_problems.append((i, fld, f"number too large ({len(str(abs(v)))} "
                                                  "digits)"))
                    v = None
            elif isinstance(v, float):
                has_float = True
            elif isinstance(v, str):
                has_text = True
            elif v is not None:
                what = "an object" if isinstance(v, dict) else "an array" \
                    if isinstance(v, list) else type(v).__name__
                cell_problems.append((i, fld, f"must be a single value, got {what}"))
                v = None
            values.append(v)
        if has_text:
            values = [v if v is None or isinstance(v, str) else
                      (repr(v) if isinstance(v, float) else str(v)) for v in values]
            cols[fld] = pa.array(values, type=pa.string())
        elif has_float:
            cols[fld] = pa.array(values, type=pa.float64())
        else:
            cols[fld] = pa.array(values, type=pa.int64())
    return RawBatch(cols, rows, problems, cell_problems)


# ---- Parquet -----------------------------------------------------------------------------------

def _open_parquet(path: Path, mapping: Mapping[str, str], batch_size: int,
                  check: Callable[[dict[str, str], list[str]], None]) -> Reader:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        header = [str(n) for n in pf.schema_arrow.names]
        total = int(pf.metadata.num_rows)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileFormatError(f"{path}: not a readable Parquet file: {exc}") from exc
    fields = resolve_fields(header, mapping, str(path))
    check(fields, header)

    def batches() -> Iterator[RawBatch]:
        start = 1
        wanted = list(dict.fromkeys(fields.values()))
        try:
            for rb in pf.iter_batches(batch_size=batch_size, columns=wanted):
                n = rb.num_rows
                cols = {f: rb.column(rb.schema.get_field_index(c)) for f, c in fields.items()}
                yield RawBatch(cols, np.arange(start, start + n, dtype=np.int64))
                start += n
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise FileFormatError(f"{path}: not a readable Parquet file after row {start - 1}: "
                                  f"{exc}") from exc
        finally:
            pf.close()

    return Reader(path, "parquet", header, fields, batches(), total)
