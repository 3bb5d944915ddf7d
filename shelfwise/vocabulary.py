"""The shop's own words: a vocabulary built from its catalog and its ``[vocabulary]`` config.

The chat's intent parser, the reason checker and text search all read one
:class:`ShopVocabulary`; nothing about any shop (the demo store included) is written in code.

How the catalog becomes words (all matching is case-insensitive, on words of letters/digits):

- **Categories**, exactly as the catalog names them, are matched in singular and plural form
  ("rain jacket" / "rain jackets"). A multi-word category is also named by its last word
  ("jacket" → "Rain jackets") when no other category ends in the same word; a hierarchical
  one ("Apparel > Outerwear") by its last segment.
- **Attribute values** (of every attribute except codes and links, ``ignore_attributes``)
  enter the vocabulary when at least ``min_count`` products have them (default 2; rarer values
  are mostly free text or ids), they contain a letter, and have at most 3 words and 40
  characters. Values are split on ``, / ; |``. Each value belongs to the attribute it occurs
  with most often; values of ``colour_attributes`` are colours, of ``material_attributes``
  materials, of ``pattern_attributes`` patterns.
- **Category cue words**: in an attribute whose frequent values mostly (≥ 80 %) sit in one
  category each (a "kind" or "product type" column), a value with ≥ 90 % of its products in
  one category names that category ("handbag" → "bags"), and so does its last word when that
  word is as pure ("tote bag" → "bag" → "bags"). Likewise the last word and last two words of
  product titles ("Red frying pan" → "pan", "frying pan" → Cookware) when at least
  ``min_count`` titles end so and ≥ 90 % of them are in one category. Ambiguous words name no
  category; names, synonyms, category last words, attribute cues and title words are tried in
  that order, and a word taken by an earlier source keeps its meaning.
- **Generic colour and material words** (English lists in ``agent.explain``) are added only
  when at least ``min_count`` product titles use them: catalogs whose colours live only in
  titles still understand "not red".
- **Synonyms** come from ``[vocabulary.synonyms]`` in the workspace's ``shelfwise.toml``:
  ``jackets = ["coat", "parka"]`` for a category, ``red = ["crimson"]`` for a value. A key
  the catalog does not have is logged and ignored: a synonym never invents a category.

The vocabulary is cached per catalog version (the catalog file's size and modification time)
and configuration, in memory and in ``<workspace>/cache/vocabulary.json``, so opening the
assistant does not re-read the catalog when nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shelfwise.config import VocabularyConfig
from shelfwise.errors import ConfigError
from shelfwise.feeds.columns import normalize_header

if TYPE_CHECKING:
    from agent.explain import GroundingVocab
    from agent.intent import IntentVocab
    from shelfwise.catalog import CatalogStore, Product
    from shelfwise.workspace import Workspace

logger = logging.getLogger(__name__)

BUILD_VERSION = 2
"""Bumped when the rules above change, so cached vocabularies are rebuilt."""
MAX_VALUE_WORDS = 3
"""Longest attribute value (in words) taken as a vocabulary phrase."""
MAX_VALUE_CHARS = 40
"""Longest attribute value (in characters) taken as a vocabulary phrase."""
CUE_PURITY = 0.9
"""Share of a value's products that must sit in one category for it to name the category."""
CUE_ATTRIBUTE_SHARE = 0.8
"""Share of an attribute's frequent values that must be category-pure for it to give cues."""

_TOKEN = re.compile(r"[a-z0-9][a-z0-9\-'&]*")
_SPLIT = re.compile(r"\s*[,/;|]\s*")
_MAX_PHRASE = 4
NON_VALUES = frozenset(
    "yes no true false none n/a na nan null other others unknown default various misc "
    "a an the and or for with in on of to my me i want need show find please under below over "
    "above than less more like not any good nice new one that this these those is are it its "
    "all".split()
)
"""Words that are never vocabulary values (placeholders, booleans, query filler)."""


def tokens(text: str) -> list[str]:
    """Lower-case words of a text as the vocabulary matches them.

    ``"Aster & Co"`` → ``["aster", "co"]``.
    """
    return _TOKEN.findall(str(text).lower())


def phrase(text: str) -> str:
    """The comparable form of a word or phrase: its :func:`tokens` joined by one space."""
    return " ".join(tokens(text))


