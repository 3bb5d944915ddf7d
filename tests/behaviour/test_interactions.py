"""Interactions: building from a table, validation with named errors, matrices and sequences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoders.behaviour import EASE_MAX_ITEMS, Interactions, choose_item_model
from encoders.errors import ConfigError


def _df(**cols):
    base = {"user_id": ["b", "a", "a", "b"], "product_id": ["x", "y", "x", "x"],
            "time": [5.0, 2.0, 1.0, 3.0]}
    base.update(cols)
    return pd.DataFrame(base)


def test_from_frame_sorts_by_user_then_time_and_maps_ids():
    d = Interactions.from_frame(_df(weight=[1.0, 2.0, 3.0, 4.0]), item_ids=["x", "y", "z"])
    assert d.user_ids == ("a", "b") and d.item_ids == ("x", "y", "z")
    assert d.user.tolist() == [0, 0, 1, 1]
    assert d.item.tolist() == [0, 1, 0, 0]          # a: x@1, y@2 ; b: x@3, x@5
    assert d.time.tolist() == [1.0, 2.0, 3.0, 5.0]
    assert d.weight.tolist() == [3.0, 2.0, 4.0, 1.0]
    assert (d.user.dtype, d.item.dtype, d.time.dtype, d.weight.dtype) == (
        np.int64, np.int64, np.float64, np.float32)
    assert [s.tolist() for s in d.sequences()] == [[0, 1], [0, 0]]
    assert d.n_events == 4


def test_csr_sums_repeats_and_binary_counts_once():
    d = Interactions.from_frame(_df(weight=[1.0, 2.0, 3.0, 4.0]), item_ids=["x", "y", "z"])
    np.testing.assert_array_equal(d.csr().toarray(), [[3, 2, 0], [5, 0, 0]])
    np.testing.assert_array_equal(d.csr(binary=True).toarray(), [[1, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(d.item_counts(), [8, 2, 0])


def test_from_frame_reads_datetimes_as_unix_seconds_and_keeps_tie_order():
    times = pd.to_datetime(["2024-01-01T00:00:10Z", "2024-01-01T00:00:00Z",
                            "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"])
    df = pd.DataFrame({"user_id": ["a"] * 4, "product_id": ["p", "q", "r", "s"], "time": times})
    d = Interactions.from_frame(df)
    assert d.time[0] == pd.Timestamp("2024-01-01", tz="UTC").timestamp()
    assert [d.item_ids[i] for i in d.sequences()[0]] == ["q", "r", "s", "p"]
    np.testing.assert_array_equal(d.weight, np.ones(4, np.float32))


def test_sequences_are_copies():
    d = Interactions.from_frame(_df())
    d.sequences()[0][0] = 99
    assert d.sequences()[0][0] != 99


@pytest.mark.parametrize(("df", "kwargs", "message"), [
    (_df().drop(columns="time"), {}, "lacks column\\(s\\) time"),
    (_df().iloc[:0], {}, "has no rows"),
    (_df(product_id=["x", "", "x", "x"]), {}, "row 1: product_id is empty"),
    (_df(user_id=["b", None, "a", "b"]), {}, "row 1: user_id is empty"),
    (_df(time=[1.0, np.inf, 2.0, 3.0]), {}, "row 1: time inf is not finite"),
    (_df(time=["soon", 1, 2, 3]), {}, "time must be unix seconds or datetimes"),
    (_df(weight=[1.0, 0.0, 1.0, 1.0]), {}, "row 1: weight 0.0 must be a finite number > 0"),
    (_df(weight=["a", 1, 1, 1]), {}, "weight must be numeric"),
    (_df(), {"item_ids": ["x"]}, "row 1: product_id 'y' is not in item_ids"),
    (_df(), {"user_ids": ["a"]}, "row 0: user_id 'b' is not in user_ids"),
    (_df(), {"item_ids": ["x", "y", "x"]}, "item_ids has a duplicate id 'x'"),
    (_df(), {"item_ids": []}, "item_ids must not be empty"),
])
def test_from_frame_errors_name_the_row_and_field(df, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Interactions.from_frame(df, **kwargs)


def _arrays(**over):
    base = dict(user=np.array([0, 0, 1]), item=np.array([1, 0, 0]), time=np.array([1.0, 2, 3]),
                weight=np.ones(3, np.float32), n_users=2, n_items=3, item_ids=("x", "y", "z"),
                user_ids=("a", "b"))
    base.update(over)
    return base


@pytest.mark.parametrize(("over", "message"), [
    ({"user": np.array([0, 0, 1], np.int32)}, "user must have dtype int64, got int32"),
    ({"time": [1.0, 2.0, 3.0]}, "time must be a 1-d numpy array"),
    ({"item": np.array([1, 0])}, "item has 2 rows, Interactions.user has 3"),
    ({"item": np.array([1, 0, 3])}, r"item\[2\] = 3 is outside 0..2"),
    ({"user": np.array([0, 0, -1])}, r"user\[2\] = -1 is outside 0..1"),
    ({"time": np.array([1.0, np.nan, 3.0])}, r"time\[1\] is not finite"),
    ({"weight": np.array([1, -1, 1], np.float32)}, r"weight\[1\] = -1.0 must be"),
    ({"time": np.array([2.0, 1.0, 3.0])}, "sorted by \\(user, time\\); row 1 sorts before row 0"),
    ({"user": np.array([1, 0, 0])}, "sorted by \\(user, time\\); row 1"),
    ({"n_items": 0}, "n_items must be a positive int"),
    ({"item_ids": ("x", "y")}, "item_ids must be a tuple of 3 ids"),
    ({"user_ids": ("a", "a")}, "user_ids has a duplicate id 'a'"),
])
def test_validation_names_the_field(over, message):
    with pytest.raises(ConfigError, match=message):
        Interactions(**_arrays(**over))


def test_choose_item_model_switches_at_the_documented_size():
    assert EASE_MAX_ITEMS == 20_000
    assert choose_item_model(1) == "ease"
    assert choose_item_model(EASE_MAX_ITEMS) == "ease"
    assert choose_item_model(EASE_MAX_ITEMS + 1) == "als"
    assert choose_item_model(500, ease_max_items=100) == "als"
    with pytest.raises(ConfigError, match="n_items must be a positive int"):
        choose_item_model(0)
