"""On the demo store: the ONNX path returns the torch path's top 10, and a CLI search loads
neither torch nor transformers (what made every command start in 5-12 s)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from encoders.text import BACKEND_ENV

pytestmark = pytest.mark.slow  # opens the demo store twice, once on torch

QUERIES = [
    "red dress", "waterproof jacket under 150", "leather handbag", "blue running shoes",
    "something warm for winter", "a gift for my sister", "black wool scarf",
    "linen shirt for summer", "cheap sneakers", "silk scarf with a floral pattern",
    "green", "bag", "a pair of boots for a rainy hike", "striped cotton t-shirt",
    "elegant evening clutch",
]


@pytest.fixture(scope="module")
def engines(demo_workspace):
    from shelfwise.engine import Engine

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(BACKEND_ENV, "torch")
        by_torch = Engine.open(demo_workspace)
        mp.setenv(BACKEND_ENV, "onnx")
        by_onnx = Engine.open(demo_workspace)
    yield by_torch, by_onnx
    by_torch.close()
    by_onnx.close()


def test_the_engines_use_the_two_backends(engines):
    by_torch, by_onnx = engines
    assert by_torch.encoders.text.backend == "torch"
    assert by_onnx.encoders.text.backend == "onnx"


def test_query_vectors_match(engines):
    by_torch, by_onnx = engines
    a = np.stack([by_torch.encode_query(q) for q in QUERIES])
    b = np.stack([by_onnx.encode_query(q) for q in QUERIES])
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("query", QUERIES)
def test_same_top_10(engines, query):
    by_torch, by_onnx = engines
    want = [h.product.id for h in by_torch.search(text=query, k=10)]
    got = [h.product.id for h in by_onnx.search(text=query, k=10)]
    assert got == want


def test_cli_search_loads_no_torch(demo_copy):
    """A cold `shelfwise search` in a fresh process: results, and the heavy stacks unloaded."""
    script = (
        "import json, sys\n"
        "from shelfwise.cli import main\n"
        f"code = main(['search', 'red leather handbag', '-w', {str(demo_copy.root)!r}, "
        "'--json', '-k', '10'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') "
        "if m in sys.modules]\n"
        "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**_env(), BACKEND_ENV: "auto"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}
    hits = json.loads(proc.stdout)
    assert len(hits) == 10 and hits[0]["rank"] == 1


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
