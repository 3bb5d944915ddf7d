"""The shop's own words (shelfwise.vocabulary) in chat: built from non-demo catalogs and config."""

from __future__ import annotations

import json
import logging

import pytest

from agent.explain import GroundingVocab, check_grounding
from agent.intent import IntentVocab, parse_intent
from agent.products import ProductView
from shelfwise.catalog import CatalogStore, Product
from shelfwise.config import VocabularyConfig
from shelfwise.errors import ConfigError
from shelfwise.vocabulary import build_vocabulary, load_vocabulary
from tests.agent._shops import kitchen_products, make_workspace, outdoor_products


@pytest.fixture()
def outdoor(tmp_path):
    return make_workspace(tmp_path / "outdoor", outdoor_products())


def test_vocabulary_comes_from_the_catalog() -> None:
    vocab = build_vocabulary(outdoor_products())
    assert set(vocab.categories) == {"Rain jackets", "Tents", "Backpacks"}
    # last word of a multi-word category, and cue values of the "kind" attribute
    assert vocab.category_of("jacket") == "Rain jackets"
    assert vocab.category_of("ponchos") == "Rain jackets"
    assert vocab.category_of("daypack") == "Backpacks" and vocab.category_of("pack") == "Backpacks"
    assert vocab.category_of("dome tents") == "Tents"
    # attribute values with the attribute each belongs to (names normalised)
    assert vocab.values["olive green"] == "colour" and vocab.values["nylon"] == "fabric"
    assert vocab.values["summit co"] == "brand" and vocab.values["waterproof"] == "feature"
    assert {"red", "olive green", "black"} <= vocab.colours
    assert vocab.materials == {"nylon", "polyester"}
    # a value only one product has, numbers and codes are not words of the shop
    assert "tarp shelter" not in vocab.values and vocab.category_of("tarp") is None
    assert not any(v.isdigit() for v in vocab.values)
    assert not any(a == "gtin" for a in vocab.values.values())


def test_min_count_rule_is_configurable() -> None:
    vocab = build_vocabulary(outdoor_products(), VocabularyConfig(min_count=1))
    assert vocab.values["tarp shelter"] == "kind"
    rare = build_vocabulary(outdoor_products(), VocabularyConfig(min_count=20))
    assert "red" not in rare.values and "olive green" not in rare.colours


@pytest.mark.parametrize(("message", "expected"), [
    ("waterproof jacket under 150", {"categories": {"Rain jackets"}, "max_price": 150.0,
                                     "query": "waterproof jacket"}),
    ("my budget of 50", {"max_price": 50.0, "categories": set()}),
    ("a red tent, not nylon, between 100 and 200",
     {"categories": {"Tents"}, "colours": {"red"}, "exclude_materials": {"nylon"},
      "min_price": 100.0, "max_price": 200.0}),
    ("olive green daypack around 50", {"categories": {"Backpacks"},
                                       "colours": {"olive green"}, "min_price": 40.0,
                                       "max_price": 60.0}),
    ("no black, polyester ponchos", {"exclude_colours": {"black"},
                                     "materials": {"polyester"},
                                     "categories": {"Rain jackets"}}),
])
def test_intent_on_an_outdoor_catalog(outdoor, message: str, expected: dict) -> None:
    vocab = load_vocabulary(outdoor).intent_vocab()
    intent = parse_intent(message, vocab=vocab)
    for key, value in expected.items():
        got = getattr(intent, key)
        got = set(got) if isinstance(got, frozenset) else got
        assert got == (pytest.approx(value) if isinstance(value, float) else value), key


