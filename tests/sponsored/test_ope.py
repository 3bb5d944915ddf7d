"""Off-policy evaluation covers sponsored slots: IPS over a logged run with ads."""

from __future__ import annotations

import numpy as np

from shelfwise.evaluate.estimators import OPEInput, ips, on_policy_estimate
from shelfwise.sponsored import SponsoredLayout

N_CAND, K, ROUNDS = 8, 3, 3000


def test_ips_over_a_logged_run_with_sponsored_slots_covers_the_truth():
    """Position-based clicks (item appeal x slot attention): IPS is unbiased there."""
    rng = np.random.default_rng(0)
    sponsored = np.zeros(N_CAND, bool)
    sponsored[[1, 4, 6]] = True
    bids = np.where(sponsored, [0, 0.9, 0, 0, 0.2, 0, 0.5, 0], 0.0)
    appeal = rng.uniform(0.05, 0.6, N_CAND)
    attention = np.array([1.0, 0.7, 0.5])
    logging = SponsoredLayout((1,), bid_weight=1.0)  # ads by bid, organic uniformly
    target = SponsoredLayout((1,), bid_weight=0.0)  # ads and organic by appeal
    log_logits = np.zeros(N_CAND)
    new_logits = 3.0 * appeal
    pb_dist = logging.action_dist(log_logits, sponsored, K, bids=bids)
    pe_dist = target.action_dist(new_logits, sponsored, K, bids=bids)

    rewards = np.zeros((ROUNDS, K))
    pb = np.zeros((ROUNDS, K))
    pe = np.zeros((ROUNDS, K))
    for i in range(ROUNDS):
        laid = logging.select(log_logits, sponsored, K, rng, bids=bids)
        items = laid.slate.item_ids
        assert laid.ads.tolist() == [False, True, False]
        rewards[i] = rng.random(K) < appeal[items] * attention
        pb[i] = pb_dist[items, np.arange(K)]
        pe[i] = pe_dist[items, np.arange(K)]
    truth = float((pe_dist * appeal[:, None] * attention[None, :]).sum())
    est = ips(OPEInput(rewards=rewards, behaviour_propensities=pb, eval_probs=pe),
              n_bootstrap=300, seed=0)
    assert est.n == ROUNDS
    assert est.covers(truth), (est, truth)
    # the logging policy evaluated on its own log is its observed value
    own = ips(OPEInput(rewards=rewards, behaviour_propensities=pb, eval_probs=pb),
              n_bootstrap=50, seed=0)
    assert own.value == on_policy_estimate(rewards, n_bootstrap=50, seed=0).value
    assert abs(own.value - truth) > 0.05  # the new policy's value differs: IPS had work to do
