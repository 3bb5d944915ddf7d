"""Intent parsing through a chat model's structured output, checked by the rule parser.

The model fills a JSON schema (:func:`intent_schema`) whose category, colour and material
fields are enumerations of the shop's own vocabulary (:class:`agent.intent.IntentVocab`):

- with :class:`agent.llm.LlamaCppChatModel` (any model with its public ``complete``), the
  answer is forced to start as the schema's object (a prefill, :data:`PREFILL`) and cut at
  its closing brace. llama-cpp-python can also enforce the schema while decoding
  (``response_format={"type": "json_object", "schema": ...}``), but on this CPU one message
  took 217 s with SmolLM2-135M (grammar sampling over a 49k-token vocabulary), so it is not
  used;
- with any other LangChain chat model, ``with_structured_output(schema, method="json_schema")``
  when the model supports it (OpenAI-compatible servers, Ollama), else a plain call on
  ``prompts/intent.txt`` and the first JSON object of the answer.

Whatever produced it, the answer is validated with pydantic (unknown keys, wrong types:
rejected) and every value outside the vocabulary is dropped (counted as ``vocab`` in
:data:`agent.intent.INTENT_STATS`). The shopper's message is sanitised and sits inside
``<data>`` in the prompt; catalog words are sanitised too (merchant text).

How the model's answer merges with the rule parser's (:func:`merge_model_intent`):

- **Prices**: a bound the rules found wins. A model bound is used only when the rules found
  none of that kind *and* the number is written in the message (a model cannot invent a
  budget, e.g. "costs 0" for a made-up product).
- **Exclusions** ("not red"): union of both; a value the shopper refused is never wanted.
- **Wanted categories, colours, materials**: union of both (vocabulary values only), minus
  the exclusions. This is where the model helps: "something for a rainy hike" → the shop's
  rain-jacket category, which no rule word names.
- **References** (``cheaper``, "cheaper than #2", "more like #3", "show me others") and
  reactions ("buy 2"): the rules' (the model only adds ``cheaper`` / ``more_like`` when the
  rules found none).
- **Query text**: the rules' (the message minus parsed constraints); the model's only when
  the rules left none.
- ``source`` is ``model`` when the model's answer changed anything, else ``rule``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.prompts import load_prompt, render_prompt, sanitize_data

if TYPE_CHECKING:
    from agent.intent import Intent, IntentVocab

logger = logging.getLogger(__name__)

__all__ = ["MAX_ENUM", "ModelIntent", "intent_schema", "merge_model_intent", "model_intent"]

PREFILL = '{"categories": ['
"""Start of the answer forced on models with ``complete`` (:class:`agent.llm.LlamaCppChatModel`)."""
MAX_ENUM = 300
"""Longest enumeration put into the schema; a larger vocabulary list becomes a plain string
array (values are still checked against the vocabulary afterwards)."""


class ModelIntent(BaseModel):
    """The model's answer, validated strictly (unknown keys and wrong types rejected)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    categories: list[str] = Field(default_factory=list)
    colours: list[str] = Field(default_factory=list)
    materials: list[str] = Field(default_factory=list)
    exclude_colours: list[str] = Field(default_factory=list)
    exclude_materials: list[str] = Field(default_factory=list)
    max_price: float | int | None = None
    min_price: float | int | None = None
    cheaper: bool = False
    more_like: int | None = None
    query: str = ""


def _array(values: Iterable[str]) -> dict[str, Any]:
    vals = sorted(set(values))
    if not vals:
        return {"type": "array", "maxItems": 0, "items": {"type": "string"}}
    items: dict[str, Any] = {"type": "string"}
    if len(vals) <= MAX_ENUM:
        items["enum"] = vals
    return {"type": "array", "items": items, "maxItems": 5}


def intent_schema(vocab: IntentVocab) -> dict[str, Any]:
    """The JSON schema the model fills: the keys of :class:`ModelIntent`, vocabulary enums.

    Args:
        vocab: the shop's vocabulary.

    Returns:
        A JSON-schema dict (``type: object``, every key required, no other keys).
    """
    number = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}]}
    props = {
        "categories": _array(vocab.categories),
        "colours": _array(vocab.colours), "materials": _array(vocab.materials),
        "exclude_colours": _array(vocab.colours),
        "exclude_materials": _array(vocab.materials),
        "max_price": number, "min_price": number, "cheaper": {"type": "boolean"},
        "more_like": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 50},
                                {"type": "null"}]},
        "query": {"type": "string", "maxLength": 200},
    }
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


def _word_list(words: Iterable[str], max_chars: int = 2000) -> str:
    """Sorted, sanitised, comma-separated words for a prompt (cut at ``max_chars``)."""
    return sanitize_data(", ".join(sanitize_data(w, 60) for w in sorted(words)), max_chars)


def _messages(message: str, vocab: IntentVocab) -> list[BaseMessage]:
    # the vocabulary comes from the catalog: merchant text, sanitised like any other data
    user = render_prompt("intent", message=sanitize_data(message, 500),
                         categories=_word_list(vocab.categories),
                         colours=_word_list(vocab.colours),
                         materials=_word_list(vocab.materials))
    return [SystemMessage(load_prompt("system").strip()), HumanMessage(user)]


