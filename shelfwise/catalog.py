"""Products: the record, the catalog file loader and the SQLite store.

Catalog files come as a shop exports them (see :mod:`shelfwise.feeds`): Google Merchant
Center product data (TSV/CSV, or the XML feed), a Shopify product CSV export, or any CSV, TSV,
JSON Lines or Parquet table. The format is detected from the content and header
(``fmt="auto"``) or forced (``csv``, ``tsv``, ``jsonl``, ``parquet``, ``merchant-tsv``,
``merchant-xml``, ``shopify``).

Columns of a plain table (header matching ignores case, spaces, ``_`` and ``-``; a column map
``{field: column}`` names others, e.g. ``{"title": "Name", "price": "Sale Price"}``):

    id, title, description, category, price, sale_price, currency, attributes, image, url,
    in_stock

``id``, ``title``, ``category`` and ``price`` are required; the rest are optional.

* ``price`` is a number or text with a currency in the common forms (``"15.00 USD"``,
  ``"$15"``, ``"1.299,00 EUR"``, ``"EUR 12"``, ``"12,50 €"``); the currency comes from the
  ``currency`` column, else the price text, else the default (``USD`` unless configured).
  A ``currency`` column and a currency code in the price that disagree reject the row.
* ``sale_price``, when given, is what the shopper pays now: it becomes ``price`` and the
  regular price is kept as attribute ``regular_price``.
* ``attributes`` is a JSON object of text values (a JSON string in CSV cells); columns named
  ``attr_<name>`` are merged into it. Keys are lower case; ``color`` is stored as ``colour``.
* ``description`` may be HTML: it is stored as plain text (beautifulsoup4).
* ``image`` is empty, an ``http(s)://`` URL (kept as is and not downloaded unless asked:
  ``shelfwise ingest --fetch-images``), or a file path (relative paths resolved against the
  catalog file's folder). A local file is checked by :func:`shelfwise.images.check_image_file`:
  decompression bombs and files over the byte or pixel limits reject the row. A path that does
  not exist, or a file that is not a readable image, does **not** reject the row: the product
  loads without an image (a text-only vector) and is listed as "image missing", with the
  reason, in the side file and the summary.
* ``url`` is the product page (``http(s)://``), shown as "Open" on the web page.
* ``bid`` is the cost per click the shop earns when the product is clicked as an ad: a plain
  number ``>= 0`` (empty means 0). ``sponsored`` (true/false, yes/no, 1/0; empty means "true
  when the bid is above 0") says whether the product may fill the sponsored slots of a slate
  (``[sponsored] positions``, :mod:`shelfwise.sponsored`). A malformed bid or flag rejects the
  row, naming the field.
* ``in_stock`` accepts true/false, yes/no, 1/0, quantities (``> 0`` in stock) and the
  availability words ``in_stock``, ``in stock``, ``out_of_stock``, ``out of stock``,
  ``preorder``, ``backorder``. Preorder and backorder count as **not in stock** (they cannot
  ship now); a word is also kept as attribute ``availability``. Empty means in stock.

A bad row raises :class:`CatalogError` naming the file, the row and the field. With
``skip_invalid=True`` bad rows are written, with their reasons, to a side file
(``<catalog>.rejects.jsonl`` unless given) and the rest are loaded: a row is never dropped
silently. Products a feed marks as not for sale (Shopify drafts) are skipped, not refused, and
listed in the same side file. Hostile files (deeply nested or huge-number JSON, lone
surrogates, U+2028 in JSON Lines, XML entity bombs, binary garbage) end as named errors or
rejects, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from shelfwise.errors import CatalogError, ConfigError

REQUIRED_FIELDS = ("id", "title", "category", "price")
KNOWN_FIELDS = (
    "id",
    "title",
    "description",
    "category",
    "price",
    "sale_price",
    "currency",
    "attributes",
    "image",
    "url",
    "in_stock",
    "bid",
    "sponsored",
)
MAX_TEXT_CHARS = 100_000
"""Longest text field accepted (a description of 100k characters is already a mistake)."""
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Product:
    """One product of the shop.

    Attributes:
        id: Unique product id (non-empty string).
        title: Short display name.
        description: Plain text; may be empty.
        category: Category name, lower case (``"bags"``).
        price: Price in ``currency``, ``>= 0``: what the shopper pays now.
        currency: ISO 4217 code.
        attributes: Extra facts as strings (colour, material, brand...).
        image: Absolute path of the product image, an ``http(s)://`` URL (not downloaded
            until ``shelfwise images fetch``), or ``None``.
        in_stock: Whether the product can be bought and shipped now.
        url: The product's page in the shop (``http(s)://``), or ``None``.
        sponsored: Whether the product is an ad candidate (fills sponsored slots only).
        bid: Cost per click paid when the product is clicked in a sponsored slot, ``>= 0``.
    """

    id: str
    title: str
    description: str
    category: str
    price: float
    currency: str = "USD"
    attributes: dict[str, str] = field(default_factory=dict)
    image: str | None = None
    in_stock: bool = True
    url: str | None = None
    sponsored: bool = False
    bid: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.bid, bool) or not isinstance(self.bid, int | float) or not (
                math.isfinite(self.bid) and self.bid >= 0):
            raise CatalogError(f"product {self.id!r}: bid must be a finite number >= 0, "
                               f"got {self.bid!r}")

    def text(self) -> str:
        """The text the text encoder embeds: title, category, attributes, description."""
        attrs = ", ".join(f"{k}: {v}" for k, v in sorted(self.attributes.items()))
        parts = [self.title, f"category: {self.category}"]
        if attrs:
            parts.append(attrs)
        if self.description:
            parts.append(self.description)
        return ". ".join(parts)

    def content_hash(self) -> str:
        """SHA-256 of every field, so that a changed product is re-encoded and nothing else."""
        data = asdict(self)
        if data["url"] is None:  # hashes of products without a link stay as they were
            del data["url"]
        if not data["sponsored"] and not data["bid"]:  # nor do those of products without ads
            del data["sponsored"], data["bid"]
        text = json.dumps(data, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


@dataclass(frozen=True)
class Reject:
    """A record that did not load: where it was and why.

    Attributes:
        file: The catalog file.
        row: 1-based data row (or XML item) number.
        field: The field at fault (``"row"``/``"json"`` for a record that could not be read).
        reason: What was wrong, in words.
        raw: The record as read.
        kind: ``"rejected"`` (bad data), ``"skipped"`` (a feed marked it not for sale) or
            ``"image_missing"`` (loaded without its image file).
        unit: ``"row"`` or ``"item"``, for messages.
    """

    file: str
    row: int
    field: str
    reason: str
    raw: dict[str, Any]
    kind: str = "rejected"
    unit: str = "row"

    def message(self) -> str:
        """``<file>: row <n>: field '<field>': <reason>``."""
        return f"{self.file}: {self.unit} {self.row}: field '{self.field}': {self.reason}"


@dataclass
class LoadResult:
    """What a catalog file gave.

    Attributes:
        products: The valid products, in file order.
        rejects: Refused records (bad data).
        rejects_path: The side file listing rejects, skipped records and missing images;
            ``None`` when there were none.
        format: The reader used (``csv``, ``merchant-xml``, ``shopify``...).
        skipped: Records deliberately not loaded (Shopify drafts), with the reason.
        missing_images: Products loaded without their image because the file does not
            exist, as ``Reject`` entries of kind ``image_missing``.
        ignored_columns: Columns of a plain table that feed no field.
    """

    products: list[Product]
    rejects: list[Reject]
    rejects_path: Path | None
    format: str = "csv"
    skipped: list[Reject] = field(default_factory=list)
    missing_images: list[Reject] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def local_images(self) -> int:
        """Products whose image is a checked local file."""
        return sum(1 for p in self.products if p.image and not _is_url(p.image))

    @property
    def url_images(self) -> int:
        """Products whose image is a URL (not downloaded by loading)."""
        return sum(1 for p in self.products if p.image and _is_url(p.image))


class NothingLoadedError(CatalogError):
    """A catalog file gave no product at all (every record rejected or skipped, or none)."""


class _RowError(Exception):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


def _is_url(value: str) -> bool:
    from shelfwise.images import is_url

    return is_url(value)


def _show(value: Any, limit: int = 60) -> str:
    """``repr`` that never raises (huge ints, deep nesting) and stays short."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        text = f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bad_text(value: str) -> bool:
    # Undecodable bytes survive as lone surrogates (surrogateescape), and JSON may spell a lone
    # surrogate ("\ud800"); real text never holds either and SQLite cannot store them.
    return any("\ud800" <= ch <= "\udfff" for ch in value)


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _text(raw: Mapping[str, Any], name: str, *, required: bool) -> str:
    value = raw.get(name)
    if _blank(value):
        value = ""
    if not isinstance(value, str):
        if (
            isinstance(value, int | float | Decimal)
            and not isinstance(value, bool)
            and (name == "id")
        ):
            try:
                value = str(value)
            except ValueError:
                raise _RowError(name, "must be text, got an integer too long to print") from None
        else:
            raise _RowError(name, f"must be text, got {type(value).__name__} {_show(value)}")
    if _bad_text(value):
        raise _RowError(name, "is not valid UTF-8 text (undecodable bytes or a lone surrogate)")
    if len(value) > MAX_TEXT_CHARS:
        raise _RowError(name, f"is {len(value):,} characters long, over {MAX_TEXT_CHARS:,}")
    value = value.strip()
    if required and not value:
        raise _RowError(name, "is missing or empty")
    return value


