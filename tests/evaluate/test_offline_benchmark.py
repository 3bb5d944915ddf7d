"""benchmarks/offline_ml100k.py runs end to end in quick mode (ML-100k from the recbole wheel)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_offline_benchmark_quick(tmp_path):
    out = tmp_path / "offline.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "offline_ml100k.py"),
                           "--quick", "--models", "als", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "full ranking over all 1,682 items; history excluded; 200 shoppers" in text
    for heading in ("Leave-last-out, full ranking", "Global time split", "Sampled negatives"):
        assert heading in text
    assert "| als | candidate |" in text and "| ease | baseline |" in text
    assert (tmp_path / "offline_ndcg.png").read_bytes()[:4] == b"\x89PNG"
