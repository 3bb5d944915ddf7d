"""Which format a data file is in: by content where the extension does not settle it.

Physical formats: ``csv`` (comma, semicolon or pipe separated), ``tsv`` (tab separated),
``jsonl`` (one JSON object per line), ``parquet`` and ``xml``. The content decides: Parquet
by its ``PAR1`` magic, XML by a leading ``<``, JSON Lines by a leading ``{``, and the
delimiter of a text table by counting separators in its header row, so a tab-separated
Merchant Center export named ``.csv`` or ``.txt`` is read as TSV. Binary data that is none
of these (a spreadsheet, an archive, random bytes) and empty files get a named error.
"""

from __future__ import annotations

from pathlib import Path

from shelfwise.errors import ShelfwiseError

FORMATS = ("csv", "tsv", "jsonl", "parquet", "xml")
"""The physical formats :func:`detect_format` returns."""

PARQUET_MAGIC = b"PAR1"
_SAMPLE_BYTES = 64 * 1024
_DELIMITERS = (",", "\t", ";", "|")
_KNOWN_SUFFIXES = {
    "": None,
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": None,
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xml": "xml",
    ".rss": "xml",
    ".atom": "xml",
}
_SPREADSHEETS = {".xlsx", ".xls", ".xlsm", ".ods", ".numbers"}


class FileFormatError(ShelfwiseError):
    """A data file is empty, binary garbage, or not in the format it claims or was told."""


def sniff_delimiter(sample: str) -> str:
    """The field separator of a delimited text table, from its first record.

    Counts ``,``, tab, ``;`` and ``|`` outside double quotes in the header record and picks
    the most frequent (ties go to the order just given); a single-column table gives ``,``.

    Args:
        sample: The beginning of the file, decoded.
    """
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in sample:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "\r\n":
            break
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: (counts[d], -_DELIMITERS.index(d)))
    return best if counts[best] else ","


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 0x20 and b not in (0x09, 0x0A, 0x0D)) + sample.count(
        0x7F
    )
    return control > max(2, len(sample) // 20)


def detect_format(path: Path, forced: str | None) -> str:
    """The physical format of ``path``: one of :data:`FORMATS`.

    Args:
        path: An existing file.
        forced: A format the user chose (``--format``); returned as is after checking that it
            is known. ``None`` or ``"auto"`` detects by content.

    Returns:
        ``"csv"``, ``"tsv"``, ``"jsonl"``, ``"parquet"`` or ``"xml"``.

    Raises:
        FileFormatError: unknown ``forced`` value, unreadable or empty file, binary data that
            is not Parquet, a JSON array instead of JSON Lines, a spreadsheet, or a
            ``.parquet`` file without the Parquet magic. The message names the file.
    """
    path = Path(path)
    if forced is not None and forced != "auto":
        if forced not in FORMATS:
            raise FileFormatError(
                f"unknown format {forced!r}; choose one of: auto, {', '.join(FORMATS)}"
            )
        return forced
    suffix = path.suffix.lower()
    if suffix in _SPREADSHEETS:
        raise FileFormatError(
            f"{path}: unsupported file format {suffix!r} (a spreadsheet); export it as CSV"
        )
    if suffix not in _KNOWN_SUFFIXES:
        raise FileFormatError(
            f"{path}: unsupported file format {suffix!r}; use one of: "
            f"{', '.join(s for s in _KNOWN_SUFFIXES if s)}, or --format to force one"
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(_SAMPLE_BYTES)
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if _KNOWN_SUFFIXES[suffix] == "parquet":
        raise FileFormatError(f"{path}: not a readable Parquet file (no PAR1 magic bytes)")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if not head.strip():
        raise FileFormatError(f"{path}: the file is empty")
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise FileFormatError(
            f"{path}: a ZIP archive or Office document, not a data file; export it as CSV"
        )
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ")):
        raise FileFormatError(f"{path}: a compressed file; decompress it first")
    if _looks_binary(head):
        raise FileFormatError(f"{path}: binary data, not CSV, TSV, JSON Lines, Parquet or XML")
    text = head.decode("utf-8", errors="replace").lstrip()
    if text.startswith("<"):
        return "xml"
    if text.startswith("{"):
        return "jsonl"
    if text.startswith("["):
        raise FileFormatError(
            f"{path}: a JSON array; write JSON Lines instead (one JSON object per line)"
        )
    if _KNOWN_SUFFIXES[suffix] in ("jsonl", "xml"):
        kind = "JSON Lines" if _KNOWN_SUFFIXES[suffix] == "jsonl" else "XML"
        raise FileFormatError(
            f"{path}: not {kind}: the file does not start with "
            f"{'{' if kind == 'JSON Lines' else '<'}"
        )
    return "tsv" if sniff_delimiter(text) == "\t" else "csv"