def _price(raw: Mapping[str, Any], name: str) -> tuple[float, str | None, bool] | None:
    from shelfwise.feeds.prices import PriceError, parse_price

    value = raw.get(name)
    if _blank(value):
        if name == "price":
            raise _RowError(name, "is missing or empty")
        return None
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, str) and _bad_text(value):
        raise _RowError(name, "is not valid UTF-8 text (undecodable bytes or a lone surrogate)")
    try:
        price = parse_price(value)
    except PriceError as exc:
        raise _RowError(name, str(exc)) from None
    if price.amount < 0:
        raise _RowError(name, f"must be >= 0, got {price.amount:g}")
    return price.amount, price.currency, price.from_symbol


def _currency(
    raw: Mapping[str, Any], found: list[tuple[str, str | None, bool]], default: str
) -> str:
    column = _text(raw, "currency", required=False).upper()
    if column and not _CURRENCY.match(column):
        raise _RowError("currency", f"must be a 3-letter ISO 4217 code, got {_show(column)}")
    codes = {code for _f, code, weak in found if code and not weak}
    symbols = {code for _f, code, weak in found if code and weak}
    for name, code, weak in found:
        if code and not weak and column and code != column:
            raise _RowError(name, f"is in {code} but the currency column says {column}")
    if len(codes) > 1:
        raise _RowError(
            "sale_price",
            f"price and sale_price are in different currencies ({', '.join(sorted(codes))})",
        )
    if column:
        return column
    if codes:
        return codes.pop()
    if len(symbols) == 1:
        return symbols.pop()
    return default


