"""``shelfwise train`` and :mod:`shelfwise.train` on the demo workspace."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shelfwise.cli import main


@pytest.fixture(scope="module")
def demo_sim(demo_engine):
    """The demo-store simulator (exact retrieval, for speed)."""
    import torch

    from shelfwise.sim.workspace import sim_from_workspace

    torch.set_num_threads(1)
    return sim_from_workspace(demo_engine, use_index=False)


def test_sim_from_workspace_aligns_rows_with_index(demo_engine):
    from shelfwise.sim import random_policy
    from shelfwise.sim.workspace import sim_from_workspace

    sim = sim_from_workspace(demo_engine)
    ids = list(sim.catalog.product_ids[:5])
    np.testing.assert_allclose(sim.catalog.vectors[:5], demo_engine.index.vectors(ids),
                               atol=1e-5)
    stats = sim.run(random_policy(sim.config.k), 8, seed=0)
    assert stats.lengths.min() >= 1
    # FAISS retrieval fills the top of the candidate list with the nearest products
    sim.reset(1, np.random.default_rng(0))
    found, _ = demo_engine.index.search(sim.states[0], 5)
    row_of = {p: i for i, p in enumerate(sim.catalog.product_ids)}
    assert [row_of[p] for p in found[0]] == sim.candidate_ids[0, :5].tolist()


def test_train_linucb_cli_checkpoint_loads_and_evaluates(demo_copy, demo_sim, capsys):
    from agent.policy import load_policy, make_policy
    from shelfwise.train import evaluate_in_sim

    code = main(["train", "--policy", "linucb", "--from", "sim", "--sessions", "200",
                 "-o", "alpha=0.1", "-o", "temperature=0.01",
                 "--eval-sessions", "0", "--checkpoint-every", "100", "--json",
                 "--workspace", str(demo_copy.root)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["policy"] == "linucb" and report["sessions"] == 200
    path = Path(report["checkpoint"])
    assert path == demo_copy.policies_dir / "linucb"
    policy = load_policy(path)
    assert policy.name == "linucb" and policy.n_updates > 0
    trained = evaluate_in_sim(policy, demo_sim, 400, seed=123)
    base = evaluate_in_sim(make_policy("random"), demo_sim, 400, seed=123)
    print(f"\nlinucb (200 sessions) return {trained.mean_return}, random {base.mean_return}")
    # A short seeded evaluation: the trained checkpoint beats random on return (by more than
    # two standard errors of the difference) and on click rate.
    se = np.hypot(*((m.ci_high - m.ci_low) / (2 * 1.96) for m in (trained.mean_return,
                                                                  base.mean_return)))
    assert trained.mean_return.mean - base.mean_return.mean > 2 * se
    assert trained.click_rate.mean > 1.2 * base.click_rate.mean


def test_slateq_and_reinforce_train_a_few_iterations(demo_sim):
    from agent.policy import make_policy
    from shelfwise.train import train_in_sim

    for name in ("slateq", "reinforce"):
        policy = make_policy(name, dim=demo_sim.catalog.dim)
        before = policy.version
        stats = train_in_sim(policy, demo_sim, 20, batch_sessions=10, epochs=2, epsilon=0.1)
        assert stats.sessions == 20 and stats.updates >= 2
        assert policy.version != before


def test_feedback_from_events_round_trip(demo_engine, tmp_path):
    from agent.policy import make_policy
    from shelfwise.events import Click, Impression, SQLiteEventStore
    from shelfwise.train import feedback_from_events, train_on_feedback

    ids = demo_engine.index.ids[:10]
    store = SQLiteEventStore(tmp_path / "events.sqlite")
    state = demo_engine.index.vectors(ids[:1])[0]
    for t, slate in enumerate(("s1", "s2")):
        store.log_impression(Impression(
            event_id=f"i{t}", slate_id=slate, user_id="u", item_ids=tuple(ids[t:t + 3]),
            propensities=(0.5, 0.5, 0.5), policy="random", policy_version="v",
            session_id="sess", time=100.0 + t, state=state, candidate_ids=tuple(ids)))
    store.log_click(Click(event_id="c1", slate_id="s1", user_id="u", product_id=ids[1],
                          position=1))
    records, skipped = feedback_from_events(store, demo_engine.index.vectors)
    store.close()
    assert skipped == 0 and len(records) == 2
    assert records[0].clicks.tolist() == [False, True, False]
    assert records[0].rewards.tolist() == [0.0, 1.0, 0.0]
    assert records[0].slate.item_ids.tolist() == [0, 1, 2] and not records[0].done
    assert records[1].done and records[1].next_state is None
    policy = make_policy("linucb")
    assert train_on_feedback(policy, records, epochs=2, minibatch=1) == 4


def _valid_policies() -> str:
    from agent.policy import POLICIES

    return ", ".join(sorted(POLICIES))


BAD = [
    (["--policy", "slateQ"], f"unknown policy 'slateQ'; choose one of: {_valid_policies()}"),
    (["--policy", "linucb", "--from", "events"], "the event log is empty"),
    (["--policy", "linucb", "--from", "logs"], "--from must be one of: sim, events"),
    (["--policy", "linucb", "--sessions", "0"], "--sessions must be >= 1"),
    (["--policy", "linucb", "--epochs", "0"], "--epochs must be >= 1"),
    (["--policy", "linucb", "--out", "../x"], "--out must be a plain checkpoint name"),
    (["--policy", "linucb", "--epsilon", "2"], "--epsilon must be in [0, 1]"),
    (["--policy", "linucb", "-o", "alpha"], "--option must look like NAME=VALUE"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_arguments(args, message, demo_copy, capsys):
    code = main(["train", *args, "--workspace", str(demo_copy.root)])
    assert code == 2
    assert message in capsys.readouterr().err


def test_events_empty_store_file(demo_copy, capsys):
    from shelfwise.events import SQLiteEventStore

    SQLiteEventStore(demo_copy.events_db).close()
    code = main(["train", "--policy", "linucb", "--from", "events",
                 "--workspace", str(demo_copy.root)])
    assert code == 2
    assert "the event log is empty" in capsys.readouterr().err


@pytest.mark.slow
def test_policies_benchmark_quick(demo_workspace, tmp_path):
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "policies.md"
    proc = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "policies.py"), "--quick",
         "--eval-sessions", "20", "--workspace", str(demo_workspace.root), "--out", str(out)],
        capture_output=True, text=True, timeout=900, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    for name in ("random", "greedy", "linucb", "lints", "slateq", "reinforce", "oracle",
                 "optimal"):
        assert f"| {name} |" in text
    assert "## Targets" in text and "--quick" in text
    assert "of the random-to-oracle headroom" in text and "of the optimal policy's return" in text
    assert (tmp_path / "policies_curves_sim.png").stat().st_size > 1000
