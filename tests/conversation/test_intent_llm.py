"""Intent parsing through a model's structured output, the rule parser as fallback and check."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.runnables import RunnableLambda

from agent.intent import INTENT_STATS, parse_intent
from agent.intent_llm import PREFILL, intent_schema, model_intent
from tests.conversation._kiteshop import kite_assistant, kite_vocab

VOCAB = kite_vocab()


def answer(**kw: Any) -> str:
    base = {"categories": [], "colours": [], "materials": [], "exclude_colours": [],
            "exclude_materials": [], "max_price": None, "min_price": None, "cheaper": False,
            "more_like": None, "query": ""}
    return json.dumps({**base, **kw})


def test_schema_enumerates_the_shops_vocabulary() -> None:
    schema = intent_schema(VOCAB)
    props = schema["properties"]
    assert schema["additionalProperties"] is False and set(schema["required"]) == set(props)
    assert props["categories"]["items"]["enum"] == ["Kites", "Lamps", "Teapots"]
    assert "olive green" in props["colours"]["items"]["enum"]
    assert props["exclude_materials"]["items"]["enum"] == sorted(VOCAB.materials)


def test_the_model_adds_what_no_rule_word_names() -> None:
    model = FakeListChatModel(responses=[answer(categories=["Kites"], query="beach")])
    got = parse_intent("something to fly at the beach", vocab=VOCAB, chat_model=model)
    assert got.categories == {"Kites"} and got.source == "model"
    assert got.query == "to fly at the beach"  # the rules' query text is kept


def test_values_outside_the_vocabulary_are_dropped_and_counted() -> None:
    before = INTENT_STATS.llm_invalid["vocab"]
    model = FakeListChatModel(responses=[answer(categories=["Spaceships", "Kites"],
                                                colours=["ultraviolet", "red"])])
    got = parse_intent("a kite", vocab=VOCAB, chat_model=model)
    assert got.categories == {"Kites"} and got.colours == {"red"}
    assert INTENT_STATS.llm_invalid["vocab"] == before + 1


@pytest.mark.parametrize(("message", "model_max", "expected"), [
    ("kites under 30", 45, 30.0),            # the rule's number wins
    ("a free kite that costs nothing", 0, None),  # a price not written is never used
    ("kites", 25, None),                     # nor one the shopper did not say
])
def test_prices_come_from_the_message(message: str, model_max: float,
                                      expected: float | None) -> None:
    model = FakeListChatModel(responses=[answer(max_price=model_max)])
    assert parse_intent(message, vocab=VOCAB, chat_model=model).max_price == expected


def test_exclusions_are_a_union_and_never_wanted() -> None:
    model = FakeListChatModel(responses=[answer(colours=["red"], exclude_colours=["blue"])])
    got = parse_intent("kites, not red", vocab=VOCAB, chat_model=model)
    assert got.exclude_colours == {"red", "blue"} and got.colours == frozenset()


@pytest.mark.parametrize("bad", ["not json", '{"categories": "Kites"}', '{"colour": "red"}',
                                 '{"max_price": "cheap"}'])
def test_invalid_answers_keep_the_rule_result(bad: str) -> None:
    rule = parse_intent("red kites under 40", vocab=VOCAB)
    got = parse_intent("red kites under 40", vocab=VOCAB,
                       chat_model=FakeListChatModel(responses=[bad]))
    assert got == rule and got.source == "rule"


SCHEMAS: list = []
CALLS: list = []


class StructuredFake(FakeListChatModel):
    """A model that supports ``with_structured_output`` (as OpenAI-compatible ones do)."""

    def with_structured_output(self, schema, *, method="json_schema", **kw):  # noqa: ANN001, ANN003, ANN201
        SCHEMAS.append((schema, method))
        return RunnableLambda(lambda _msgs: json.loads(answer(categories=["Lamps"])))


def test_structured_output_is_used_when_the_model_has_it() -> None:
    SCHEMAS.clear()
    got = model_intent("something to read by", VOCAB, StructuredFake(responses=["unused"]))
    assert got is not None and got.categories == ["Lamps"]
    schema, method = SCHEMAS[0]
    assert method == "json_schema" and schema == intent_schema(VOCAB)


class Completing(FakeListChatModel):
    """A model with ``complete`` (as :class:`agent.llm.LlamaCppChatModel`): a prefilled answer."""

    def complete(self, messages, prefill="", *, max_tokens=16, stop=None):  # noqa: ANN001, ANN201
        CALLS.append((prefill, max_tokens, stop))
        return '"Teapots"], "colours": [], "materials": ["iron"], "exclude_colours": [], ' \
               '"exclude_materials": [], "max_price": null, "min_price": null, ' \
               '"cheaper": false, "more_like": null, "query": "tea"'


def test_llama_cpp_models_answer_through_a_prefill() -> None:
    CALLS.clear()
    got = model_intent("something to brew in", VOCAB, Completing(responses=["unused"]))
    assert got is not None and got.categories == ["Teapots"] and got.materials == ["iron"]
    prefill, _, stop = CALLS[0]
    assert prefill == PREFILL and "}" in stop


def test_the_assistant_reports_the_model_as_source() -> None:
    model = FakeListChatModel(responses=[answer(categories=["Teapots"])] * 3)
    bot, shop = kite_assistant(intent_model=model)
    r = bot.respond("c", "something to brew green tea in")
    assert r.intent_dict()["source"] == "model" and shop.intents[-1].categories == {"Teapots"}
    assert [p.category for p in r.products] == ["Teapots"] * 3


@pytest.mark.llm
@pytest.mark.slow
def test_real_local_model_answers_validate() -> None:
    """SmolLM2-135M: whatever it answers is either valid over the vocabulary or rejected."""
    from agent.llm import LlamaCppChatModel

    model = LlamaCppChatModel()
    got = parse_intent("a blue kite under 40, not nylon", vocab=VOCAB, chat_model=model)
    assert got.max_price == 40.0 and "nylon" in got.exclude_materials
    assert got.categories <= {"Kites", "Lamps", "Teapots"} and got.colours <= VOCAB.colours
