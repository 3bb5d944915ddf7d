"""The event log: impressions, clicks, purchases and organic interactions, append-only.

Every slate that a shopper sees is logged as an :class:`Impression` (which products, at which
positions, with which propensities, chosen by which policy version); the shopper's reactions
come back as :class:`Click` and :class:`Purchase` events that point at the impression's
``slate_id``. Rewards (:mod:`shelfwise.rewards`) and off-policy evaluation
(:mod:`shelfwise.evaluate`) read from here, so any slate can be replayed later.

:class:`EventStore` is the protocol; :class:`SQLiteEventStore` is the default implementation
(one file, WAL journal, ``synchronous=FULL`` so that an acknowledged write survives a crash or a
power cut). A server database (PostgreSQL) can implement the same protocol for many writers.

Writes are idempotent by ``event_id``: writing the same event twice returns ``False`` the second
time and changes nothing; writing a *different* event under an id that is already taken (by any
kind of event: a click and a purchase never share an id) raises
:class:`~shelfwise.errors.EventLogError`. The ``time`` field is not part of that comparison, so
a client that retries a write and stamps the event again is still recognised as a retry.

Two sources of events, kept apart in every query. *Served* events are the slates shelfwise
showed (impressions) and the reactions that point at them (clicks, purchases): they carry a
slate id, positions and propensities, and they are what rewards and off-policy evaluation read
(:meth:`EventStore.impressions`, :meth:`~EventStore.clicks`, :meth:`~EventStore.purchases`,
:meth:`~EventStore.sessions`, :meth:`~EventStore.to_dataframe` return served events only).
*Organic* events are :class:`Interaction` rows a shop imports from its own history (views,
clicks, add-to-cart, purchases, with no slate and no propensity; ``shelfwise ingest-events``):
they live in their own table and are read by :meth:`~EventStore.interactions`. A shopper's
history (:meth:`~EventStore.user_history`) and the flat export
(:meth:`~EventStore.export_batches`, with a ``source`` column) see both.

Organic event ids are derived from the row's content (:func:`interaction_event_id`), so
importing the same history twice adds nothing; the bulk write
(:meth:`~EventStore.log_interactions`) is ``INSERT ... ON CONFLICT DO NOTHING`` on the id.
A PostgreSQL backend maps each table one to one (``COPY`` into a staging table, then
``INSERT ... ON CONFLICT (event_id) DO NOTHING``, server-side cursors for the streaming reads).

Schema versions: 1 had impressions, clicks and purchases; 2 adds the ``interactions`` table and
per-user indexes on clicks and purchases (for history look-ups). A version-1 file is migrated in
place when it is opened (tables and indexes added, nothing rewritten).

Replay data. For ``shelfwise evaluate`` to recompute a candidate policy's probabilities of the
logged items, an impression may carry the policy's inputs: ``state`` (the user state vector,
``(d_u,)``), ``candidate_ids`` (the product ids of the candidate list the policy chose from, in
order) and optionally ``candidate_features`` (``(n, d_c)``). Vectors are stored as little-endian
float32 blobs in a side table (``impression_context``) so that the main table stays small.
Storing the candidate feature matrix costs ``n * d_c * 4`` bytes per slate (about 150 KB for 100
candidates of 384 dimensions); leave it out and keep ``candidate_ids`` when the product index is
versioned (``index_version``), and the features can be rebuilt from that index.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
import threading
import time as _time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from shelfwise.errors import EventLogError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 2
"""Version of the SQLite schema written by this module (table ``schema_version``)."""

INTERACTION_KINDS = ("view", "click", "add_to_cart", "purchase")
"""Kinds of organic interactions, weakest signal first."""

EXPORT_COLUMNS = ("source", "kind", "event_id", "time", "user_id", "product_id", "session_id",
                  "value", "quantity", "slate_id", "position", "propensity", "score", "policy",
                  "policy_version", "margin")
"""Columns of :meth:`EventStore.export_batches` (and of ``shelfwise events export``).

