"""The impression log's propensities are position-wise marginals (what IPS divides by)."""

import numpy as np
import pytest

from shelfwise.candidates import slot_marginals


def _frequencies(logits: np.ndarray, order: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = logits[None, :] + rng.gumbel(size=(n, logits.shape[0]))
    ranked = np.argsort(-g, axis=1)[:, : order.shape[0]]
    return (ranked == order[None, :]).mean(axis=0)


def test_marginals_match_sampled_frequencies_not_conditional_draws():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    order = np.array([1, 0, 3])
    at_slot, included = slot_marginals(logits, order, np.random.default_rng(0), n_samples=20_000)
    truth = _frequencies(logits, order, 200_000, seed=1)
    assert at_slot[0] == pytest.approx(0.3)  # first slot exact: the softmax
    np.testing.assert_allclose(at_slot, truth, atol=0.01)
    # by hand: P(0 second) = sum_b P(b first) P(0 | b gone) = .3*.5/.7 + .15*.5/.85 + .05*.5/.95
    assert at_slot[1] == pytest.approx(0.3 * 0.5 / 0.7 + 0.15 * 0.5 / 0.85 + 0.05 * 0.5 / 0.95,
                                       abs=0.01)
    # the conditional draw probability of item 0 at slot 1 given item 1 first is 0.5 / 0.7
    assert abs(at_slot[1] - 0.5 / 0.7) > 0.2
    assert np.all(included >= at_slot) and np.all(at_slot >= 1 / 20_000)


def test_mixture_components_are_averaged():
    a = np.log(np.array([0.9, 0.05, 0.05]))
    b = np.log(np.array([0.05, 0.9, 0.05]))
    at_slot, _ = slot_marginals(np.stack([a, b]), np.array([0, 1]), np.random.default_rng(0))
    assert at_slot[0] == pytest.approx(0.475)