def _ask(chat_model: BaseChatModel, messages: list[BaseMessage],
         schema: dict[str, Any]) -> Any:
    """The model's answer: a dict (structured paths) or text (plain call)."""
    complete = getattr(chat_model, "complete", None)
    if callable(complete):
        # llama.cpp: the answer is forced to start as the schema's object (a prefill) and
        # validated afterwards; grammar-constrained decoding from the schema was measured at
        # minutes per message on CPU (llama-cpp-python 0.3.36, SmolLM2's 49k-token vocabulary)
        prefill = PREFILL
        return prefill + str(complete(messages, prefill, max_tokens=120, stop=["\n\n", "}"])) \
            + "}"
    try:
        runnable = chat_model.with_structured_output(schema, method="json_schema")
    except (NotImplementedError, TypeError, ValueError):
        runnable = None
    if runnable is not None:
        return runnable.invoke(messages)
    answer = chat_model.invoke(messages)
    return answer.content if isinstance(answer.content, str) else str(answer.content)


def _count(reason: str) -> None:
    from agent.intent import INTENT_STATS

    with INTENT_STATS._lock:
        INTENT_STATS.llm_invalid[reason] += 1


def model_intent(message: str, vocab: IntentVocab, chat_model: BaseChatModel,
                 ) -> ModelIntent | None:
    """Ask ``chat_model`` to fill :func:`intent_schema` for ``message``.

    Args:
        message: the shopper's message (untrusted).
        vocab: the shop's vocabulary.
        chat_model: any LangChain chat model.

    Returns:
        The validated answer with out-of-vocabulary values and negative prices removed, or
        None when the model failed or answered something that does not validate (counted in
        :data:`agent.intent.INTENT_STATS` as ``error``, ``json`` or ``schema``).
    """
    from agent.intent import INTENT_STATS

    try:
        raw = _ask(chat_model, _messages(message, vocab), intent_schema(vocab))
    except Exception as exc:  # noqa: BLE001 - any backend error keeps the rule-based result
        _count("error")
        logger.info("intent model failed: %r", exc)
        return None
    if not isinstance(raw, dict):
        text = str(raw)
        m = re.search(r"\{.*\}", text, re.DOTALL)
        try:
            raw = json.loads(m.group(0) if m else text)
        except json.JSONDecodeError as exc:
            _count("json")
            logger.info("intent model answer is not JSON: %s", exc)
            return None
    try:
        parsed = ModelIntent.model_validate(raw)
    except ValidationError as exc:
        _count("schema")
        logger.info("intent model answer rejected: %s", str(exc)[:200])
        return None
    cats = [c for c in (vocab.category_of(c) for c in parsed.categories) if c]

    def keep(values: list[str], allowed: frozenset[str]) -> list[str]:
        out = []
        for v in values:
            v = " ".join(v.lower().split())
            v = v if v in allowed else vocab.aliases.get(v, "")
            if v in allowed:
                out.append(v)
        return out

    clean = parsed.model_copy(update={
        "categories": cats,
        "colours": keep(parsed.colours, vocab.colours),
        "materials": keep(parsed.materials, vocab.materials),
        "exclude_colours": keep(parsed.exclude_colours, vocab.colours),
        "exclude_materials": keep(parsed.exclude_materials, vocab.materials),
        "max_price": None if parsed.max_price is None or parsed.max_price < 0
        else float(parsed.max_price),
        "min_price": None if parsed.min_price is None or parsed.min_price < 0
        else float(parsed.min_price)})
    dropped = sum(len(getattr(parsed, k)) - len(getattr(clean, k)) for k in (
        "categories", "colours", "materials", "exclude_colours", "exclude_materials"))
    if dropped:
        _count("vocab")
    else:
        with INTENT_STATS._lock:
            INTENT_STATS.llm_used += 1
    return clean


def _written(amount: float, message: str) -> bool:
    """Whether ``amount`` is written as a number in ``message`` ("150", "$1,200", "1.5k")."""
    from agent.prices import parse_amount

    for m in re.finditer(r"(\d[\d,]*(?:\.\d+)?)\s*(k\b)?", message.lower()):
        try:
            if abs(parse_amount(m.group(1), bool(m.group(2))) - amount) < 1e-6:
                return True
        except (ValueError, TypeError):
            continue
    return False


def merge_model_intent(rule: Intent, model: ModelIntent, message: str) -> Intent:
    """Merge a validated model answer into the rule parser's intent (rules in the docstring).

    Args:
        rule: the rule parser's intent for the same message.
        model: the model's answer (from :func:`model_intent`).
        message: the shopper's message (prices must be written in it).

    Returns:
        The merged intent; ``source="model"`` when the model changed anything.
    """
    ex_c = rule.exclude_colours | frozenset(model.exclude_colours)
    ex_m = rule.exclude_materials | frozenset(model.exclude_materials)
    hi = rule.max_price
    if hi is None and model.max_price is not None and _written(model.max_price, message):
        hi = float(model.max_price)
    lo = rule.min_price
    if lo is None and model.min_price is not None and _written(model.min_price, message):
        lo = float(model.min_price)
    if lo is not None and hi is not None and lo > hi:
        lo, hi = rule.min_price, rule.max_price
    merged = replace(
        rule, categories=rule.categories | frozenset(model.categories),
        colours=(rule.colours | frozenset(model.colours)) - ex_c,
        materials=(rule.materials | frozenset(model.materials)) - ex_m,
        exclude_colours=ex_c, exclude_materials=ex_m, max_price=hi, min_price=lo,
        cheaper=rule.cheaper or (model.cheaper and bool(re.search(
            r"\b(?:cheap|cheaper|less|lower|affordable|budget)", message.lower()))),
        more_like=rule.more_like if rule.more_like is not None else model.more_like,
        query=rule.query or sanitize_data(model.query, 200))
    return replace(merged, source="model") if merged != rule else merged
