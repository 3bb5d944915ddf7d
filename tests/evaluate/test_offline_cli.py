"""``shelfwise evaluate --offline`` on a workspace's event log."""

import json

import numpy as np
import pytest

from shelfwise.catalog import CatalogStore, Product
from shelfwise.cli import main
from shelfwise.events import Click, Impression, Interaction, SQLiteEventStore
from shelfwise.workspace import Workspace

N_ITEMS = 12


def _workspace(root, n_users, seed=0):
    """Shoppers who view items of one of three groups, a few served clicks, a catalog of 13."""
    ws = Workspace.resolve(root).ensure()
    store = CatalogStore(ws.catalog_db)
    store.upsert([Product(id=f"p{i}", title=f"item {i}", description="", category="x",
                          price=1.0) for i in range(N_ITEMS + 1)])
    store.close()
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        group = u % 3
        items = rng.permutation(np.arange(group * 4, group * 4 + 4))[:3]
        for t, i in enumerate(items):
            kind = "purchase" if t == 2 else "view"
            rows.append(Interaction.create(f"u{u}", f"p{i}", kind, 10_000.0 * t + u))
    rows.append(Interaction.create("u0", "retired", "view", 5.0))
    with SQLiteEventStore(ws.events_db) as ev:
        ev.log_interactions(rows)
        ev.log_impression(Impression("imp", "s1", "u1", ("p0", "p1"), (0.5, 0.5), "random", "1",
                                     time=99_000.0))
        ev.log_click(Click("c1", "s1", "u1", "p1", 1, time=99_001.0))
    return ws


@pytest.fixture
def workspace(tmp_path):
    return _workspace(tmp_path / "ws", 30)


def test_offline_json(workspace, tmp_path, capsys):
    plot = tmp_path / "out" / "ndcg.png"
    code = main(["evaluate", "--offline", "--workspace", str(workspace.root), "--json", "--k",
                 "5", "--n-bootstrap", "50", "--plot", str(plot)])
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out)
    assert doc["split"] == "leave-last-out" and doc["mode"] == "full"
    assert doc["n_items"] == N_ITEMS + 1 and doc["n_users"] == 30
    assert "full ranking over all 13 items" in doc["protocol"]
    assert [m["name"] for m in doc["models"]] == ["mostpop", "itemknn", "ease"]
    assert doc["log"]["dropped_unknown_items"] == 1
    assert doc["log"]["events_by_source"] == {"organic": 90, "served": 1}
    ease = doc["models"][2]["metrics"]
    # the groups are disjoint, so co-occurrence models find the held-out item among the 2 left
    # of its group; u1's last item is the served click on p1, outside its group: 29 of 30
    assert ease["hr@5"]["value"] == pytest.approx(29 / 30)
    assert doc["plot"] == str(plot) and plot.read_bytes()[:4] == b"\x89PNG"


def test_offline_table_sampled_and_time_split(workspace, capsys):
    code = main(["evaluate", "--offline", "--workspace", str(workspace.root), "--split", "time",
                 "--negatives", "3", "--baselines", "mostpop,ease", "--n-bootstrap", "20",
                 "--k", "2", "--cut", "1970-01-01T05:00:00", "--min-users", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "SAMPLED" in out and "global time split at t=18000" in out
    assert "ease" in out and "itemknn" not in out


@pytest.mark.parametrize("args, match", [
    (["--split", "random"], "split: unknown split 'random'; choose one of: leave-last-out, time"),
    (["--k", "ten"], "--k must be comma-separated positive ints"),
    (["--kinds", "like"], "unknown interaction kind(s) 'like'"),
    (["--baselines", "pop"], "unknown baseline 'pop'"),
    (["--models", "magic"], "unknown behaviour model 'magic'"),
    (["--cut", "yesterday", "--split", "time"], "--cut must be unix seconds or an ISO date"),
    (["--min-users", "31"], "only 30 shoppers can be evaluated"),
])
def test_offline_bad_input_exits_2(workspace, capsys, args, match):
    assert main(["evaluate", "--offline", "--workspace", str(workspace.root)] + args) == 2
    assert match in capsys.readouterr().err


def test_offline_too_few_interactions_exits_2(tmp_path, capsys):
    ws = _workspace(tmp_path / "small", 4)
    assert main(["evaluate", "--offline", "--workspace", str(ws.root)]) == 2
    err = capsys.readouterr().err
    assert "error: only 4 shoppers can be evaluated" in err and "at least 10 are needed" in err


def test_offline_no_event_log_and_policy_required(tmp_path, capsys):
    assert main(["evaluate", "--offline", "--workspace", str(tmp_path / "none")]) == 2
    assert "no event log at" in capsys.readouterr().err
    assert main(["evaluate", "--workspace", str(tmp_path / "none")]) == 2
    assert "--policy is required (or pass --offline" in capsys.readouterr().err
