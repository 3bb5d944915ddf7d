"""Products: the record, strict loaders for CSV / JSON Lines / Parquet, and the SQLite store.

Input columns (CSV header, JSON keys or Parquet columns):

    id, title, description, category, price, currency, attributes, image, in_stock

``id``, ``title``, ``category`` and ``price`` are required; the rest are optional.
``attributes`` is a JSON object of string values (a JSON string in CSV cells); columns named
``attr_<name>`` are merged into it, so a flat CSV works too. ``image`` is a file path, relative
paths resolved against the catalog file's folder; the file must exist and decode as an image.
``in_stock`` accepts true/false, yes/no, 1/0 (default true).

A bad row raises :class:`CatalogError` naming the file, the row and the field. With
``skip_invalid=True`` bad rows are written, with their reasons, to a side file
(``<catalog>.rejects.jsonl`` unless given) and the rest are loaded: a row is never dropped
silently.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shelfwise.errors import CatalogError

REQUIRED_FIELDS = ("id", "title", "category", "price")
KNOWN_FIELDS = (
    "id",
    "title",
    "description",
    "category",
    "price",
    "currency",
    "attributes",
    "image",
    "in_stock",
)
SUPPORTED_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


@dataclass(frozen=True)
class Product:
    """One product of the shop.

    Attributes:
        id: Unique product id (non-empty string).
        title: Short display name.
        description: Free text; may be empty.
        category: Category name, lower case (``"bags"``).
        price: Price in ``currency``, ``>= 0``.
        currency: ISO 4217 code.
        attributes: Extra facts as strings (colour, material, brand...).
        image: Absolute path of the product image, or ``None``.
        in_stock: Whether the product can be bought now.
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
        data = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


@dataclass(frozen=True)
class Reject:
    """A row that did not load: where it was and why."""

    file: str
    row: int
    field: str
    reason: str
    raw: dict[str, Any]

    def message(self) -> str:
        return f"{self.file}: row {self.row}: field '{self.field}': {self.reason}"


@dataclass
class LoadResult:
    """What a catalog file gave: the valid products and the rejected rows."""

    products: list[Product]
    rejects: list[Reject]
    rejects_path: Path | None


class _RowError(Exception):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


def _bad_utf8(value: str) -> bool:
    # Undecodable bytes survive as lone surrogates (surrogateescape); real text never has them.
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _text(raw: dict[str, Any], name: str, *, required: bool) -> str:
    value = raw.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = ""
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool) and name == "id":
            value = str(value)
        else:
            raise _RowError(name, f"must be text, got {type(value).__name__} {value!r}")
    if _bad_utf8(value):
        raise _RowError(name, "is not valid UTF-8 text")
    value = value.strip()
    if required and not value:
        raise _RowError(name, "is missing or empty")
    return value


def _price(raw: dict[str, Any]) -> float:
    value = raw.get("price")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _RowError("price", "is missing or empty")
    if isinstance(value, bool):
        raise _RowError("price", f"must be a number, got {value!r}")
    try:
        price = float(value)
    except (TypeError, ValueError):
        raise _RowError("price", f"must be a number, got {value!r}") from None
    if not math.isfinite(price):
        raise _RowError("price", f"must be a finite number, got {value!r}")
    if price < 0:
        raise _RowError("price", f"must be >= 0, got {price:g}")
    return price


def _in_stock(raw: dict[str, Any]) -> bool:
    value = raw.get("in_stock")
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _RowError("in_stock", f"must be true or false, got {value!r}")


def _attributes(raw: dict[str, Any]) -> dict[str, str]:
    value = raw.get("attributes")
    attrs: dict[str, Any]
    if value is None or (isinstance(value, str) and not value.strip()):
        attrs = {}
    elif isinstance(value, dict):
        attrs = dict(value)
    elif isinstance(value, str):
        if _bad_utf8(value):
            raise _RowError("attributes", "is not valid UTF-8 text")
        try:
            attrs = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _RowError("attributes", f"must be a JSON object: {exc.msg}") from None
        if not isinstance(attrs, dict):
            raise _RowError("attributes", f"must be a JSON object, got {type(attrs).__name__}")
    else:
        raise _RowError("attributes", f"must be an object, got {type(value).__name__}")
    for key, val in raw.items():
        if isinstance(key, str) and key.startswith("attr_") and val not in (None, ""):
            if not (isinstance(val, float) and math.isnan(val)):
                attrs[key[5:]] = val
    out: dict[str, str] = {}
    for key, val in attrs.items():
        if isinstance(val, bool) or not isinstance(val, str | int | float):
            raise _RowError(f"attributes.{key}", f"must be text or a number, got {val!r}")
        text = str(val).strip()
        if _bad_utf8(text) or _bad_utf8(str(key)):
            raise _RowError(f"attributes.{key}", "is not valid UTF-8 text")
        out[str(key).strip().lower()] = text
    return out


def _image(raw: dict[str, Any], base: Path) -> str | None:
    value = _text(raw, "image", required=False)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise _RowError("image", f"file not found: {path}")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise _RowError("image", f"cannot read image {path}: {exc}") from None
    return str(path.resolve())


