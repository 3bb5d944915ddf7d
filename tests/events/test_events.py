import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from shelfwise.errors import EventLogError
from shelfwise.events import (
    SCHEMA_VERSION,
    Click,
    EventStore,
    Impression,
    Purchase,
    SQLiteEventStore,
)


def imp(i=0, **kw):
    base = dict(event_id=f"e{i}", slate_id=f"s{i}", user_id="u1", item_ids=("a", "b", "c"),
                propensities=(0.5, 0.25, 0.125), policy="random", policy_version="1",
                time=1000.0 + i)
    base.update(kw)
    return Impression(**base)


@pytest.fixture
def store(tmp_path):
    s = SQLiteEventStore(tmp_path / "events.sqlite")
    yield s
    s.close()


def test_protocol_and_pragmas(store):
    assert isinstance(store, EventStore)
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.schema_version == SCHEMA_VERSION


def test_roundtrip_with_replay_data(store):
    state = np.arange(4, dtype=np.float32)
    feats = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    ev = imp(0, scores=(3.0, 2.0, 1.0), session_id="sess", encoder_version="minilm",
             index_version="v3", prompt_hash="abc", query="red shoes", state=state,
             candidate_ids=("x", "a", "y", "b", "c"), candidate_features=feats)
    assert store.log_impression(ev) is True
    (back,) = list(store.impressions())
    assert back == ev
    np.testing.assert_array_equal(back.candidate_features, feats)
    np.testing.assert_array_equal(back.chosen_indices(), [1, 3, 4])
    assert back.positions == (0, 1, 2)


def test_idempotent_writes(store):
    ev = imp(0)
    assert store.log_impression(ev) is True
    assert store.log_impression(imp(0, time=5.0)) is False  # a retry stamped again
    c = Click("c0", "s0", "u1", "b", 1)
    assert store.log_click(c) is True
    assert store.log_click(c) is False
    p = Purchase("p0", "s0", "u1", "b", 1, value=20.0)
    assert store.log_purchase(p) is True
    assert store.log_purchase(p) is False
    assert store.count() == {"impressions": 1, "clicks": 1, "purchases": 1, "interactions": 0}


@pytest.mark.parametrize("make, match", [
    (lambda: imp(0, item_ids=("a", "b", "z")), "different content"),
    (lambda: imp(0, propensities=(0.5, 0.25, 0.25)), "different content"),
    (lambda: imp(9, slate_id="s0"), "slate_id 's0' is already logged by impression e0"),
    (lambda: Click("c0", "s0", "u1", "c", 2), "click c0: event id already logged"),
    (lambda: Purchase("p0", "s0", "u1", "b", 1, value=21.0), "purchase p0: event id already"),
    (lambda: Purchase("c0", "s0", "u1", "b", 1, value=20.0),
     "purchase c0: event id already logged as a click"),
    (lambda: Click("p0", "s0", "u1", "b", 1), "click p0: event id already logged as a purchase"),
    (lambda: Click("e0", "s0", "u1", "b", 1), "click e0: event id already logged as an impression"),
    (lambda: imp(5, event_id="c0"), "impression c0: event id already logged as a click"),
])
def test_conflicting_event_ids(store, make, match):
    store.log_many([imp(0), Click("c0", "s0", "u1", "b", 1),
                    Purchase("p0", "s0", "u1", "b", 1, value=20.0)])
    with pytest.raises(EventLogError, match=match):
        store.log_many([make()])


def test_log_many_is_one_transaction(store):
    store.log_impression(imp(0))
    with pytest.raises(EventLogError, match="different content"):
        store.log_many([imp(1), imp(2), imp(0, user_id="other")])
    assert len(store) == 1  # imp 1 and 2 rolled back
    assert store.log_many([imp(1), imp(0), imp(2)]) == [True, False, True]
    with pytest.raises(EventLogError, match="expected an Impression, Click, Purchase or Int"):
        store.log_many([{"event_id": "x"}])


