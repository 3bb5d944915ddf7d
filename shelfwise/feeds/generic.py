"""Any table (CSV, TSV, JSON Lines, Parquet) read through a column map.

A column is found for each product field by, in order: the column map (``--map`` /
``[catalog] columns``), a column of the same name (case, spacing, ``_``/``-`` ignored), then a
few common aliases: ``link``/``product_url`` for ``url``; ``image_link``/``image_url``/
``image_src`` for ``image``; ``availability``/``stock`` for ``in_stock``; ``body_html`` for
``description``; ``cpc``/``cost_per_click``/``max_cpc`` for ``bid``; ``is_sponsored``/
``promoted`` for ``sponsored``. Columns named ``attr_<name>`` become attributes (so ``--map
attr_brand=Vendor`` adds one). Any other column is not loaded and is listed in the summary.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from shelfwise.catalog import KNOWN_FIELDS, REQUIRED_FIELDS
from shelfwise.errors import CatalogError
from shelfwise.feeds.columns import normalize_header, resolve_columns
from shelfwise.feeds.records import FeedRecord
from shelfwise.feeds.tabular import Table

# one list of product fields, owned by the catalog (the Product record)
FIELDS = KNOWN_FIELDS
"""Product fields a generic table may hold."""
REQUIRED = REQUIRED_FIELDS
"""Fields every generic table must have a column for."""
ALIASES = {
    "url": ("link", "product_url", "product_link", "page_url"),
    "image": ("image_link", "image_url", "image_src"),
    "in_stock": ("availability", "stock"),
    "description": ("body_html",),
    "bid": ("cpc", "cost_per_click", "max_cpc"),
    "sponsored": ("is_sponsored", "promoted"),
}
"""Other column names accepted for a field when no column has the field's own name."""


@dataclass
class GenericColumns:
    """Which column feeds which field.

    Attributes:
        fields: Product field -> column name as written in the file.
        attrs: ``attr_<name>`` attribute key -> column name.
        ignored: Columns that feed nothing.
    """

    fields: dict[str, str]
    attrs: dict[str, str]
    ignored: list[str]


def plan_columns(table: Table, mapping: Mapping[str, str] | None) -> GenericColumns:
    """Match the table's header to product fields.

    Raises:
        ConfigError: a mapped column that the file does not have.
        CatalogError: a fixed-header file without a column for a required field.
    """
    fields = resolve_columns(table.header, FIELDS, mapping)
    by_norm = {normalize_header(c): c for c in reversed(table.header)}
    for field_name, names in ALIASES.items():
        if field_name not in fields:
            found = next((by_norm[n] for n in names if n in by_norm), None)
            if found is not None:
                fields[field_name] = found
    attrs: dict[str, str] = {}
    for column in table.header:
        key = normalize_header(column)
        if key.startswith("attr_") and len(key) > 5 and column not in fields.values():
            attrs.setdefault(key[5:], column)
    for target, column in fields.items():
        if target.startswith("attr_") and len(target) > 5:
            attrs[target[5:]] = column
    fields = {k: v for k, v in fields.items() if not k.startswith("attr_")}
    unknown = [k for k in fields if k not in FIELDS]
    if unknown:
        from shelfwise.errors import ConfigError

        raise ConfigError(
            f"column map names unknown field(s) {', '.join(unknown)}; fields are: "
            f"{', '.join(FIELDS)}, or attr_<name> for an attribute"
        )
    used = set(fields.values()) | set(attrs.values())
    ignored = [c for c in table.header if c not in used]
    if table.fixed_header:
        missing = [f for f in REQUIRED if f not in fields]
        if missing:
            raise CatalogError(
                f"{table.path}: {table.kind} header lacks required column(s) "
                f"{', '.join(missing)}; found: {', '.join(table.header)}. Name the columns "
                f"with --map FIELD=COLUMN (e.g. --map title=Name) or [catalog] columns in "
                "shelfwise.toml"
            )
    return GenericColumns(fields, attrs, ignored)


def generic_records(table: Table, plan: GenericColumns) -> Iterator[FeedRecord]:
    """Records of a generic table, one per row, with fields taken from ``plan``."""
    columns = {f: c for f, c in plan.fields.items() if c != f}
    columns.update({f"attributes.{k}": c for k, c in plan.attrs.items()})
    for row in table.rows:
        values = {f: row.cells[c] for f, c in plan.fields.items() if c in row.cells}
        for key, column in plan.attrs.items():
            if column in row.cells:
                values[f"attr_{key}"] = row.cells[column]
        yield FeedRecord(row.number, values, row.cells, row.error, columns=columns)