``source`` is ``organic`` (imported :class:`Interaction`) or ``served`` (impressions and the
clicks and purchases of served slates); ``kind`` is one of :data:`INTERACTION_KINDS` or
``impression`` (one row per shown item, all rows of a slate sharing its event id); ``time`` is
unix seconds. Columns that a source does not have are None (organic rows have no slate,
position or propensity; served rows have no quantity).
"""

__all__ = [
    "EXPORT_COLUMNS",
    "INTERACTION_KINDS",
    "SCHEMA_VERSION",
    "Click",
    "EventStore",
    "Impression",
    "Interaction",
    "InteractionColumns",
    "Purchase",
    "SQLiteEventStore",
    "Session",
    "SlateFeedback",
    "interaction_event_id",
    "interaction_event_ids",
    "new_event_id",
]


def new_event_id() -> str:
    """Return a fresh random event id (32 hex characters)."""
    import uuid

    return uuid.uuid4().hex


def _check_id(value: Any, name: str, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str) or not value:
        raise EventLogError(f"{name} must be a non-empty string, got {value!r}")


def _finite(value: Any, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise EventLogError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(out):
        raise EventLogError(f"{name} must be finite, got {value!r}")
    return out


def _as_vector(value: Any, name: str, ndim: int) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != ndim:
        raise EventLogError(f"{name} must be a {ndim}-d array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise EventLogError(f"{name} contains NaN or infinite values")
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Impression:
    """One slate shown to one shopper.

    Args:
        event_id: unique id of this event (idempotency key).
        slate_id: id that clicks and purchases refer to; unique among impressions.
        user_id: the shopper.
        item_ids: product ids in the order shown, ``(k,)``.
        propensities: for each shown item, the probability with which the logging policy put
            it at that position (the position-wise marginal), in ``(0, 1]``, ``(k,)``.
        policy: name of the policy that chose the slate.
        policy_version: the policy's version (checkpoint id).
        positions: the slot of each item, ``(k,)``; default ``0..k-1``.
        scores: the policy's score of each shown item, ``(k,)``; default empty.
        session_id: the shopping session; ``None`` means the user id is the session.
        encoder_version: name/version of the encoders that built the vectors.
        index_version: version of the product index the candidates came from.
        prompt_hash: hash of the LLM prompt when a language model touched the slate, else None.
        query: the shopper's text query, if any.
        time: unix seconds (UTC); default now.
        state: user state vector ``(d_u,)`` float32 the policy saw, for replay; optional.
        candidate_ids: product ids of the candidate list ``(n,)`` the policy chose from; optional.
        candidate_features: candidate feature matrix ``(n, d_c)`` float32; optional, needs
            ``candidate_ids``.
        candidate_sources: per candidate, the named sources that retrieved it joined by ``+``
            (e.g. ``"item2item+behaviour"``, see :mod:`shelfwise.candidates`) ``(n,)``;
            optional, needs ``candidate_ids``.
        source_scores: per candidate, each source's score ``(n, len(source_names))`` float32;
            optional, needs ``candidate_ids`` and ``source_names``.
        source_names: the sources of the columns of ``source_scores``.
        ads: per shown item, whether its slot showed it as an ad (sponsored slots,
            :mod:`shelfwise.sponsored`), ``(k,)``; ``None`` when the slate had no ad slots.
        ad_bids: per shown item, the bid (cost per click) it was served with, ``(k,)``, 0 for
            organic items; given with ``ads``.

    """

    event_id: str
    slate_id: str
    user_id: str
    item_ids: tuple[str, ...]
    propensities: tuple[float, ...]
    policy: str
    policy_version: str
    positions: tuple[int, ...] = ()
    scores: tuple[float, ...] = ()
    session_id: str | None = None
    encoder_version: str = ""
    index_version: str = ""
    prompt_hash: str | None = None
    query: str | None = None
    time: float = field(default_factory=_time.time)
    state: np.ndarray | None = field(default=None, repr=False)
    candidate_ids: tuple[str, ...] | None = field(default=None, repr=False)
    candidate_features: np.ndarray | None = field(default=None, repr=False)
    candidate_sources: tuple[str, ...] | None = field(default=None, repr=False)
    source_scores: np.ndarray | None = field(default=None, repr=False)
    source_names: tuple[str, ...] = ()
    ads: tuple[bool, ...] | None = field(default=None, repr=False)
    ad_bids: tuple[float, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("event_id", "slate_id", "user_id", "policy", "policy_version"):
            _check_id(getattr(self, name), name)
        _check_id(self.session_id, "session_id", nullable=True)
        items = tuple(self.item_ids) if not isinstance(self.item_ids, str) else None
        if not items:
            raise EventLogError(
                f"impression {self.event_id}: item_ids must be a non-empty sequence of product ids"
            )
        for i, item in enumerate(items):
            _check_id(item, f"impression {self.event_id}: item_ids[{i}]")
        if len(set(items)) != len(items):
            raise EventLogError(f"impression {self.event_id}: item_ids contains duplicates")
        k = len(items)
        props = tuple(_finite(p, f"impression {self.event_id}: propensities") for p in
                      self.propensities)
        if len(props) != k:
            raise EventLogError(
                f"impression {self.event_id}: propensities has {len(props)} values but item_ids "
                f"has {k}; they must match"
            )
        for i, p in enumerate(props):
            if not 0.0 < p <= 1.0:
                raise EventLogError(
                    f"impression {self.event_id}: propensities[{i}] = {p} is outside (0, 1]"
                )
        positions = tuple(int(p) for p in self.positions) if self.positions else tuple(range(k))
        if len(positions) != k:
            raise EventLogError(
                f"impression {self.event_id}: positions has {len(positions)} values but "
                f"item_ids has {k}; they must match"
            )
        if any(p < 0 for p in positions) or len(set(positions)) != k:
            raise EventLogError(
                f"impression {self.event_id}: positions must be distinct and >= 0, got {positions}"
            )
        scores = tuple(_finite(s, f"impression {self.event_id}: scores") for s in self.scores)
        if scores and len(scores) != k:
            raise EventLogError(
                f"impression {self.event_id}: scores has {len(scores)} values but item_ids has "
                f"{k}; they must match (or be empty)"
            )
        object.__setattr__(self, "item_ids", items)
        object.__setattr__(self, "propensities", props)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "time", _finite(self.time, "time"))
        state = _as_vector(self.state, f"impression {self.event_id}: state", 1)
        object.__setattr__(self, "state", state)
        cands = None
        if self.candidate_ids is not None:
            if isinstance(self.candidate_ids, str):
                raise EventLogError(
                    f"impression {self.event_id}: candidate_ids must be a sequence of ids"
                )
            cands = tuple(self.candidate_ids)
            for i, c in enumerate(cands):
                _check_id(c, f"impression {self.event_id}: candidate_ids[{i}]")
            missing = [i for i in items if i not in set(cands)]
            if missing:
                raise EventLogError(
                    f"impression {self.event_id}: shown items {missing} are not in candidate_ids"
                )
        object.__setattr__(self, "candidate_ids", cands)
        feats = _as_vector(self.candidate_features, f"impression {self.event_id}: "
                           "candidate_features", 2)
        if feats is not None:
            if cands is None:
                raise EventLogError(
                    f"impression {self.event_id}: candidate_features needs candidate_ids"
                )
            if feats.shape[0] != len(cands):
                raise EventLogError(
                    f"impression {self.event_id}: candidate_features has {feats.shape[0]} rows but "
                    f"candidate_ids has {len(cands)}; they must match"
                )
        object.__setattr__(self, "candidate_features", feats)
        self._check_sources(cands)
        self._check_ads(k)

    def _check_ads(self, k: int) -> None:
        """Validate the optional ad flags and bids (one per shown item)."""
        where = f"impression {self.event_id}"
        if self.ads is None:
            if self.ad_bids is not None:
                raise EventLogError(f"{where}: ad_bids needs ads")
            return
        if isinstance(self.ads, str) or len(tuple(self.ads)) != k:
            raise EventLogError(f"{where}: ads must have one flag per item ({k})")
        ads = tuple(bool(a) for a in self.ads)
        bids = tuple(_finite(b, f"{where}: ad_bids") for b in (self.ad_bids or (0.0,) * k))
        if len(bids) != k or any(b < 0 for b in bids):
            raise EventLogError(f"{where}: ad_bids must be {k} numbers >= 0")
        object.__setattr__(self, "ads", ads)
        object.__setattr__(self, "ad_bids", bids)

    def _check_sources(self, cands: tuple[str, ...] | None) -> None:
        """Validate the optional provenance fields (sources and source scores per candidate)."""
        where = f"impression {self.event_id}"
        srcs = None
        if self.candidate_sources is not None:
            if cands is None or isinstance(self.candidate_sources, str):
                raise EventLogError(f"{where}: candidate_sources needs candidate_ids and must be "
                                    "a sequence of strings")
            srcs = tuple(str(x) for x in self.candidate_sources)
            if len(srcs) != len(cands):
                raise EventLogError(f"{where}: candidate_sources has {len(srcs)} values but "
                                    f"candidate_ids has {len(cands)}; they must match")
        object.__setattr__(self, "candidate_sources", srcs)
        names = tuple(str(x) for x in self.source_names)
        object.__setattr__(self, "source_names", names)
        scores = _as_vector(self.source_scores, f"{where}: source_scores", 2)
        if scores is not None:
            if cands is None or scores.shape[0] != len(cands) or scores.shape[1] != len(names):
                raise EventLogError(
                    f"{where}: source_scores has shape {scores.shape}; it needs candidate_ids "
                    f"and must be (len(candidate_ids), len(source_names)) = "
                    f"({None if cands is None else len(cands)}, {len(names)})")
        object.__setattr__(self, "source_scores", scores)

    @property
    def k(self) -> int:
        """Number of shown items."""
        return len(self.item_ids)

    @property
    def session(self) -> str:
        """The session key: ``session_id`` if set, else the user id."""
        return self.session_id if self.session_id is not None else self.user_id

    def chosen_indices(self) -> np.ndarray:
        """Index of each shown item in ``candidate_ids``, ``(k,)`` int64.

        Raises:
            EventLogError: the impression has no ``candidate_ids``.

        """
        if self.candidate_ids is None:
            raise EventLogError(f"impression {self.event_id} has no candidate_ids to replay")
        where = {c: i for i, c in enumerate(self.candidate_ids)}
        return np.array([where[i] for i in self.item_ids], dtype=np.int64)

    def _content(self) -> tuple[Any, ...]:
        """Everything compared for idempotency (all fields but ``time``)."""
        return (
            self.slate_id, self.user_id, self.session_id, self.item_ids, self.positions,
            self.propensities, self.scores, self.policy, self.policy_version,
            self.encoder_version, self.index_version, self.prompt_hash, self.query,
            None if self.state is None else self.state.tobytes(),
            self.candidate_ids,
            None if self.candidate_features is None else self.candidate_features.tobytes(),
            self.candidate_sources, self.source_names,
            None if self.source_scores is None else self.source_scores.tobytes(),
            self.ads, self.ad_bids,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Impression):
            return NotImplemented
        return (self.event_id, self.time, self._content()) == (
            other.event_id, other.time, other._content())

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Click:
    """A shopper clicked a shown product.

    Args:
        event_id: unique id of this event (idempotency key).
        slate_id: the impression the click belongs to.
        user_id: the shopper.
        product_id: the clicked product.
        position: its slot in the slate (0-based).
        value: weight of the click (default 1.0).
        time: unix seconds (UTC); default now.

    """

    event_id: str
    slate_id: str
    user_id: str
    product_id: str
    position: int
    value: float = 1.0
    time: float = field(default_factory=_time.time)

    def __post_init__(self) -> None:
        _validate_feedback(self, "click")

    def _content(self) -> tuple[Any, ...]:
        return (self.slate_id, self.user_id, self.product_id, self.position, self.value)


@dataclass(frozen=True)
class Purchase:
    """A shopper bought a shown product.

    Args:
        event_id: unique id of this event (idempotency key).
        slate_id: the impression the purchase is attributed to.
        user_id: the shopper.
        product_id: the bought product.
        position: its slot in the slate (0-based).
        value: revenue of the purchase (price times quantity), >= 0.
        time: unix seconds (UTC); default now.
        margin: absolute margin of the purchase when known; used by the ``margin`` reward term.

    """

    event_id: str
    slate_id: str
    user_id: str
    product_id: str
    position: int
    value: float
    time: float = field(default_factory=_time.time)
    margin: float | None = None

    def __post_init__(self) -> None:
        _validate_feedback(self, "purchase")
        if self.value < 0:
            raise EventLogError(f"purchase {self.event_id}: value must be >= 0, got {self.value}")
        if self.margin is not None:
            object.__setattr__(self, "margin",
                               _finite(self.margin, f"purchase {self.event_id}: margin"))

    def _content(self) -> tuple[Any, ...]:
        return (self.slate_id, self.user_id, self.product_id, self.position, self.value,
                self.margin)


def _validate_feedback(ev: Click | Purchase, kind: str) -> None:
    for name in ("event_id", "slate_id", "user_id", "product_id"):
        _check_id(getattr(ev, name), f"{kind} {getattr(ev, 'event_id', '?')}: {name}"
                  if name != "event_id" else name)
    if isinstance(ev.position, bool) or not isinstance(ev.position, int | np.integer):
        raise EventLogError(f"{kind} {ev.event_id}: position must be an int, got {ev.position!r}")
    if ev.position < 0:
        raise EventLogError(f"{kind} {ev.event_id}: position must be >= 0, got {ev.position}")
    object.__setattr__(ev, "position", int(ev.position))
    object.__setattr__(ev, "value", _finite(ev.value, f"{kind} {ev.event_id}: value"))
    object.__setattr__(ev, "time", _finite(ev.time, f"{kind} {ev.event_id}: time"))


_ORGANIC_ID = re.compile(r"o[0-9a-f]{32}")
"""Organic event ids: ``o`` + 32 hex characters, a namespace served events may not use."""


def interaction_event_id(user_id: str, product_id: str, kind: str, time: float,
                         value: float | None = None, quantity: int = 1,
                         session_id: str | None = None) -> str:
    """The deterministic id of an organic interaction: a hash of its content.

    ``time`` counts to the millisecond. The same row imported twice gets the same id (and is
    stored once); rows that differ in any field get different ids.

    Returns:
        ``"o"`` followed by 32 hex characters (a namespace no served event may use).
    """
    return interaction_event_ids([user_id], [product_id], [kind], [time], [value], [quantity],
                                 [session_id])[0]


def interaction_event_ids(user_id: Sequence[str], product_id: Sequence[str],
                          kind: Sequence[str], time: Sequence[float],
                          value: Sequence[float | None], quantity: Sequence[int],
                          session_id: Sequence[str | None]) -> list[str]:
    """:func:`interaction_event_id` of many rows at once (equal-length columns ``(n,)``)."""
    blake = hashlib.blake2b
    return ["o" + blake(
        f"{u}\x1f{p}\x1f{k}\x1f{round(float(t) * 1000.0)}\x1f"
        f"{'' if v is None else repr(float(v))}\x1f{int(q)}\x1f{s or ''}".encode(),
        digest_size=16).hexdigest()
        for u, p, k, t, v, q, s in zip(user_id, product_id, kind, time, value, quantity,
                                       session_id, strict=True)]


@dataclass(frozen=True)
class Interaction:
    """An organic interaction a shop imported: no slate, no position, no propensity.

    Args:
        event_id: unique id; :meth:`create` derives it from the content.
        user_id: the shopper.
        product_id: the product.
        kind: one of :data:`INTERACTION_KINDS`.
        time: unix seconds (UTC).
        value: revenue (purchases) or any non-negative value the shop gives; None if unknown.
        quantity: items, >= 1.
        session_id: the shop's session id, if any.

    """

    event_id: str
    user_id: str
    product_id: str
    kind: str
    time: float
    value: float | None = None
    quantity: int = 1
    session_id: str | None = None

    def __post_init__(self) -> None:
        _check_id(self.event_id, "event_id")
        for name in ("user_id", "product_id"):
            _check_id(getattr(self, name), f"interaction {self.event_id}: {name}")
        _check_id(self.session_id, f"interaction {self.event_id}: session_id", nullable=True)
        if self.kind not in INTERACTION_KINDS:
            raise EventLogError(f"interaction {self.event_id}: kind must be one of "
                                f"{', '.join(INTERACTION_KINDS)}, got {self.kind!r}")
        t = _finite(self.time, f"interaction {self.event_id}: time")
        object.__setattr__(self, "time", round(t * 1000.0) / 1000.0)
        if self.value is not None:
            value = _finite(self.value, f"interaction {self.event_id}: value")
            if value < 0:
                raise EventLogError(f"interaction {self.event_id}: value must be >= 0, got "
                                    f"{value}")
            object.__setattr__(self, "value", value)
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int | np.integer) \
                or self.quantity < 1:
            raise EventLogError(f"interaction {self.event_id}: quantity must be an int >= 1, "
                                f"got {self.quantity!r}")
        object.__setattr__(self, "quantity", int(self.quantity))
        expected = interaction_event_id(self.user_id, self.product_id, self.kind, self.time,
                                        self.value, self.quantity, self.session_id)
        if self.event_id != expected:
            raise EventLogError(f"interaction {self.event_id}: event_id must be the hash of the "
                                f"content ({expected}); build it with Interaction.create")

    @classmethod
    def create(cls, user_id: str, product_id: str, kind: str, time: float,
               value: float | None = None, quantity: int = 1,
               session_id: str | None = None) -> Interaction:
        """An interaction whose id is :func:`interaction_event_id` of its content."""
        ms_time = round(_finite(time, "time") * 1000.0) / 1000.0
        return cls(interaction_event_id(user_id, product_id, kind, ms_time, value, quantity,
                                        session_id),
                   user_id, product_id, kind, ms_time, value, quantity, session_id)


@dataclass(frozen=True)
class InteractionColumns:
    """Many organic interactions as equal-length columns, for bulk writes (already validated).

    The importer (:mod:`shelfwise.interactions`) validates rows vectorised and hands them over
    in this form, with ids from :func:`interaction_event_ids` and times rounded to the
    millisecond; :meth:`EventStore.log_interactions` checks only the lengths and the kinds.

    Attributes:
        event_id: ``(n,)`` ids (see :func:`interaction_event_id`).
        user_id: ``(n,)`` shoppers.
        product_id: ``(n,)`` products.
        kind: ``(n,)`` values of :data:`INTERACTION_KINDS`.
        time: ``(n,)`` unix seconds.
        value: ``(n,)`` float or None.
        quantity: ``(n,)`` int >= 1.
        session_id: ``(n,)`` str or None.

    """

    event_id: Sequence[str]
    user_id: Sequence[str]
    product_id: Sequence[str]
    kind: Sequence[str]
    time: Sequence[float]
    value: Sequence[float | None]
    quantity: Sequence[int]
    session_id: Sequence[str | None]
    presorted: bool = False
    """True when the rows are already ordered by ``(user_id, time)`` (the store then skips its
    own sort)."""

    def __post_init__(self) -> None:
        n = len(self.event_id)
        for name in ("user_id", "product_id", "kind", "time", "value", "quantity",
                     "session_id"):
            if len(getattr(self, name)) != n:
                raise EventLogError(f"InteractionColumns.{name} has {len(getattr(self, name))} "
                                    f"values but event_id has {n}; they must match")
        bad = set(self.kind) - set(INTERACTION_KINDS)
        if bad:
            raise EventLogError(f"InteractionColumns.kind holds {sorted(bad)!r}; kinds are "
                                f"{', '.join(INTERACTION_KINDS)}")

    def __len__(self) -> int:
        return len(self.event_id)

    @classmethod
    def from_interactions(cls, rows: Iterable[Interaction]) -> InteractionColumns:
        """Columns of a few :class:`Interaction` objects."""
        rows = list(rows)
        return cls(*(tuple(getattr(r, f) for r in rows) for f in (
            "event_id", "user_id", "product_id", "kind", "time", "value", "quantity",
            "session_id")))

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """Row tuples in the column order above."""
        return zip(self.event_id, self.user_id, self.product_id, self.kind, self.time,
                   self.value, self.quantity, self.session_id, strict=True)


@dataclass(frozen=True)
class SlateFeedback:
    """An impression with the clicks and purchases that refer to it."""

    impression: Impression | None
    """The impression, or None when only feedback for this slate id has arrived."""
    clicks: list[Click]
    """Clicks on this slate, oldest first."""
    purchases: list[Purchase]
    """Purchases attributed to this slate, oldest first."""


@dataclass(frozen=True)
class Session:
    """The impressions of one session, oldest first."""

    session_id: str
    """``Impression.session_id``, or the user id where that is None."""
    user_id: str
    """The shopper of the session's first impression."""
    impressions: list[Impression]
    """Impressions in time order."""


