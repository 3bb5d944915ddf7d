"""Organic interactions in the event log: ids, idempotency, history, export, migration."""

from __future__ import annotations

import sqlite3

import pytest

from shelfwise.errors import EventLogError
from shelfwise.events import (
    EXPORT_COLUMNS,
    SCHEMA_VERSION,
    Click,
    Impression,
    Interaction,
    InteractionColumns,
    Purchase,
    SQLiteEventStore,
    interaction_event_id,
    interaction_event_ids,
)


@pytest.fixture
def store(tmp_path):
    s = SQLiteEventStore(tmp_path / "events.sqlite")
    yield s
    s.close()


def test_ids_come_from_the_content():
    a = Interaction.create("u1", "p1", "view", 1000.0004)
    b = Interaction.create("u1", "p1", "view", 1000.0001)  # same millisecond
    assert a == b and a.event_id == interaction_event_id("u1", "p1", "view", 1000.0)
    assert a.event_id.startswith("o") and len(a.event_id) == 33
    others = {Interaction.create("u2", "p1", "view", 1000).event_id,
              Interaction.create("u1", "p2", "view", 1000).event_id,
              Interaction.create("u1", "p1", "click", 1000).event_id,
              Interaction.create("u1", "p1", "view", 1000.002).event_id,
              Interaction.create("u1", "p1", "view", 1000, value=1.0).event_id,
              Interaction.create("u1", "p1", "view", 1000, quantity=2).event_id,
              Interaction.create("u1", "p1", "view", 1000, session_id="s").event_id}
    assert len(others) == 7 and a.event_id not in others
    many = interaction_event_ids(["u1", "u2"], ["p1", "p1"], ["view", "view"], [1000.0, 1000.0],
                                 [None, None], [1, 1], [None, None])
    assert many[0] == a.event_id


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"kind": "order"}, "kind must be one of view, click, add_to_cart, purchase"),
    ({"user_id": ""}, "user_id must be a non-empty string"),
    ({"time": float("nan")}, "time must be finite"),
    ({"value": -1.0}, "value must be >= 0"),
    ({"value": float("inf")}, "value must be finite"),
    ({"quantity": 0}, "quantity must be an int >= 1"),
    ({"quantity": True}, "quantity must be an int >= 1"),
])
def test_interaction_validation(kwargs, match):
    base = {"user_id": "u", "product_id": "p", "kind": "view", "time": 1.0}
    with pytest.raises(EventLogError, match=match):
        Interaction.create(**{**base, **kwargs})


def test_event_id_must_match_the_content():
    good = Interaction.create("u", "p", "view", 1.0)
    with pytest.raises(EventLogError, match="must be the hash of the content"):
        Interaction(good.event_id, "u", "p", "click", 1.0)


def test_reimport_adds_nothing_and_counts_are_separate(store):
    rows = [Interaction.create("u1", f"p{i}", "view", 100.0 + i) for i in range(5)]
    assert store.log_interactions(rows) == 5
    assert store.log_interactions(rows) == 0
    assert store.log_interactions(InteractionColumns.from_interactions(rows[:2])) == 0
    assert store.log_many([rows[0]]) == [False]
    assert store.count() == {"impressions": 0, "clicks": 0, "purchases": 0, "interactions": 5}
    assert len(store) == 0  # __len__ counts impressions (served slates)
    assert [r.product_id for r in store.interactions()] == [f"p{i}" for i in range(5)]
    assert list(store.interactions(user_id="nobody")) == []
    assert [r.time for r in store.interactions(since=103)] == [103.0, 104.0]


def test_bulk_columns_are_checked(store):
    with pytest.raises(EventLogError, match="kind holds"):
        store.log_interactions(InteractionColumns(["o1"], ["u"], ["p"], ["order"], [1.0],
                                                  [None], [1], [None]))
    with pytest.raises(EventLogError, match="user_id has 2 values"):
        InteractionColumns(["o1"], ["u", "v"], ["p"], ["view"], [1.0], [None], [1], [None])


def test_served_events_may_not_use_organic_ids(store):
    organic = Interaction.create("u1", "p1", "view", 1.0)
    with pytest.raises(EventLogError, match="reserved for organic interactions"):
        store.log_click(Click(organic.event_id, "s1", "u1", "p1", 0))


def test_served_queries_never_see_organic_events(store):
    store.log_impression(Impression("e1", "s1", "u1", ("a", "b"), (0.5, 0.5), "random", "1",
                                    time=50.0))
    store.log_click(Click("c1", "s1", "u1", "b", 1, time=51.0))
    store.log_interactions([Interaction.create("u1", "x", "click", 10.0),
                            Interaction.create("u1", "y", "purchase", 20.0, value=5.0)])
    assert [c.event_id for c in store.clicks()] == ["c1"]
    assert store.purchases() == []
    assert [s.session_id for s in store.sessions()] == ["u1"]
    df = store.to_dataframe()
    assert set(df["item_id"]) == {"a", "b"} and int(df["clicks"].sum()) == 1


