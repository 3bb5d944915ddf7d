"""The cold-start section of benchmarks/offline_ml100k.py on a tiny planted log (no ML-100k)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoders.behaviour import Interactions
from shelfwise.evaluate.splits import leave_last_out

ROOT = Path(__file__).parents[2]
CLUSTERS, PER, DIM = 6, 30, 16  # many products per cluster: a top 10 never runs out


def _bench():
    name = "offline_ml100k_bench"
    if name not in sys.modules:  # dataclasses look their module up in sys.modules
        spec = importlib.util.spec_from_file_location(
            name, ROOT / "benchmarks" / "offline_ml100k.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="module")
def planted():
    """Shoppers browse 8 products of one content cluster; every product has events."""
    return planted_log()


def planted_log():
    """``(interactions, content (n_items, 16))``."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(CLUSTERS, DIM))
    content = np.repeat(centres, PER, axis=0) + 0.25 * rng.normal(size=(CLUSTERS * PER, DIM))
    content = (content / np.linalg.norm(content, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"p{i:03d}" for i in range(CLUSTERS * PER)]
    rows = []
    for u in range(360):
        items = (u % CLUSTERS) * PER + rng.choice(PER, size=8, replace=False)
        rows += [(f"u{u}", ids[i], float(t)) for t, i in enumerate(items)]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "product_id", "time"]),
                                   item_ids=ids)
    assert (data.item_counts() > 0).all()
    return data, content


def test_held_out_items_are_seeded_and_removed_from_training_only(planted):
    bench = _bench()
    data, _ = planted
    held = bench.held_out_items(data.n_items, 0.1, 0)
    assert held.size == 18 and np.array_equal(held, np.unique(held))
    np.testing.assert_array_equal(held, bench.held_out_items(data.n_items, 0.1, 0))
    assert not np.array_equal(held, bench.held_out_items(data.n_items, 0.1, 1))
    split = leave_last_out(data)
    reduced = bench.without_items(split.train, held)
    assert not np.isin(reduced.item, held).any()
    assert reduced.n_events == int((~np.isin(split.train.item, held)).sum())
    assert (reduced.n_users, reduced.n_items) == (data.n_users, data.n_items)


@pytest.mark.slow
def test_cold_start_section_on_a_planted_log(planted):
    bench = _bench()
    data, content = planted
    lines, fig = bench.cold_start_section(data, content, quick=True, n_boot=50)
    split = leave_last_out(data)
    held = bench.held_out_items(data.n_items)
    targets = np.array([t[0] for t in split.test.targets])
    assert fig["held_out_items"] == 18
    assert fig["removed_train_events"] == int(np.isin(split.train.item, held).sum())
    assert fig["cold_shoppers"] == int(np.isin(targets, held).sum()) > 0
    for model in ("mostpop", "ease"):  # no event, no recommendation: exactly 0
        assert fig["cold"][f"{model}|held out"] == {"hr": 0.0, "ndcg": 0.0}
        assert fig["all"][f"{model}|held out"]["new"] == 0.0
        assert fig["all"][f"{model}|no holdout"]["new"] > 0.0
    # through content, the held-out products come back
    assert fig["all"]["ease+content|held out"]["new"] > 0.0
    assert fig["cold"]["ease+content|held out"]["hr"] > 0.0
    text = "\n".join(lines)
    for heading in ("## Cold start: products held out of training",
                    f"### (a) The {fig['cold_shoppers']} cold shoppers",
                    f"### (b) and (c) All {len(targets)} test shoppers"):
        assert heading in text
    assert "| shelfwise what-if | held-out movies removed |" in text
