"""Shopify product CSV export: one product from its row and its variant and image rows.

Shopify writes one row per variant and per extra image; only a product's first row carries
the product columns (``Title``, ``Body (HTML)``, ``Vendor``...), the others repeat the
``Handle`` and fill only variant or image columns. Rows are grouped by ``Handle``:

* ``id`` is the handle; ``url`` is ``<shop_url>/products/<handle>`` when a shop address is
  given (``--shop-url`` or ``[catalog] shop_url``), else empty (the export has no domain).
* ``price`` is the lowest ``Variant Price``; the highest is kept as attribute ``max_price``
  when the variants differ, the lowest ``Variant Compare At Price`` above the price as
  ``compare_at_price``. The export carries no currency: the configured default applies.
* Options (``Option1 Name``/``Option1 Value``...) become attributes named after the option,
  the values of all variants joined with ``", "`` (``size: S, M, L``); Shopify's
  placeholder option ``Title: Default Title`` is dropped; ``Color`` is stored as ``colour``.
* ``image`` is the ``Image Src`` with the lowest ``Image Position`` (else the first one, else
  the first ``Variant Image``).
* ``Vendor`` -> attribute ``brand``; ``Tags`` -> attribute ``tags``; ``Type`` -> ``category``
  (fallback: last segment of ``Product Category``, else ``uncategorized``).
* ``in_stock``: when any variant's ``Variant Inventory Qty`` is given, in stock when their
  sum is above 0; a product sold out but set to keep selling (``Variant Inventory Policy``
  ``continue``) is a backorder, hence not in stock. The sum is kept as
  ``inventory_quantity``. Without quantities the product is in stock.
* **Drafts are not loaded**: ``Status`` ``draft`` or ``archived``, or ``Published`` false,
  skips the product with that reason in the rejects file and the summary (never silently;
  such products are not for sale).

A variant row whose handle has no product row before it is refused with a named reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shelfwise.feeds.columns import normalize_header
from shelfwise.feeds.prices import PriceError, parse_price
from shelfwise.feeds.records import DEFAULT_CATEGORY, FeedRecord, attribute_key, category_from_path
from shelfwise.feeds.tabular import SourceRow, Table

_COLUMNS = {
    "id": "Handle",
    "title": "Title",
    "description": "Body (HTML)",
    "category": "Type",
    "image": "Image Src",
    "url": "Handle",
}
_FALSE = {"false", "no", "0", "n", "f"}


def looks_like_shopify(header: list[str]) -> bool:
    """Whether a table header is a Shopify product export (``Handle`` and variant columns)."""
    keys = {normalize_header(h) for h in header}
    return "handle" in keys and bool(keys & {"variant_price", "body_html", "option1_name"})


def _cell(cells: dict[str, Any], key: str) -> str:
    value = cells.get(key)
    return value.strip() if isinstance(value, str) else ""


class _Product:
    def __init__(self, row: SourceRow, cells: dict[str, str]) -> None:
        self.row = row
        self.cells = cells
        self.variants: list[tuple[int, dict[str, str]]] = []
        self.images: list[tuple[float, int, str]] = []
        self.error: tuple[str, str] | None = row.error
        self.raw_rows: list[dict[str, Any]] = []

    def add(self, number: int, cells: dict[str, str], raw: dict[str, Any]) -> None:
        self.raw_rows.append(raw)
        if any(
            _cell(cells, k)
            for k in ("variant_price", "option1_value", "variant_sku", "variant_inventory_qty")
        ):
            self.variants.append((number, cells))
        src = _cell(cells, "image_src")
        if src:
            try:
                position = float(_cell(cells, "image_position") or "inf")
            except ValueError:
                position = float("inf")
            self.images.append((position, len(self.images), src))

    def record(self, shop_url: str | None) -> FeedRecord:
        cells, number = self.cells, self.row.number
        raw = {
            "handle": _cell(cells, "handle"),
            "rows": len(self.raw_rows),
            "first_row": self.row.cells,
        }
        if self.error:
            return FeedRecord(number, {}, raw, self.error)
        handle = _cell(cells, "handle")
        attributes: dict[str, str] = {}
        values: dict[str, Any] = {
            "id": handle,
            "title": _cell(cells, "title"),
            "description": _cell(cells, "body_html"),
            "attributes": attributes,
        }
        if shop_url:
            values["url"] = f"{shop_url.rstrip('/')}/products/{handle}"
        category = _cell(cells, "type").lower()
        product_category = _cell(cells, "product_category") or _cell(cells, "standard_product_type")
        if product_category:
            attributes["product_category"] = product_category
            category = category or category_from_path(product_category)
        values["category"] = " ".join(category.split()) or DEFAULT_CATEGORY
        for key, name in (("vendor", "brand"), ("tags", "tags")):
            if _cell(cells, key):
                attributes[name] = _cell(cells, key)
        # Prices over the variants.
        prices: list[float] = []
        compare: list[float] = []
        for vnumber, vcells in self.variants:
            for key, sink in (("variant_price", prices), ("variant_compare_at_price", compare)):
                text = _cell(vcells, key)
                if not text:
                    continue
                try:
                    price = parse_price(text)
                except PriceError as exc:
                    return FeedRecord(number, {}, raw, (key, f"row {vnumber}: {exc}"))
                if price.amount < 0:
                    return FeedRecord(
                        number, {}, raw, (key, f"row {vnumber}: must be >= 0, got {text}")
                    )
                sink.append(price.amount)
        if not prices:
            return FeedRecord(number, {}, raw, ("variant_price", "no variant has a price"))
        values["price"] = min(prices)
        if max(prices) > min(prices):
            attributes["max_price"] = f"{max(prices):.2f}"
        above = [c for c in compare if c > min(prices)]
        if above:
            attributes["compare_at_price"] = f"{min(above):.2f}"
        # Options: names from the product row, values from every variant.
        for i in (1, 2, 3):
            name = _cell(cells, f"option{i}_name")
            seen: dict[str, None] = {}
            for _vn, vcells in self.variants:
                value = _cell(vcells, f"option{i}_value")
                if value:
                    seen.setdefault(value, None)
            if (
                not name
                or not seen
                or (name.lower() == "title" and list(seen) == ["Default Title"])
            ):
                continue
            attributes[attribute_key(name)] = ", ".join(seen)
        skus = [_cell(v, "variant_sku") for _n, v in self.variants if _cell(v, "variant_sku")]
        if skus:
            attributes["sku"] = skus[0]
        # Stock over the variants.
        quantities: list[int] = []
        keeps_selling = False
        for vnumber, vcells in self.variants:
            text = _cell(vcells, "variant_inventory_qty")
            if _cell(vcells, "variant_inventory_policy").lower() == "continue":
                keeps_selling = True
            if not text:
                continue
            try:
                quantities.append(int(float(text)) if len(text) <= 20 else int(text))
            except (ValueError, OverflowError):
                return FeedRecord(
                    number,
                    {},
                    raw,
                    (
                        "variant_inventory_qty",
                        f"row {vnumber}: must be a whole number, got {text[:40]!r}",
                    ),
                )
        if quantities:
            total = sum(quantities)
            attributes["inventory_quantity"] = str(total)
            values["in_stock"] = (
                "in_stock" if total > 0 else ("backorder" if keeps_selling else "out_of_stock")
            )
        images = sorted(self.images)
        image = images[0][2] if images else ""
        if not image:
            image = next(
                (_cell(v, "variant_image") for _n, v in self.variants if _cell(v, "variant_image")),
                "",
            )
        if image:
            values["image"] = image
        status = _cell(cells, "status").lower()
        published = _cell(cells, "published").lower()
        skip = None
        if status in ("draft", "archived"):
            skip = f"Status is {status}: not for sale"
        elif published in _FALSE:
            skip = "Published is false: not for sale on the online store"
        return FeedRecord(number, values, raw, skip=skip, columns=_COLUMNS)


def shopify_records(table: Table, *, shop_url: str | None = None) -> Iterator[FeedRecord]:
    """Products of a Shopify export, grouped by ``Handle``, in order of their first row.

    Args:
        table: The export, read by :func:`~shelfwise.feeds.tabular.read_table`.
        shop_url: The shop's address (``https://shop.example``) for product links.
    """
    keys = {col: normalize_header(col) for col in table.header}
    products: dict[str, _Product] = {}
    order: list[_Product | FeedRecord] = []
    for row in table.rows:
        cells = {keys.get(k, normalize_header(k)): v for k, v in row.cells.items()}
        handle = _cell(cells, "handle")
        if row.error:
            order.append(FeedRecord(row.number, {}, row.cells, row.error))
            continue
        if not handle:
            order.append(FeedRecord(row.number, {}, row.cells, ("handle", "is missing or empty")))
            continue
        product = products.get(handle)
        if _cell(cells, "title"):
            if product is not None:
                order.append(
                    FeedRecord(
                        row.number,
                        {},
                        row.cells,
                        (
                            "handle",
                            f"second product row for handle {handle!r} (first in row "
                            f"{product.row.number})",
                        ),
                    )
                )
                continue
            product = _Product(row, cells)
            products[handle] = product
            product.add(row.number, cells, row.cells)
            order.append(product)
        elif product is None:
            order.append(
                FeedRecord(
                    row.number,
                    {},
                    row.cells,
                    (
                        "handle",
                        f"variant row for handle {handle!r} comes before any product row "
                        "of that handle (a product row has a Title)",
                    ),
                )
            )
        else:
            product.add(row.number, cells, row.cells)
    for item in order:
        yield item.record(shop_url) if isinstance(item, _Product) else item
