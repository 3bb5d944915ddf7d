"""Train/test splits of an interaction log for offline ranking evaluation.

Two protocols, both by time:

- :func:`leave_last_out`: per shopper, the last interaction is the test item and (with
  ``validation=True``) the one before it the validation item; everything earlier is training
  data. Shoppers with too few distinct items to give a test item (and a training history) stay
  wholly in the training data and are not evaluated.
- :func:`time_split`: one cut time for everybody. Interactions before the cut train, those at
  or after it test. A shopper is evaluated when they have training history *and* at least one
  test item that is new to them. **Which test items count:** every distinct item the shopper
  interacted with at or after the cut that is not in their training history (repeat
  consumption is not evaluated; items nobody interacted with before the cut still count, and
  only a content-aware model can reach them). Interactions of shoppers without training history
  are dropped from the evaluation (they are cold-start shoppers, not a ranking problem).

Both start from :func:`first_occurrences`: repeated interactions of a shopper with the same item
collapse into the first one (its time, the largest weight), so the held-out item is always one
the shopper had not interacted with before, and excluding the training history never hides the
right answer. Rows with equal times keep the order they have in the log (a stable sort), as
RecBole does.

The model sees, for each evaluated shopper, the history in time order (``EvalSet.histories``):
its training interactions, plus the validation item when the test item is scored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from encoders.behaviour.base import Interactions
from shelfwise.errors import ConfigError, ShelfwiseError

SPLITS = ("leave-last-out", "time")

__all__ = [
    "SPLITS",
    "EvalSet",
    "NotEnoughInteractionsError",
    "Split",
    "first_occurrences",
    "leave_last_out",
    "make_split",
    "time_split",
]


class NotEnoughInteractionsError(ShelfwiseError, ValueError):
    """The log has too few interactions (or shoppers) for the requested evaluation."""


@dataclass(frozen=True)
class EvalSet:
    """The shoppers evaluated on one held-out set.

    Attributes:
        users: ``(m,)`` int64 user indices (into ``Interactions.user_ids``), ascending.
        histories: ``m`` int64 arrays of item indices in time order: what the model is given.
        targets: ``m`` int64 arrays of distinct item indices, none of them in the history.

    """

    users: np.ndarray
    histories: list[np.ndarray]
    targets: list[np.ndarray]

    def __len__(self) -> int:
        return int(self.users.shape[0])

    @property
    def n_targets(self) -> int:
        """Total number of held-out (user, item) pairs."""
        return int(sum(t.shape[0] for t in self.targets))


@dataclass(frozen=True)
class Split:
    """A training log and the held-out sets built from it.

    Attributes:
        name: ``"leave-last-out"`` or ``"time"``.
        description: one human line naming the protocol (printed beside every figure).
        train: the training interactions (same user/item index spaces as the full log).
        test: the test shoppers, histories and targets.
        valid: the validation set (leave-last-out with ``validation=True``), else ``None``.
        cut_time: the cut of a time split (unix seconds), else ``None``.

    """

    name: str
    description: str
    train: Interactions
    test: EvalSet
    valid: EvalSet | None = None
    cut_time: float | None = None


def _subset(data: Interactions, rows: np.ndarray) -> Interactions:
    return dataclasses.replace(data, user=data.user[rows], item=data.item[rows],
                               time=data.time[rows], weight=data.weight[rows])


def _time_order(data: Interactions) -> np.ndarray:
    """Row order by (user, time, original row): a stable sort by time within each user."""
    return np.lexsort((np.arange(data.user.shape[0]), data.time, data.user))


def first_occurrences(data: Interactions) -> Interactions:
    """Collapse repeated (user, item) interactions into the first one, rows in time order.

    The kept row has the first interaction's time and the largest weight of the repeats
    (a purchase after a click keeps the purchase's weight).

    Args:
        data: any interactions, ``n`` rows.

    Returns:
        Interactions with distinct (user, item) pairs, sorted by user then time.

    """
    order = _time_order(data)
    user, item = data.user[order], data.item[order]
    key = user * np.int64(max(data.n_items, 1)) + item
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    weight = np.zeros(first.shape[0], dtype=np.float32)
    np.maximum.at(weight, inverse, data.weight[order])
    keep = np.sort(first)  # back to (user, time) order
    out = _subset(data, order[keep])
    return dataclasses.replace(out, weight=weight[inverse[keep]])


def _groups(user: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Users, start offsets and counts of the runs of a user-sorted array."""
    users, starts, counts = np.unique(user, return_index=True, return_counts=True)
    return users, starts, counts


def leave_last_out(data: Interactions, *, validation: bool = False) -> Split:
    """Hold out each shopper's last new item (and, optionally, the one before it).

    Args:
        data: the interaction log, ``n`` rows.
        validation: also hold out the second-to-last item as a validation target. The test
            history then includes it (the model is trained without it).

    Returns:
        The split; shoppers with fewer than 2 distinct items (3 with validation) are not
        evaluated and keep all their interactions in ``train``.

    """
    dedup = first_occurrences(data)
    users, starts, counts = _groups(dedup.user)
    need = 3 if validation else 2
    ok = counts >= need
    n = dedup.user.shape[0]
    is_train = np.ones(n, dtype=bool)
    last = starts + counts - 1
    is_train[last[ok]] = False
    if validation:
        is_train[last[ok] - 1] = False
    train = _subset(dedup, np.flatnonzero(is_train))
    test_hist: list[np.ndarray] = []
    test_tgt: list[np.ndarray] = []
    val_hist: list[np.ndarray] = []
    val_tgt: list[np.ndarray] = []
    for s, c in zip(starts[ok], counts[ok], strict=True):
        items = dedup.item[s:s + c]
        test_hist.append(items[:-1].copy())
        test_tgt.append(items[-1:].copy())
        if validation:
            val_hist.append(items[:-2].copy())
            val_tgt.append(items[-2:-1].copy())
    eval_users = users[ok].astype(np.int64)
    test = EvalSet(eval_users, test_hist, test_tgt)
    valid = EvalSet(eval_users, val_hist, val_tgt) if validation else None
    desc = ("leave-last-out by time (last new item per shopper"
            + (", the one before it held out for validation)" if validation else ")"))
    return Split("leave-last-out", desc, train, test, valid)


def time_split(data: Interactions, *, cut_time: float | None = None,
               test_fraction: float = 0.2) -> Split:
    """Split the log at one cut time (train before it, test at or after it).

    Args:
        data: the interaction log, ``n`` rows.
        cut_time: the cut in unix seconds; default: the time that leaves ``test_fraction`` of
            the (deduplicated) interactions after the cut.
        test_fraction: share of interactions after the default cut, in ``(0, 1)``.

    Returns:
        The split (see the module docstring for which test items count).

    Raises:
        ConfigError: ``test_fraction`` outside ``(0, 1)``.

    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    dedup = first_occurrences(data)
    if dedup.user.shape[0] == 0:
        raise NotEnoughInteractionsError("the log has no interactions to split")
    if cut_time is None:
        cut_time = float(np.quantile(dedup.time, 1.0 - test_fraction, method="higher"))
    before = dedup.time < cut_time
    train = _subset(dedup, np.flatnonzero(before))
    users, starts, counts = _groups(dedup.user)
    ev_users: list[int] = []
    hists: list[np.ndarray] = []
    tgts: list[np.ndarray] = []
    for u, s, c in zip(users, starts, counts, strict=True):
        items, pre = dedup.item[s:s + c], before[s:s + c]
        # Deduplicated rows are in time order, so the training rows come first.
        hist, after = items[pre], items[~pre]
        if hist.shape[0] == 0 or after.shape[0] == 0:
            continue
        ev_users.append(int(u))
        hists.append(hist.copy())
        tgts.append(after.copy())
    test = EvalSet(np.asarray(ev_users, dtype=np.int64), hists, tgts)
    desc = (f"global time split at t={cut_time:.0f} (train before; every new item after the cut "
            "is a target)")
    return Split("time", desc, train, test, cut_time=float(cut_time))


def make_split(data: Interactions, name: str, *, validation: bool = False,
               cut_time: float | None = None, test_fraction: float = 0.2) -> Split:
    """Build the split named ``name`` (one of :data:`SPLITS`).

    Raises:
        ConfigError: unknown split name (the message lists the valid names).

    """
    if name == "leave-last-out":
        return leave_last_out(data, validation=validation)
    if name == "time":
        if validation:
            raise ConfigError("validation=True is only available with the leave-last-out split")
        return time_split(data, cut_time=cut_time, test_fraction=test_fraction)
    raise ConfigError(f"unknown split {name!r}; choose one of: {', '.join(SPLITS)}")