Event = Impression | Click | Purchase | Interaction


@runtime_checkable
class EventStore(Protocol):
    """Append-only store of served events (impressions, clicks, purchases) and organic ones.

    All writes are idempotent by event id and return True when the event was new (the bulk
    :meth:`log_interactions` returns the number of new rows). Event ids are unique across all
    kinds. A backend must make an acknowledged write durable before returning.

    Served and organic events never mix in a query: ``impressions``, ``clicks``,
    ``purchases``, ``feedback_for``, ``sessions`` and ``to_dataframe`` read served events only;
    ``interactions`` reads organic ones; ``user_history`` and ``export_batches`` read both
    (the export says which in its ``source`` column).
    """

    def log_impression(self, impression: Impression) -> bool:
        """Append an impression; False if this exact event was already stored."""
        ...

    def log_click(self, click: Click) -> bool:
        """Append a click; False if this exact event was already stored."""
        ...

    def log_purchase(self, purchase: Purchase) -> bool:
        """Append a purchase; False if this exact event was already stored."""
        ...

    def log_many(self, events: Iterable[Event]) -> list[bool]:
        """Append several events in one transaction (all or none)."""
        ...

    def impressions(self, since: float | datetime | None = None,
                    policy: str | None = None) -> Iterator[Impression]:
        """Impressions in time order, optionally from ``since`` on and of one policy."""
        ...

    def clicks(self, slate_id: str | None = None) -> list[Click]:
        """Clicks, all or for one slate."""
        ...

    def purchases(self, slate_id: str | None = None) -> list[Purchase]:
        """Purchases, all or for one slate."""
        ...

    def feedback_for(self, slate_id: str) -> SlateFeedback:
        """Return the impression with its clicks and purchases."""
        ...

    def sessions(self) -> Iterator[Session]:
        """Impressions grouped by session, each session in time order."""
        ...

    def to_dataframe(self) -> pd.DataFrame:
        """One row per shown item with its click and purchase outcome (for OPE)."""
        ...

    def log_interactions(self, batch: InteractionColumns | Iterable[Interaction]) -> int:
        """Append organic interactions in one transaction; returns how many were new.

        Ids already stored are skipped (a re-import adds nothing).
        """
        ...

    def interactions(self, user_id: str | None = None,
                     since: float | datetime | None = None) -> Iterator[Interaction]:
        """Organic interactions in time order, all or of one shopper, optionally from ``since``."""
        ...

    def user_history(self, user_id: str, limit: int = 50) -> list[str]:
        """The shopper's last ``limit`` distinct products, oldest first, from every source."""
        ...

    def export_batches(self, batch_size: int = 65536) -> Iterator[dict[str, list[Any]]]:
        """The whole log as column batches with :data:`EXPORT_COLUMNS` (streamed)."""
        ...

    def count(self) -> dict[str, int]:
        """Number of impressions, clicks, purchases (served) and interactions (organic)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# ---------------------------------------------------------------------------------------------
# SQLite implementation

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL,
    applied_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS impressions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    slate_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    session_id TEXT,
    item_ids TEXT NOT NULL,
    positions TEXT NOT NULL,
    propensities TEXT NOT NULL,
    scores TEXT NOT NULL,
    policy TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    encoder_version TEXT NOT NULL,
    index_version TEXT NOT NULL,
    prompt_hash TEXT,
    query TEXT,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS impressions_time ON impressions(time);
CREATE INDEX IF NOT EXISTS impressions_policy ON impressions(policy, time);
CREATE INDEX IF NOT EXISTS impressions_session ON impressions(session_id, user_id, time);
CREATE TABLE IF NOT EXISTS impression_context (
    event_id TEXT PRIMARY KEY REFERENCES impressions(event_id),
    state BLOB,
    candidate_ids TEXT,
    candidate_features BLOB,
    feature_dim INTEGER
);
CREATE TABLE IF NOT EXISTS impression_sources (
    event_id TEXT PRIMARY KEY REFERENCES impressions(event_id),
    candidate_sources TEXT,
    source_names TEXT NOT NULL,
    source_scores BLOB
);
CREATE TABLE IF NOT EXISTS impression_ads (
    event_id TEXT PRIMARY KEY REFERENCES impressions(event_id),
    ads TEXT NOT NULL,
    ad_bids TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clicks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    slate_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    value REAL NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS clicks_slate ON clicks(slate_id);
CREATE TABLE IF NOT EXISTS purchases (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    slate_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    value REAL NOT NULL,
    margin REAL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS purchases_slate ON purchases(slate_id);
CREATE TABLE IF NOT EXISTS interactions (
    user_id TEXT NOT NULL,
    time REAL NOT NULL,
    event_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value REAL,
    quantity INTEGER NOT NULL,
    session_id TEXT,
    PRIMARY KEY (user_id, time, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS clicks_user ON clicks(user_id, time);
CREATE INDEX IF NOT EXISTS purchases_user ON purchases(user_id, time);
"""

