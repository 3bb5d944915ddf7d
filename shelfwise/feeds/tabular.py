r"""Rows of a table file (CSV, TSV, JSON Lines, Parquet) as plain dicts, never crashing.

Every hazard a hostile or broken file can hold ends as a named file error
(:class:`~shelfwise.feeds.detect.FileFormatError`) or a named row error carried on the row:
bytes that are not UTF-8 (kept as lone surrogates and named by the row validator), JSON nested
too deeply to parse (``RecursionError``), integers too long for Python to convert, numbers
beyond a float (``1e400`` gives ``inf``, refused later by the field validator), lone surrogate
code points (``"\ud800"``), and U+2028/U+2029 inside JSON Lines (lines are split on ``\n``
only; ``str.splitlines`` would cut a row in two).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shelfwise.feeds.detect import FileFormatError, sniff_delimiter

_NAMES = {"csv": "CSV", "tsv": "TSV", "jsonl": "JSON Lines", "parquet": "Parquet"}


@dataclass
class SourceRow:
    """One record of the file as read, before any field is interpreted.

    Attributes:
        number: 1-based position among the data rows (the header is not counted).
        cells: Column name (as written in the file) -> value (text for CSV/TSV; JSON or
            Parquet values otherwise).
        error: ``(field, reason)`` when the record could not even be read (bad JSON, wrong
            number of cells); the record is then rejected with that reason.
    """

    number: int
    cells: dict[str, Any]
    error: tuple[str, str] | None = None


@dataclass
class Table:
    """A table file's header and records.

    Attributes:
        path: The file.
        fmt: ``csv``, ``tsv``, ``jsonl`` or ``parquet``.
        header: Column names as written, in file order (for JSON Lines the union of the keys,
            in order of first appearance).
        rows: The records.
        fixed_header: Whether every record has the same columns (CSV, TSV, Parquet).
    """

    path: Path
    fmt: str
    header: list[str]
    rows: list[SourceRow] = field(default_factory=list)
    fixed_header: bool = True

    @property
    def kind(self) -> str:
        """The format's display name (``"CSV"``, ``"JSON Lines"``...)."""
        return _NAMES.get(self.fmt, self.fmt)


def read_text(path: Path) -> str:
    """The file decoded as UTF-8 (a BOM dropped; undecodable bytes kept as lone surrogates).

    Raises:
        FileFormatError: the file cannot be read.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="surrogateescape")


def _read_delimited(path: Path, fmt: str) -> Table:
    text = read_text(path)
    delimiter = "\t" if fmt == "tsv" else sniff_delimiter(text)
    if delimiter == "\t" and fmt == "csv":
        fmt = "tsv"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    kind = _NAMES[fmt]
    try:
        header = next(reader, None)
        while header is not None and not any(c.strip() for c in header):
            header = next(reader, None)
        if header is None:
            raise FileFormatError(f"{path}: empty {kind} file (no header row)")
        header = [h.strip() for h in header]
        table = Table(path, fmt, header)
        number = 0
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            number += 1
            if len(cells) > len(header):
                extra = [c for c in cells[len(header) :] if c.strip()]
                if extra:
                    table.rows.append(
                        SourceRow(
                            number,
                            dict(zip(header, cells, strict=False)),
                            ("row", f"has {len(cells)} cells but the header has {len(header)}"),
                        )
                    )
                    continue
            row = dict(zip(header, cells, strict=False))
            for name in header[len(cells) :]:
                row.setdefault(name, "")
            table.rows.append(SourceRow(number, row))
    except csv.Error as exc:
        raise FileFormatError(f"{path}: line {reader.line_num}: malformed {kind}: {exc}") from exc
    return table


def parse_json_object(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """Parse one JSON Lines record without ever raising.

    Returns:
        ``(object, None)``, or ``(None, reason)`` for invalid JSON, nesting too deep to
        parse, an integer too long to convert, or a value that is not an object.
    """
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} (column {exc.colno})"
    except RecursionError:
        return None, "JSON nested too deeply to read"
    except ValueError as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string..."
        return None, f"not readable JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"each line must be a JSON object, got {type(value).__name__}"
    return value, None


def _read_jsonl(path: Path) -> Table:
    text = read_text(path)
    table = Table(path, "jsonl", [], fixed_header=False)
    seen: dict[str, None] = {}
    number = 0
    # Only "\n" ends a record: str.splitlines also splits on U+2028/U+2029, \x1c-\x1e, \x85,
    # all of which JSON strings may hold unescaped.
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        number += 1
        obj, reason = parse_json_object(line)
        if obj is None:
            table.rows.append(SourceRow(number, {"line": line[:200]}, ("json", reason or "")))
            continue
        for key in obj:
            seen.setdefault(str(key), None)
        table.rows.append(SourceRow(number, {str(k): v for k, v in obj.items()}))
    if not table.rows:
        raise FileFormatError(f"{path}: empty JSON Lines file (no records)")
    table.header = list(seen)
    return table


def _read_parquet(path: Path) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        data = pq.read_table(path)
        records = data.to_pylist()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileFormatError(f"{path}: not a readable Parquet file: {exc}") from exc
    table = Table(path, "parquet", [str(c) for c in data.column_names])
    table.rows = [
        SourceRow(i, {str(k): v for k, v in r.items()}) for i, r in enumerate(records, start=1)
    ]
    return table


def read_table(path: Path, fmt: str) -> Table:
    """Read a CSV, TSV, JSON Lines or Parquet file.

    Args:
        path: The file.
        fmt: ``csv`` (delimiter sniffed: comma, semicolon, pipe or tab), ``tsv``, ``jsonl``
            or ``parquet``.

    Raises:
        FileFormatError: unreadable, empty or malformed beyond one row (a broken CSV quote).
    """
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, fmt)
    if fmt == "jsonl":
        return _read_jsonl(path)
    if fmt == "parquet":
        return _read_parquet(path)
    raise FileFormatError(f"{path}: {fmt!r} is not a table format (csv, tsv, jsonl, parquet)")
