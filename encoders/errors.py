"""The one exception hierarchy of shelfwise.

It lives in the lowest package (``encoders``) because dependencies only point downwards
(``shelfwise → agent → index → encoders``); ``shelfwise.errors`` re-exports every class.

    ShelfwiseError
    ├── ConfigError        bad configuration, flags or arguments
    ├── EncoderError       a model cannot be loaded or an input cannot be encoded
    ├── IndexError_        the vector index is missing, corrupt or mismatched
    ├── CatalogError       a product file or row is invalid
    ├── EventLogError      the event log cannot be written or read
    ├── PolicyError        a slate policy cannot act, load or update
    └── LLMError           a language model failed or answered unusably
"""

from __future__ import annotations


class ShelfwiseError(Exception):
    """Base class of every error shelfwise raises on purpose."""


class ConfigError(ShelfwiseError, ValueError):
    """A configuration value, CLI flag or argument is invalid."""


class EncoderError(ShelfwiseError):
    """A model cannot be loaded or an input cannot be encoded."""


class IndexError_(ShelfwiseError):  # noqa: N801 - trailing underscore avoids the builtin
    """The vector index is missing, corrupt or does not match the encoders."""


class CatalogError(ShelfwiseError, ValueError):
    """A product file or row is invalid; the message names the file, row and field."""


class EventLogError(ShelfwiseError):
    """The event log cannot be written or read."""


class PolicyError(ShelfwiseError):
    """A slate policy cannot act, be loaded or be updated."""


class LLMError(ShelfwiseError):
    """A language model failed or answered in a way that cannot be used."""
