"""Product images: the one place that decides whether a file or a download is a usable image.

Limits guard against decompression bombs and giant files: a picture is refused when its file
is larger than ``MAX_IMAGE_BYTES`` or its header declares more than ``MAX_IMAGE_PIXELS``
pixels, before any pixel is decoded. Pillow's own bomb guard (a warning at 89M pixels, an
error at twice that) is replaced by this lower, explicit limit so that the outcome never
depends on warning filters.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from shelfwise.errors import CatalogError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""Largest image file accepted (20 MiB): product photos are far smaller."""
MAX_IMAGE_PIXELS = 40_000_000
"""Largest declared width x height accepted (40 megapixels)."""


class ImageError(CatalogError):
    """A product image is missing, unreadable, not an image or over the limits.

    ``over_limits`` is True for files refused by the size or pixel limits (possible
    decompression bombs): those are refused outright, while a missing or undecodable picture
    only costs the product its image.
    """

    def __init__(self, message: str, *, over_limits: bool = False) -> None:
        super().__init__(message)
        self.over_limits = over_limits


def is_url(value: str) -> bool:
    """Whether an image field is a web address (kept as is) rather than a local path."""
    return value.strip().lower().startswith(("http://", "https://"))


def check_image_bytes(data: bytes, where: str, *, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Raise :class:`ImageError` unless ``data`` is one decodable image within the limits.

    Args:
        data: The encoded file (PNG, JPEG, WebP...).
        where: The path or URL, named in the message.
        max_pixels: Largest declared width x height.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(
            f"{where}: image file is {len(data):,} bytes, over {MAX_IMAGE_BYTES:,}",
            over_limits=True,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width <= 0 or height <= 0 or width * height > max_pixels:
                    raise ImageError(
                        f"{where}: image is {width}x{height} pixels, over the limit of "
                        f"{max_pixels:,} pixels (possible decompression bomb)",
                        over_limits=True,
                    )
                img.verify()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            f"{where}: image refused as a decompression bomb: {exc}", over_limits=True
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{where}: not a readable image: {exc}") from None


def check_image_file(path: str | Path, *, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Raise :class:`ImageError` unless ``path`` is a readable image file within the limits."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise ImageError(f"image file not found: {path}") from None
    if not path.is_file():
        raise ImageError(f"image is not a file: {path}")
    if size > MAX_IMAGE_BYTES:
        raise ImageError(
            f"{path}: image file is {size:,} bytes, over {MAX_IMAGE_BYTES:,}", over_limits=True
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read image: {exc.strerror or exc}") from None
    check_image_bytes(data, str(path), max_pixels=max_pixels)