def parse_product(raw: dict[str, Any], base: Path) -> Product:
    """Validate one raw row into a :class:`Product`.

    Raises:
        _RowError: the first invalid field.
    """
    return Product(
        id=_text(raw, "id", required=True),
        title=_text(raw, "title", required=True),
        description=_text(raw, "description", required=False),
        category=_text(raw, "category", required=True).lower(),
        price=_price(raw),
        currency=(_text(raw, "currency", required=False) or "USD").upper(),
        attributes=_attributes(raw),
        image=_image(raw, base),
        in_stock=_in_stock(raw),
    )


def _read_bytes(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read catalog file: {exc.strerror or exc}") from exc
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="surrogateescape")


def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    text = _read_bytes(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise CatalogError(f"{path}: empty CSV file (no header row)")
    missing = [f for f in REQUIRED_FIELDS if f not in reader.fieldnames]
    if missing:
        raise CatalogError(
            f"{path}: CSV header lacks required column(s) {', '.join(missing)}; "
            f"found: {', '.join(reader.fieldnames)}"
        )
    try:
        for number, row in enumerate(reader, start=1):
            if None in row:  # more cells than header columns
                raise CatalogError(f"{path}: row {number}: has more cells than the header")
            yield number, dict(row)
    except csv.Error as exc:
        raise CatalogError(f"{path}: row {reader.line_num}: malformed CSV: {exc}") from exc


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    text = _read_bytes(path)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, {"__error__": ("json", f"not valid JSON: {exc.msg}"), "__line__": line}
            continue
        if not isinstance(row, dict):
            yield number, {"__error__": ("json", "each line must be a JSON object")}
            continue
        yield number, row


def _iter_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise CatalogError(f"{path}: not a readable Parquet file: {exc}") from exc
    missing = [f for f in REQUIRED_FIELDS if f not in table.column_names]
    if missing:
        raise CatalogError(
            f"{path}: Parquet file lacks required column(s) {', '.join(missing)}; "
            f"found: {', '.join(table.column_names)}"
        )
    yield from enumerate(table.to_pylist(), start=1)


def _format_of(path: Path) -> str:
    fmt = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise CatalogError(
            f"{path}: unsupported catalog format {path.suffix or '(no suffix)'!r}; "
            f"use one of: {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    return fmt


def load_catalog(
    path: str | Path, *, skip_invalid: bool = False, rejects_path: str | Path | None = None
) -> LoadResult:
    """Read and validate a catalog file (CSV, JSON Lines or Parquet).

    Args:
        path: The catalog file; its suffix picks the format.
        skip_invalid: Write bad rows to ``rejects_path`` instead of failing on the first one.
        rejects_path: Side file (JSON Lines) for rejected rows; default
            ``<path>.rejects.jsonl``. Written only when there are rejects.

    Raises:
        CatalogError: a missing/unreadable file, an unsupported format, or (unless
            ``skip_invalid``) the first bad row, naming file, row and field.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CatalogError(f"{path}: catalog file not found")
    reader = {"csv": _iter_csv, "jsonl": _iter_jsonl, "parquet": _iter_parquet}[_format_of(path)]
    base = path.resolve().parent
    products: list[Product] = []
    rejects: list[Reject] = []
    first_row: dict[str, int] = {}
    for number, raw in reader(path):
        try:
            if "__error__" in raw:
                raise _RowError(*raw["__error__"])
            product = parse_product(raw, base)
            if product.id in first_row:
                raise _RowError(
                    "id", f"duplicate id {product.id!r} (first seen in row {first_row[product.id]})"
                )
        except _RowError as exc:
            raw_clean = {
                str(k): (v if isinstance(v, str | int | float | bool | None) else str(v))
                for k, v in raw.items()
                if k != "__error__"
            }
            reject = Reject(str(path), number, exc.field, exc.reason, raw_clean)
            if not skip_invalid:
                raise CatalogError(reject.message()) from None
            rejects.append(reject)
            continue
        first_row[product.id] = number
        products.append(product)
    written: Path | None = None
    if rejects:
        written = (
            Path(rejects_path) if rejects_path else path.with_name(path.name + ".rejects.jsonl")
        )
        with written.open("w", encoding="utf-8", errors="surrogateescape") as fh:
            for r in rejects:
                fh.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
    return LoadResult(products, rejects, written)


def load_products(
    path: str | Path, *, skip_invalid: bool = False, rejects_path: str | Path | None = None
) -> list[Product]:
    """The valid products of a catalog file; see :func:`load_catalog`."""
    return load_catalog(path, skip_invalid=skip_invalid, rejects_path=rejects_path).products


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
    position INTEGER NOT NULL
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
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{self.path}: cannot open the catalog database: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def upsert(self, products: Iterable[Product]) -> int:
        """Insert or replace products by id; returns how many were written."""
        rows = []
        start = self._db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM products").fetchone()[
            0
        ]
        for offset, p in enumerate(products):
            rows.append(
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
                )
            )
        with self._db:
            self._db.executemany(
                "INSERT INTO products VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                "title=excluded.title, description=excluded.description, "
                "category=excluded.category, price=excluded.price, currency=excluded.currency, "
                "attributes=excluded.attributes, image=excluded.image, "
                "in_stock=excluded.in_stock, content_hash=excluded.content_hash",
                rows,
            )
        return len(rows)

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
        )

    _COLUMNS = "id, title, description, category, price, currency, attributes, image, in_stock"

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
