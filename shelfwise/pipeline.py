"""Build the workspace's product index: encode (cached), align images, fuse, index, save.

Two encoder set-ups, picked by ``config.encoders.image_model``:

* ``"aligned"`` (offline default): text by the sentence-transformers model, images by a small
  CNN trained here on the catalog to land near the (frozen) text vectors of each product's own
  text. Both live in the text space, so a product vector is their weighted sum.
* a CLIP checkpoint (path or hub id): text and images both by CLIP, in CLIP's space; the
  sentence-transformers model is then not used.

Vectors are cached by content hash (product text, image file bytes) per model, so re-running
re-encodes only what changed; the aligner is retrained only when its training set changed.

Products without a usable image get a text-only vector; the others get the fused one. An image
is usable when it is a readable local file within the limits of :mod:`shelfwise.images`, or an
http(s) URL whose download is in the workspace's image cache (:mod:`shelfwise.image_fetch`).
A vanished or unreadable file, or a URL not fetched yet, is counted in the build report
(``images_missing``) and never stops the build.

The aligned image encoder is trained only when at least ``MIN_ALIGN_IMAGES`` (20) products have
a usable image: fewer pictures than that cannot teach a CNN anything about the catalog. Below
it (a text-only catalog, say) the index is text-only, records the image model ``"none"`` and
opening it never touches an image model; image queries are then refused with a clear error.
A CLIP model encodes images without training, so with CLIP any number of images is used.

The index folder also records the catalog it was built from (``catalog-state.json``), so that
:func:`index_staleness` can tell every command when the catalog changed since.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shelfwise.catalog import Product, workspace_products
from shelfwise.config import Config
from shelfwise.errors import CatalogError, ConfigError
from shelfwise.workspace import Workspace

ALIGNER_DIR = "image-aligner"
ALIGNER_SEED = 0
MIN_ALIGN_IMAGES = 20
"""Fewest products with a usable image that the aligned image encoder is trained on."""
NO_IMAGE_MODEL = "none"
"""The image model recorded for a text-only index."""
CATALOG_STATE_FILE = "catalog-state.json"
"""File in the index folder naming the catalog state the index was built from."""


@dataclass
class BuildReport:
    """What :func:`build_workspace_index` did."""

    n_products: int
    dim: int
    text_model: str
    image_model: str
    image_weight: float
    texts_encoded: int
    images_encoded: int
    aligner_trained: bool
    aligner_recall_at_10: float | None
    index_spec: str
    seconds: float
    images_used: int = 0
    """Products whose vector includes their image."""
    images_missing: int = 0
    """Products that name an image (path or URL) but got a text-only vector."""
    images_not_fetched: int = 0
    """Of ``images_missing``: image URLs with no download in the cache yet."""
    missing_images: list[tuple[str, str]] = field(default_factory=list)
    """``(product id, reason)`` of every product counted in ``images_missing``."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["missing_images"] = [{"id": i, "reason": r} for i, r in self.missing_images]
        return out


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _cached(
    cache_dir: Path, namespace: str, keys: list[str], compute: Callable[[list[int]], np.ndarray]
) -> tuple[np.ndarray, int]:
    from encoders.cache import EmbeddingCache

    cache = EmbeddingCache(cache_dir, namespace)
    vectors = cache.get_or_compute(keys, compute)
    return vectors, cache.misses


