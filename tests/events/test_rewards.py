import numpy as np
import pytest

from shelfwise.errors import ConfigError
from shelfwise.events import Click, Impression, Purchase, SQLiteEventStore
from shelfwise.rewards import TERMS, RewardFunction, iter_rewards, rewards_for


@pytest.fixture
def store(tmp_path):
    s = SQLiteEventStore(tmp_path / "e.sqlite")
    s.log_many([
        Impression("e0", "s0", "u", ("a", "b", "c"), (0.5, 0.5, 0.5), "random", "1",
                   session_id="S", time=1.0),
        Impression("e1", "s1", "u", ("d", "e"), (0.5, 0.5), "random", "1", session_id="S",
                   time=2.0),
        Click("c0", "s0", "u", "b", 1, time=1.5),
        Click("c1", "s0", "u", "b", 1, time=1.6),  # double click counts once
        Purchase("p0", "s0", "u", "b", 1, value=40.0, time=1.7),
        Purchase("p1", "s0", "u", "c", 2, value=10.0, margin=5.0, time=1.8),
    ])
    yield s
    s.close()


def test_terms(store):
    np.testing.assert_allclose(rewards_for(store, "s0", "click"), [0, 1, 0])
    np.testing.assert_allclose(rewards_for(store, "s0", "click+0.01*purchase_value"),
                               [0, 1.4, 0.1])
    np.testing.assert_allclose(rewards_for(store, "s0", "purchase"), [0, 1, 1])
    fn = RewardFunction({"margin": 1.0}, margin_rate=0.25, margins={"b": 0.5})
    np.testing.assert_allclose(rewards_for(store, "s0", fn), [0, 20.0, 5.0])
    # s0's session continues with s1; s1 is the last slate of its session
    np.testing.assert_allclose(rewards_for(store, "s0", "retention"), [1 / 3] * 3)
    np.testing.assert_allclose(rewards_for(store, "s1", "retention"), [0, 0])
    np.testing.assert_allclose(rewards_for(store, "s1"), [0, 0])


def test_iter_rewards_matches_rewards_for(store):
    fn = RewardFunction.parse("click+0.5*retention")
    got = {imp.slate_id: r for imp, r in iter_rewards(store, fn)}
    for sid in ("s0", "s1"):
        np.testing.assert_allclose(got[sid], rewards_for(store, sid, fn))


def test_parse_and_config_roundtrip():
    fn = RewardFunction.parse("click + 0.01*purchase_value - 2*retention")
    assert dict(fn.weights) == {"click": 1.0, "purchase_value": 0.01, "retention": -2.0}
    assert RewardFunction.parse(fn.spec) == fn
    cfg = RewardFunction.from_config({"click": 1, "margin": 0.1, "margin_rate": 0.3})
    assert dict(cfg.weights) == {"click": 1.0, "margin": 0.1} and cfg.margin_rate == 0.3
    assert RewardFunction.from_config({"spec": "click"}) == RewardFunction()


@pytest.mark.parametrize("spec, match", [
    ("clicks", "unknown reward term 'clicks'; choose from: " + ", ".join(TERMS)),
    ("click+", "cannot parse reward spec"),
    ("click purchase", "cannot parse reward spec"),
    ("", "empty reward spec"),
    ("margin", "the 'margin' reward term needs margin_rate"),
])
def test_bad_specs(spec, match):
    with pytest.raises(ConfigError, match=match):
        RewardFunction.parse(spec)


@pytest.mark.parametrize("cfg, match", [
    ({"clik": 1}, r"unknown reward config key\(s\) \['clik'\]; valid keys: click"),
    ({"click": "x"}, "reward weight of 'click' must be a number"),
    ({"click": 1, "margin_rate": 2.0}, r"margin_rate must be in \[0, 1\]"),
    ({}, "needs at least one term"),
])
def test_bad_configs(cfg, match):
    with pytest.raises(ConfigError, match=match):
        RewardFunction.from_config(cfg)
