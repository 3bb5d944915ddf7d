"""What makes a request fast without changing its answer: one thread per request, cached queries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from shelfwise.catalog import CatalogStore, Product
from shelfwise.engine import Engine
from shelfwise.errors import ConfigError


def _threads() -> tuple[int, int | None]:
    """(torch intra-op threads, OpenBLAS threads or None when numpy uses another BLAS)."""
    import torch
    from threadpoolctl import threadpool_info

    blas = [i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"]
    return torch.get_num_threads(), (blas[0] if blas else None)


def test_one_thread_limits_torch_per_thread_and_blas_for_good() -> None:
    import torch

    from shelfwise.threads import one_thread

    outside = torch.get_num_threads()
    with one_thread():
        with one_thread():  # nested blocks are fine
            assert _threads()[0] == 1
        assert _threads()[0] == 1
    assert torch.get_num_threads() == outside  # torch's setting is given back
    assert _threads()[1] in (1, None)  # OpenBLAS stays at one thread (process-wide setting)

    def in_worker() -> tuple[int, int | None]:
        with one_thread():
            return _threads()

    # a web server runs each request on one of its worker threads, and torch gives a new
    # thread the count of the last torch.set_num_threads on its first use there
    torch.set_num_threads(2)
    try:
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(in_worker).result() == (1, _threads()[1])
    finally:
        torch.set_num_threads(outside)


class _CountingEncoders:
    """Deterministic toy text encoder that counts what it was asked to encode."""

    dim = 8

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rng = np.random.default_rng([ord(c) for c in texts[0]])
        v = rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture()
def toy_engine(tmp_path):
    from index import ItemMeta, VectorIndex
    from shelfwise.workspace import Workspace

    ws = Workspace.resolve(tmp_path / "shop").ensure()
    store = CatalogStore(ws.catalog_db)
    store.upsert([Product(id=f"p{i}", title=f"thing {i}", description="", category="things",
                          price=10.0 + i) for i in range(3)])
    enc = _CountingEncoders()
    index = VectorIndex(enc.dim, "Flat")
    index.add(["p0", "p1", "p2"], np.eye(3, enc.dim, dtype=np.float32),
              [ItemMeta("things", 10.0 + i) for i in range(3)])
    yield Engine(ws, store, index, enc), enc
    store.close()


def test_query_vectors_are_cached_and_callers_get_their_own_copy(toy_engine) -> None:
    engine, enc = toy_engine
    first = engine.encode_query("warm wool sweater")
    first[:] = 0.0  # a caller changing its vector must not change the next caller's
    again = engine.encode_query("warm wool sweater")
    assert enc.calls == [["warm wool sweater"]]  # encoded once
    np.testing.assert_array_equal(again, _CountingEncoders().encode_texts(["warm wool sweater"])[0])
    engine.encode_query("red scarf")
    assert enc.calls[-1] == ["red scarf"]  # another text is encoded
    with pytest.raises(ConfigError, match="non-empty"):
        engine.encode_query("  ")


def test_one_thread_also_limits_libraries_loaded_after_its_first_use() -> None:
    import subprocess
    import sys

    # a server may answer a request before torch is imported (a lazily loaded encoder)
    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from shelfwise.threads import one_thread\n"
        "with one_thread():\n"
        "    pass\n"
        "import torch\n"
        "def request():\n"
        "    with one_thread():\n"
        "        return torch.get_num_threads()\n"
        "with ThreadPoolExecutor(1) as pool:\n"
        "    print(pool.submit(request).result())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "1", out.stderr
