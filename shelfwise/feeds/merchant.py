"""Google Merchant Center product data: the TSV/CSV upload and the XML (RSS 2.0 / Atom) feed.

Columns follow Google's product data specification (``g:`` prefixes allowed, names matched
with :func:`~shelfwise.feeds.columns.normalize_header`). They map onto ``Product`` so:

============================  =============================================================
``id``, ``title``             ``id``, ``title``
``description``               ``description`` (HTML becomes plain text)
``link``                      ``url``
``image_link``                ``image`` (a URL is kept, not fetched)
``price``, ``sale_price``     ``price`` is what the shopper pays now: ``sale_price`` when
                              given (the regular price is kept as attribute
                              ``regular_price``), else ``price``; the currency comes from
                              the price text (``"15.00 USD"``)
``availability``              ``in_stock`` (``preorder``/``backorder`` count as not in stock;
                              the word is kept as attribute ``availability``)
``product_type``,             ``category``: the last segment of ``product_type``
``google_product_category``   (``"Apparel > Jackets"`` -> ``jackets``), else of
                              ``google_product_category`` unless it is a bare numeric id,
                              else ``uncategorized``; both full paths stay as attributes
``color``                     attribute ``colour`` (shelfwise's own key)
everything else               attributes under their spec name (``brand``, ``material``,
                              ``pattern``, ``size``, ``gender``, ``age_group``,
                              ``condition``, ``gtin``, ``mpn``, ``item_group_id``,
                              ``additional_image_link``, ``shipping``...)
============================  =============================================================

The XML feed is parsed with defusedxml (entity declarations refused, so an entity-expansion
bomb is a named error) and streamed item by item. Repeated elements (several
``additional_image_link``) are joined with ``,``; a nested element such as ``g:shipping``
becomes ``country:region:service:price`` as in the TSV format.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from shelfwise.feeds.columns import normalize_header
from shelfwise.feeds.detect import FileFormatError
from shelfwise.feeds.records import DEFAULT_CATEGORY, FeedRecord, attribute_key, category_from_path
from shelfwise.feeds.tabular import Table

NAMESPACE = "http://base.google.com/ns/1.0"
"""The ``g:`` namespace of Merchant Center XML feeds."""
_ATOM = "http://www.w3.org/2005/Atom"

_DIRECT = {
    "id": "id",
    "title": "title",
    "description": "description",
    "link": "url",
    "image_link": "image",
    "price": "price",
    "sale_price": "sale_price",
    "availability": "in_stock",
}
_COLUMNS = {v: k for k, v in _DIRECT.items() if k != v}
_SIGNATURE = {"link", "image_link", "availability", "google_product_category", "gtin", "mpn"}


def merchant_key(name: str) -> str:
    """A column or element name in spec form: ``"g:image_link"`` -> ``image_link``."""
    key = normalize_header(name)
    return key[2:] if key.startswith("g_") else key


def looks_like_merchant(header: list[str]) -> bool:
    """Whether a table header is Merchant Center product data (id, title and >= 2 spec columns)."""
    keys = {merchant_key(h) for h in header}
    return {"id", "title"} <= keys and len(keys & _SIGNATURE) >= 2


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def merchant_values(cells: Mapping[str, Any]) -> dict[str, Any]:
    """Product fields from one Merchant Center item keyed by spec name (see the module table).

    Args:
        cells: Spec name (``merchant_key`` form) -> value as text.

    Returns:
        ``values`` for :class:`~shelfwise.feeds.records.FeedRecord`.
    """
    values: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for key, value in cells.items():
        if _blank(value):
            continue
        if key in _DIRECT:
            values[_DIRECT[key]] = value
        else:
            attributes[attribute_key(key)] = str(value).strip()
    category = ""
    for source in ("product_type", "google_product_category"):
        text = cells.get(source)
        if isinstance(text, str) and text.strip():
            # Several product types may be given comma-separated in TSV; the first is primary.
            category = category_from_path(text.split(",")[0] if source == "product_type" else text)
            if category:
                break
    values["category"] = category or DEFAULT_CATEGORY
    values["attributes"] = attributes
    return values


def merchant_table_records(table: Table) -> Iterator[FeedRecord]:
    """Records of a Merchant Center TSV/CSV file, one per row."""
    keys = {col: merchant_key(col) for col in table.header}
    for row in table.rows:
        cells = {keys.get(col, merchant_key(col)): value for col, value in row.cells.items()}
        yield FeedRecord(
            row.number, merchant_values(cells), row.cells, row.error, columns=_COLUMNS
        )


def _local(tag: Any) -> tuple[str, str]:
    if not isinstance(tag, str):  # comments and processing instructions
        return "", ""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _item_cells(item: Any) -> dict[str, str]:
    """Spec name -> text for one ``<item>``/``<entry>``; ``g:`` elements win over plain RSS ones."""
    plain: dict[str, list[str]] = {}
    google: dict[str, list[str]] = {}
    for child in item:
        ns, name = _local(child.tag)
        if not name:
            continue
        if len(child):
            parts = [(sub.text or "").strip() for sub in child]
            text = ":".join(parts)
        elif ns == _ATOM and name == "link":
            text = child.get("href", "") or (child.text or "")
        else:
            text = child.text or ""
        text = text.strip()
        if not text:
            continue
        target = plain if ns in ("", _ATOM) else google
        target.setdefault(merchant_key(name), []).append(text)
    merged = {k: v for k, v in plain.items()}
    merged.update(google)
    return {k: ",".join(v) for k, v in merged.items()}


def merchant_xml_records(path: Path) -> Iterator[FeedRecord]:
    """Records of a Merchant Center XML feed (RSS 2.0 ``<item>`` or Atom ``<entry>``).

    Raises:
        FileFormatError: malformed XML, entity declarations (refused: possible
            entity-expansion bomb), external references, or a feed with no items.
    """
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    number = 0
    try:
        for _event, elem in iterparse(str(path), events=("end",)):
            ns, name = _local(elem.tag)
            if name not in ("item", "entry") or ns not in ("", _ATOM):
                continue
            number += 1
            cells = _item_cells(elem)
            elem.clear()
            yield FeedRecord(
                number, merchant_values(cells), dict(cells), unit="item", columns=_COLUMNS
            )
    except DefusedXmlException as exc:
        raise FileFormatError(
            f"{path}: XML refused: {exc} (entity and external references are not allowed; "
            "they can expand into a memory bomb)"
        ) from None
    except ParseError as exc:
        raise FileFormatError(f"{path}: not well-formed XML: {exc}") from None
    except RecursionError:
        raise FileFormatError(f"{path}: XML nested too deeply to read") from None
    if number == 0:
        raise FileFormatError(
            f"{path}: no <item> or <entry> elements: not a Merchant Center XML feed"
        )