_APPEND_ONLY = ("impressions", "impression_context", "impression_sources", "impression_ads",
                "clicks", "purchases", "interactions")
_ID_TABLES = ("impressions", "clicks", "purchases")
"""Tables of served events; ids are unique across them (organic ids have their own namespace)."""
_INTERACTION_COLS = ("event_id", "user_id", "product_id", "kind", "time", "value", "quantity",
                     "session_id")

_IMP_COLS = ("event_id", "slate_id", "user_id", "session_id", "item_ids", "positions",
             "propensities", "scores", "policy", "policy_version", "encoder_version",
             "index_version", "prompt_hash", "query", "time")


def _dumps(values: Sequence[Any]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def _impression_row(imp: Impression) -> tuple[Any, ...]:
    return (imp.event_id, imp.slate_id, imp.user_id, imp.session_id, _dumps(imp.item_ids),
            _dumps(imp.positions), _dumps(imp.propensities), _dumps(imp.scores), imp.policy,
            imp.policy_version, imp.encoder_version, imp.index_version, imp.prompt_hash,
            imp.query, imp.time)


def _context_row(imp: Impression) -> tuple[Any, ...] | None:
    if imp.state is None and imp.candidate_ids is None:
        return None
    feats = imp.candidate_features
    return (imp.event_id,
            None if imp.state is None else imp.state.astype("<f4").tobytes(),
            None if imp.candidate_ids is None else _dumps(imp.candidate_ids),
            None if feats is None else feats.astype("<f4").tobytes(),
            None if feats is None else int(feats.shape[1]))


def _sources_row(imp: Impression) -> tuple[Any, ...] | None:
    if imp.candidate_sources is None and imp.source_scores is None:
        return None
    scores = imp.source_scores
    return (imp.event_id,
            None if imp.candidate_sources is None else _dumps(imp.candidate_sources),
            _dumps(imp.source_names),
            None if scores is None else scores.astype("<f4").tobytes())


def _fetch_batches(cur: sqlite3.Cursor, size: int) -> Iterator[list[Any]]:
    """The cursor's rows in lists of at most ``size`` (never an empty list)."""
    while rows := cur.fetchmany(size):
        yield rows


def _to_seconds(since: float | datetime | None) -> float | None:
    if since is None:
        return None
    if isinstance(since, datetime):
        return since.timestamp()
    return float(since)


class SQLiteEventStore:
    """The event log in one SQLite file (WAL journal, ``synchronous=FULL``).

    Thread-safe: each thread gets its own connection (SQLite serialises writers; a busy
    writer waits up to ``timeout`` seconds). Every write commits before it returns, so an
    acknowledged event survives a crash of the process or the machine.

    Args:
        path: the database file; created with its folder if missing.
        timeout: seconds a writer waits for the write lock before failing.

    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = float(timeout)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EventLogError(f"cannot create the event log folder {self.path.parent}: "
                                f"{exc}") from exc
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self._init_schema()

    # -- connections -----------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise EventLogError(f"event log {self.path} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                       check_same_thread=False)
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            except sqlite3.Error as exc:
                raise EventLogError(f"cannot open the event log {self.path}: {exc}") from exc
            if str(mode).lower() != "wal":
                conn.close()
                raise EventLogError(f"event log {self.path}: WAL journal mode unavailable "
                                    f"(got {mode!r}); is the file on a network share?")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _init_schema(self) -> None:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            for table in _APPEND_ONLY:
                for op in ("UPDATE", "DELETE"):
                    conn.execute(
                        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON "
                        f"{table} BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"
                    )
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            if row[0] is not None and row[0] > SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                raise EventLogError(
                    f"event log {self.path} has schema version {row[0]}, newer than this "
                    f"shelfwise understands ({SCHEMA_VERSION}); upgrade shelfwise"
                )
            if row[0] is None or row[0] < SCHEMA_VERSION:
                # a new file, or an older one that the CREATE ... IF NOT EXISTS above migrated
                conn.execute("INSERT INTO schema_version VALUES (?, ?)",
                             (SCHEMA_VERSION, _time.time()))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise EventLogError(f"cannot initialise the event log {self.path}: {exc}") from exc

    @property
    def schema_version(self) -> int:
        """The schema version stored in the file."""
        return int(self._conn().execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:  # pragma: no cover - closing is best effort
                    pass
            self._all.clear()
        self._closed = True

    def __enter__(self) -> SQLiteEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------------

    def log_impression(self, impression: Impression) -> bool:
        """Append an impression; True if new, False if this exact event is already stored.

        Raises:
            EventLogError: the event id (or slate id) is taken by a different event.

        """
        return self.log_many([impression])[0]

    def log_click(self, click: Click) -> bool:
        """Append a click; True if new, False if this exact event is already stored."""
        return self.log_many([click])[0]

    def log_purchase(self, purchase: Purchase) -> bool:
        """Append a purchase; True if new, False if this exact event is already stored."""
        return self.log_many([purchase])[0]

    def log_many(self, events: Iterable[Event]) -> list[bool]:
        """Append events in one transaction: all are stored, or none (on any error).

        Returns:
            For each event, True if it was new.

        Raises:
            EventLogError: an event is not an Impression/Click/Purchase/Interaction, or its id
                is taken by different content; nothing of the batch is stored then.

        """
        batch = list(events)
        conn = self._conn()
        out: list[bool] = []
        with self._write(conn):
            for ev in batch:
                out.append(self._insert(conn, ev))
        return out

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[None]:
        """One IMMEDIATE write transaction: committed whole, or rolled back on any error.

        Raises:
            EventLogError: SQLite refused the write (nothing of it is stored).
        """
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise EventLogError(f"cannot write to the event log {self.path}: {exc}") from exc

    @staticmethod
    def _check_id_free_elsewhere(conn: sqlite3.Connection, ev: Event, own_table: str) -> None:
        """Served event ids are unique across tables: a click and a purchase never share one."""
        for table in _ID_TABLES:
            if table == own_table:
                continue
            if conn.execute(f"SELECT 1 FROM {table} WHERE event_id = ?",
                            (ev.event_id,)).fetchone():
                kind = type(ev).__name__.lower()
                other = "an impression" if table == "impressions" else f"a {table[:-1]}"
                raise EventLogError(f"{kind} {ev.event_id}: event id already logged as {other}")

    def log_interactions(self, batch: InteractionColumns | Iterable[Interaction]) -> int:
        """Append organic interactions in one transaction (all or none); returns how many were new.

        A row whose event id is already stored is skipped, so importing the same history twice
        adds nothing (ids come from the content, see :func:`interaction_event_id`).

        Ids are unique across the whole log without a look-up in the served tables: organic ids
        live in their own namespace (``o`` + 32 hex characters, refused for served events).

        Raises:
            EventLogError: the write failed; nothing of the batch is stored then.

        """
        cols = batch if isinstance(batch, InteractionColumns) else \
            InteractionColumns.from_interactions(batch)
        if not len(cols):
            return 0
        # Sorted by the primary key (user, time, id), the rows land on neighbouring pages of
        # the table's B-tree: about twice as fast as file order on a large log.
        rows = list(cols.rows()) if cols.presorted else \
            sorted(cols.rows(), key=lambda r: (r[1], r[4], r[0]))
        conn = self._conn()
        with self._write(conn):
            if not getattr(self._local, "bulk_cache", False):
                # a bulk import touches pages all over the table: a bounded 64 MB page cache
                conn.execute("PRAGMA cache_size=-65536")
                self._local.bulk_cache = True
            cur = conn.executemany(
                f"INSERT OR IGNORE INTO interactions ({','.join(_INTERACTION_COLS)}) "
                f"VALUES ({','.join('?' * len(_INTERACTION_COLS))})", rows)
            added = int(cur.rowcount)
        return added

    def _insert(self, conn: sqlite3.Connection, ev: Event) -> bool:
        if isinstance(ev, Interaction):
            # the id is the hash of the content (checked by Interaction), so a stored id means
            # this very interaction is stored
            cur = conn.execute(
                f"INSERT OR IGNORE INTO interactions ({','.join(_INTERACTION_COLS)}) "
                f"VALUES ({','.join('?' * len(_INTERACTION_COLS))})",
                next(InteractionColumns.from_interactions([ev]).rows()))
            return cur.rowcount == 1
        if isinstance(ev, Impression | Click | Purchase):
            if _ORGANIC_ID.fullmatch(ev.event_id):
                raise EventLogError(
                    f"{type(ev).__name__.lower()} {ev.event_id}: event ids of the form 'o' + 32 "
                    "hex characters are reserved for organic interactions")
            own = ("impressions" if isinstance(ev, Impression)
                   else "clicks" if isinstance(ev, Click) else "purchases")
            self._check_id_free_elsewhere(conn, ev, own)
        if isinstance(ev, Impression):
            cur = conn.execute(
                f"INSERT OR IGNORE INTO impressions ({','.join(_IMP_COLS)}) "
                f"VALUES ({','.join('?' * len(_IMP_COLS))})", _impression_row(ev))
            if cur.rowcount == 1:
                ctx = _context_row(ev)
                if ctx is not None:
                    conn.execute("INSERT INTO impression_context VALUES (?,?,?,?,?)", ctx)
                src = _sources_row(ev)
                if src is not None:
                    conn.execute("INSERT INTO impression_sources VALUES (?,?,?,?)", src)
                if ev.ads is not None:
                    conn.execute("INSERT INTO impression_ads VALUES (?,?,?)",
                                 (ev.event_id, _dumps(ev.ads), _dumps(ev.ad_bids or ())))
                return True
            old = self._impression_by(conn, "event_id", ev.event_id)
            if old is None:
                other = self._impression_by(conn, "slate_id", ev.slate_id)
                raise EventLogError(
                    f"impression {ev.event_id}: slate_id {ev.slate_id!r} is already logged by "
                    f"impression {other.event_id if other else '?'}"
                )
            if old._content() != ev._content():
                raise EventLogError(
                    f"impression {ev.event_id}: event id already logged with different content"
                )
            return False
        if isinstance(ev, Click | Purchase):
            table = "clicks" if isinstance(ev, Click) else "purchases"
            if isinstance(ev, Click):
                row: tuple[Any, ...] = (ev.event_id, ev.slate_id, ev.user_id, ev.product_id,
                                        ev.position, ev.value, ev.time)
                cols = "event_id,slate_id,user_id,product_id,position,value,time"
            else:
                row = (ev.event_id, ev.slate_id, ev.user_id, ev.product_id, ev.position,
                       ev.value, ev.margin, ev.time)
                cols = "event_id,slate_id,user_id,product_id,position,value,margin,time"
            cur = conn.execute(f"INSERT OR IGNORE INTO {table} ({cols}) VALUES "
                               f"({','.join('?' * len(row))})", row)
            if cur.rowcount == 1:
                return True
            existing = self._feedback_where(conn, table, "event_id = ?", (ev.event_id,))
            if existing and existing[0]._content() != ev._content():
                raise EventLogError(
                    f"{table[:-1]} {ev.event_id}: event id already logged with different content"
                )
            return False
        raise EventLogError(
            f"cannot log {type(ev).__name__}: expected an Impression, Click, Purchase or "
            "Interaction"
        )

    # -- reads -----------------------------------------------------------------------------

    _IMP_SELECT = (
        "SELECT i.event_id, i.slate_id, i.user_id, i.session_id, i.item_ids, i.positions, "
        "i.propensities, i.scores, i.policy, i.policy_version, i.encoder_version, "
        "i.index_version, i.prompt_hash, i.query, i.time, c.state, c.candidate_ids, "
        "c.candidate_features, c.feature_dim, s.candidate_sources, s.source_names, "
        "s.source_scores, a.ads, a.ad_bids FROM impressions i "
        "LEFT JOIN impression_context c ON c.event_id = i.event_id "
        "LEFT JOIN impression_sources s ON s.event_id = i.event_id "
        "LEFT JOIN impression_ads a ON a.event_id = i.event_id"
    )

    @staticmethod
    def _row_to_impression(row: Sequence[Any]) -> Impression:
        (event_id, slate_id, user_id, session_id, items, positions, props, scores, policy,
         version, enc, idx, prompt_hash, query, t, state, cand_ids, feats, fdim, srcs, names,
         sscores, ads, ad_bids) = row
        features = None
        if feats is not None:
            features = np.frombuffer(feats, dtype="<f4").reshape(-1, int(fdim))
        source_names = tuple(json.loads(names)) if names is not None else ()
        source_scores = None
        if sscores is not None:
            source_scores = np.frombuffer(sscores, dtype="<f4").reshape(-1, len(source_names))
        return Impression(
            event_id=event_id, slate_id=slate_id, user_id=user_id, session_id=session_id,
            item_ids=tuple(json.loads(items)), positions=tuple(json.loads(positions)),
            propensities=tuple(json.loads(props)), scores=tuple(json.loads(scores)),
            policy=policy, policy_version=version, encoder_version=enc, index_version=idx,
            prompt_hash=prompt_hash, query=query, time=t,
            state=None if state is None else np.frombuffer(state, dtype="<f4"),
            candidate_ids=None if cand_ids is None else tuple(json.loads(cand_ids)),
            candidate_features=features,
            candidate_sources=None if srcs is None else tuple(json.loads(srcs)),
            source_scores=source_scores, source_names=source_names,
            ads=None if ads is None else tuple(json.loads(ads)),
            ad_bids=None if ad_bids is None else tuple(json.loads(ad_bids)),
        )

    def _impression_by(self, conn: sqlite3.Connection, column: str,
                       value: str) -> Impression | None:
        row = conn.execute(f"{self._IMP_SELECT} WHERE i.{column} = ?", (value,)).fetchone()
        return None if row is None else self._row_to_impression(row)

    def impressions(self, since: float | datetime | None = None,
                    policy: str | None = None) -> Iterator[Impression]:
        """Impressions in time order (then insertion order).

        Args:
            since: only impressions with ``time >= since`` (unix seconds or a datetime).
            policy: only impressions logged by this policy name.

        """
        where, params = [], []
        t0 = _to_seconds(since)
        if t0 is not None:
            where.append("i.time >= ?")
            params.append(t0)
        if policy is not None:
            where.append("i.policy = ?")
            params.append(policy)
        sql = self._IMP_SELECT + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY i.time, i.seq"
        cur = self._conn().execute(sql, params)
        while True:
            rows = cur.fetchmany(500)
            if not rows:
                return
            for row in rows:
                yield self._row_to_impression(row)

    def impression(self, slate_id: str) -> Impression | None:
        """Return the impression of one slate, or None."""
        return self._impression_by(self._conn(), "slate_id", slate_id)

    def _feedback_where(self, conn: sqlite3.Connection, table: str, where: str,
                        params: Sequence[Any]) -> list[Any]:
        if table == "clicks":
            rows = conn.execute(
                "SELECT event_id, slate_id, user_id, product_id, position, value, time FROM "
                f"clicks WHERE {where} ORDER BY time, seq", params).fetchall()
            return [Click(*r) for r in rows]
        rows = conn.execute(
            "SELECT event_id, slate_id, user_id, product_id, position, value, time, margin FROM "
            f"purchases WHERE {where} ORDER BY time, seq", params).fetchall()
        return [Purchase(*r) for r in rows]

    def clicks(self, slate_id: str | None = None) -> list[Click]:
        """Clicks in time order, all or for one slate."""
        if slate_id is None:
            return self._feedback_where(self._conn(), "clicks", "1", ())
        return self._feedback_where(self._conn(), "clicks", "slate_id = ?", (slate_id,))

    def purchases(self, slate_id: str | None = None) -> list[Purchase]:
        """Purchases in time order, all or for one slate."""
        if slate_id is None:
            return self._feedback_where(self._conn(), "purchases", "1", ())
        return self._feedback_where(self._conn(), "purchases", "slate_id = ?", (slate_id,))

    def feedback_for(self, slate_id: str) -> SlateFeedback:
        """Return the impression of ``slate_id`` with its clicks and purchases.

        Raises:
            EventLogError: nothing at all is logged for this slate id.

        """
        conn = self._conn()
        imp = self._impression_by(conn, "slate_id", slate_id)
        clicks = self._feedback_where(conn, "clicks", "slate_id = ?", (slate_id,))
        purchases = self._feedback_where(conn, "purchases", "slate_id = ?", (slate_id,))
        if imp is None and not clicks and not purchases:
            raise EventLogError(f"no events for slate_id {slate_id!r} in {self.path}")
        return SlateFeedback(imp, clicks, purchases)

    def sessions(self) -> Iterator[Session]:
        """Impressions grouped by session (``session_id``, else user id), each in time order.

        Sessions come in the order of their first impression.
        """
        groups: dict[str, list[Impression]] = {}
        for imp in self.impressions():
            groups.setdefault(imp.session, []).append(imp)
        for key, imps in groups.items():
            yield Session(key, imps[0].user_id, imps)

    def count(self) -> dict[str, int]:
        """Count impressions, clicks, purchases (served) and interactions (organic)."""
        conn = self._conn()
        return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in (*_ID_TABLES, "interactions")}

    # -- organic interactions and history --------------------------------------------------

    def interactions(self, user_id: str | None = None,
                     since: float | datetime | None = None) -> Iterator[Interaction]:
        """Organic interactions in time order, streamed (ties in id order).

        Args:
            user_id: only this shopper's.
            since: only interactions with ``time >= since`` (unix seconds or a datetime).

        """
        where, params = [], []
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        t0 = _to_seconds(since)
        if t0 is not None:
            where.append("time >= ?")
            params.append(t0)
        sql = (f"SELECT {','.join(_INTERACTION_COLS)} FROM interactions"
               + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY time, event_id")
        cur = self._conn().execute(sql, params)
        while True:
            rows = cur.fetchmany(1000)
            if not rows:
                return
            for row in rows:
                yield Interaction(*row)

    def user_history(self, user_id: str, limit: int = 50) -> list[str]:
        """The products a shopper interacted with, oldest first: the last ``limit`` distinct ones.

        Every kind counts, from both sources: organic views, clicks, add-to-carts and purchases,
        and clicks and purchases of served slates (a served impression alone does not: being
        shown a product says nothing about the shopper). A product met several times sits at
        the place of its latest interaction (ties in time: product id order).

        Args:
            user_id: the shopper.
            limit: most recent distinct products kept, >= 0.

        """
        if limit <= 0:
            return []
        rows = self._conn().execute(
            "SELECT product_id, MAX(time) AS t FROM ("
            " SELECT product_id, time FROM interactions WHERE user_id = ?1"
            " UNION ALL SELECT product_id, time FROM clicks WHERE user_id = ?1"
            " UNION ALL SELECT product_id, time FROM purchases WHERE user_id = ?1)"
            " GROUP BY product_id ORDER BY t DESC, product_id DESC LIMIT ?2",
            (user_id, int(limit))).fetchall()
        return [r[0] for r in reversed(rows)]

    def export_batches(self, batch_size: int = 65536) -> Iterator[dict[str, list[Any]]]:
        """The whole log as column batches with :data:`EXPORT_COLUMNS`, streamed.

        Organic interactions come first (by shopper, then time), then impressions (one row per
        shown item), clicks and purchases (each in time order). Memory holds one batch.

        Args:
            batch_size: most rows per batch, >= 1.

        Yields:
            ``{column: list of values}``, every list of the same length (> 0).

        """
        if batch_size < 1:
            raise EventLogError(f"batch_size must be >= 1, got {batch_size}")
        conn = self._conn()
        simple = (
            "SELECT 'organic', kind, event_id, time, user_id, product_id, session_id, value, "
            "quantity, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM interactions",
            None,  # impressions, expanded below
            "SELECT 'served', 'click', event_id, time, user_id, product_id, NULL, value, NULL, "
            "slate_id, position, NULL, NULL, NULL, NULL, NULL FROM clicks ORDER BY time, seq",
            "SELECT 'served', 'purchase', event_id, time, user_id, product_id, NULL, value, "
            "NULL, slate_id, position, NULL, NULL, NULL, NULL, margin FROM purchases "
            "ORDER BY time, seq",
        )
        for sql in simple:
            rows_iter = (self._impression_rows(conn, batch_size) if sql is None
                         else _fetch_batches(conn.execute(sql), batch_size))
            for rows in rows_iter:
                yield dict(zip(EXPORT_COLUMNS, (list(c) for c in zip(*rows, strict=True)),
                               strict=True))

    @staticmethod
    def _impression_rows(conn: sqlite3.Connection,
                         batch_size: int) -> Iterator[list[tuple[Any, ...]]]:
        """Impressions as export rows (one per shown item), in lists of <= ``batch_size``."""
        cur = conn.execute(
            "SELECT event_id, slate_id, user_id, session_id, item_ids, positions, propensities, "
            "scores, policy, policy_version, time FROM impressions ORDER BY time, seq")
        out: list[tuple[Any, ...]] = []
        for rows in _fetch_batches(cur, 1000):
            for (event_id, slate, user, session, items, positions, props, scores, policy,
                 version, t) in rows:
                scores_l = json.loads(scores)
                for j, (item, pos, prop) in enumerate(zip(
                        json.loads(items), json.loads(positions), json.loads(props),
                        strict=True)):
                    out.append(("served", "impression", event_id, t, user, item, session, None,
                                None, slate, pos, prop, scores_l[j] if scores_l else None,
                                policy, version, None))
                    if len(out) >= batch_size:
                        yield out
                        out = []
        if out:
            yield out

    def __len__(self) -> int:
        return self.count()["impressions"]

    def to_dataframe(self) -> pd.DataFrame:
        """One row per shown item, for analysis and off-policy evaluation.

        Columns: ``slate_id, event_id, user_id, session_id, time, policy, policy_version,
        position, item_id, propensity, score, click (0/1), clicks (count), purchase_value,
        margin``. ``session_id`` falls back to the user id.
        """
        import pandas as pd

        conn = self._conn()
        clicks: dict[tuple[str, int], int] = {}
        for slate, pos, n in conn.execute(
                "SELECT slate_id, position, COUNT(*) FROM clicks GROUP BY slate_id, position"):
            clicks[(slate, pos)] = int(n)
        buys: dict[tuple[str, int], tuple[float, float]] = {}
        for slate, pos, val, marg in conn.execute(
                "SELECT slate_id, position, SUM(value), SUM(COALESCE(margin, 0)) FROM purchases "
                "GROUP BY slate_id, position"):
            buys[(slate, pos)] = (float(val), float(marg))
        rows = []
        for (event_id, slate, user, session, items, positions, props, scores, policy, version,
             t) in conn.execute(
                "SELECT event_id, slate_id, user_id, session_id, item_ids, positions, "
                "propensities, scores, policy, policy_version, time FROM impressions "
                "ORDER BY time, seq"):
            items_l, pos_l = json.loads(items), json.loads(positions)
            props_l, scores_l = json.loads(props), json.loads(scores)
            for j, (item, pos, prop) in enumerate(zip(items_l, pos_l, props_l, strict=True)):
                n = clicks.get((slate, pos), 0)
                val, marg = buys.get((slate, pos), (0.0, 0.0))
                rows.append((slate, event_id, user, session or user, t, policy, version, pos,
                             item, prop, scores_l[j] if scores_l else float("nan"), int(n > 0),
                             n, val, marg))
        return pd.DataFrame(rows, columns=[
            "slate_id", "event_id", "user_id", "session_id", "time", "policy",
            "policy_version", "position", "item_id", "propensity", "score", "click", "clicks",
            "purchase_value", "margin"])
