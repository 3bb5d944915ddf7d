"""Encoders: text and image embeddings, product fusion, shopper state, embedding cache.

The bottom layer of shelfwise (``shelfwise → agent → index → encoders``). Importing it is
cheap: torch, transformers and sentence-transformers load only when a model is built.
"""

from encoders.aligned import AlignedImageEncoder, AlignReport, recall_at_k, train_image_aligner
from encoders.cache import EmbeddingCache, content_hash
from encoders.errors import (
    CatalogError,
    ConfigError,
    EncoderError,
    EventLogError,
    IndexError_,
    LLMError,
    PolicyError,
    ShelfwiseError,
)
from encoders.fusion import UserStateBuilder, fuse
from encoders.image import ClipEncoder, ImageEncoder, load_image
from encoders.text import TextEncoder, default_text_model_path, l2_normalise

__all__ = [
    "AlignReport",
    "AlignedImageEncoder",
    "CatalogError",
    "ClipEncoder",
    "ConfigError",
    "EmbeddingCache",
    "EncoderError",
    "EventLogError",
    "ImageEncoder",
    "IndexError_",
    "LLMError",
    "PolicyError",
    "ShelfwiseError",
    "TextEncoder",
    "UserStateBuilder",
    "content_hash",
    "default_text_model_path",
    "fuse",
    "l2_normalise",
    "load_image",
    "recall_at_k",
    "train_image_aligner",
]
