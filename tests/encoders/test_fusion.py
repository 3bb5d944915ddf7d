from __future__ import annotations

import numpy as np
import pytest

from encoders.errors import ConfigError
from encoders.fusion import UserStateBuilder, fuse

E = np.eye(3, dtype=np.float32)


def test_fuse_known_answer():
    out = fuse(E[:2], E[[1, 2]], 0.5)
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(out, [[s, s, 0], [0, s, s]], atol=1e-6)
    assert out.dtype == np.float32


def test_fuse_extremes_and_no_images():
    t = np.array([[3.0, 4.0, 0.0]])
    np.testing.assert_allclose(fuse(t, None, 0.7), [[0.6, 0.8, 0.0]], atol=1e-6)
    np.testing.assert_allclose(fuse(t, E[[2]], 0.0), [[0.6, 0.8, 0.0]], atol=1e-6)
    np.testing.assert_allclose(fuse(t, E[[2]], 1.0), E[[2]], atol=1e-6)
    # weighted: 0.75 * e0 + 0.25 * e1 normalised
    np.testing.assert_allclose(fuse(E[[0]], E[[1]], 0.25), [[0.9486833, 0.3162278, 0]], atol=1e-6)


@pytest.mark.parametrize(
    ("text", "image", "weight", "match"),
    [
        (E, E[:2], 0.5, r"image_vecs has shape \(2, 3\) but text_vecs has shape \(3, 3\)"),
        (E, E, 1.5, r"image_weight must be in \[0, 1\]"),
        (E, E, -0.1, r"image_weight must be in \[0, 1\]"),
        (E, E, "half", "image_weight must be a number"),
        (E[0], None, 0.5, r"text_vecs must have shape \(n, d\)"),
        (E * np.nan, None, 0.5, "text_vecs contains NaN"),
    ],
)
def test_fuse_bad_inputs(text, image, weight, match):
    with pytest.raises(ConfigError, match=match):
        fuse(text, image, weight)


def test_user_state_recency_weights():
    b = UserStateBuilder(half_life=1.0, query_weight=0.5)
    np.testing.assert_allclose(b.recency_weights(3), [0.25, 0.5, 1.0])
    # oldest e0 (weight .5), newest e1 (weight 1) -> (0.5, 1) normalised
    state = b.build(E[:2])
    np.testing.assert_allclose(state, np.array([0.5, 1.0, 0.0]) / np.sqrt(1.25), atol=1e-6)


def test_user_state_blends_query():
    b = UserStateBuilder(half_life=5.0, query_weight=0.5)
    state = b.build(E[[0]], E[1])
    np.testing.assert_allclose(state, [1 / np.sqrt(2), 1 / np.sqrt(2), 0], atol=1e-6)
    only_query = b.build(np.zeros((0, 3)), 2 * E[2])
    np.testing.assert_allclose(only_query, E[2])
    np.testing.assert_allclose(b.build(None, E[2]), E[2])
    query_weight_zero = UserStateBuilder(query_weight=0.0).build(E[[0]], E[1])
    np.testing.assert_allclose(query_weight_zero, E[0])


def test_user_state_empty_is_zeros():
    state = UserStateBuilder().build(np.zeros((0, 4), dtype=np.float32), None)
    np.testing.assert_array_equal(state, np.zeros(4, dtype=np.float32))
    assert state.dtype == np.float32


def test_build_many():
    b = UserStateBuilder(half_life=1.0)
    states = b.build_many([E[:2], np.zeros((0, 3))], [None, E[2]])
    assert states.shape == (2, 3)
    np.testing.assert_allclose(states[1], E[2])
    np.testing.assert_allclose(states[0], b.build(E[:2]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"half_life": 0}, "half_life must be a positive number"),
        ({"half_life": float("inf")}, "half_life must be a positive number"),
        ({"query_weight": 2}, r"query_weight must be in \[0, 1\]"),
    ],
)
def test_user_state_builder_bad_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        UserStateBuilder(**kwargs)


@pytest.mark.parametrize(
    ("history", "query", "match"),
    [
        (E, np.ones(4), "query has width 4 but history has width 3"),
        (E, E, r"query must have shape \(d,\)"),
        (E[0], None, r"history must have shape \(n, d\)"),
        (None, None, "history is empty and query is None"),
    ],
)
def test_user_state_bad_inputs(history, query, match):
    with pytest.raises(ConfigError, match=match):
        UserStateBuilder().build(history, query)
