"""Gymnasium registration of the shopper simulator as ``shelfwise/Shopper-v0``.

``import shelfwise`` registers the id (cheaply: see :func:`register_envs`); then::

    env = gymnasium.make("shelfwise/Shopper-v0")                      # built-in catalog
    env = gymnasium.make("shelfwise/Shopper-v0", workspace="~/shop")  # a workspace's demo store
    envs = gymnasium.make_vec("shelfwise/Shopper-v0", num_envs=256,
                              vectorization_mode="vector_entry_point")  # lock-step batch

Keyword arguments: ``workspace`` (path or Workspace), ``config`` (a ``SimConfig`` or dict of its
fields), ``catalog_seed``; without a workspace also ``latent`` / ``product_vectors``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ENV_ID", "make_shopper_env", "make_shopper_vector_env", "register_envs"]

ENV_ID = "shelfwise/Shopper-v0"
"""The Gymnasium id of the shopper simulator."""


def _config(config: Any) -> Any:
    from shelfwise.sim.config import SimConfig

    return SimConfig(**config) if isinstance(config, dict) else config


def make_shopper_env(workspace: Any = None, config: Any = None, **kwargs: Any) -> Any:
    """Gymnasium entry point: a :class:`~shelfwise.sim.ShopperSimEnv`.

    Args:
        workspace: a workspace (path or Workspace) with a demo store and index; ``None``: the
            built-in catalog (or ``latent`` / ``product_vectors`` in ``kwargs``).
        config: simulator settings.
        **kwargs: other :class:`~shelfwise.sim.ShopperSimEnv` arguments.

    """
    from shelfwise.sim.env import ShopperSimEnv

    if workspace is not None:
        from shelfwise.sim.workspace import env_from_workspace

        return env_from_workspace(workspace, _config(config))
    return ShopperSimEnv(config=_config(config), **kwargs)


def make_shopper_vector_env(num_envs: int = 64, workspace: Any = None, config: Any = None,
                            **kwargs: Any) -> Any:
    """Gymnasium vector entry point: a lock-step :class:`~shelfwise.sim.ShopperVectorEnv`."""
    from shelfwise.sim.env import ShopperVectorEnv

    if workspace is not None:
        from shelfwise.sim.workspace import sim_from_workspace

        return ShopperVectorEnv(sim_from_workspace(workspace, _config(config), use_index=False),
                                num_envs)
    return ShopperVectorEnv(None, num_envs, config=_config(config), **kwargs)


def register_envs() -> None:
    """Register :data:`ENV_ID` with Gymnasium (string entry points: nothing heavy imported).

    Idempotent. Needs ``gymnasium`` to be importable (a dependency of shelfwise).
    """
    import gymnasium

    if ENV_ID in gymnasium.registry:
        return
    gymnasium.register(
        id=ENV_ID,
        entry_point="shelfwise.sim.registration:make_shopper_env",
        vector_entry_point="shelfwise.sim.registration:make_shopper_vector_env",
        disable_env_checker=False,
    )
