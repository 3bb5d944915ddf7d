"""The sponsored-slots benchmark runs end to end on tiny settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_sponsored_benchmark_smoke(demo_workspace, tmp_path):
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "sponsored.md"
    proc = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "sponsored.py"), "--sessions", "12",
         "--train-sessions", "4", "--workspace", str(demo_workspace.root), "--out", str(out)],
        capture_output=True, text=True, timeout=900, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    for row in ("| no ads (greedy) |", "| greedy, bid_weight 4 |", "| random, bid_weight 1 |",
                "| linucb trained on clicks + 2 ad revenue, bid_weight 1 |",
                "| greedy, bid_weight 1, annoyance 3 |"):
        assert row in text
    assert "## Which configuration each reward weighting prefers" in text
    assert "**" in text  # a preferred row per weighting
    assert (tmp_path / "sponsored.png").stat().st_size > 1000