class ProductEncoders:
    """The encoders of one workspace set-up: text queries, product texts and images.

    ``encode_texts`` and ``encode_images`` return float32 ``(n, d)`` unit rows in one space.
    ``image`` is ``None`` for a text-only index: ``encode_images`` then raises ConfigError.
    """

    def __init__(self, text: Any, image: Any, *, clip_text: bool) -> None:
        if clip_text and image is None:
            raise ConfigError("CLIP text encoding needs the CLIP model as the image encoder")
        self.text = text
        self.image = image
        self._clip_text = clip_text

    @property
    def dim(self) -> int:
        return int(self.image.dim if self._clip_text else self.text.dim)

    @property
    def text_name(self) -> str:
        return str(self.image.name if self._clip_text else self.text.name)

    @property
    def has_images(self) -> bool:
        """Whether image queries can be encoded (``False`` for a text-only index)."""
        return self.image is not None

    def encode_texts(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        if self._clip_text:
            return np.asarray(self.image.encode_text(list(texts)), dtype=np.float32)
        return np.asarray(
            self.text.encode(list(texts), show_progress=show_progress), dtype=np.float32
        )

    def encode_images(self, images: Sequence[Any], *, show_progress: bool = False) -> np.ndarray:
        if self.image is None:
            raise ConfigError(
                "this index is text-only (the catalog had fewer than "
                f"{MIN_ALIGN_IMAGES} usable product images when it was built), so it cannot "
                "search by image; search by text, or add images (`shelfwise images fetch` for "
                "image URLs) and run `shelfwise index build`"
            )
        return np.asarray(
            self.image.encode(list(images), show_progress=show_progress), dtype=np.float32
        )


def open_text_encoder(name: str) -> Any:
    """The sentence-transformers text encoder ``name`` (``default`` = bundled MiniLM)."""
    from encoders.text import TextEncoder

    return TextEncoder(name)


@dataclass
class ImageScan:
    """Which products have a usable image, row i <-> ``products[i]``.

    Attributes:
        files: The local file to encode, or ``None`` (no image, or not usable).
        hashes: sha256 of each usable file's bytes, else ``None``.
        missing: ``(product id, reason)`` of products that name an image that is not usable.
        not_fetched: How many of ``missing`` are URLs not in the download cache.
    """

    files: list[str | None]
    hashes: list[str | None]
    missing: list[tuple[str, str]]
    not_fetched: int

    @property
    def rows(self) -> list[int]:
        """Positions of the products with a usable image."""
        return [i for i, f in enumerate(self.files) if f is not None]


def scan_images(workspace: Workspace, products: Sequence[Product]) -> ImageScan:
    """Find each product's usable image file; a bad or absent one is reported, never raised.

    Every file is read once (its hash keys the embedding cache) and checked by
    :func:`shelfwise.images.check_image_bytes`, so the encoders only ever see decodable images
    within the byte and pixel limits.
    """
    from shelfwise.image_fetch import ImageUrlCache
    from shelfwise.images import MAX_IMAGE_BYTES, ImageError, check_image_bytes, is_url

    urls = [p.image.strip() for p in products if p.image and is_url(p.image)]
    with ImageUrlCache(workspace) as url_cache:
        downloaded = url_cache.lookup(urls) if urls else {}
    files: list[str | None] = []
    hashes: list[str | None] = []
    missing: list[tuple[str, str]] = []
    not_fetched = 0
    for p in products:
        path: Path | None = None
        if p.image and is_url(p.image):
            path = downloaded.get(p.image.strip())
            if path is None:
                not_fetched += 1
                missing.append((p.id, f"image URL not fetched yet: {p.image}"))
        elif p.image:
            path = Path(p.image)
        if path is None:
            files.append(None)
            hashes.append(None)
            continue
        try:
            if path.stat().st_size > MAX_IMAGE_BYTES:
                raise ImageError(f"{path}: image file is over {MAX_IMAGE_BYTES:,} bytes")
            data = path.read_bytes()
            check_image_bytes(data, str(path))
        except FileNotFoundError:
            missing.append((p.id, f"image file not found: {path}"))
            files.append(None)
            hashes.append(None)
        except OSError as exc:
            missing.append((p.id, f"{path}: cannot read image: {exc.strerror or exc}"))
            files.append(None)
            hashes.append(None)
        except ImageError as exc:
            missing.append((p.id, str(exc)))
            files.append(None)
            hashes.append(None)
        else:
            files.append(str(path))
            hashes.append(hashlib.sha256(data).hexdigest())
    return ImageScan(files, hashes, missing, not_fetched)


def _aligner_fingerprint(
    text_name: str, products: list[Product], image_hashes: list[str], epochs: int
) -> str:
    h = hashlib.sha256()
    h.update(f"{text_name}|{epochs}|{ALIGNER_SEED}".encode())
    for p, image_hash in zip(products, image_hashes, strict=True):
        h.update(p.id.encode())
        h.update(hashlib.sha256(p.text().encode()).digest())
        h.update(image_hash.encode())
    return h.hexdigest()


def train_aligner(
    workspace: Workspace,
    products: list[Product],
    text_vectors: np.ndarray,
    text_name: str,
    *,
    epochs: int,
    progress: bool = False,
    force: bool = False,
    scan: ImageScan | None = None,
) -> tuple[Any, Any | None]:
    """Train (or reuse) the aligned image encoder on the products that have usable images.

    Args:
        products: The catalog; those without a usable image are skipped.
        text_vectors: float32 ``(len(products), d)`` text vectors, row i ↔ products[i].
        scan: The products' images (:func:`scan_images`); scanned here when not given.

    Returns:
        ``(encoder, report)``; ``report`` is ``None`` when a matching saved encoder was reused.

    Raises:
        CatalogError: fewer than ``MIN_ALIGN_IMAGES`` products have a usable image.
    """
    from encoders.aligned import AlignedImageEncoder, train_image_aligner

    scan = scan or scan_images(workspace, products)
    folder = workspace.models_dir / ALIGNER_DIR
    with_image = scan.rows
    if len(with_image) < MIN_ALIGN_IMAGES:
        raise CatalogError(
            f"the aligned image encoder needs at least {MIN_ALIGN_IMAGES} products with usable "
            f"images, found {len(with_image)}; add images (`shelfwise images fetch` for image "
            "URLs) or leave the index text-only"
        )
    chosen = [products[i] for i in with_image]
    fingerprint = _aligner_fingerprint(
        text_name, chosen, [str(scan.hashes[i]) for i in with_image], epochs
    )
    stamp = folder / "trained_on.json"
    if not force and stamp.is_file():
        try:
            recorded = json.loads(stamp.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            recorded = None  # an unreadable stamp means: train again
        if isinstance(recorded, dict) and recorded.get("fingerprint") == fingerprint:
            return AlignedImageEncoder.load(folder), None
    encoder, report = train_image_aligner(
        [str(scan.files[i]) for i in with_image],
        text_vectors[with_image],
        epochs=epochs,
        seed=ALIGNER_SEED,
        show_progress=progress,
    )
    encoder.save(folder)
    stamp.write_text(
        json.dumps({"fingerprint": fingerprint, "report": _report_dict(report)}, indent=2)
    )
    return encoder, report


def _report_dict(report: Any) -> dict[str, Any]:
    try:
        return asdict(report)
    except TypeError:
        return dict(vars(report))


class LazyEncoder:
    """An encoder loaded on first use.

    The aligned image model needs torch (about 1 s to import), which a text search never
    uses. Any attribute access loads it, once, under a lock (a server's first image
    requests may arrive together).
    """

    def __init__(self, load: Callable[[], Any]) -> None:
        import threading

        self._load = load
        self._encoder: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    self._encoder = self._load()
        return getattr(self._encoder, name)


def load_encoders(workspace: Workspace, text_model: str, image_model: str) -> ProductEncoders:
    """Open the encoders an index was built with (names as stored in the index metadata).

    ``image_model`` ``"none"`` (a text-only index) opens only the text encoder; the CLIP loader
    is reached only for a name that is neither ``"none"`` nor an aligned encoder. The aligned
    image encoder loads on its first use (:class:`LazyEncoder`).
    """
    name = (image_model or "").strip()
    if name.lower() in (NO_IMAGE_MODEL, ""):
        return ProductEncoders(open_text_encoder(text_model), None, clip_text=False)
    if name.startswith("aligned"):
        from encoders.aligned import AlignedImageEncoder

        folder = workspace.models_dir / ALIGNER_DIR
        return ProductEncoders(
            open_text_encoder(text_model),
            LazyEncoder(lambda: AlignedImageEncoder.load(folder)),
            clip_text=False,
        )
    from encoders.image import ClipEncoder

    return ProductEncoders(None, ClipEncoder(name), clip_text=True)


# ---- which catalog an index was built from ---------------------------------------------------
def _db_stat(db: Path) -> list[int]:
    out: list[int] = []
    for path in (db, db.with_name(db.name + "-wal")):
        try:
            st = path.stat()
            out += [st.st_mtime_ns, st.st_size]
        except OSError:
            out += [0, 0]
    return out


def catalog_fingerprint(db: Path) -> tuple[str, int]:
    """``(sha256 over every product's id and content hash, product count)`` of a catalog file.

    Raises:
        CatalogError: the file is not a readable catalog database.
    """
    h = hashlib.sha256()
    n = 0
    try:
        conn = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True)
        try:
            for pid, content in conn.execute(
                "SELECT id, content_hash FROM products ORDER BY id"
            ):
                h.update(f"{pid}\x00{content}\x00".encode())
                n += 1
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise CatalogError(f"{db}: cannot read the catalog database: {exc}") from None
    return h.hexdigest(), n


def record_catalog_state(workspace: Workspace) -> None:
    """Write which catalog the index was just built from (``index/catalog-state.json``)."""
    fingerprint, n = catalog_fingerprint(workspace.catalog_db)
    state = {"fingerprint": fingerprint, "products": n, "stat": _db_stat(workspace.catalog_db),
             "built_at": time.time()}
    path = workspace.index_dir / CATALOG_STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)


