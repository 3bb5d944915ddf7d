"""Word forms from the ``inflect`` library, shared by the reason builder and claim checker.

Suffix rules get English plurals wrong ("scarves" → "scarve", "knives" → "knive"); inflect
knows the irregular forms. Inflect in turn treats any final ``-s`` as a plural ending
("canvas" → "canva", "bus" → "bu"), so words ending in ``-ss``, ``-us``, ``-is``, ``-as`` and
``-os`` are kept as they are; both sides of every comparison go through the same function,
so a rare miss only means a word is compared in one form.
"""

from __future__ import annotations

import re
import sys
import types
from functools import lru_cache
from typing import Any


def _import_inflect() -> Any:
    """``import inflect`` without typeguard's ``@typechecked`` instrumentation.

    inflect 7.1+ decorates 23 methods with typeguard's ``@typechecked``, which re-parses and
    recompiles inflect's 4,000-line module once per method when it is imported: about 2 s of
    CPU, paid by every ``shelfwise`` command that matches words (jaraco/inflect#212). Only
    the decorator is replaced, and only while inflect loads; its run-time type checks are
    what is lost (the callers here pass non-empty strings).
    """
    if "inflect" in sys.modules:
        return sys.modules["inflect"]
    real = sys.modules.get("typeguard")
    plain = types.ModuleType("typeguard")
    plain.typechecked = lambda f=None, **_: f if f is not None else (lambda g: g)  # type: ignore[attr-defined]
    sys.modules["typeguard"] = plain
    try:
        import inflect
    finally:
        if real is not None:
            sys.modules["typeguard"] = real
        else:
            del sys.modules["typeguard"]
    return inflect


inflect = _import_inflect()

# Generic English word lists, not any shop's: the grounding check must also catch a colour
# or material the catalog never uses (a model inventing "teal" for a black bag), and a catalog
# whose colours live only in titles still needs "red" to be known as a colour. The shop's own
# values (``shelfwise.vocabulary``) are added to these; categories come only from the shop.
DEFAULT_COLOURS = ("black", "white", "grey", "gray", "red", "blue", "navy", "green", "yellow",
                   "orange", "pink", "purple", "brown", "beige", "cream", "gold", "silver",
                   "tan", "burgundy", "olive", "teal")
DEFAULT_MATERIALS = ("leather", "cotton", "wool", "silk", "linen", "denim", "polyester",
                     "nylon", "suede", "cashmere", "canvas", "velvet", "metal", "wood",
                     "plastic", "rubber", "ceramic", "glass", "bamboo", "fleece")
DEFAULT_PATTERNS = ("striped", "checked", "plaid", "floral", "polka", "solid", "camouflage",
                    "paisley", "herringbone")
ENGINE = inflect.engine()
"""The shared inflect engine (articles, plurals)."""
_KEEP = ("ss", "us", "is", "as", "os")
WORD = re.compile(r"[a-z0-9][a-z0-9\-']*")
"""A lower-case word (letters, digits, inner hyphens and apostrophes)."""


@lru_cache(maxsize=65536)
def singular(word: str) -> str:
    """Singular of an English noun: ``scarves → scarf``, ``dresses → dress``, ``bag → bag``.

    Args:
        word: one word, any case.

    Returns:
        The lower-cased singular (the word itself when it is not a plural noun).

    """
    w = (word or "").lower().strip()
    if len(w) <= 3 or w.endswith(_KEEP) or not w[-1:].isalpha():
        return w
    s = ENGINE.singular_noun(w)
    return s if isinstance(s, str) and s else w


@lru_cache(maxsize=65536)
def forms(word: str) -> frozenset[str]:
    """The forms a word is matched in: itself, its singular and its plural.

    Args:
        word: one word, any case.

    Returns:
        Lower-case forms, e.g. ``{"scarf", "scarves"}`` for ``"scarves"``.

    """
    w = (word or "").lower().strip()
    out = {w, singular(w)}
    if w.isalpha() and len(w) > 2:
        try:
            out.add(str(ENGINE.plural_noun(singular(w))).lower())
        except Exception:  # noqa: BLE001 - inflect rejects odd tokens; the word itself stays
            pass
    return frozenset(x for x in out if x)


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` in order (hyphenated words kept whole)."""
    return WORD.findall((text or "").lower())


def word_forms(text: str) -> frozenset[str]:
    """Every form of every word of ``text``, hyphenated words also split into their parts."""
    out: set[str] = set()
    for w in words(text):
        out |= forms(w)
        if "-" in w:
            for part in w.split("-"):
                if part:
                    out |= forms(part)
    return frozenset(out)
