import json
import sys
from pathlib import Path

import numpy as np
import pytest

from shelfwise.cli import evaluate_cmds, main
from shelfwise.events import SQLiteEventStore
from shelfwise.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from _doubles import SoftmaxPolicy, log_sessions  # noqa: E402


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace.resolve(tmp_path / "ws").ensure()
    with SQLiteEventStore(ws.events_db) as store:
        log_sessions(store, 300, np.random.default_rng(0))
    return ws


def test_evaluate_events_json(workspace, monkeypatch, capsys):
    monkeypatch.setattr(evaluate_cmds, "_resolve_policy", lambda spec, d: SoftmaxPolicy(2.0))
    code = main(["evaluate", "--policy", "softmax", "--workspace", str(workspace.root),
                 "--estimators", "ips,dr", "--n-bootstrap", "50", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out)
    assert doc["n"] == 300 and doc["reward"] == "click"
    assert [r["estimator"] for r in doc["estimates"]] == ["ips", "dr", "on-policy"]


def test_evaluate_events_table(workspace, monkeypatch, capsys):
    monkeypatch.setattr(evaluate_cmds, "_resolve_policy", lambda spec, d: SoftmaxPolicy(2.0))
    assert main(["evaluate", "--policy", "x", "--workspace", str(workspace.root),
                 "--n-bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert "snips" in out and "softmax-2" in out


def test_evaluate_obd_json(capsys, tmp_path):
    code = main(["evaluate", "--policy", "bts", "--from", "obd", "--estimators", "ips,snips",
                 "--n-bootstrap", "50", "--json", "--workspace", str(tmp_path)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["estimator"] for r in doc["estimates"]] == ["on-policy", "ips", "snips"]
    assert doc["estimates"][0]["value"] == pytest.approx(0.0042)


@pytest.mark.parametrize("args, match", [
    (["--estimators", "ips,magic"], "unknown estimator 'magic'; choose from: ips, snips, dm, dr"),
    (["--from", "warehouse"], "--from: unknown source 'warehouse'; choose from: events, obd"),
    (["--policy", "missing/policy.pt"], "--policy: policy file not found: missing/policy.pt"),
    (["--n-bootstrap", "3"], "--n-bootstrap must be at least 10"),
])
def test_bad_input(workspace, capsys, args, match):
    base = {"--policy": "random"}
    argv = ["evaluate", "--workspace", str(workspace.root)]
    if "--policy" not in args:
        argv += ["--policy", base["--policy"]]
    assert main(argv + args) == 2
    assert match in capsys.readouterr().err


def test_no_event_log(tmp_path, capsys):
    assert main(["evaluate", "--policy", "random", "--workspace", str(tmp_path / "empty")]) == 2
    assert "no event log at" in capsys.readouterr().err


def test_empty_event_log(tmp_path, monkeypatch, capsys):
    ws = Workspace.resolve(tmp_path / "ws").ensure()
    SQLiteEventStore(ws.events_db).close()
    monkeypatch.setattr(evaluate_cmds, "_resolve_policy", lambda spec, d: SoftmaxPolicy(1.0))
    assert main(["evaluate", "--policy", "x", "--workspace", str(ws.root)]) == 2
    assert "the event log has no impressions to evaluate" in capsys.readouterr().err
