r"""Column names as people write them: matching that ignores case and spacing, and ``--map``.

``normalize_header`` is the one rule for comparing column names everywhere (catalog and event
files): ``"Sale Price"``, ``"sale_price"``, ``"SALE-PRICE"`` and ``"\ufeffsale price"`` are
the same column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from shelfwise.errors import ConfigError

_SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)


def normalize_header(name: str) -> str:
    """The comparable form of a column name.

    Case, a byte-order mark, surrounding whitespace and runs of spaces, underscores, dashes
    and punctuation are ignored: ``"Sale Price"`` -> ``"sale_price"``,
    ``"Body (HTML)"`` -> ``"body_html"``, ``"Option1 Name"`` -> ``"option1_name"``.

    Args:
        name: A header cell, JSON key or Parquet column name.

    Returns:
        Lower-case words joined by ``_``; ``""`` for a name with no letters or digits.
    """
    text = str(name).replace("\ufeff", "").strip().casefold()
    return _SEPARATORS.sub("_", text).strip("_")


def parse_column_map(items: Sequence[str]) -> dict[str, str]:
    """Parse ``--map FIELD=COLUMN`` items into ``{field: column}``.

    The field (left side) is normalised with :func:`normalize_header`; the column (right side)
    is kept as written (surrounding whitespace and one pair of quotes removed) and matched
    against the file's header with :func:`normalize_header` later.

    Args:
        items: The raw ``--map`` values, e.g. ``["title=Name", "price=Sale Price"]``.

    Returns:
        ``{"title": "Name", "price": "Sale Price"}``.

    Raises:
        ConfigError: an item without ``=``, with an empty side, or a field mapped twice;
            the message names the item.
    """
    out: dict[str, str] = {}
    for item in items:
        target, sep, source = str(item).partition("=")
        target_key = normalize_header(target)
        source = source.strip()
        if len(source) >= 2 and source[0] == source[-1] and source[0] in "\"'":
            source = source[1:-1].strip()
        if not sep or not target_key or not source:
            raise ConfigError(
                f"--map {item!r}: expected FIELD=COLUMN, e.g. title=Name or price='Sale Price'"
            )
        if target_key in out:
            raise ConfigError(
                f"--map {item!r}: field '{target_key}' is already mapped to {out[target_key]!r}"
            )
        out[target_key] = source
    return out


def resolve_columns(
    header: Sequence[str], fields: Sequence[str], mapping: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Which header column holds each wanted field.

    A field found in ``mapping`` uses the mapped column; otherwise a column whose normalised
    name equals the field's is used.

    Args:
        header: The file's column names, as written.
        fields: Normalised field names wanted (``"title"``, ``"price"``...).
        mapping: ``{field: column}`` from :func:`parse_column_map` or the config file.

    Returns:
        ``{field: header column as written}`` for every field that was found.

    Raises:
        ConfigError: a mapped column that is not in the header; the message lists the header.
    """
    by_norm: dict[str, str] = {}
    for col in header:
        by_norm.setdefault(normalize_header(col), col)
    out: dict[str, str] = {}
    mapping = mapping or {}
    for field_name, column in mapping.items():
        found = by_norm.get(normalize_header(column))
        if found is None:
            raise ConfigError(
                f"column map {field_name}={column!r}: no such column; the file has: "
                + ", ".join(repr(c) for c in header)
            )
        out[normalize_header(field_name)] = found
    for field_name in fields:
        key = normalize_header(field_name)
        if key not in out and key in by_norm:
            out[key] = by_norm[key]
    return out
