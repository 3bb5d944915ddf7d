"""Which column of an interactions file holds which field, and what the shop's kind words mean.

Fields: ``user``, ``product``, ``time``, ``kind`` (required, ``kind`` unless a default kind is
given), ``value``, ``quantity``, ``session`` (optional). A column is found by ``--map
FIELD=COLUMN`` first, else by the usual names of the field (:data:`FIELD_NAMES`), compared with
:func:`shelfwise.feeds.columns.normalize_header` (case, spacing and punctuation ignored).

Kinds: a shop's own words are mapped to :data:`shelfwise.events.INTERACTION_KINDS` by
:data:`DEFAULT_KIND_WORDS` (``order`` and ``transaction`` are purchases, ``addtocart`` is an
add-to-cart...) and by ``--map-kind WORD=KIND``, which wins over the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shelfwise.errors import ConfigError
from shelfwise.events import INTERACTION_KINDS
from shelfwise.feeds.columns import normalize_header, parse_column_map

FIELDS = ("user", "product", "time", "kind", "value", "quantity", "session")
"""The fields of one interaction, in file-summary order."""

REQUIRED = ("user", "product", "time")
"""Fields every file must have (``kind`` too, unless a default kind is given)."""

FIELD_NAMES: Mapping[str, tuple[str, ...]] = {
    "user": ("user", "user_id", "userid", "customer", "customer_id", "customerid", "visitor",
             "visitor_id", "visitorid", "client_id", "shopper", "shopper_id"),
    "product": ("product", "product_id", "productid", "item", "item_id", "itemid", "sku",
                "offer_id", "variant_id", "article_id"),
    "time": ("time", "timestamp", "ts", "event_time", "datetime", "date", "created_at",
             "occurred_at", "event_timestamp", "time_stamp"),
    "kind": ("kind", "event", "event_type", "type", "action", "interaction", "event_name",
             "behavior", "behaviour"),
    "value": ("value", "revenue", "amount", "total", "order_value", "sales"),
    "quantity": ("quantity", "qty", "units", "count"),
    "session": ("session", "session_id", "sessionid", "visit_id", "visitid"),
}
"""Usual column names of each field (normalised), tried in this order."""

_FIELD_ALIASES = {alias: name for name, aliases in FIELD_NAMES.items() for alias in aliases}

DEFAULT_KIND_WORDS: Mapping[str, str] = {
    **{k: k for k in INTERACTION_KINDS},
    **dict.fromkeys(("views", "page_view", "pageview", "product_view", "detail_view",
                     "view_item", "detail", "visit"), "view"),
    **dict.fromkeys(("clicks", "clicked", "product_click", "select_item", "select"), "click"),
    **dict.fromkeys(("addtocart", "add_cart", "cart", "cart_add", "add", "added_to_cart",
                     "add_to_basket", "basket", "addtobasket"), "add_to_cart"),
    **dict.fromkeys(("purchases", "purchased", "buy", "bought", "order", "orders", "ordered",
                     "transaction", "checkout", "sale", "conversion"), "purchase"),
}
"""Kind words (normalised) understood without ``--map-kind``."""


def parse_field_map(items: Sequence[str]) -> dict[str, str]:
    """Parse ``--map FIELD=COLUMN`` items for an interactions file.

    The field may be written as any of its usual names (``user_id=customer`` maps ``user``).

    Raises:
        ConfigError: a malformed item, or a field that interactions do not have.
    """
    out: dict[str, str] = {}
    for key, column in parse_column_map(items).items():
        field = _FIELD_ALIASES.get(key)
        if field is None:
            raise ConfigError(f"--map {key}={column}: unknown field {key!r}; interactions have: "
                              f"{', '.join(FIELDS)}")
        if field in out:
            raise ConfigError(f"--map {key}={column}: field '{field}' is already mapped to "
                              f"{out[field]!r}")
        out[field] = column
    return out


def parse_kind_map(items: Sequence[str]) -> dict[str, str]:
    """Parse ``--map-kind WORD=KIND`` items into ``{normalised word: kind}``.

    Raises:
        ConfigError: a malformed item, or a target that is not one of
            :data:`~shelfwise.events.INTERACTION_KINDS`.
    """
    out: dict[str, str] = {}
    for item in items:
        word, sep, kind = str(item).partition("=")
        key, target = normalize_header(word), normalize_header(kind)
        target = DEFAULT_KIND_WORDS.get(target, target) if target not in INTERACTION_KINDS \
            else target
        if not sep or not key or not target:
            raise ConfigError(f"--map-kind {item!r}: expected WORD=KIND, e.g. order=purchase")
        if target not in INTERACTION_KINDS:
            raise ConfigError(f"--map-kind {item!r}: {kind.strip()!r} is not a kind; choose one "
                              f"of: {', '.join(INTERACTION_KINDS)}")
        out[key] = target
    return out


def kind_table(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Normalised kind word -> kind: the defaults, overridden by ``extra``."""
    return {**DEFAULT_KIND_WORDS, **(extra or {})}


def resolve_fields(header: Sequence[str], mapping: Mapping[str, str],
                   where: str) -> dict[str, str]:
    """Which column holds each field: ``{field: column as written}`` for the fields found.

    Args:
        header: the file's column names (JSON Lines: the keys seen so far).
        mapping: ``{field: column}`` from :func:`parse_field_map`.
        where: the file, for messages.

    Raises:
        ConfigError: a mapped column that the file does not have (the message lists them).
    """
    by_norm: dict[str, str] = {}
    for col in header:
        by_norm.setdefault(normalize_header(col), col)
    out: dict[str, str] = {}
    for field, column in mapping.items():
        found = by_norm.get(normalize_header(column))
        if found is None:
            raise ConfigError(f"{where}: --map {field}={column}: no such column; the file has: "
                              + (", ".join(repr(c) for c in header) or "(no columns)"))
        out[field] = found
    taken = set(out.values())
    for field in FIELDS:
        if field in out:
            continue
        for name in FIELD_NAMES[field]:
            col = by_norm.get(name)
            if col is not None and col not in taken:
                out[field] = col
                taken.add(col)
                break
    return out


def check_required(found: Mapping[str, str], header: Sequence[str], where: str,
                   default_kind: str | None) -> None:
    """Raise a named error when a required field has no column.

    Raises:
        ConfigError: the message names the field, the names tried and the file's columns.
    """
    need = [*REQUIRED, *([] if default_kind else ["kind"])]
    for field in need:
        if field not in found:
            hint = (" or give --kind for a file of one kind (e.g. --kind purchase)"
                    if field == "kind" else "")
            raise ConfigError(
                f"{where}: no {field} column (looked for {', '.join(FIELD_NAMES[field][:6])}...); "
                f"map one with --map {field}=COLUMN{hint}; the file has: "
                + (", ".join(repr(c) for c in header) or "(no columns)"))