@pytest.mark.parametrize("kwargs, match", [
    (dict(propensities=(0.5, 0.0, 0.1)), r"propensities\[1\] = 0.0 is outside \(0, 1\]"),
    (dict(propensities=(0.5, 1.5, 0.1)), r"propensities\[1\] = 1.5 is outside"),
    (dict(propensities=(0.5, 0.5)), "propensities has 2 values but item_ids has 3"),
    (dict(positions=(0, 1)), "positions has 2 values but item_ids has 3"),
    (dict(positions=(0, 0, 1)), "positions must be distinct"),
    (dict(scores=(1.0,)), "scores has 1 values but item_ids has 3"),
    (dict(item_ids=()), "item_ids must be a non-empty sequence"),
    (dict(item_ids=("a", "a", "b")), "item_ids contains duplicates"),
    (dict(user_id=""), "user_id must be a non-empty string"),
    (dict(propensities=(0.5, float("nan"), 0.1)), "must be finite"),
    (dict(candidate_ids=("a", "b")), r"shown items \['c'\] are not in candidate_ids"),
    (dict(candidate_features=np.zeros((3, 2))), "candidate_features needs candidate_ids"),
    (dict(candidate_ids=("a", "b", "c"), candidate_features=np.zeros((2, 2))),
     "candidate_features has 2 rows but candidate_ids has 3"),
    (dict(state=np.zeros((2, 2))), "state must be a 1-d array"),
])
def test_impression_validation(kwargs, match):
    with pytest.raises(EventLogError, match=match):
        imp(0, **kwargs)


@pytest.mark.parametrize("make, match", [
    (lambda: Click("c", "s", "u", "p", -1), "position must be >= 0"),
    (lambda: Click("c", "s", "u", "p", 1.5), "position must be an int"),
    (lambda: Click("c", "", "u", "p", 0), "slate_id must be a non-empty string"),
    (lambda: Purchase("p", "s", "u", "p", 0, value=-3.0), "value must be >= 0"),
    (lambda: Purchase("p", "s", "u", "p", 0, value=float("inf")), "value must be finite"),
])
def test_feedback_validation(make, match):
    with pytest.raises(EventLogError, match=match):
        make()


def test_readers(store):
    store.log_many([imp(0, session_id="A"), imp(1, session_id="A", policy="linucb"),
                    imp(2, user_id="u2"), Click("c0", "s0", "u1", "a", 0),
                    Click("c1", "s0", "u1", "b", 1),
                    Purchase("p0", "s0", "u1", "b", 1, value=10.0, margin=2.0)])
    assert [i.event_id for i in store.impressions(since=1001.0)] == ["e1", "e2"]
    assert [i.event_id for i in store.impressions(policy="linucb")] == ["e1"]
    fb = store.feedback_for("s0")
    assert fb.impression.event_id == "e0" and len(fb.clicks) == 2 and len(fb.purchases) == 1
    with pytest.raises(EventLogError, match="no events for slate_id 'nope'"):
        store.feedback_for("nope")
    sessions = list(store.sessions())
    assert [(s.session_id, len(s.impressions)) for s in sessions] == [("A", 2), ("u2", 1)]
    df = store.to_dataframe()
    assert len(df) == 9
    row = df[(df.slate_id == "s0") & (df.position == 1)].iloc[0]
    assert row.item_id == "b" and row.click == 1 and row.purchase_value == 10.0
    assert df.click.sum() == 2


def test_append_only(store):
    store.log_impression(imp(0))
    import sqlite3

    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store._conn().execute("DELETE FROM impressions")


def test_threads_write_concurrently(store):
    errors = []

    def work(t):
        try:
            for i in range(25):
                store.log_impression(imp(t * 100 + i))
                store.log_impression(imp(t * 100 + i))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store) == 100


def test_reopen_keeps_data(tmp_path):
    path = tmp_path / "e.sqlite"
    with SQLiteEventStore(path) as s:
        s.log_impression(imp(0))
    with SQLiteEventStore(path) as s:
        assert len(s) == 1 and s.log_impression(imp(0)) is False
    with pytest.raises(EventLogError, match="is closed"):
        s.log_impression(imp(1))


def test_killed_writer_loses_no_acknowledged_event(tmp_path):
    path = tmp_path / "crash.sqlite"
    writer = Path(__file__).with_name("_writer.py")
    proc = subprocess.Popen([sys.executable, str(writer), str(path)], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).parents[2])
    acked = []
    deadline = time.monotonic() + 30
    try:
        while len(acked) < 60 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked.append(line.strip())
    finally:
        proc.kill()  # SIGKILL, mid-stream
        rest, _ = proc.communicate()
    acked += [x for x in rest.splitlines()[:-1] if x]  # the last line may be torn
    assert len(acked) >= 60, proc.returncode
    with SQLiteEventStore(path) as s:
        stored = {i.event_id for i in s.impressions()} | {c.event_id for c in s.clicks()}
    missing = [e for e in acked if e not in stored]
    assert not missing