def _in_stock(raw: Mapping[str, Any]) -> tuple[bool, str | None]:
    from shelfwise.feeds.prices import PriceError, parse_availability

    value = raw.get("in_stock")
    if isinstance(value, str) and _bad_text(value):
        raise _RowError(
            "in_stock", "is not valid UTF-8 text (undecodable bytes or a lone surrogate)"
        )
    try:
        return parse_availability(value)
    except PriceError as exc:
        raise _RowError("in_stock", str(exc)) from None


def _bid(raw: Mapping[str, Any]) -> float:
    value = raw.get("bid")
    if _blank(value):
        return 0.0
    if isinstance(value, bool):
        raise _RowError("bid", f"must be a number >= 0 (cost per click), got {_show(value)}")
    try:
        bid = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise _RowError("bid", f"must be a number >= 0 (cost per click), got "
                        f"{_show(value)}") from None
    if not math.isfinite(bid) or bid < 0:
        raise _RowError("bid", f"must be a finite number >= 0 (cost per click), got "
                        f"{_show(value)}")
    return bid


_TRUE = ("true", "yes", "y", "1")
_FALSE = ("false", "no", "n", "0")


def _sponsored(raw: Mapping[str, Any], bid: float) -> bool:
    value = raw.get("sponsored")
    if _blank(value):
        return bid > 0
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    word = str(value).strip().lower() if isinstance(value, str) else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _RowError("sponsored", f"must be true/false, yes/no or 1/0, got {_show(value)}")