def index_staleness(workspace: Workspace) -> str | None:
    """A warning when the catalog changed after the index was built, else ``None``.

    Cheap when nothing changed (the catalog file's size and mtime match those recorded); only
    then is the catalog's content fingerprint compared, so a re-ingest of the same rows is
    not reported. An index built before this was recorded is not judged.
    """
    path = workspace.index_dir / CATALOG_STATE_FILE
    if not path.is_file() or not workspace.catalog_db.is_file():
        return None
    try:
        state = json.loads(path.read_text())
        recorded, recorded_n = str(state["fingerprint"]), int(state["products"])
        recorded_stat = list(state["stat"])
    except (OSError, ValueError, KeyError, TypeError):
        return (
            f"{path} is unreadable, so the index may not match the catalog; run "
            "`shelfwise index build`"
        )
    if _db_stat(workspace.catalog_db) == recorded_stat:
        return None
    try:
        current, n = catalog_fingerprint(workspace.catalog_db)
    except CatalogError:
        return None  # opening the catalog reports that problem itself
    if current == recorded:
        return None
    return (
        f"the product index is older than the catalog ({workspace.catalog_db} changed after "
        f"the index was built: {n} products now, {recorded_n} indexed); searches use the old "
        "index until you run `shelfwise index build`"
    )


