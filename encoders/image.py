"""Image encoders: the ``ImageEncoder`` protocol, image loading and a CLIP encoder.

The offline default image encoder, :class:`encoders.aligned.AlignedImageEncoder`, is also
reachable from here (``encoders.image.AlignedImageEncoder``) without importing torch early.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from encoders.errors import ConfigError, EncoderError

if TYPE_CHECKING:
    from PIL import Image

_INSTALL_HINT = "pip install 'transformers>=4.45' torch pillow"
MAX_IMAGE_PIXELS = 40_000_000
"""Largest declared width x height :func:`load_image` decodes (same limit as the catalog's)."""


@runtime_checkable
class ImageEncoder(Protocol):
    """Anything that embeds images into unit vectors.

    Images are file paths or PIL images. ``encode`` returns float32 of shape (n, dim),
    rows L2-normalised, and (0, dim) for an empty sequence.
    """

    @property
    def dim(self) -> int:
        """Width of the embeddings."""
        ...

    @property
    def name(self) -> str:
        """Stable name of the model and its weights (recorded with index and events)."""
        ...

    def encode(
        self,
        images: Sequence[str | Path | Image.Image],
        batch_size: int = 32,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Embed images into float32 (n, dim), rows L2-normalised."""
        ...


def load_image(image: str | Path | Image.Image) -> Image.Image:
    """Open an image as an RGB PIL image.

    Args:
        image: a file path or a PIL image (converted to RGB if needed).

    Returns:
        The image in RGB mode (fully loaded; the file is closed).

    Raises:
        EncoderError: the file is missing, cannot be read as an image, or declares more than
            ``MAX_IMAGE_PIXELS`` pixels (checked before decoding: a decompression bomb is never
            expanded); the message names it.
        ConfigError: ``image`` is neither a path nor a PIL image.

    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if not isinstance(image, str | Path):
        raise ConfigError(
            f"image must be a file path or a PIL.Image.Image, got {type(image).__name__}"
        )
    path = Path(image).expanduser()
    if not path.is_file():
        raise EncoderError(f"image file {str(image)!r} not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise EncoderError(
                        f"image file {str(image)!r} is {width}x{height} pixels, over the limit "
                        f"of {MAX_IMAGE_PIXELS:,} (possible decompression bomb)"
                    )
                img.load()
                return img.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise EncoderError(
            f"image file {str(image)!r} refused as a decompression bomb: {exc}"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise EncoderError(f"image file {str(image)!r} cannot be read as an image: {exc}") from exc


def check_images_arg(images: Sequence[Any], batch_size: int) -> list[Any]:
    """Validate the common ``encode`` arguments and return the images as a list.

    Raises:
        ConfigError: ``images`` is a single path/string or ``batch_size`` is not a positive int.

    """
    if isinstance(images, str | bytes | Path):
        raise ConfigError("images must be a sequence of paths or PIL images, not a single path")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    return list(images)


def _features(out: Any) -> Any:
    """Return the embedding tensor from ``get_*_features`` (a tensor, or a model output in 5.x)."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    for attr in ("pooler_output", "image_embeds", "text_embeds"):
        value = getattr(out, attr, None)
        if isinstance(value, torch.Tensor):
            return value
    if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise EncoderError(f"unexpected output type from the CLIP model: {type(out).__name__}")


class ClipEncoder:
    """CLIP-style image and text encoder on transformers ``CLIPModel`` / ``CLIPProcessor``.

    Images and texts land in the same space (``encode`` and ``encode_text``).

    Args:
        model: a local checkpoint folder (holding the model and its processor files) or a hub
            id (only resolvable when cached locally or online).
        device: torch device string.

    Raises:
        EncoderError: the checkpoint or its processor cannot be loaded; the message names it.

    """

    def __init__(self, model: str | Path, device: str = "cpu") -> None:
        if not isinstance(model, str | Path) or str(model).strip() == "":
            raise ConfigError(f"model must be a non-empty string or path, got {model!r}")
        try:
            import torch  # noqa: F401
            from transformers import CLIPModel, CLIPProcessor
        except ImportError as exc:  # pragma: no cover - dependencies of the project
            raise EncoderError(
                f"ClipEncoder needs transformers and torch; run: {_INSTALL_HINT}"
            ) from exc
        name = str(model)
        looks_local = isinstance(model, Path) or name.startswith((".", "/", "~"))
        if looks_local and not Path(name).expanduser().exists():
            raise EncoderError(
                f"CLIP model {name!r} not found: the folder does not exist. Pass a folder saved "
                "with CLIPModel.save_pretrained + CLIPProcessor.save_pretrained, or a cached hub id"
            )
        source = str(Path(name).expanduser()) if looks_local else name
        try:
            self._model = CLIPModel.from_pretrained(source).to(device).eval()
        except Exception as exc:  # any loader failure becomes one clear error
            raise EncoderError(
                f"cannot load CLIP model {name!r} ({type(exc).__name__}: {exc}); pass a CLIP "
                "checkpoint folder or a hub id available in the local cache"
            ) from exc
        try:
            self._processor = CLIPProcessor.from_pretrained(source)
        except Exception as exc:
            raise EncoderError(
                f"cannot load the processor of CLIP model {name!r} ({type(exc).__name__}: {exc}); "
                "save it beside the weights with CLIPProcessor.save_pretrained(folder)"
            ) from exc
        self._name = name
        self.device = device
        self._dim = int(self._model.config.projection_dim)

    @property
    def dim(self) -> int:
        """Width of the shared image/text space (the model's ``projection_dim``)."""
        return self._dim

    @property
    def name(self) -> str:
        """The path or hub id the model was loaded from."""
        return self._name

    def __repr__(self) -> str:
        return f"ClipEncoder(name={self._name!r}, dim={self._dim}, device={self.device!r})"

    def encode(
        self,
        images: Sequence[str | Path | Image.Image],
        batch_size: int = 32,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Embed images.

        Args:
            images: n file paths or PIL images.
            batch_size: images per forward pass.
            show_progress: show a progress bar.

        Returns:
            float32 array of shape (n, dim), rows L2-normalised.

        Raises:
            EncoderError: an image file is missing or unreadable (named in the message).

        """
        import torch

        items = check_images_arg(images, batch_size)
        out = np.zeros((len(items), self._dim), dtype=np.float32)
        for start in _batches(len(items), batch_size, show_progress, "images"):
            chunk = [load_image(x) for x in items[start : start + batch_size]]
            inputs = self._processor(images=chunk, return_tensors="pt")
            with torch.inference_mode():
                feats = _features(
                    self._model.get_image_features(
                        pixel_values=inputs["pixel_values"].to(self.device)
                    )
                )
            out[start : start + len(chunk)] = feats.float().cpu().numpy()
        return _normalise(out)

    def encode_text(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """Embed texts into the same space as :meth:`encode`.

        Args:
            texts: n strings (truncated to the model's maximum length).
            batch_size: texts per forward pass.
            show_progress: show a progress bar.

        Returns:
            float32 array of shape (n, dim), rows L2-normalised.

        """
        import torch

        if isinstance(texts, str | bytes):
            raise ConfigError("texts must be a sequence of strings, not a single string")
        items = list(texts)
        for i, t in enumerate(items):
            if not isinstance(t, str):
                raise ConfigError(f"texts[{i}] must be a str, got {type(t).__name__}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        out = np.zeros((len(items), self._dim), dtype=np.float32)
        max_len = getattr(self._model.config.text_config, "max_position_embeddings", 77)
        for start in _batches(len(items), batch_size, show_progress, "texts"):
            chunk = items[start : start + batch_size]
            inputs = self._processor(
                text=chunk,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=max_len,
            )
            with torch.inference_mode():
                feats = _features(
                    self._model.get_text_features(
                        input_ids=inputs["input_ids"].to(self.device),
                        attention_mask=inputs["attention_mask"].to(self.device),
                    )
                )
            out[start : start + len(chunk)] = feats.float().cpu().numpy()
        return _normalise(out)


def _batches(n: int, batch_size: int, show_progress: bool, unit: str) -> Any:
    starts = range(0, n, batch_size)
    if show_progress:
        from tqdm.auto import tqdm

        return tqdm(starts, desc=f"encoding {unit}", unit="batch")
    return starts


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


def __getattr__(name: str) -> Any:
    # AlignedImageEncoder lives in encoders.aligned (which imports this module); resolve lazily.
    if name in ("AlignedImageEncoder", "AlignReport", "train_image_aligner"):
        from encoders import aligned

        return getattr(aligned, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