def _split_values(value: object) -> list[str]:
    return [v for v in (phrase(part) for part in _SPLIT.split(str(value))) if v]


def _singular_key(p: str) -> str:
    from agent.explain import singular

    *head, last = p.split(" ")
    return " ".join([*head, singular(last)])


@dataclass(frozen=True)
class VocabMatch:
    """One vocabulary phrase found in a text."""

    start: int
    """First token of the match."""
    end: int
    """One past its last token."""
    kind: str
    """``colour``, ``material``, ``category`` or ``value``."""
    name: str
    """The canonical category, or the attribute value (lower-case phrase)."""
    attribute: str | None = None
    """The value's attribute (normalised name); None for categories."""


@dataclass(frozen=True)
class ShopVocabulary:
    """One shop's words (see the module docstring for how they are chosen)."""

    categories: Mapping[str, tuple[str, ...]]
    """Canonical category (as the catalog names it) → other lower-case words and phrases
    that name it (synonyms, last words, cue values)."""
    values: Mapping[str, str]
    """Attribute value (lower-case phrase) → its attribute (normalised name)."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Configured synonym → the attribute value it stands for (``"crimson": "red"``)."""
    colour_attributes: frozenset[str] = frozenset({"colour", "color"})
    """Normalised names of colour attributes."""
    material_attributes: frozenset[str] = frozenset({"material"})
    """Normalised names of material attributes."""
    pattern_attributes: frozenset[str] = frozenset({"pattern"})
    """Normalised names of pattern attributes."""
    colours: frozenset[str] = frozenset()
    """Colour values and generic colour words the catalog uses."""
    materials: frozenset[str] = frozenset()
    """Material values and generic material words the catalog uses."""
    patterns: frozenset[str] = frozenset()
    """Pattern values."""
    version: str = ""
    """The cache key it was built for (catalog version, configuration, rules)."""

    # -- for the agent ---------------------------------------------------------------------
    def intent_vocab(self, extra: Mapping[str, Sequence[str]] | None = None) -> IntentVocab:
        """The chat parser's vocabulary (categories, colours, materials, their synonyms).

        Args:
            extra: more words per category (keys matched like configured synonyms).
        """
        from agent.intent import IntentVocab

        cats = {c: tuple(ws) for c, ws in self.categories.items()}
        for key, words in (extra or {}).items():
            canon = self.category_of(key)
            if canon is None:
                logger.info("synonyms for %r ignored: no such category", key)
                continue
            cats[canon] = tuple(dict.fromkeys([*cats[canon], *(phrase(w) for w in words)]))
        aliases = {a: v for a, v in self.aliases.items() if v in self.colours | self.materials}
        return IntentVocab(cats, self.colours, self.materials, aliases)

    def grounding_vocab(self) -> GroundingVocab:
        """The reason checker's words: the shop's single words plus generic English lists."""
        from agent.explain import (
            DEFAULT_COLOURS,
            DEFAULT_MATERIALS,
            DEFAULT_PATTERNS,
            GroundingVocab,
        )

        def words(xs: Iterable[str]) -> set[str]:
            return {x for x in xs if " " not in x}  # the checker compares single words

        cat_words = [p for c, syns in self.categories.items()
                     for p in (phrase(c), *syns) if " " not in p and p]
        cat_words += [phrase(c).split(" ")[-1] for c in self.categories if phrase(c)]
        return GroundingVocab.from_lists(
            colours=sorted(words(self.colours) | set(DEFAULT_COLOURS)),
            materials=sorted(words(self.materials) | set(DEFAULT_MATERIALS)),
            categories=sorted(set(cat_words)),
            patterns=sorted(words(self.patterns) | set(DEFAULT_PATTERNS)))

    # -- matching ----------------------------------------------------------------------------
    def _tables(self) -> dict[str, dict[str, tuple[str, str | None]]]:
        cached = self.__dict__.get("_table_cache")
        if cached is not None:
            return cached
        from agent.intent import word_forms

        tables: dict[str, dict[str, tuple[str, str | None]]] = {
            "colour": {}, "material": {}, "category": {}, "value": {}}
        for value, attr in self.values.items():
            kind = ("colour" if value in self.colours else
                    "material" if value in self.materials else "value")
            for form in word_forms(value):
                tables[kind].setdefault(form, (value, attr))
        for word in self.colours | self.materials:  # generic words found in titles
            kind = "colour" if word in self.colours else "material"
            group = self.colour_attributes if kind == "colour" else self.material_attributes
            tables[kind].setdefault(word, (word, min(group) if group else kind))
        for alias, value in self.aliases.items():
            if value in self.values:
                kind = ("colour" if value in self.colours else
                        "material" if value in self.materials else "value")
                for form in word_forms(alias):
                    tables[kind].setdefault(form, (value, self.values[value]))
        for canon in self.categories:
            for form in word_forms(phrase(canon)):
                tables["category"].setdefault(form, (canon, None))
        for canon, syns in self.categories.items():
            for word in syns:
                for form in word_forms(word):
                    tables["category"].setdefault(form, (canon, None))
        object.__setattr__(self, "_table_cache", tables)  # frozen: cache the derived tables
        return tables

    def category_of(self, word: str) -> str | None:
        """The canonical category a word or phrase names (any form), or None."""
        hit = self._tables()["category"].get(phrase(word))
        return hit[0] if hit else None

    def attribute_group(self, attribute: str) -> frozenset[str]:
        """The attributes that hold the same kind of value (all colour attributes, …)."""
        for group in (self.colour_attributes, self.material_attributes,
                      self.pattern_attributes):
            if attribute in group:
                return group
        return frozenset({attribute})

    def find(self, words: Sequence[str]) -> list[VocabMatch]:
        """Vocabulary phrases in a list of :func:`tokens`, longest first, left to right.

        Colours and materials win over categories, categories over other values, when one
        phrase is several.
        """
        tables = self._tables()
        out: list[VocabMatch] = []
        i = 0
        while i < len(words):
            for n in range(min(_MAX_PHRASE, len(words) - i), 0, -1):
                p = " ".join(words[i:i + n])
                kind = next((k for k in ("colour", "material", "category", "value")
                             if p in tables[k]), None)
                if kind is not None:
                    name, attr = tables[kind][p]
                    out.append(VocabMatch(i, i + n, kind, name, attr))
                    i += n
                    break
            else:
                i += 1
        return out

    # -- storage ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (sets as sorted lists)."""
        return {"categories": {c: list(v) for c, v in self.categories.items()},
                "values": dict(self.values), "aliases": dict(self.aliases),
                **{k: sorted(getattr(self, k)) for k in (
                    "colour_attributes", "material_attributes", "pattern_attributes",
                    "colours", "materials", "patterns")},
                "version": self.version}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShopVocabulary:
        """Inverse of :meth:`to_dict`."""
        return cls(categories={str(c): tuple(map(str, v)) for c, v in data["categories"].items()},
                   values={str(k): str(v) for k, v in data["values"].items()},
                   aliases={str(k): str(v) for k, v in data["aliases"].items()},
                   **{k: frozenset(map(str, data[k])) for k in (
                       "colour_attributes", "material_attributes", "pattern_attributes",
                       "colours", "materials", "patterns")},
                   version=str(data["version"]))


