import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_benchmark_quick(tmp_path):
    out = tmp_path / "ope.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ope.py"), "--quick",
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)  # a hang guard, not a timing assertion
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    for heading in ("Synthetic slates with known values", "Bernoulli TS estimated from",
                    "A policy trained on the OBD random log"):
        assert heading in text
    assert "| dr |" in text or "| dr " in text