def build_workspace_index(
    workspace: Workspace,
    config: Config | None = None,
    *,
    progress: bool = True,
    retrain_images: bool = False,
) -> BuildReport:
    """Encode every product of the workspace catalog and save the product index.

    Args:
        config: The configuration; the workspace's ``shelfwise.toml`` (or the defaults) when
            not given.
        progress: Progress bars on stderr.
        retrain_images: Train the aligned image encoder even if a matching one is saved.

    Raises:
        CatalogError: the catalog is empty, or ``retrain_images`` with too few usable images.
        EncoderError / IndexError_: a model or the index failed.
    """
    from encoders.fusion import fuse
    from index import ItemMeta, VectorIndex
    from shelfwise.config import load_config

    started = time.perf_counter()
    workspace = workspace.ensure()
    config = config or load_config(workspace.config_file)
    products = workspace_products(workspace.catalog_db)
    enc_cfg = config.encoders
    image_model = enc_cfg.image_model
    w = enc_cfg.image_weight
    texts = [p.text() for p in products]
    text_keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    scan = scan_images(workspace, products)
    with_image = scan.rows if w > 0 else []
    aligned = image_model == "aligned"
    if aligned and retrain_images and len(with_image) < MIN_ALIGN_IMAGES:
        raise CatalogError(
            f"the aligned image encoder needs at least {MIN_ALIGN_IMAGES} products with usable "
            f"images, found {len(with_image)}"
            + ("" if w > 0 else " (encoders.image_weight is 0)")
        )
    if aligned and len(with_image) < MIN_ALIGN_IMAGES:
        with_image = []  # too few pictures to train on: a text-only index

    if aligned:
        encoders = ProductEncoders(open_text_encoder(enc_cfg.text_model), None, clip_text=False)
    else:
        from encoders.image import ClipEncoder

        encoders = ProductEncoders(None, ClipEncoder(image_model), clip_text=True)

    def encode_text_rows(rows: list[int]) -> np.ndarray:
        return encoders.encode_texts([texts[i] for i in rows], show_progress=progress)

    text_vecs, texts_encoded = _cached(
        workspace.cache_dir, f"text:{encoders.text_name}", text_keys, encode_text_rows
    )
    aligner_report = None
    trained = False
    image_vecs = None
    images_encoded = 0
    if with_image:
        if aligned:
            encoders.image, aligner_report = train_aligner(
                workspace,
                products,
                text_vecs,
                encoders.text_name,
                epochs=enc_cfg.align_epochs,
                progress=progress,
                force=retrain_images,
                scan=scan,
            )
            trained = aligner_report is not None
        image_files = [str(scan.files[i]) for i in with_image]
        image_keys = [str(scan.hashes[i]) for i in with_image]

        def encode_image_rows(rows: list[int]) -> np.ndarray:
            return encoders.encode_images([image_files[i] for i in rows], show_progress=progress)

        image_vecs, images_encoded = _cached(
            workspace.cache_dir, f"image:{encoders.image.name}", image_keys, encode_image_rows
        )
    vectors = text_vecs.copy()
    if image_vecs is not None:
        vectors[with_image] = fuse(text_vecs[with_image], image_vecs, w)
    if aligned:
        image_name = encoders.image.name if encoders.image is not None else NO_IMAGE_MODEL
    else:
        image_name = str(image_model)  # CLIP encodes query images without any training
    index = VectorIndex(
        vectors.shape[1],
        config.index.spec,
        model_names={
            "text": enc_cfg.text_model if aligned else "clip",
            "text_name": encoders.text_name,
            "image": image_name,
            "image_weight": str(w),
        },
    )
    index.add(
        [p.id for p in products],
        vectors,
        [ItemMeta(p.category, p.price, p.in_stock) for p in products],
    )
    index.save(workspace.index_dir)
    record_catalog_state(workspace)
    return BuildReport(
        n_products=len(products),
        dim=int(vectors.shape[1]),
        text_model=encoders.text_name,
        image_model=image_name,
        image_weight=w,
        texts_encoded=int(texts_encoded),
        images_encoded=int(images_encoded),
        aligner_trained=trained,
        aligner_recall_at_10=(float(aligner_report.recall_at_10) if aligner_report else None),
        index_spec=index.resolved_spec,
        seconds=time.perf_counter() - started,
        images_used=len(with_image),
        images_missing=len(scan.missing),
        images_not_fetched=scan.not_fetched,
        missing_images=list(scan.missing),
    )