def test_a_catalog_without_jackets_gets_no_jacket_category(tmp_path) -> None:
    ws = make_workspace(tmp_path / "kitchen", kitchen_products())
    vocab = load_vocabulary(ws).intent_vocab()
    intent = parse_intent("waterproof jacket under 150", vocab=vocab)
    assert intent.categories == frozenset() and intent.max_price == 150.0
    assert intent.query == "waterproof jacket"
    # its own words work: colours from titles, materials from attributes, kind words
    got = parse_intent("a red frying pan, no ceramic, my budget of 50", vocab=vocab)
    assert got.categories == {"Cookware"} and got.colours == {"red"}
    assert got.exclude_materials == {"ceramic"} and got.max_price == 50.0
    assert parse_intent("a paring knife", vocab=vocab).categories == {"Knives"}
    assert parse_intent("mugs", vocab=vocab).categories == {"Tableware"}


def test_synonyms_come_from_the_workspace_config(tmp_path, caplog) -> None:
    toml = ('[vocabulary.synonyms]\n"rain jackets" = ["parka", "Anorak"]\n'
            'red = ["crimson"]\nspaceships = ["ufo"]\n')
    ws = make_workspace(tmp_path / "outdoor", outdoor_products(), toml)
    with caplog.at_level(logging.INFO, logger="shelfwise.vocabulary"):
        vocab = load_vocabulary(ws).intent_vocab()
    assert parse_intent("an anorak please", vocab=vocab).categories == {"Rain jackets"}
    assert parse_intent("parkas", vocab=vocab).categories == {"Rain jackets"}
    assert parse_intent("crimson tent", vocab=vocab).colours == {"red"}
    assert parse_intent("a ufo", vocab=vocab).categories == frozenset()
    assert "spaceships" in caplog.text and "ignored" in caplog.text


@pytest.mark.parametrize(("toml", "match"), [
    ("[vocabulary]\ncolours = ['red']\n", r"vocabulary\.colours: Extra inputs are not permitted"),
    ("[vocabulary]\nmin_count = 0\n", r"vocabulary\.min_count: Input should be greater than"),
    ("[vocabulary.synonyms]\njackets = 'coat'\n", r"vocabulary\.synonyms\.jackets"),
    ("[vocabulary.synonyms]\njackets = ['']\n", r"synonyms\.jackets: empty word"),
    ("[vocabulary\n", "not valid TOML"),
])
def test_invalid_vocabulary_config_is_a_named_error(tmp_path, toml: str, match: str) -> None:
    ws = make_workspace(tmp_path / "ws", outdoor_products(), toml)
    with pytest.raises(ConfigError, match=match) as err:
        load_vocabulary(ws)
    assert str(ws.config_file) in str(err.value)


def test_cached_per_catalog_version(tmp_path, monkeypatch) -> None:
    import shelfwise.vocabulary as vocabulary_module

    ws = make_workspace(tmp_path / "ws", outdoor_products())
    first = load_vocabulary(ws)
    assert load_vocabulary(ws) is first  # memory
    assert json.loads((ws.cache_dir / "vocabulary.json").read_text())["version"] == first.version

    def no_reads(self):  # noqa: ANN001, ANN202
        raise AssertionError("the catalog was read although it did not change")

    monkeypatch.setattr(CatalogStore, "all", no_reads)
    vocabulary_module._CACHE.clear()
    from_disk = load_vocabulary(ws)  # disk cache, no catalog read
    assert from_disk == first and from_disk is not first
    monkeypatch.undo()

    store = CatalogStore(ws.catalog_db)
    store.upsert([Product(id=f"s{i}", title="Camp stove", description="",
                          category="Stoves", price=30.0)
                  for i in range(2)])
    store.close()
    changed = load_vocabulary(ws)
    assert changed.version != first.version and "Stoves" in changed.categories
    assert parse_intent("a stove", vocab=changed.intent_vocab()).categories == {"Stoves"}


def test_grounding_uses_the_shops_words(outdoor) -> None:
    words = load_vocabulary(outdoor).grounding_vocab()
    jacket = ProductView("o1", "Red shell jacket", "Rain jackets", 97.0, "USD",
                         {"colour": "red", "fabric": "nylon", "kind": "shell jacket"})
    assert check_grounding("A red nylon jacket at $97.", jacket, words) == []
    problems = check_grounding("A sturdy tent in olive.", jacket, words)
    assert "category 'tent' is not a fact of the product" in problems
    assert "colour 'olive' is not a fact of the product" in problems