def test_history_mixes_sources_most_recent_last_and_distinct(store):
    store.log_impression(Impression("e1", "s1", "u1", ("a", "b"), (0.5, 0.5), "random", "1",
                                    time=50.0))
    store.log_click(Click("c1", "s1", "u1", "b", 1, time=51.0))
    store.log_purchase(Purchase("b1", "s1", "u1", "a", 0, value=3.0, time=70.0))
    store.log_interactions([Interaction.create("u1", "x", "view", 10.0),
                            Interaction.create("u1", "y", "add_to_cart", 60.0),
                            Interaction.create("u1", "b", "view", 65.0),
                            Interaction.create("u2", "z", "view", 1.0)])
    # b: clicked at 51 then viewed at 65 -> placed at 65; a shown-only product never counts
    assert store.user_history("u1") == ["x", "y", "b", "a"]
    assert store.user_history("u1", limit=2) == ["b", "a"]
    assert store.user_history("u1", limit=0) == []
    assert store.user_history("u2") == ["z"]
    assert store.user_history("nobody") == []


def test_export_batches_have_a_source_column(store):
    store.log_impression(Impression("e1", "s1", "u1", ("a", "b"), (0.5, 0.25), "random", "1",
                                    scores=(2.0, 1.0), time=50.0))
    store.log_click(Click("c1", "s1", "u1", "b", 1, time=51.0))
    store.log_purchase(Purchase("b1", "s1", "u1", "b", 1, value=3.0, margin=1.0, time=52.0))
    store.log_interactions([Interaction.create("u1", "x", "purchase", 10.0, value=9.0,
                                               quantity=3, session_id="s")])
    batches = list(store.export_batches(batch_size=2))
    assert all(set(b) == set(EXPORT_COLUMNS) for b in batches)
    assert all(0 < len(b["source"]) <= 2 for b in batches)
    rows = [dict(zip(b, vals, strict=True)) for b in batches for vals in zip(*b.values(),
                                                                            strict=True)]
    assert [(r["source"], r["kind"]) for r in rows] == [
        ("organic", "purchase"), ("served", "impression"), ("served", "impression"),
        ("served", "click"), ("served", "purchase")]
    org = rows[0]
    assert (org["value"], org["quantity"], org["session_id"], org["slate_id"],
            org["propensity"]) == (9.0, 3, "s", None, None)
    assert rows[2]["propensity"] == 0.25 and rows[2]["position"] == 1
    assert rows[4]["margin"] == 1.0
    with pytest.raises(EventLogError, match="batch_size"):
        list(store.export_batches(0))


_V1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at REAL NOT NULL);
INSERT INTO schema_version VALUES (1, 0);
CREATE TABLE impressions (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
  slate_id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, session_id TEXT, item_ids TEXT NOT NULL,
  positions TEXT NOT NULL, propensities TEXT NOT NULL, scores TEXT NOT NULL,
  policy TEXT NOT NULL, policy_version TEXT NOT NULL, encoder_version TEXT NOT NULL,
  index_version TEXT NOT NULL, prompt_hash TEXT, query TEXT, time REAL NOT NULL);
CREATE TABLE impression_context (event_id TEXT PRIMARY KEY REFERENCES impressions(event_id),
  state BLOB, candidate_ids TEXT, candidate_features BLOB, feature_dim INTEGER);
CREATE TABLE clicks (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
  slate_id TEXT NOT NULL, user_id TEXT NOT NULL, product_id TEXT NOT NULL,
  position INTEGER NOT NULL, value REAL NOT NULL, time REAL NOT NULL);
CREATE TABLE purchases (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
  slate_id TEXT NOT NULL, user_id TEXT NOT NULL, product_id TEXT NOT NULL,
  position INTEGER NOT NULL, value REAL NOT NULL, margin REAL, time REAL NOT NULL);
INSERT INTO impressions VALUES (1, 'e1', 's1', 'u1', NULL, '["a","b"]', '[0,1]', '[0.5,0.5]',
  '[]', 'random', '1', '', '', NULL, NULL, 5.0);
INSERT INTO clicks VALUES (1, 'c1', 's1', 'u1', 'b', 1, 1.0, 6.0);
"""


def test_version_1_log_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(_V1_SCHEMA)
    with SQLiteEventStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        assert [c.event_id for c in store.clicks()] == ["c1"]
        assert store.impression("s1").item_ids == ("a", "b")
        assert store.log_interactions([Interaction.create("u1", "x", "view", 7.0)]) == 1
        assert store.user_history("u1") == ["b", "x"]
    with SQLiteEventStore(path) as again:  # a second open changes nothing
        assert again.schema_version == 2
        assert again.count()["interactions"] == 1


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    SQLiteEventStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 0)")
    with pytest.raises(EventLogError, match="schema version 99, newer"):
        SQLiteEventStore(path)


def test_organic_log_is_append_only(store):
    store.log_interactions([Interaction.create("u1", "x", "view", 7.0)])
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store._conn().execute("DELETE FROM interactions")
