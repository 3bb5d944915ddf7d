"""Off-policy evaluation: estimate a slate policy's value from logs before it ships.

- :mod:`~shelfwise.evaluate.estimators`: IPS, SNIPS, DM, DR for position-based slates, with
  bootstrap confidence intervals (:class:`Estimate`);
- :mod:`~shelfwise.evaluate.reward_model`: cross-fitted reward models for DM and DR;
- :mod:`~shelfwise.evaluate.slates`: position-wise action distributions (Plackett-Luce, any
  ``SlatePolicy``);
- :mod:`~shelfwise.evaluate.synthetic`: a slate bandit whose policy values are known;
- :mod:`~shelfwise.evaluate.obd`: the Open Bandit Dataset sample (BTS vs random, a trained policy);
- :mod:`~shelfwise.evaluate.replay`: a candidate policy on the workspace's event log.
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
