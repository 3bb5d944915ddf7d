"""Interactions for the behaviour models and offline evaluation, read from the event log.

What counts as an interaction: every organic event a shop imported (views, clicks,
add-to-cart, purchases) and the clicks and purchases of slates shelfwise served. Impressions
are not interactions (being shown an item says nothing about liking it). The log is read
through :meth:`shelfwise.events.EventStore.export_batches` (streamed, one batch in memory).

Weights (what the models learn from; the offline metrics use binary relevance) follow the
strength of the signal: :data:`KIND_WEIGHTS`.

The item universe is the catalog when one is given (full ranking over the shop's products,
including those nobody has touched yet); events on products that are no longer in the catalog
are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from encoders.behaviour.base import Interactions
from shelfwise.errors import ConfigError
from shelfwise.evaluate.splits import NotEnoughInteractionsError
from shelfwise.events import INTERACTION_KINDS, EventStore

KIND_WEIGHTS: Mapping[str, float] = {"view": 1.0, "click": 2.0, "add_to_cart": 3.0,
                                     "purchase": 4.0}
"""Weight of each interaction kind (organic or served), weakest signal first."""

__all__ = ["KIND_WEIGHTS", "LogInteractions", "interactions_from_log"]


@dataclass(frozen=True)
class LogInteractions:
    """Interactions read from an event log, with what was left out.

    Attributes:
        data: the interactions (items indexed by ``item_ids``: the catalog, if given).
        by_kind: number of events used per kind.
        by_source: number of events used per source (``organic``, ``served``).
        dropped_unknown_items: events on products that are not in the catalog.

    """

    data: Interactions
    by_kind: dict[str, int]
    by_source: dict[str, int]
    dropped_unknown_items: int


def interactions_from_log(store: EventStore, *, catalog_ids: Sequence[str] | None = None,
                          kinds: Sequence[str] | None = None,
                          weights: Mapping[str, float] = KIND_WEIGHTS) -> LogInteractions:
    """Read the interactions of an event log.

    Args:
        store: the event log.
        catalog_ids: the catalog's product ids (the item universe); ``None``: the products that
            appear in the events.
        kinds: the kinds to use (default all of :data:`~shelfwise.events.INTERACTION_KINDS`).
        weights: weight per kind.

    Returns:
        The interactions, sorted by (user, time).

    Raises:
        ConfigError: an unknown kind, or a kind without a positive weight.
        NotEnoughInteractionsError: no interaction of the chosen kinds (on catalog products).

    """
    import pandas as pd

    use = tuple(INTERACTION_KINDS if kinds is None else kinds)
    bad = [k for k in use if k not in INTERACTION_KINDS]
    if bad:
        raise ConfigError(f"unknown interaction kind(s) {', '.join(map(repr, bad))}; choose from: "
                          f"{', '.join(INTERACTION_KINDS)}")
    for k in use:
        if not weights.get(k, 0.0) > 0.0:
            raise ConfigError(f"interaction kind {k!r} needs a weight > 0, got {weights.get(k)}")
    frames = []
    for batch in store.export_batches():
        kind = np.asarray(batch["kind"], dtype=object)
        keep = np.isin(kind, use)
        if not keep.any():
            continue
        frames.append(pd.DataFrame({
            "user_id": np.asarray(batch["user_id"], dtype=object)[keep],
            "product_id": np.asarray(batch["product_id"], dtype=object)[keep],
            "time": np.asarray(batch["time"], dtype=np.float64)[keep],
            "kind": kind[keep],
            "source": np.asarray(batch["source"], dtype=object)[keep],
        }))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["user_id", "product_id", "time", "kind", "source"])
    dropped = 0
    if catalog_ids is not None and len(df):
        known = df["product_id"].isin(set(catalog_ids))
        dropped = int((~known).sum())
        df = df[known.to_numpy()].reset_index(drop=True)
    if len(df) == 0:
        raise NotEnoughInteractionsError(
            f"the event log has no interactions of kind {', '.join(use)}"
            + (" on products of the catalog" if catalog_ids is not None else "")
            + "; import past interactions or log clicks and purchases of served slates first")
    df["weight"] = df["kind"].map(dict(weights)).astype(np.float64)
    data = Interactions.from_frame(df[["user_id", "product_id", "time", "weight"]],
                                   item_ids=catalog_ids)
    return LogInteractions(data, {str(k): int(v) for k, v in df["kind"].value_counts().items()},
                           {str(k): int(v) for k, v in df["source"].value_counts().items()},
                           dropped)
