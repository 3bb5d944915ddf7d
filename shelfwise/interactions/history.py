"""Shoppers' histories from the event log for jobs that take a table of shoppers (batch).

The HTTP server, the chat and :class:`shelfwise.recommender.Recommender` read a shopper's
history from the log on each request; ``shelfwise batch`` reads a table of shoppers, where a
``history`` column may be given. :func:`attach_history` fills the histories that the table
leaves empty from the log (organic and served interactions alike, see
:meth:`shelfwise.events.EventStore.user_history`), so that imported past interactions
personalise batch slates too. A history given in the table wins: it is what the caller asked
for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_HISTORY_SIZE", "attach_history"]

DEFAULT_HISTORY_SIZE = 50
"""Most recent distinct products per shopper (as ``Recommender.history_size``)."""


def attach_history(users: Any, events_db: str | Path, *,
                   limit: int = DEFAULT_HISTORY_SIZE) -> tuple[Any, int]:
    """Fill empty ``history`` cells of a shoppers table from the event log.

    Args:
        users: pandas DataFrame with ``user_id`` and ``history`` (list[str]) columns, as
            :func:`shelfwise.batch.read_users` returns.
        events_db: the workspace's event log; nothing changes when the file does not exist.
        limit: most recent distinct products per shopper.

    Returns:
        ``(users with histories filled, number of shoppers whose history came from the log)``.
    """
    path = Path(events_db)
    if not path.is_file() or len(users) == 0:
        return users, 0
    from shelfwise.events import SQLiteEventStore

    histories = list(users["history"]) if "history" in users.columns else [[]] * len(users)
    filled = 0
    with SQLiteEventStore(path) as store:
        out = []
        for uid, given in zip(users["user_id"], histories, strict=True):
            if given is not None and len(given):
                out.append(list(given))
                continue
            found = store.user_history(str(uid), limit)
            filled += bool(found)
            out.append(found)
    import pandas as pd

    users = users.copy()
    users["history"] = pd.Series(out, dtype=object, index=users.index)
    return users, filled
