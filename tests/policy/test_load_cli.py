"""Every command that loads a policy checkpoint refuses a broken one with ``error: ...``, exit 2;
the server refuses to start on a policy that could not answer (it answered 409 forever)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from agent.policy import make_policy
from agent.policy.checkpoint import params_digest
from encoders.errors import PolicyError
from shelfwise.cli import main

DIM = 384  # the demo workspace's index dimension


def _meta_edit(**changes: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        meta = json.loads((folder / "meta.json").read_text())
        for key, value in changes.items():
            outer, _, inner = key.partition(".")
            if inner:
                meta[outer][inner] = value
            else:
                meta[key] = value
        (folder / "meta.json").write_text(json.dumps(meta))
    return edit


def _nan_params(folder: Path) -> None:
    with np.load(folder / "params.npz", allow_pickle=False) as data:
        params = {k: data[k] for k in data.files}
    params["b"] = params["b"].copy()
    params["b"][5] = np.nan
    with open(folder / "params.npz", "wb") as fh:
        np.savez(fh, **params)
    _meta_edit(params_sha256=params_digest(params))(folder)  # a checksum that matches


BROKEN = [
    ("nan", _nan_params, r"params.npz: parameter 'b' holds 1 NaN or infinite value"),
    ("absurd-dims", _meta_edit(**{"dims.state": 10**12, "dims.candidates": 10**12}),
     r"field 'dims.state' must be an integer in \[1, 65536\], got 1000000000000"),
    ("negative-count", _meta_edit(n_updates=-5), r"field 'n_updates' must be an integer in \[0,"),
    ("unknown-policy", _meta_edit(name="slateQ"), r"unknown policy 'slateQ'"),
    ("not-json", lambda f: (f / "meta.json").write_text('{"name": "linucb", '),
     r"meta.json is not valid JSON"),
]


def _broken(ws, damage: Callable[[Path], None], dim: int = DIM) -> Path:
    path = make_policy("linucb", dim=dim, seed=0).save(ws.policies_dir / "broken")
    damage(path)
    return path


def _err(capsys) -> str:
    return capsys.readouterr().err


@pytest.fixture()
def ws(demo_copy):
    from shelfwise.events import SQLiteEventStore

    SQLiteEventStore(demo_copy.events_db).close()  # evaluate needs an event log to exist
    return demo_copy


@pytest.mark.parametrize(("damage", "match"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_evaluate_refuses_broken_checkpoint(ws, capsys, damage, match):
    path = _broken(ws, damage)
    assert main(["evaluate", "--policy", str(path), "--workspace", str(ws.root)]) == 2
    err = _err(capsys)
    assert re.search("^error: .*" + match, err, re.M) and "Traceback" not in err, err


@pytest.mark.parametrize(("damage", "match"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_batch_refuses_broken_checkpoint(ws, tmp_path, capsys, damage, match):


    users = tmp_path / "users.csv"
    users.write_text("user_id,query\nu1,red bag\nu2,shoes\n")
    _broken(ws, damage)
    code = main(["batch", str(users), str(tmp_path / "out"), "--policy", "broken",
                 "--workspace", str(ws.root), "--no-progress"])
    err = _err(capsys)
    assert code == 2, err
    assert re.search("^error: .*" + match, err, re.M) and "Traceback" not in err, err


@pytest.mark.parametrize(("command", "damage", "match"), [
    (["serve", "--no-llm", "--policy"], *BROKEN[0][1:]),
    (["chat", "--once", "red bag", "--no-llm", "--policy"], *BROKEN[1][1:]),
], ids=["serve-nan", "chat-absurd-dims"])
def test_serve_and_chat_refuse_broken_checkpoint(ws, capsys, command, damage, match):


    path = _broken(ws, damage)
    code = main([*command, str(path), "--workspace", str(ws.root)])
    err = _err(capsys)
    assert code == 2, err
    assert re.search("^error: .*" + match, err, re.M) and "Traceback" not in err, err


def test_serve_refuses_checkpoint_of_another_dimension(ws, capsys):
    path = make_policy("linucb", dim=4).save(ws.policies_dir / "tiny")
    assert main(["serve", "--no-llm", "--policy", str(path), "--workspace", str(ws.root)]) == 2
    assert ("\nerror: --policy " + str(path) + ": the policy was built for 4-d states but this "
            "workspace's index is 384-d") in "\n" + _err(capsys)


def test_open_service_raises_on_nan_checkpoint(ws):
    """In process: the wiring raises a named error instead of serving 409s."""
    from shelfwise.serve.wiring import open_service

    path = _broken(ws, _nan_params)
    with pytest.raises(PolicyError, match=r"parameter 'b' holds 1 NaN"):
        open_service(ws, policy=str(path), assistant=False)


def test_wiring_probe_refuses_a_policy_that_cannot_answer(demo_engine):
    from shelfwise.serve.wiring import check_policy_serves

    policy = make_policy("linucb", dim=DIM)
    check_policy_serves(SimpleNamespace(policy=policy, engine=demo_engine), "linucb")  # fine
    policy.theta = np.full_like(policy.theta, 1e308)  # finite, but every score overflows
    with pytest.raises(PolicyError, match=r"--policy linucb: the policy answers with NaN or "
                                          r"infinite scores"):
        check_policy_serves(SimpleNamespace(policy=policy, engine=demo_engine), "linucb")
    with pytest.raises(PolicyError, match=r"built for 8-d states but this workspace's index "
                                          r"is 384-d"):
        check_policy_serves(SimpleNamespace(policy=make_policy("slateq", dim=8),
                                            engine=demo_engine), "sq")
