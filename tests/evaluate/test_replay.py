import sys
from pathlib import Path

import numpy as np
import pytest

from shelfwise.errors import ConfigError
from shelfwise.evaluate.replay import evaluate_events, events_ope_input
from shelfwise.events import Impression, SQLiteEventStore

sys.path.insert(0, str(Path(__file__).parent))
from _doubles import SoftmaxPolicy, log_sessions  # noqa: E402


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    path = tmp_path_factory.mktemp("ev") / "events.sqlite"
    store = SQLiteEventStore(path)
    log_sessions(store, 1500, np.random.default_rng(0))
    yield store
    store.close()


def test_logging_policy_replays_to_its_own_value(logged):
    res = evaluate_events(logged, SoftmaxPolicy(0.0), n_bootstrap=200)
    assert res.n == 1500 and res.skipped == 0
    assert res.estimates["ips"].value == pytest.approx(res.logged.value, rel=1e-9)
    assert res.estimates["dr"].covers(res.logged.value)


def test_better_policy_is_estimated_better(logged, tmp_path):
    res = evaluate_events(logged, SoftmaxPolicy(3.0), n_bootstrap=200, reward="click")
    # simulate the candidate on-policy for its true value
    store = SQLiteEventStore(tmp_path / "on.sqlite")
    log_sessions(store, 1500, np.random.default_rng(0), beta=3.0)
    truth = evaluate_events(store, SoftmaxPolicy(3.0), estimators="ips", n_bootstrap=100).logged
    store.close()
    assert res.estimates["dr"].value > res.logged.value + 0.2
    for name in ("ips", "snips", "dr"):
        assert res.estimates[name].relative_error(truth.value) < 0.1, name
    # Monte Carlo marginals (no action_dist) agree with the exact ones
    mc = evaluate_events(logged, SoftmaxPolicy(3.0, exact=False), estimators="ips",
                         n_bootstrap=100, n_samples=100)
    assert mc.estimates["ips"].relative_error(res.estimates["ips"].value) < 0.1


def test_feature_lookup_and_skips(tmp_path):
    store = SQLiteEventStore(tmp_path / "e.sqlite")
    vecs = log_sessions(store, 200, np.random.default_rng(1), store_features=False)
    store.log_impression(Impression("bare", "bare", "u", ("a",), (1.0,), "x", "1", time=1e6))
    with pytest.raises(ConfigError, match="none of the 201 logged impressions can be replayed"):
        events_ope_input(store, SoftmaxPolicy(0.0))
    data = events_ope_input(store, SoftmaxPolicy(0.0),
                            features=lambda ids: vecs[[int(i[1:]) for i in ids]])
    assert data.ope.n == 200 and data.skipped == 1
    store.close()


def test_empty_log(tmp_path):
    with SQLiteEventStore(tmp_path / "e.sqlite") as store:
        with pytest.raises(ConfigError, match="the event log has no impressions to evaluate"):
            evaluate_events(store, SoftmaxPolicy(0.0))
