"""Baselines against independent references: EASE's optimality conditions, implicit's models."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from encoders.behaviour import make_behaviour_model

sys.path.insert(0, str(Path(__file__).parent))
from _behaviour_data import co_purchase_log  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return co_purchase_log(seed=4, n_users=80)


def test_ease_solves_its_constrained_ridge_problem(data):
    # B = argmin ||X - XB||^2 + l2 ||B||^2 subject to diag(B) = 0: the gradient
    # (G + l2 I) B - G vanishes off the diagonal (the diagonal carries the multipliers)
    l2 = 7.0
    model = make_behaviour_model("ease", l2=l2)
    model.fit(data)
    X = data.csr(binary=True).toarray().astype(np.float64)
    G = X.T @ X
    B = model.B.astype(np.float64)
    grad = (G + l2 * np.eye(G.shape[0])) @ B - G
    off = ~np.eye(G.shape[0], dtype=bool)
    assert np.abs(np.diag(B)).max() == 0.0
    assert np.abs(grad[off]).max() < 1e-3 * np.abs(G).max()
    h = [np.array([0, 3])]
    np.testing.assert_allclose(model.score(h)[0], B[0] + B[3], rtol=1e-5)  # x B, x = e0 + e3


def test_itemknn_matches_implicits_cosine_recommender(data):
    from implicit.nearest_neighbours import CosineRecommender

    X = data.csr(binary=True)
    for k in (5, 100):
        ours = make_behaviour_model("itemknn", k=k)
        ours.fit(data)
        ref = CosineRecommender(K=k + 1)  # implicit keeps each item itself among its K
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # implicit converts its own coo to csr, and says so
            ref.fit(X, show_progress=False)
        S = ref.similarity.toarray()
        np.fill_diagonal(S, 0.0)
        M = ours.S.toarray()
        # rows agree up to which of equally similar items fill the last neighbour slots
        np.testing.assert_allclose(np.sort(M, axis=1), np.sort(S, axis=1), atol=1e-6)
        if k >= data.n_items:
            np.testing.assert_allclose(M, S, atol=1e-6)


def test_als_user_vectors_match_implicits_own_solve(data):
    from threadpoolctl import threadpool_limits

    model = make_behaviour_model("als", factors=8, iterations=20, regularization=0.1)
    model.fit(data)
    seqs = data.sequences()[:10]
    ours = model.user_vectors(seqs)
    X = data.csr(binary=True)[:10]
    with threadpool_limits(1, "blas"):
        ref = model._als.recalculate_user(np.arange(10), X)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    # and the exact solve is close to the factors that training left (CG solver)
    trained = model._als.user_factors[:10]
    cos = (ours * trained).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(trained, axis=1)
    assert cos.min() > 0.95