def _claim(levels: Sequence[Mapping[str, set[str]]]) -> dict[str, str]:
    """Phrase → category, level by level.

    A phrase naming several categories at one level is dropped; one already claimed at an
    earlier level keeps that category.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for level in levels:
        for p, cats in level.items():
            key = _singular_key(p)
            if key in taken:
                continue
            taken.add(key)
            if len(cats) == 1:
                out[p] = next(iter(cats))
    return out


def build_vocabulary(products: Iterable[Product],
                     config: VocabularyConfig | None = None) -> ShopVocabulary:
    """The vocabulary of a catalog (rules in the module docstring).

    Args:
        products: every product of the catalog.
        config: the ``[vocabulary]`` section (defaults when None).

    Returns:
        The vocabulary (``version`` empty; :func:`load_vocabulary` sets it).
    """
    from agent.explain import DEFAULT_COLOURS, DEFAULT_MATERIALS

    config = config or VocabularyConfig()
    norm = lambda names: frozenset(normalize_header(n) for n in names)  # noqa: E731
    colour_attrs, material_attrs = norm(config.colour_attributes), norm(config.material_attributes)
    pattern_attrs, ignored = norm(config.pattern_attributes), norm(config.ignore_attributes)

    categories: list[str] = []
    seen_cats: set[str] = set()
    value_products: dict[tuple[str, str], int] = Counter()
    value_cats: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    title_words: Counter[str] = Counter()
    title_heads: dict[str, Counter[str]] = defaultdict(Counter)
    for p in products:
        if p.category not in seen_cats:
            seen_cats.add(p.category)
            categories.append(p.category)
        words = tokens(p.title)
        title_words.update(set(words))
        while words and (words[-1] in NON_VALUES or any(ch.isdigit() for ch in words[-1])):
            words.pop()  # "... jacket 2" / "... jacket, size 10": the head noun comes before
        for n in (1, 2):
            if len(words) >= n:
                title_heads[" ".join(words[-n:])][p.category] += 1
        for key, raw in dict(p.attributes or {}).items():
            attr = normalize_header(key)
            if not attr or attr in ignored:
                continue
            for value in set(_split_values(raw)):
                value_products[(attr, value)] += 1
                value_cats[(attr, value)][p.category] += 1

    def usable(value: str) -> bool:
        words = value.split(" ")
        return (len(words) <= MAX_VALUE_WORDS and len(value) <= MAX_VALUE_CHARS
                and any(ch.isalpha() for ch in value) and len(value) >= 2
                and value not in NON_VALUES)

    frequent = {(a, v): n for (a, v), n in value_products.items()
                if n >= config.min_count and usable(v)}
    by_value: dict[str, tuple[int, str]] = {}
    for (attr, value), n in sorted(frequent.items()):
        if value not in by_value or n > by_value[value][0]:
            by_value[value] = (n, attr)
    values = {v: attr for v, (_, attr) in sorted(by_value.items())}
    colours = {v for v, a in values.items() if a in colour_attrs}
    materials = {v for v, a in values.items() if a in material_attrs}
    patterns = {v for v, a in values.items() if a in pattern_attrs}
    colours |= {w for w in DEFAULT_COLOURS if title_words[w] >= config.min_count} - materials
    materials |= {w for w in DEFAULT_MATERIALS if title_words[w] >= config.min_count} - colours

    # category cue words from "kind"-like attributes
    def purity(counts: Counter[str]) -> tuple[str, float]:
        cat, n = counts.most_common(1)[0]
        return cat, n / max(sum(counts.values()), 1)

    cue_level: dict[str, set[str]] = defaultdict(set)
    cue_attrs: set[str] = set()
    head_counts: dict[str, Counter[str]] = defaultdict(Counter)
    if len(categories) > 1:
        per_attr: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
        for (attr, value) in frequent:
            if attr in colour_attrs | material_attrs | pattern_attrs:
                continue
            cat, share = purity(value_cats[(attr, value)])
            per_attr[attr].append((value, cat, share))
        for attr, rows in per_attr.items():
            pure = [r for r in rows if r[2] >= CUE_PURITY]
            if len(rows) < 2 or len(pure) < CUE_ATTRIBUTE_SHARE * len(rows):
                continue
            cue_attrs.add(attr)
            for value, cat, _ in pure:
                cue_level[value].add(cat)
            for value, _, _ in rows:
                head_counts[value.split(" ")[-1]].update(value_cats[(attr, value)])
    head_level: dict[str, set[str]] = defaultdict(set)
    for head, counts in head_counts.items():
        cat, share = purity(counts)
        if share >= CUE_PURITY and head not in cue_level:
            head_level[head].add(cat)
    title_level: dict[str, set[str]] = defaultdict(set)
    fact_words = {w for v in (*values, *colours, *materials)
                  if values.get(v) not in cue_attrs for w in v.split(" ")}
    if len(categories) > 1:
        for head, counts in title_heads.items():
            cat, share = purity(counts)
            # a head holding a fact word ("leather handbag") would swallow the fact
            if sum(counts.values()) >= config.min_count and share >= CUE_PURITY \
                    and usable(head) and not any(w in fact_words for w in head.split(" ")):
                title_level[head].add(cat)
    name_heads: dict[str, set[str]] = defaultdict(set)
    for c in categories:
        last_segment = phrase(c.split(">")[-1])
        if last_segment and last_segment != phrase(c):
            name_heads[last_segment].add(c)
        if last_segment and " " in last_segment:
            name_heads[last_segment.split(" ")[-1]].add(c)

    by_name = {}
    for c in categories:
        for form in {phrase(c), _singular_key(phrase(c))}:
            by_name.setdefault(form, c)
    synonym_level: dict[str, set[str]] = defaultdict(set)
    aliases: dict[str, str] = {}
    for key, words in config.synonyms.items():
        canon = by_name.get(phrase(key)) or by_name.get(_singular_key(phrase(key)))
        if canon is not None:
            for w in words:
                synonym_level[phrase(w)].add(canon)
        elif phrase(key) in values:
            for w in words:
                aliases.setdefault(phrase(w), phrase(key))
        else:
            logger.info("[vocabulary.synonyms] %r ignored: no such category or value", key)
    names_level = {phrase(c): {c} for c in categories}
    claimed = _claim([names_level, synonym_level, name_heads, cue_level, head_level,
                      title_level])
    words_of: dict[str, list[str]] = {c: [] for c in categories}
    for p, c in claimed.items():
        if p != phrase(c):
            words_of[c].append(p)
    return ShopVocabulary(
        categories={c: tuple(ws) for c, ws in words_of.items()}, values=values, aliases=aliases,
        colour_attributes=colour_attrs, material_attributes=material_attrs,
        pattern_attributes=pattern_attrs, colours=frozenset(colours),
        materials=frozenset(materials), patterns=frozenset(patterns))


# -- loading and caching -------------------------------------------------------------------

_CACHE: dict[tuple[str, str], ShopVocabulary] = {}
_CACHE_LOCK = threading.Lock()


def _stat_key(path: Path) -> str:
    parts = []
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")):
        try:
            st = p.stat()
        except OSError:
            continue
        parts.append(f"{p.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def read_vocabulary_config(path: str | Path | None) -> VocabularyConfig:
    """The ``[vocabulary]`` section of a ``shelfwise.toml`` (defaults when absent).

    Only this section is validated here, so that search and chat keep working while another
    section is being edited.

    Raises:
        ConfigError: unreadable TOML or an invalid ``[vocabulary]``; the message names the
            file and the key.
    """
    from shelfwise.config import load_config

    if path is None or not Path(path).is_file():
        return VocabularyConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    section = data.get("vocabulary", {})
    try:
        return load_config(None, vocabulary=section).vocabulary
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def load_vocabulary(workspace: Workspace, catalog: CatalogStore | None = None) -> ShopVocabulary:
    """The workspace's vocabulary, rebuilt only when its catalog or configuration changed.

    Args:
        workspace: the workspace (its ``shelfwise.toml`` holds ``[vocabulary]``).
        catalog: an open catalog store (default: the workspace's ``catalog.sqlite``).

    Returns:
        The vocabulary; cached in memory and in ``<workspace>/cache/vocabulary.json``.

    Raises:
        ConfigError: an invalid ``[vocabulary]`` section.
    """
    from shelfwise.catalog import CatalogStore

    db = Path(catalog.path if catalog is not None else workspace.catalog_db).resolve()
    config_file = workspace.config_file
    memo_key = (str(db), _stat_key(db) + "#" + _stat_key(config_file))
    with _CACHE_LOCK:
        hit = _CACHE.get(memo_key)
    if hit is not None:
        return hit
    config = read_vocabulary_config(config_file)
    digest = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]
    version = f"v{BUILD_VERSION}:{_stat_key(db)}:{digest}"
    cache_file = workspace.cache_dir / "vocabulary.json"
    vocab = _read_cached(cache_file, version)
    if vocab is None:
        store = catalog if catalog is not None else CatalogStore(db)
        try:
            built = build_vocabulary(store.all(), config)
        finally:
            if catalog is None:
                store.close()
        vocab = replace(built, version=version)
        _write_cached(cache_file, vocab)
    with _CACHE_LOCK:
        if len(_CACHE) >= 16:
            _CACHE.clear()
        _CACHE[memo_key] = vocab
    return vocab


def _read_cached(path: Path, version: str) -> ShopVocabulary | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != version:
            return None
        return ShopVocabulary.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing, stale or damaged cache: rebuild


def _write_cached(path: Path, vocab: ShopVocabulary) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(vocab.to_dict(), ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a read-only workspace still works, only slower to open
        logger.info("vocabulary cache not written to %s: %s", path, exc)