def _attributes(raw: Mapping[str, Any]) -> dict[str, str]:
    from shelfwise.feeds.records import attribute_key

    value = raw.get("attributes")
    attrs: dict[str, Any]
    if _blank(value):
        attrs = {}
    elif isinstance(value, dict):
        attrs = dict(value)
    elif isinstance(value, str):
        if _bad_text(value):
            raise _RowError("attributes", "is not valid UTF-8 text")
        try:
            attrs = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _RowError("attributes", f"must be a JSON object: {exc.msg}") from None
        except (RecursionError, ValueError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise _RowError("attributes", f"must be a JSON object: {reason}") from None
        if not isinstance(attrs, dict):
            raise _RowError("attributes", f"must be a JSON object, got {type(attrs).__name__}")
    else:
        raise _RowError("attributes", f"must be an object, got {type(value).__name__}")
    for key, val in raw.items():
        if isinstance(key, str) and key.startswith("attr_") and not _blank(val):
            attrs[key[5:]] = val
    out: dict[str, str] = {}
    for key, val in attrs.items():
        if isinstance(val, bool) or not isinstance(val, str | int | float | Decimal):
            raise _RowError(f"attributes.{key}", f"must be text or a number, got {_show(val)}")
        if isinstance(val, float) and not math.isfinite(val):
            raise _RowError(f"attributes.{key}", f"must be a finite number, got {val!r}")
        try:
            text = str(val).strip()
        except ValueError:
            raise _RowError(f"attributes.{key}", "is an integer too long to print") from None
        if _bad_text(text) or _bad_text(str(key)):
            raise _RowError(f"attributes.{key}", "is not valid UTF-8 text")
        if len(text) > MAX_TEXT_CHARS:
            raise _RowError(f"attributes.{key}", f"is over {MAX_TEXT_CHARS:,} characters")
        name = attribute_key(str(key)) or str(key).strip().lower()
        if text:
            out[name] = text
    return out


def _web_address(value: str, name: str) -> str:
    from urllib.parse import urlsplit

    if len(value) > 2048 or any(ch.isspace() for ch in value):
        raise _RowError(name, f"is not a valid web address: {_show(value)}")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise _RowError(name, f"is not a valid web address: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise _RowError(name, f"must be an http(s):// address, got {_show(value)}")
    return value


def _image(raw: Mapping[str, Any], base: Path) -> tuple[str | None, str | None]:
    """``(image, missing path)``: a checked local path, a URL, or ``None`` (+ why)."""
    from shelfwise.images import ImageError, check_image_file

    value = _text(raw, "image", required=False)
    if not value:
        return None, None
    if _is_url(value):
        return _web_address(value, "image"), None
    if "://" in value:
        raise _RowError(
            "image", f"must be a file path or an http(s):// address, got {_show(value)}"
        )
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    try:
        exists = path.exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        raise _RowError("image", f"is not a usable file path: {_show(value)}") from None
    if not exists:
        return None, f"image file not found: {path}"
    try:
        check_image_file(path)
    except ImageError as exc:
        if exc.over_limits:  # a possible decompression bomb is refused, never half-loaded
            raise _RowError("image", str(exc)) from None
        return None, str(exc)  # an undecodable picture only costs the product its image
    return str(path.resolve()), None


def _parse(raw: Mapping[str, Any], base: Path, default_currency: str) -> tuple[Product, str | None]:
    from shelfwise.feeds.html import html_to_text, looks_like_html

    # Fields are checked in the order of the columns, so the first bad one is named.
    product_id = _text(raw, "id", required=True)
    title = _text(raw, "title", required=True)
    description = _text(raw, "description", required=False)
    if looks_like_html(description):
        description = html_to_text(description)
    category = " ".join(_text(raw, "category", required=True).lower().split())
    price = _price(raw, "price")
    if price is None:
        raise _RowError("price", "is missing or empty")
    sale = _price(raw, "sale_price")
    found = [("price", price[1], price[2])]
    amount = price[0]
    attributes = _attributes(raw)
    if sale is not None:
        found.append(("sale_price", sale[1], sale[2]))
        if sale[0] != price[0]:
            attributes["regular_price"] = f"{price[0]:.2f}"
        amount = sale[0]
    currency = _currency(raw, found, default_currency)
    image, missing = _image(raw, base)
    in_stock, word = _in_stock(raw)
    if word is not None:
        attributes.setdefault("availability", word)
    url = _text(raw, "url", required=False)
    bid = _bid(raw)
    sponsored = _sponsored(raw, bid)
    product = Product(
        id=product_id,
        title=title,
        description=description,
        category=category,
        price=amount,
        currency=currency,
        attributes=attributes,
        image=image,
        in_stock=in_stock,
        url=_web_address(url, "url") if url else None,
        sponsored=sponsored,
        bid=bid,
    )
    return product, missing


def parse_product(raw: Mapping[str, Any], base: Path, *, default_currency: str = "USD") -> Product:
    """Validate one record (fields by shelfwise name) into a :class:`Product`.

    Args:
        raw: Field -> value (see the module docstring for what each accepts).
        base: Folder that relative image paths are resolved against.
        default_currency: Currency when neither a column nor the price text names one.

    Raises:
        CatalogError: the first invalid field, as ``field '<name>': <reason>``.
    """
    try:
        return _parse(raw, base, default_currency)[0]
    except _RowError as exc:
        raise CatalogError(f"field '{exc.field}': {exc.reason}") from None


def _clean_raw(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in list(raw.items())[:200]:
        if isinstance(value, str) and len(value) > 2000:
            value = value[:2000] + "…"
        elif not isinstance(value, str | float | bool | None):
            value = _show(value, 2000) if not isinstance(value, int) else value
            if isinstance(value, int):
                try:
                    str(value)
                except ValueError:
                    value = "<integer too long to print>"
        out[str(key)] = value
    return out


def load_catalog(
    path: str | Path,
    *,
    skip_invalid: bool = False,
    rejects_path: str | Path | None = None,
    fmt: str | None = None,
    column_map: Mapping[str, str] | None = None,
    map_given: bool = False,
    default_currency: str = "USD",
    shop_url: str | None = None,
) -> LoadResult:
    """Read and validate a catalog file in any supported format.

    Args:
        path: The catalog file.
        skip_invalid: Write bad rows to ``rejects_path`` instead of failing on the first one.
        rejects_path: Side file (JSON Lines) for rejected and skipped records and missing
            images; default ``<path>.rejects.jsonl``. Written only when there is something.
        fmt: ``auto`` (default), ``csv``, ``tsv``, ``jsonl``, ``parquet``, ``merchant-tsv``,
            ``merchant-xml`` or ``shopify``.
        column_map: ``{field: column}`` for plain tables (see :mod:`shelfwise.feeds.generic`).
        map_given: The map came from the command line (an error on feed formats).
        default_currency: Currency for prices that name none.
        shop_url: The shop's address, for Shopify product links.

    Raises:
        CatalogError: a missing, unreadable, empty, binary or malformed file, a table
            without required columns, or (unless ``skip_invalid``) the first bad record,
            naming file, row and field.
        ConfigError: an unknown format or a column map that does not fit the file.
    """
    from shelfwise.errors import ShelfwiseError
    from shelfwise.feeds.detect import FileFormatError
    from shelfwise.feeds.readers import open_feed

    path = Path(path).expanduser()
    if not path.is_file():
        raise CatalogError(f"{path}: catalog file not found")
    default_currency = default_currency.strip().upper()
    if not _CURRENCY.match(default_currency):
        raise ConfigError(
            f"default currency must be a 3-letter ISO 4217 code, got {default_currency!r}"
        )
    base = path.resolve().parent
    products: list[Product] = []
    rejects: list[Reject] = []
    skipped: list[Reject] = []
    missing: list[Reject] = []
    first_row: dict[str, int] = {}
    try:
        feed = open_feed(path, fmt, column_map=column_map, map_given=map_given, shop_url=shop_url)
        for record in feed.records:
            unit = record.unit
            if record.skip:
                skipped.append(
                    Reject(
                        str(path),
                        record.number,
                        "status",
                        record.skip,
                        _clean_raw(record.raw),
                        "skipped",
                        unit,
                    )
                )
                continue
            try:
                if record.error:
                    raise _RowError(*record.error)
                product, missing_image = _parse(record.values, base, default_currency)
                if product.id in first_row:
                    raise _RowError(
                        "id",
                        f"duplicate id {product.id!r} (first seen in {unit} "
                        f"{first_row[product.id]})",
                    )
            except _RowError as exc:
                reject = Reject(
                    str(path),
                    record.number,
                    record.columns.get(exc.field, exc.field),
                    exc.reason,
                    _clean_raw(record.raw),
                    "rejected",
                    unit,
                )
                if not skip_invalid:
                    raise CatalogError(reject.message()) from None
                rejects.append(reject)
                continue
            if missing_image:
                missing.append(
                    Reject(
                        str(path),
                        record.number,
                        "image",
                        f"{missing_image}; loaded without an image",
                        {"id": product.id},
                        "image_missing",
                        unit,
                    )
                )
            first_row[product.id] = record.number
            products.append(product)
    except FileFormatError as exc:
        raise CatalogError(str(exc)) from None
    except ShelfwiseError:
        raise
    except RecursionError:
        raise CatalogError(f"{path}: data nested too deeply to read") from None
    written: Path | None = None
    side = rejects + skipped + missing
    if side:
        written = (
            Path(rejects_path) if rejects_path else path.with_name(path.name + ".rejects.jsonl")
        )
        side.sort(key=lambda r: r.row)
        try:
            with written.open("w", encoding="utf-8", errors="backslashreplace") as fh:
                for r in side:
                    fh.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
        except OSError as exc:
            raise CatalogError(
                f"{written}: cannot write the rejects file: {exc.strerror or exc}"
            ) from exc
    return LoadResult(
        products, rejects, written, feed.format, skipped, missing, feed.ignored_columns
    )


def load_products(
    path: str | Path, *, skip_invalid: bool = False, rejects_path: str | Path | None = None
) -> list[Product]:
    """The valid products of a catalog file; see :func:`load_catalog`."""
    return load_catalog(path, skip_invalid=skip_invalid, rejects_path=rejects_path).products


@dataclass
class UpsertReport:
    """What writing products into the store changed."""

    new: int = 0
    """Products whose id was not in the catalog."""
    updated: int = 0
    """Products whose id was there with different content."""
    unchanged: int = 0
    """Products already there, identical."""
    removed: int = 0
    """Old products dropped (only when replacing the catalog)."""

    @property
    def written(self) -> int:
        """Products written (new + updated + unchanged)."""
        return self.new + self.updated + self.unchanged


_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    price REAL NOT NULL,
    currency TEXT NOT NULL,
    attributes TEXT NOT NULL,
    image TEXT,
    in_stock INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    position INTEGER NOT NULL,
    url TEXT,
    sponsored INTEGER NOT NULL DEFAULT 0,
    bid REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS products_category ON products(category);
"""


class CatalogStore:
    """The workspace's products in SQLite (one row per product, insertion order kept)."""

    def __init__(self, db_path: str | Path) -> None:
        self.path = Path(db_path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.executescript(_SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{self.path}: cannot open the catalog database: {exc}") from exc

    def _migrate(self) -> None:
        """Bring a database written by an older shelfwise up to the current schema."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(products)")}
        if "url" not in columns:  # product page links arrived after the first release
            with self._db:
                self._db.execute("ALTER TABLE products ADD COLUMN url TEXT")
        if "sponsored" not in columns:  # sponsored slots (ads) arrived later still
            with self._db:
                self._db.execute(
                    "ALTER TABLE products ADD COLUMN sponsored INTEGER NOT NULL DEFAULT 0")
                self._db.execute("ALTER TABLE products ADD COLUMN bid REAL NOT NULL DEFAULT 0")

    def close(self) -> None:
        self._db.close()

    def _rows(self, products: Iterable[Product], start: int) -> list[tuple[Any, ...]]:
        return [
            (
                p.id,
                p.title,
                p.description,
                p.category,
                p.price,
                p.currency,
                json.dumps(p.attributes, ensure_ascii=False, sort_keys=True),
                p.image,
                int(p.in_stock),
                p.content_hash(),
                start + offset,
                p.url,
                int(p.sponsored),
                float(p.bid),
            )
            for offset, p in enumerate(products)
        ]

    _INSERT = (
        "INSERT INTO products (id, title, description, category, price, currency, attributes, "
        "image, in_stock, content_hash, position, url, sponsored, bid) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(id) DO UPDATE SET "
        "title=excluded.title, description=excluded.description, "
        "category=excluded.category, price=excluded.price, currency=excluded.currency, "
        "attributes=excluded.attributes, image=excluded.image, "
        "in_stock=excluded.in_stock, content_hash=excluded.content_hash, url=excluded.url, "
        "sponsored=excluded.sponsored, bid=excluded.bid"
    )

    def upsert(self, products: Iterable[Product]) -> int:
        """Insert or replace products by id; returns how many were written."""
        return self.merge(products).written

    def merge(self, products: Iterable[Product]) -> UpsertReport:
        """Insert new products and update changed ones, by id (the default way to ingest).

        Returns:
            How many were new, changed or already identical.
        """
        products = list(products)
        known: dict[str, str] = {}
        ids = [p.id for p in products]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(
                self._db.execute(
                    f"SELECT id, content_hash FROM products WHERE id IN ({marks})", chunk
                ).fetchall()
            )
        report = UpsertReport()
        for p in products:
            if p.id not in known:
                report.new += 1
            elif known[p.id] != p.content_hash():
                report.updated += 1
            else:
                report.unchanged += 1
        start = self._db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM products").fetchone()[
            0
        ]
        with self._db:
            self._db.executemany(self._INSERT, self._rows(products, start))
        return report

    def replace_all(self, products: Iterable[Product]) -> UpsertReport:
        """Make ``products`` the whole catalog (``shelfwise ingest --replace``), atomically.

        Returns:
            ``new`` = products not in the old catalog, ``updated`` = changed ones,
            ``unchanged`` = identical ones, ``removed`` = old products not in ``products``.
        """
        products = list(products)
        old = dict(self._db.execute("SELECT id, content_hash FROM products").fetchall())
        report = UpsertReport()
        for p in products:
            if p.id not in old:
                report.new += 1
            elif old[p.id] != p.content_hash():
                report.updated += 1
            else:
                report.unchanged += 1
        report.removed = len(set(old) - {p.id for p in products})
        with self._db:
            self._db.execute("DELETE FROM products")
            self._db.executemany(self._INSERT, self._rows(products, 0))
        return report

    def remove(self, ids: Sequence[str]) -> int:
        """Delete products by id; returns how many existed."""
        with self._db:
            cur = self._db.executemany("DELETE FROM products WHERE id = ?", [(i,) for i in ids])
        return cur.rowcount

    @staticmethod
    def _row(row: tuple[Any, ...]) -> Product:
        return Product(
            id=row[0],
            title=row[1],
            description=row[2],
            category=row[3],
            price=float(row[4]),
            currency=row[5],
            attributes=json.loads(row[6]),
            image=row[7],
            in_stock=bool(row[8]),
            url=row[9],
            sponsored=bool(row[10]),
            bid=float(row[11]),
        )

    _COLUMNS = ("id, title, description, category, price, currency, attributes, image, in_stock, "
                "url, sponsored, bid")

    def get(self, product_id: str) -> Product | None:
        """The product with this id, or ``None``."""
        row = self._db.execute(
            f"SELECT {self._COLUMNS} FROM products WHERE id = ?", (product_id,)
        ).fetchone()
        return self._row(row) if row else None

    def require(self, product_id: str) -> Product:
        """The product with this id.

        Raises:
            CatalogError: unknown id.
        """
        product = self.get(product_id)
        if product is None:
            raise CatalogError(f"unknown product id {product_id!r}")
        return product

    def by_ids(self, ids: Sequence[str]) -> list[Product]:
        """Products in the order of ``ids``; unknown ids are left out."""
        found: dict[str, Product] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {self._COLUMNS} FROM products WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = self._row(row)
        return [found[i] for i in ids if i in found]

    def all(self) -> list[Product]:
        """Every product, in insertion order."""
        return [
            self._row(r)
            for r in self._db.execute(f"SELECT {self._COLUMNS} FROM products ORDER BY position")
        ]

    def categories(self) -> list[str]:
        """Distinct categories, sorted."""
        return [
            r[0]
            for r in self._db.execute("SELECT DISTINCT category FROM products ORDER BY category")
        ]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM products").fetchone()[0])


def workspace_products(db_path: str | Path) -> list[Product]:
    """Every product of a workspace's catalog database, in insertion order.

    Raises:
        CatalogError: there is no catalog there yet, or it is empty.
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise CatalogError(
            f"{db_path}: no catalog yet; run `shelfwise ingest FILE` or `shelfwise demo` first"
        )
    store = CatalogStore(db_path)
    try:
        products = store.all()
    finally:
        store.close()
    if not products:
        raise CatalogError(
            f"{db_path}: the catalog is empty; run `shelfwise ingest FILE` or `shelfwise demo` "
            "first"
        )
    return products

