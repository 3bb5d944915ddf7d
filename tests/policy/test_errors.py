"""Registry, configuration, input and checkpoint errors (with asserted messages)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.policy import load_policy, make_policy
from encoders.errors import ConfigError, PolicyError

RNG = np.random.default_rng(0)
STATE = RNG.normal(size=4)
CANDS = RNG.normal(size=(5, 4))


def test_unknown_policy_lists_names():
    with pytest.raises(PolicyError, match="unknown policy 'slateQ'; choose one of: actor_critic, "
                                          "greedy, lints, linucb, random, reinforce, slateq"):
        make_policy("slateQ")


@pytest.mark.parametrize(("name", "kwargs", "match"), [
    ("linucb", {"alpah": 1.0}, "unknown argument 'alpah' for policy 'linucb'"),
    ("linucb", {"alpha": -1.0}, "alpha must be a non-negative number"),
    ("greedy", {"temperature": 0.0}, "temperature must be a positive number"),
    ("lints", {"n_posterior": 0}, "n_posterior must be a positive int"),
    ("slateq", {"gamma": 1.5}, r"gamma must be in \[0, 1\]"),
    ("reinforce", {"top_k": 0}, "top_k must be a positive int or None"),
    ("random", {"dim": 0}, "dim must be a positive int"),
])
def test_bad_kwargs_name_the_argument(name, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        make_policy(name, **kwargs)


NAN_STATE = STATE.copy()
NAN_STATE[0] = np.nan


@pytest.mark.parametrize("name", ["random", "linucb", "slateq"])
@pytest.mark.parametrize(("state", "cands", "k", "match"), [
    (STATE, CANDS, 6, r"k must be between 1 and the number of candidates \(5\), got 6"),
    (STATE, CANDS, 0, "k must be between 1"),
    (STATE, CANDS, 2.0, "k must be an int"),
    (NAN_STATE, CANDS, 2, "state contains NaN or inf"),
    (STATE, CANDS[0], 2, r"candidates must be 2-D \(n, d\)"),
    (STATE[None, :], CANDS, 2, "state must be a non-empty 1-D vector"),
    (STATE, CANDS[:0], 1, "candidates must be non-empty"),
])
def test_bad_select_inputs(name, state, cands, k, match):
    with pytest.raises(ConfigError, match=match):
        make_policy(name).select(state, cands, k, np.random.default_rng(0))


def test_dimension_mismatch_after_first_call():
    policy = make_policy("linucb", dim=4)
    with pytest.raises(PolicyError,
                       match="candidates have dimension 3, the policy was built for 4"):
        policy.score(STATE, CANDS[:, :3])
    with pytest.raises(PolicyError, match="state has dimension 3, the policy was built for 4"):
        policy.score(STATE[:3], CANDS)


def test_rng_must_be_a_generator():
    with pytest.raises(ConfigError, match="rng must be a numpy.random.Generator"):
        make_policy("random").select(STATE, CANDS, 2, 0)


def test_bad_feedback_names_the_record():
    from agent.policy import Feedback
    policy = make_policy("linucb")
    slate = policy.select(STATE, CANDS, 2, np.random.default_rng(0))
    bad = Feedback(state=STATE, candidates=CANDS, slate=slate, clicks=np.array([True]),
                   rewards=np.array([1.0, 0.0]))
    with pytest.raises(ConfigError, match=r"batch\[0\].clicks has 1 entries, the slate has 2"):
        policy.update([bad])


def test_checkpoint_errors_name_the_path(tmp_path):
    with pytest.raises(PolicyError, match="policy checkpoint not found: .*missing"):
        load_policy(tmp_path / "missing")
    ckpt = make_policy("linucb", dim=4).save(tmp_path / "lin")
    meta = json.loads((ckpt / "meta.json").read_text())
    meta["format_version"] = 99
    (ckpt / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(PolicyError, match="lin: checkpoint format_version 99 is not supported"):
        load_policy(ckpt)
    good = make_policy("slateq", dim=4).save(tmp_path / "sq")
    (good / "params.npz").write_bytes(b"not a zip")
    with pytest.raises(PolicyError, match="corrupt policy checkpoint .*params.npz"):
        load_policy(good)
    (tmp_path / "broken.npz").write_bytes(b"\x00garbage")
    with pytest.raises(PolicyError, match="corrupt policy checkpoint .*broken.npz"):
        load_policy(tmp_path / "broken.npz")


def test_load_refuses_other_policy_class(tmp_path):
    from agent.policy import LinUCBPolicy
    path = make_policy("lints", dim=4).save(tmp_path / "ts")
    with pytest.raises(PolicyError, match="holds policy 'lints', not 'linucb'"):
        LinUCBPolicy.load(path)


def test_checkpoint_never_pickles(tmp_path):
    path = make_policy("reinforce", dim=4).save(tmp_path / "r.npz")
    with np.load(path, allow_pickle=False) as data:
        assert "__meta__" in data.files and "net.0.weight" in data.files


def test_no_shelfwise_import():
    import subprocess
    import sys
    code = ("import sys, agent.policy as p; p.make_policy('slateq', dim=4); "
            "sys.exit(1 if any(m == 'shelfwise' or m.startswith('shelfwise.') "
            "for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
