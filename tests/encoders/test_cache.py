from __future__ import annotations

import numpy as np
import pytest

from encoders.cache import EmbeddingCache, content_hash
from encoders.errors import ConfigError, EncoderError


def test_content_hash_is_stable_and_framed():
    assert content_hash("a", "b") == content_hash("a", b"b")
    assert content_hash("ab", "c") != content_hash("a", "bc")
    assert len(content_hash("x")) == 64
    with pytest.raises(ConfigError, match=r"parts\[1\] must be str or bytes"):
        content_hash("a", 3)  # type: ignore[arg-type]


class Recorder:
    def __init__(self, table: np.ndarray, keys: list[str]):
        self.table, self.keys, self.calls = table, keys, []

    def __call__(self, positions: list[int]) -> np.ndarray:
        self.calls.append([self.keys[i] for i in positions])
        return self.table[[int(k[1:]) for k in self.calls[-1]]]


def test_only_missing_rows_are_computed(tmp_path):
    table = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    cache = EmbeddingCache(tmp_path, "text:model-a")
    keys = ["k0", "k1", "k2"]
    rec = Recorder(table, keys)
    np.testing.assert_array_equal(cache.get_or_compute(keys, rec), table[:3])
    assert rec.calls == [["k0", "k1", "k2"]]
    assert (cache.hits, cache.misses) == (0, 3)

    again = Recorder(table, keys)
    np.testing.assert_array_equal(cache.get_or_compute(keys, again), table[:3])
    assert again.calls == []
    assert (cache.hits, cache.misses) == (3, 3)

    mixed = ["k3", "k1", "k3", "k4"]
    rec2 = Recorder(table, mixed)
    np.testing.assert_array_equal(cache.get_or_compute(mixed, rec2), table[[3, 1, 3, 4]])
    assert rec2.calls == [["k3", "k4"]]
    cache.close()

    # persisted on disk; another namespace (another model) misses
    with EmbeddingCache(tmp_path, "text:model-a") as reopened:
        assert len(reopened) == 5
        assert reopened.get_or_compute(["k4"], Recorder(table, ["k4"])).shape == (1, 4)
        assert reopened.misses == 0
    with EmbeddingCache(tmp_path, "text:model-b") as other:
        rec3 = Recorder(table, ["k4"])
        other.get_or_compute(["k4"], rec3)
        assert rec3.calls == [["k4"]]


def test_empty_keys(tmp_path):
    cache = EmbeddingCache(tmp_path, "ns", dim=4)
    out = cache.get_or_compute([], lambda idx: pytest.fail("compute must not be called"))
    assert out.shape == (0, 4)


@pytest.mark.parametrize(
    ("compute", "match"),
    [
        (lambda idx: np.zeros((len(idx) + 1, 4)), r"compute returned shape \(3, 4\)"),
        (lambda idx: np.full((len(idx), 4), np.nan), "NaN"),
    ],
)
def test_bad_compute_results(tmp_path, compute, match):
    cache = EmbeddingCache(tmp_path, "ns")
    with pytest.raises(EncoderError, match=match):
        cache.get_or_compute(["a", "b"], compute)
    assert len(cache) == 0


def test_width_change_in_namespace_is_refused(tmp_path):
    cache = EmbeddingCache(tmp_path, "ns")
    cache.get_or_compute(["a"], lambda idx: np.ones((1, 4)))
    with pytest.raises(EncoderError, match="width 8 but namespace 'ns' holds width 4"):
        cache.get_or_compute(["b"], lambda idx: np.ones((1, 8)))


@pytest.mark.parametrize(
    ("namespace", "keys", "match"),
    [
        ("", ["a"], "namespace must be a non-empty string"),
        ("ns", "abc", "keys must be a list of strings"),
        ("ns", ["a", 1], r"keys\[1\] must be a str"),
    ],
)
def test_bad_cache_arguments(tmp_path, namespace, keys, match):
    with pytest.raises(ConfigError, match=match):
        EmbeddingCache(tmp_path, namespace).get_or_compute(keys, lambda idx: np.ones((1, 2)))
