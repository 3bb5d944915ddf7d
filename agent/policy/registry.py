"""The string-keyed registry of slate policies."""

from __future__ import annotations

from typing import Any

from agent.policy.actor_critic import ActorCriticPolicy
from agent.policy.bandits import GreedyPolicy, LinTSPolicy, LinUCBPolicy, RandomPolicy
from agent.policy.base import SlatePolicy
from agent.policy.reinforce import ReinforcePolicy
from agent.policy.slateq import SlateQPolicy
from encoders.errors import PolicyError

__all__ = ["POLICIES", "make_policy", "policy_class"]

POLICIES: dict[str, type[SlatePolicy]] = {
    cls.name: cls
    for cls in (RandomPolicy, GreedyPolicy, LinUCBPolicy, LinTSPolicy, SlateQPolicy,
                ReinforcePolicy, ActorCriticPolicy)
}
"""Policy classes by name."""


def policy_class(name: str) -> type[SlatePolicy]:
    """Return the class registered as ``name``.

    Raises:
        PolicyError: unknown name (the message lists the valid ones).

    """
    cls = POLICIES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise PolicyError(f"unknown policy {name!r}; choose one of: "
                          f"{', '.join(sorted(POLICIES))}")
    return cls


def make_policy(name: str, *, dim: int | None = None, seed: int = 0,
                **kwargs: Any) -> SlatePolicy:
    """Build a fresh policy by name.

    Args:
        name: one of ``actor_critic, greedy, lints, linucb, random, reinforce, slateq``.
        dim: user-state and candidate dimension when known (else taken from the first call).
        seed: seed of parameter initialisation.
        **kwargs: the policy's hyperparameters (see its ``*Config`` dataclass).

    Raises:
        PolicyError: unknown name.
        ConfigError: unknown or invalid hyperparameter (named in the message).

    """
    return policy_class(name)(dim=dim, seed=seed, **kwargs)
