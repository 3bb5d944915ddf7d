"""Shopper simulator: a Gymnasium slate environment and a vectorised batch simulator.

Built from the demo store's latent table and product vectors; see
:mod:`shelfwise.sim.vector_env` for the shopper model.
"""

from shelfwise.sim.config import SimConfig
from shelfwise.sim.env import ShopperSimEnv, ShopperVectorEnv, SlateSpace
from shelfwise.sim.shoppers import LATENT_COLUMNS, TASTE_GROUPS, SimCatalog
from shelfwise.sim.vector_env import (
    CandidateFn,
    PolicyFn,
    SessionStats,
    SimBatch,
    StepResult,
    oracle_policy,
    random_policy,
    run_sessions,
)

__all__ = [
    "LATENT_COLUMNS",
    "TASTE_GROUPS",
    "CandidateFn",
    "PolicyFn",
    "SessionStats",
    "ShopperSimEnv",
    "ShopperVectorEnv",
    "SimBatch",
    "SimCatalog",
    "SimConfig",
    "SlateSpace",
    "StepResult",
    "oracle_policy",
    "random_policy",
    "run_sessions",
]
