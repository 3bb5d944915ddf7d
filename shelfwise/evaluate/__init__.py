"""Off-policy evaluation: estimate a slate policy's value from logs before it ships.

- :mod:`~shelfwise.evaluate.estimators`: IPS, SNIPS, DM, DR for position-based slates, with
  bootstrap confidence intervals (:class:`Estimate`);
- :mod:`~shelfwise.evaluate.reward_model`: cross-fitted reward models for DM and DR;
- :mod:`~shelfwise.evaluate.slates`: position-wise action distributions (Plackett-Luce, any
  ``SlatePolicy``);
- :mod:`~shelfwise.evaluate.synthetic`: a slate bandit whose policy values are known;
- :mod:`~shelfwise.evaluate.obd`: the Open Bandit Dataset sample (BTS vs random, a trained policy);
- :mod:`~shelfwise.evaluate.replay`: a candidate policy on the workspace's event log.

Offline ranking evaluation (``shelfwise evaluate --offline``; imported from their modules):

- :mod:`~shelfwise.evaluate.offline`: models and baselines on one split, :class:`OfflineReport`;
- :mod:`~shelfwise.evaluate.splits`: leave-last-out and global time splits;
- :mod:`~shelfwise.evaluate.offline_metrics`: HR/NDCG/MRR/coverage/popularity, bootstrap;
- :mod:`~shelfwise.evaluate.offline_report`: rich table, Markdown, PNG plot;
- :mod:`~shelfwise.evaluate.popular`: the most-popular baseline;
- :mod:`~shelfwise.evaluate.log_interactions`: the event log as behaviour-model interactions;
- :mod:`~shelfwise.evaluate.movielens`: MovieLens-100k from the recbole 1.2.1 wheel.
"""

from shelfwise.evaluate.estimators import (
    ESTIMATORS,
    Estimate,
    OPEInput,
    bootstrap_ci,
    direct_method,
    doubly_robust,
    estimate,
    ips,
    on_policy_estimate,
    parse_estimators,
    snips,
)
from shelfwise.evaluate.reward_model import RewardModel, cross_fit_q_hat
from shelfwise.evaluate.slates import plackett_luce_marginals, policy_marginals, softmax
from shelfwise.evaluate.synthetic import SyntheticLog, SyntheticSlateBandit

__all__ = [
    "ESTIMATORS",
    "Estimate",
    "OPEInput",
    "RewardModel",
    "SyntheticLog",
    "SyntheticSlateBandit",
    "bootstrap_ci",
    "cross_fit_q_hat",
    "direct_method",
    "doubly_robust",
    "estimate",
    "ips",
    "on_policy_estimate",
    "parse_estimators",
    "plackett_luce_marginals",
    "policy_marginals",
    "snips",
    "softmax",
]
