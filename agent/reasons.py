"""Reasons built by construction: a model may choose *which* facts to state, never the words.

:func:`build_reason` fills wordings from ``prompts/reason_phrases.txt`` with the values of
chosen :class:`agent.facts.Fact` records, so a constructed sentence can only state the
product's facts and the shopper's own context. Wordings are picked by a stable hash of the
product, the shopper and the slate position: the same request reads the same on every run,
and neighbouring reasons in a slate do not all read alike.

:class:`FactChooser` asks a language model which facts matter to this shopper: with
``next_token_logprobs`` (llama.cpp) it scores one letter per candidate fact in a single
forward pass, calibrated against a content-free prompt (a small model prefers "A" whatever
the facts are); other chat models answer with letters that are parsed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from agent.facts import Fact, ProductFacts, ShopperContext
from agent.prompts import load_prompt, render_prompt, sanitize_data
from agent.words import ENGINE as _ENGINE
from agent.words import singular

logger = logging.getLogger(__name__)

LABELS = "ABCDEFGHIJ"
RELATION_WORDS = {"bought": "bought", "viewed": "looked at", "shown": "saw earlier"}
"""How a history relation is worded in a reason."""


@lru_cache(maxsize=1)
def phrasings() -> dict[str, tuple[str, ...]]:
    """Wordings by kind from ``prompts/reason_phrases.txt`` (``kind: wording`` lines)."""
    out: dict[str, list[str]] = {}
    text = resources.files("prompts").joinpath("reason_phrases.txt").read_text("utf-8")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, wording = line.partition(":")
        out.setdefault(kind.strip(), []).append(wording.strip())
    return {k: tuple(v) for k, v in out.items()}


def frame_words() -> frozenset[str]:
    """Every literal word of the wordings (not the ``{slots}``): words a reason may add."""
    text = " ".join(w for ws in phrasings().values() for w in ws)
    text = re.sub(r"\{[a-zA-Z0-9_]+\}", " ", text)
    return frozenset(re.findall(r"[a-z][a-z\-']*", text.lower()))


def _pick(options: Sequence[str], seed: int, salt: str) -> str:
    h = int(hashlib.blake2b(f"{seed}|{salt}".encode(), digest_size=4).hexdigest(), 16)
    return options[h % len(options)]


def wording_seed(product_id: str, shopper: ShopperContext | None, position: int = 0) -> int:
    """Stable seed of the wording of one reason (product, shopper, query, slate position)."""
    s = shopper or ShopperContext()
    key = f"{s.key}|{(s.query or '').strip().lower()}"
    base = int(hashlib.blake2b(key.encode(), digest_size=4).hexdigest(), 16)
    return base + position  # neighbours in a slate get neighbouring wordings


def fact_phrase(fact: Fact, wording: str | None = None) -> str:
    """One fact in words (the first wording of its kind unless ``wording`` is given)."""
    slots = dict(fact.slots)
    kind: str = fact.kind
    if kind == "budget" and "diff" not in slots:
        kind = "budget_at"
    if kind == "history":
        kind = "history_like" if slots.get("link") == "like" else "history_pair"
        slots["rel"] = RELATION_WORDS.get(slots.get("rel", "viewed"), "looked at")
    return (wording or phrasings()[kind][0]).format(**slots)


def _kind_key(fact: Fact) -> str:
    if fact.kind == "budget" and "diff" not in dict(fact.slots):
        return "budget_at"
    if fact.kind == "history":
        return "history_like" if dict(fact.slots).get("link") == "like" else "history_pair"
    return fact.kind


@dataclass(frozen=True)
class BuiltReason:
    """A constructed sentence and what it states."""

    text: str
    """The sentence."""
    facts: tuple[Fact, ...]
    """The optional facts it states (the head always states noun, descriptors and price)."""
    wording: str
    """The wordings used, joined (a sentence skeleton, for measuring variety)."""


def build_reason(pf: ProductFacts, chosen: Sequence[Fact], seed: int) -> BuiltReason:
    """Assemble a sentence that states the product's head facts and ``chosen``.

    Args:
        pf: the product's facts.
        chosen: at most two optional facts, in the order to state them.
        seed: wording seed (:func:`wording_seed`).

    Returns:
        The sentence, e.g. ``"Red leather sneakers at $36, $14 under your $50 budget."``.

    """
    ph = phrasings()
    desc = " ".join(pf.descriptors)
    head_opts = ph["head"] if pf.price else ph["head_noprice"]
    head_w = _pick(head_opts, seed, "head")
    head = head_w.format(desc=desc, Desc=desc[:1].upper() + desc[1:], noun=pf.noun,
                         price=pf.price or "")
    head = re.sub(r"\s+", " ", head).strip()
    last = (pf.noun.split() or [""])[-1].lower()
    if singular(last) != last:  # a plural noun: no "a", and "this" becomes "these"
        head = re.sub(r"^This ", "These ", re.sub(r"^A ", "", head))
    elif head.startswith("A "):
        head = _ENGINE.a(head[2:])
    head = head[:1].upper() + head[1:]
    parts, used = [], [head_w]
    for i, f in enumerate(list(chosen)[:2]):
        w = _pick(ph[_kind_key(f)], seed, f"{f.kind}{i}")
        parts.append(fact_phrase(f, w))
        used.append(w)
    if not parts:
        return BuiltReason(head + ".", (), " | ".join(used))
    join = _pick(ph["join1" if len(parts) == 1 else "join2"], seed, "join")
    used.append(join)
    text = join.format(head=head, f1=parts[0], f2=parts[1] if len(parts) > 1 else "")
    return BuiltReason(text, tuple(chosen)[:2], " | ".join(used))


def default_choice(pf: ProductFacts, k: int = 2) -> list[Fact]:
    """The facts stated without a model: personal facts first, then the product's own.

    At most one fact of each kind, so that a reason is not two features in a row.
    """
    out: list[Fact] = []
    for f in pf.facts:
        if f.kind not in {x.kind for x in out}:
            out.append(f)
        if len(out) == k:
            break
    return out


@dataclass
class FactChooser:
    """Let a language model choose which facts a reason states.

    Args:
        chat_model: a chat model; ``next_token_logprobs`` is used when it has one.
        k: facts per reason.
        calibrate: subtract the letter preferences the model shows on a content-free prompt.
        max_candidates: facts offered (personal ones first); each costs prompt tokens.

    """

    chat_model: BaseChatModel
    k: int = 2
    calibrate: bool = True
    max_candidates: int = 5

    def __post_init__(self) -> None:
        self._prior: dict[int, dict[str, float]] = {}

    def _messages(self, shopper: ShopperContext, product_line: str,
                  facts_text: str, labels: str) -> list[Any]:
        user = render_prompt("reason_choose", query=sanitize_data(shopper.query or "(none)", 200),
                             product=product_line, facts=facts_text)
        return [SystemMessage(content=load_prompt("system").strip()), HumanMessage(user)]

    def _prior_for(self, n: int) -> dict[str, float]:
        if not self.calibrate:
            return {}
        if n not in self._prior:
            labels = LABELS[:n]
            msgs = self._messages(ShopperContext(), "(none)",
                                  "\n".join(f"{lab}) (none)" for lab in labels), labels)
            self._prior[n] = self.chat_model.next_token_logprobs(  # type: ignore[attr-defined]
                msgs, list(labels))
        return self._prior[n]

    def choose(self, pf: ProductFacts, shopper: ShopperContext) -> list[Fact]:
        """The model's ``k`` facts for this shopper, best first (one kind at most once).

        Raises:
            Exception: whatever the model raises; the caller falls back to
                :func:`default_choice`.

        """
        cands: list[Fact] = []
        for f in pf.facts:  # one candidate per kind keeps the prompt short and the answer varied
            if sum(x.kind == f.kind for x in cands) < (2 if f.kind == "feature" else 1):
                cands.append(f)
        cands = cands[: self.max_candidates]
        labels = LABELS[: len(cands)]
        product_line = f"{pf.noun}, {pf.price}" if pf.price else pf.noun
        facts_text = "\n".join(f"{lab}) {fact_phrase(f)}" for lab, f in zip(labels, cands,
                                                                             strict=True))
        msgs = self._messages(shopper, product_line, facts_text, labels)
        if callable(getattr(self.chat_model, "next_token_logprobs", None)):
            lp = self.chat_model.next_token_logprobs(msgs, list(labels))  # type: ignore[attr-defined]
            prior = self._prior_for(len(labels))
            score = {lab: lp[lab] - prior.get(lab, 0.0) for lab in labels}
            order = sorted(labels, key=lambda lab: -score[lab])
        else:
            answer = self.chat_model.invoke(msgs)
            text = str(getattr(answer, "content", answer))
            # letters at the start of the answer only ("B", "B, D", "B and D"): a capital
            # "A" later in a sentence is an article, not a choice
            head = re.match(r"^\W*((?:[A-J](?![A-Za-z])[\s,;&)/.:-]*(?:and\s+)?){1,3})", text)
            order = []
            for lab in re.findall(r"[A-J]", head.group(1) if head else ""):
                if lab in labels and lab not in order:
                    order.append(lab)
            if not order:
                raise ValueError(f"no fact letter in the model's answer {text[:60]!r}")
        picked = [cands[LABELS.index(lab)] for lab in order]
        out: list[Fact] = []
        for f in picked:
            if f.kind not in {x.kind for x in out}:
                out.append(f)
            if len(out) == self.k:
                break
        return out
