"""Prompt templates from the top-level ``prompts`` package (``prompts/<name>.txt``).

Templates use :class:`string.Template` placeholders (``$query``), so JSON braces in a prompt
need no escaping. Untrusted text (product listings, shopper messages) is inserted only inside
``<data>…</data>`` blocks, after :func:`sanitize_data` removed anything that could close the
block or fake a chat turn; ``system.txt`` tells the model that data is never instructions.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from importlib import resources
from string import Template

from encoders.errors import ConfigError

_PACKAGE = "prompts"
# Chat-template control tokens (<|im_start|>, <|eot_id|>, [INST], <s>…) and our own delimiters.
_CONTROL = re.compile(r"<\|[^|>]{0,40}\|>|</?\s*data\s*>|\[/?INST\]|</?s>", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def available_prompts() -> list[str]:
    """Names of the shipped prompts (file stems), sorted."""
    return sorted(p.name[:-4] for p in resources.files(_PACKAGE).iterdir()
                  if p.name.endswith(".txt"))


@lru_cache(maxsize=64)
def load_prompt(name: str) -> str:
    """Read the prompt template ``prompts/<name>.txt``.

    Args:
        name: file stem, e.g. ``"rerank_score"``.

    Returns:
        The template text.

    Raises:
        ConfigError: no such prompt; the message lists the available names.

    """
    if not re.fullmatch(r"[a-z0-9_]+", name or ""):
        raise ConfigError(f"prompt name {name!r} is invalid; choose one of: "
                          f"{', '.join(available_prompts())}")
    path = resources.files(_PACKAGE).joinpath(f"{name}.txt")
    if not path.is_file():
        raise ConfigError(f"unknown prompt {name!r}; choose one of: "
                          f"{', '.join(available_prompts())}")
    return path.read_text(encoding="utf-8")


def render_prompt(name: str, **values: object) -> str:
    """Fill the placeholders of a prompt.

    Values are inserted verbatim (``string.Template`` does not re-scan them); sanitize
    untrusted text with :func:`sanitize_data` first.

    Args:
        name: prompt name (see :func:`load_prompt`).
        **values: one value per ``$placeholder``.

    Returns:
        The filled prompt.

    Raises:
        ConfigError: a placeholder has no value.

    """
    try:
        return Template(load_prompt(name)).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise ConfigError(f"prompt {name!r} needs a value for placeholder {exc.args[0]!r}") \
            from exc


def sanitize_data(text: object, max_chars: int = 400) -> str:
    """Make untrusted text safe to put inside a ``<data>`` block.

    Removes chat-template control tokens and data delimiters, folds whitespace (so the text
    cannot start new lines that look like prompt structure) and truncates.

    Args:
        text: merchant or shopper text.
        max_chars: longest result.

    Returns:
        One line of at most ``max_chars`` characters.

    """
    cleaned = _SPACE.sub(" ", _CONTROL.sub(" ", str(text or ""))).strip()
    return cleaned if len(cleaned) <= max_chars else cleaned[: max_chars - 1] + "…"


def prompt_hash(*parts: str) -> str:
    """Short SHA-256 of the exact prompt text (logged with impressions the model touched)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]
