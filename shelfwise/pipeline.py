"""Build the workspace's product index: encode (cached), align images, fuse, index, save.

Two encoder set-ups, picked by ``config.encoders.image_model``:

* ``"aligned"`` (offline default): text by the sentence-transformers model, images by a small
  CNN trained here on the catalog to land near the (frozen) text vectors of each product's own
  text. Both live in the text space, so a product vector is their weighted sum.
* a CLIP checkpoint (path or hub id): text and images both by CLIP, in CLIP's space; the
  sentence-transformers model is then not used.

Vectors are cached by content hash (product text, image file bytes) per model, so re-running
re-encodes only what changed; the aligner is retrained only when its training set changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shelfwise.catalog import CatalogStore, Product
from shelfwise.config import Config
from shelfwise.errors import CatalogError
from shelfwise.workspace import Workspace

ALIGNER_DIR = "image-aligner"
ALIGNER_SEED = 0


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    """

    def __init__(self, text: Any, image: Any, *, clip_text: bool) -> None:
        self.text = text
        self.image = image
        self._clip_text = clip_text

    @property
    def dim(self) -> int:
        return int(self.image.dim if self._clip_text else self.text.dim)

    @property
    def text_name(self) -> str:
        return str(self.image.name if self._clip_text else self.text.name)

    def encode_texts(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        if self._clip_text:
            return np.asarray(self.image.encode_text(list(texts)), dtype=np.float32)
        return np.asarray(
            self.text.encode(list(texts), show_progress=show_progress), dtype=np.float32
        )

    def encode_images(self, images: Sequence[Any], *, show_progress: bool = False) -> np.ndarray:
        return np.asarray(
            self.image.encode(list(images), show_progress=show_progress), dtype=np.float32
        )


def open_text_encoder(name: str) -> Any:
    """The sentence-transformers text encoder ``name`` (``default`` = bundled MiniLM)."""
    from encoders.text import TextEncoder

    return TextEncoder(name)


def _aligner_fingerprint(text_name: str, products: list[Product], epochs: int) -> str:
    h = hashlib.sha256()
    h.update(f"{text_name}|{epochs}|{ALIGNER_SEED}".encode())
    for p in products:
        h.update(p.id.encode())
        h.update(hashlib.sha256(p.text().encode()).digest())
        h.update(file_hash(p.image).encode() if p.image else b"-")
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
) -> tuple[Any, Any | None]:
    """Train (or reuse) the aligned image encoder on the products that have images.

    Args:
        products: The catalog; those without an image are skipped.
        text_vectors: float32 ``(len(products), d)`` text vectors, row i ↔ products[i].

    Returns:
        ``(encoder, report)``; ``report`` is ``None`` when a matching saved encoder was reused.
    """
    from encoders.aligned import AlignedImageEncoder, train_image_aligner

    folder = workspace.models_dir / ALIGNER_DIR
    with_image = [i for i, p in enumerate(products) if p.image]
    if len(with_image) < 20:
        raise CatalogError(
            f"the aligned image encoder needs at least 20 products with images, found "
            f"{len(with_image)}; set encoders.image_weight = 0 or add images"
        )
    chosen = [products[i] for i in with_image]
    fingerprint = _aligner_fingerprint(text_name, chosen, epochs)
    stamp = folder / "trained_on.json"
    if not force and stamp.is_file():
        try:
            if json.loads(stamp.read_text())["fingerprint"] == fingerprint:
                return AlignedImageEncoder.load(folder), None
        except (ValueError, KeyError):
            pass  # an unreadable stamp means: train again
    encoder, report = train_image_aligner(
        [p.image for p in chosen],
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


def load_encoders(workspace: Workspace, text_model: str, image_model: str) -> ProductEncoders:
    """Open the encoders an index was built with (names as stored in the index metadata)."""
    if image_model.startswith("aligned"):
        from encoders.aligned import AlignedImageEncoder

        return ProductEncoders(
            open_text_encoder(text_model),
            AlignedImageEncoder.load(workspace.models_dir / ALIGNER_DIR),
            clip_text=False,
        )
    from encoders.image import ClipEncoder

    return ProductEncoders(None, ClipEncoder(image_model), clip_text=True)


def build_workspace_index(
    workspace: Workspace,
    config: Config | None = None,
    *,
    progress: bool = True,
    retrain_images: bool = False,
) -> BuildReport:
    """Encode every product of the workspace catalog and save the product index.

    Raises:
        CatalogError: the catalog is empty, or too few images for the aligned encoder.
        EncoderError / IndexError_: a model or the index failed.
    """
    from encoders.fusion import fuse
    from index import ItemMeta, VectorIndex

    started = time.perf_counter()
    config = config or Config()
    workspace = workspace.ensure()
    store = CatalogStore(workspace.catalog_db)
    try:
        products = store.all()
    finally:
        store.close()
    if not products:
        raise CatalogError(
            f"{workspace.catalog_db}: the catalog is empty; run `shelfwise ingest "
            "FILE` or `shelfwise demo` first"
        )
    enc_cfg = config.encoders
    image_model = enc_cfg.image_model
    w = enc_cfg.image_weight
    texts = [p.text() for p in products]
    text_keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]

    if image_model == "aligned":
        text_encoder = open_text_encoder(enc_cfg.text_model)
        encoders = ProductEncoders(text_encoder, None, clip_text=False)
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
    with_image = [i for i, p in enumerate(products) if p.image]
    image_vecs = None
    images_encoded = 0
    if w > 0 and with_image:
        if image_model == "aligned":
            encoders.image, aligner_report = train_aligner(
                workspace,
                products,
                text_vecs,
                encoders.text_name,
                epochs=enc_cfg.align_epochs,
                progress=progress,
                force=retrain_images,
            )
            trained = aligner_report is not None
        image_paths = [products[i].image for i in with_image]
        image_keys = [file_hash(p) for p in image_paths]  # type: ignore[arg-type]

        def encode_image_rows(rows: list[int]) -> np.ndarray:
            return encoders.encode_images([image_paths[i] for i in rows], show_progress=progress)

        part, images_encoded = _cached(
            workspace.cache_dir, f"image:{encoders.image.name}", image_keys, encode_image_rows
        )
        image_vecs = part
    vectors = text_vecs.copy()
    if image_vecs is not None:
        vectors[with_image] = fuse(text_vecs[with_image], image_vecs, w)
    image_name = encoders.image.name if encoders.image is not None else "none"
    if image_model != "aligned" and encoders.image is not None:
        image_name = str(image_model)
    index = VectorIndex(
        vectors.shape[1],
        config.index.spec,
        model_names={
            "text": enc_cfg.text_model if image_model == "aligned" else "clip",
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
    )
