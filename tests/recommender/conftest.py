"""The recommender tests' world: the demo engine and an event log over a private copy."""

import pytest


@pytest.fixture()
def world(demo_copy):
    """``(engine, event store)`` on a writable copy of the demo workspace."""
    from shelfwise.engine import Engine
    from shelfwise.events import SQLiteEventStore

    engine = Engine.open(demo_copy)
    store = SQLiteEventStore(demo_copy.events_db)
    yield engine, store
    store.close()
    engine.close()
