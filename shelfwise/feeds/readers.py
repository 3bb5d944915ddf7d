"""Pick the reader for a catalog file: by ``--format`` or by content and header.

Detection (``auto``): XML is a Merchant Center feed; a CSV/TSV whose header has ``Handle``
and variant columns is a Shopify export; one with ``id``, ``title`` and at least two of
Google's own columns (``link``, ``image_link``, ``availability``, ``gtin``...) is Merchant
Center product data; anything else (and JSON Lines, Parquet) is a generic table read through
the column map. The column map applies to generic tables only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shelfwise.errors import ConfigError
from shelfwise.feeds.detect import FileFormatError, detect_format
from shelfwise.feeds.generic import generic_records, plan_columns
from shelfwise.feeds.merchant import (
    looks_like_merchant,
    merchant_table_records,
    merchant_xml_records,
)
from shelfwise.feeds.records import FeedRecord
from shelfwise.feeds.shopify import looks_like_shopify, shopify_records
from shelfwise.feeds.tabular import read_table

CATALOG_FORMATS = (
    "auto",
    "csv",
    "tsv",
    "jsonl",
    "parquet",
    "merchant-tsv",
    "merchant-xml",
    "shopify",
)
"""Values of ``shelfwise ingest --format``."""


@dataclass
class Feed:
    """An opened catalog file.

    Attributes:
        format: The reader used (one of :data:`CATALOG_FORMATS` but ``auto``).
        records: The products, lazily (errors in a streamed XML file surface while iterating).
        ignored_columns: Columns of a generic table that feed no product field.
    """

    format: str
    records: Iterator[FeedRecord]
    ignored_columns: list[str] = field(default_factory=list)


def open_feed(
    path: Path,
    fmt: str | None = None,
    *,
    column_map: Mapping[str, str] | None = None,
    map_given: bool = False,
    shop_url: str | None = None,
) -> Feed:
    """Open a catalog file with the right reader.

    Args:
        path: The file.
        fmt: One of :data:`CATALOG_FORMATS`; ``None`` = ``auto``.
        column_map: ``{field: column}`` for generic tables.
        map_given: The map came from the command line: using it on a Merchant Center or
            Shopify file is then an error rather than silently unused (a map from the config
            file applies to generic tables only, without complaint).
        shop_url: The shop's address, for Shopify product links.

    Raises:
        ConfigError: unknown format, or a command-line map on a feed format.
        FileFormatError: the file is empty, binary, malformed, or not what ``fmt`` says.
        CatalogError: a generic table without a column for a required field.
    """
    fmt = fmt or "auto"
    if fmt not in CATALOG_FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}; choose one of: {', '.join(CATALOG_FORMATS)}")
    physical = detect_format(path, fmt if fmt in ("csv", "tsv", "jsonl", "parquet") else None)
    if fmt == "merchant-xml" or (fmt == "auto" and physical == "xml"):
        if physical != "xml" and fmt == "merchant-xml":
            raise FileFormatError(f"{path}: --format merchant-xml, but the file is {physical}")
        return _feed("merchant-xml", merchant_xml_records(path), map_given)
    if physical == "xml":
        raise FileFormatError(f"{path}: an XML file; use --format merchant-xml or auto")
    if fmt in ("merchant-tsv", "shopify") and physical not in ("csv", "tsv"):
        raise FileFormatError(f"{path}: --format {fmt} needs a CSV/TSV file, this is {physical}")
    table = read_table(path, physical)
    dialect = fmt
    if fmt == "auto":
        dialect = physical
        if physical in ("csv", "tsv"):
            if looks_like_shopify(table.header):
                dialect = "shopify"
            elif looks_like_merchant(table.header):
                dialect = "merchant-tsv"
    if dialect == "shopify":
        if not looks_like_shopify(table.header):
            raise FileFormatError(
                f"{path}: not a Shopify product export: the header needs Handle and "
                f"Variant Price; found: {', '.join(table.header)}"
            )
        return _feed("shopify", shopify_records(table, shop_url=shop_url), map_given)
    if dialect == "merchant-tsv":
        from shelfwise.feeds.merchant import merchant_key

        keys = {merchant_key(h) for h in table.header}
        if not {"id", "title"} <= keys:
            raise FileFormatError(
                f"{path}: not Merchant Center product data: the header needs id and title; "
                f"found: {', '.join(table.header)}"
            )
        return _feed("merchant-tsv", merchant_table_records(table), map_given)
    plan = plan_columns(table, column_map)
    return Feed(table.fmt, generic_records(table, plan), plan.ignored)


def _feed(name: str, records: Iterator[FeedRecord], map_given: bool) -> Feed:
    if map_given:
        raise ConfigError(
            f"--map applies to plain tables, but this file is read as {name}, whose columns "
            "are known; drop --map, or force a plain table with --format csv/tsv"
        )
    return Feed(name, records)