def test_the_agent_holds_no_shop_words() -> None:
    """Nothing shop-specific is hard-wired in agent/: without a shop there are no categories."""
    import agent.intent

    assert IntentVocab().categories == {} and GroundingVocab().categories == frozenset()
    assert not hasattr(agent.intent, "_DEFAULT_CATEGORIES")


def test_demo_store_ships_its_synonyms_as_data(tmp_path) -> None:
    import tomllib

    from shelfwise.demo_store import SYNONYMS, generate_demo_store, write_demo_vocabulary
    from shelfwise.workspace import Workspace

    ws = Workspace.resolve(tmp_path / "demo")
    generate_demo_store(ws, 40, seed=0)
    config = tomllib.loads(ws.config_file.read_text(encoding="utf-8"))
    assert config["vocabulary"]["synonyms"]["bags"] == SYNONYMS["bags"]
    vocab = load_vocabulary(ws).intent_vocab()
    for word, category in [("purse", "bags"), ("coat", "jackets"), ("jumper", "sweaters"),
                           ("sneakers", "shoes"), ("handbag", "bags"), ("beanies", "hats")]:
        assert parse_intent(f"a {word} please", vocab=vocab).categories == {category}, word
    # a shop's own [vocabulary] is never overwritten; other sections are kept
    assert write_demo_vocabulary(ws) is False
    other = Workspace.resolve(tmp_path / "other").ensure()
    other.config_file.write_text("[index]\nspec = 'Flat'\n", encoding="utf-8")
    assert write_demo_vocabulary(other) is True
    both = tomllib.loads(other.config_file.read_text(encoding="utf-8"))
    assert both["index"] == {"spec": "Flat"} and "coat" in both["vocabulary"]["synonyms"]["jackets"]


class _BagOfWords:
    """A tiny deterministic text encoder: hashed word counts, unit norm (256-d)."""

    dim = 256

    def encode_texts(self, texts: list[str]):  # noqa: ANN201
        import hashlib

        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for w in text.lower().split():
                out[row, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def test_chat_on_an_outdoor_shop_answers_with_its_categories(tmp_path) -> None:
    """End to end over an engine of a non-demo catalog (tiny encoder, exact index)."""
    from agent.assistant import ShoppingAssistant
    from agent.explain import Explainer
    from agent.policy import make_policy
    from index import ItemMeta, VectorIndex
    from shelfwise.engine import Engine
    from shelfwise.events import SQLiteEventStore
    from shelfwise.recommender import Recommender
    from shelfwise.shop import WorkspaceShopTools, grounding_vocab, intent_vocab

    products = outdoor_products()
    ws = make_workspace(tmp_path / "outdoor", products)
    store, encoder = CatalogStore(ws.catalog_db), _BagOfWords()
    index = VectorIndex(encoder.dim, "Flat")
    index.add([p.id for p in products], encoder.encode_texts([p.text() for p in products]),
              [ItemMeta(p.category, p.price) for p in products])
    engine = Engine(ws, store, index, encoder)
    events = SQLiteEventStore(ws.events_db)
    try:
        recommender = Recommender(engine, make_policy("linucb", dim=engine.dim), events, None)
        bot = ShoppingAssistant(WorkspaceShopTools(engine, recommender), None,
                                Explainer(None, vocab=grounding_vocab(engine)),
                                intent_vocab(engine), k=3)
        reply = bot.respond("c1", "waterproof jacket under 150")
        assert reply.intent.categories == {"Rain jackets"} and len(reply.products) == 3
        assert all(p.category == "Rain jackets" and p.price <= 150 for p in reply.products)
        assert "I found nothing" not in reply.text
        budget = bot.respond("c2", "my budget of 50")
        assert budget.intent.max_price == 50.0 and budget.products
        assert all(p.price <= 50 for p in budget.products)
    finally:
        events.close()
        store.close()
