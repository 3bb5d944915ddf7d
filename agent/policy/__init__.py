"""Reinforcement-learning slate policies on plain numpy features.

``make_policy(name, dim=None, seed=0, **hyperparameters)`` builds one of ``random``,
``greedy``, ``linucb``, ``lints``, ``slateq``, ``reinforce``, ``actor_critic``;
``load_policy(path)`` reads a checkpoint written by ``policy.save(path)``. See
:mod:`agent.policy.base` for the array contract and the interaction features.
"""

from agent.policy.actor_critic import ActorCriticPolicy
from agent.policy.bandits import GreedyPolicy, LinTSPolicy, LinUCBPolicy, RandomPolicy
from agent.policy.base import (
    Feedback,
    Slate,
    SlatePolicy,
    interaction_features,
    plackett_luce_marginals,
)
from agent.policy.checkpoint import FORMAT_VERSION, load_policy, save_policy
from agent.policy.registry import POLICIES, make_policy, policy_class
from agent.policy.reinforce import ReinforcePolicy
from agent.policy.slateq import SlateQPolicy

__all__ = [
    "FORMAT_VERSION",
    "ActorCriticPolicy",
    "POLICIES",
    "Feedback",
    "GreedyPolicy",
    "LinTSPolicy",
    "LinUCBPolicy",
    "RandomPolicy",
    "ReinforcePolicy",
    "Slate",
    "SlatePolicy",
    "SlateQPolicy",
    "interaction_features",
    "load_policy",
    "make_policy",
    "plackett_luce_marginals",
    "policy_class",
    "save_policy",
]
