"""Re-export of the exception hierarchy (defined in :mod:`encoders.errors`)."""

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

__all__ = [
    "CatalogError",
    "ConfigError",
    "EncoderError",
    "EventLogError",
    "IndexError_",
    "LLMError",
    "PolicyError",
    "ShelfwiseError",
]
