"""The intent benchmark's labels and metric (``benchmarks/rerank_intents.py``) on tiny inputs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "rerank_intents_bench", ROOT / "benchmarks" / "rerank_intents.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while executing it
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_ndcg_known_answers(bench):
    labels = np.array([0.0, 2.0, 1.0])
    assert bench.ndcg_at(labels, np.array([1, 2, 0])) == pytest.approx(1.0)
    worst = bench.ndcg_at(labels, np.array([0, 2, 1]))
    ideal = 3.0 + 1.0 / np.log2(3)
    assert worst == pytest.approx((1.0 / np.log2(3) + 3.0 / 2.0) / ideal)
    assert np.isnan(bench.ndcg_at(np.zeros(3), np.arange(3)))


def test_every_intent_rule_separates_the_demo_catalog(bench, demo_workspace):
    """Each rule names some products fully relevant and leaves most at 0 (it discriminates)."""
    from shelfwise.catalog import CatalogStore

    store = CatalogStore(demo_workspace.catalog_db)
    try:
        products = store.all()
    finally:
        store.close()
    assert len(bench.INTENTS) >= 25
    for text, rule in bench.INTENTS:
        labels = np.array([rule(p) for p in products])
        assert set(np.unique(labels)) <= {0, 1, 2}, text
        assert (labels == 2).sum() >= 5, text
        assert (labels == 0).mean() > 0.4, text


def test_table_reports_paired_gains(bench):
    from agent.products import ProductView

    views = [ProductView(id=str(i), title=str(i), category="c", price=1.0) for i in range(10)]
    labels = np.array([0.0] * 9 + [2.0])  # the only relevant item is the policy's last
    slates = [bench.Slate("x", views, np.arange(10, 0, -1.0), labels)] * 3
    good = [np.arange(10.0)] * 3  # the model puts it first
    rows, deltas = bench.table("fake", slates, good, [0.1] * 3, seed=0)
    gain = 1.0 - 1.0 / np.log2(11)
    assert deltas[0.0][0] == 0.0 and deltas[1.0] == pytest.approx((gain, gain, gain))
    assert "| fake | 0.289 |" in rows[0] and "| 3 | 0 | 0.10 |" in rows[0]
    _, none = bench.table("fallback", slates, [None] * 3, [0.1] * 3, seed=0)
    # no scores: every weight serves the policy order
    assert all(d == (0.0, 0.0, 0.0) for d in none.values())
