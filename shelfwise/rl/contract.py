"""The slate-environment contract that :mod:`shelfwise.rl` trains on, checked up front.

Any Gymnasium environment (a single ``gymnasium.Env`` or a ``gymnasium.vector.VectorEnv``)
that follows this contract trains and evaluates every shelfwise slate policy:

- **observation**: a dict with ``"state"`` float ``(d_u,)`` (the user state) and
  ``"candidates"`` float ``(n, d_c)`` (one row per candidate item); other keys are ignored.
  The observation space is a ``spaces.Dict`` holding two ``spaces.Box`` of those shapes.
- **action**: int64 ``(k,)`` *distinct* positions into ``candidates``, display order (rank 0
  first); ``k = action_space.shape[0]`` and ``k <= n``.
- **reward**: float, the step's total reward (possibly a weighted sum of several objectives).
- **info after step**: ``"clicks"`` bool ``(k,)`` (clicked or not, per shown slot) and
  ``"item_rewards"`` float ``(k,)`` (the reward attributed to each shown slot; summing to
  the step reward is recommended). When ``"item_rewards"`` is missing the trainer spreads
  the step reward equally over the clicked slots (over all ``k`` slots when nothing was
  clicked); when ``"clicks"`` is missing it refuses the step (:class:`EnvContractError`).
- **vector envs**: the same per sub-environment, batched with Gymnasium's conventions
  (observation arrays with a leading ``num_envs`` axis; info arrays ``(num_envs, k)`` with a
  ``"_clicks"`` mask). Every autoreset mode is supported: ``NextStep`` (Gymnasium's
  default), ``SameStep`` (``final_obs`` / ``final_info``) and ``Disabled`` (the trainer resets
  finished sub-environments with ``reset_mask``; an env whose ``metadata["lockstep"]`` is true
  -- the shopper simulator's batch -- is reset as a whole once every session has finished).

``terminated`` means the episode ended (the shopper left); ``truncated`` a time or step
limit (value learners may bootstrap from the final observation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shelfwise.errors import ConfigError

__all__ = [
    "AUTORESET_MODES",
    "EnvContractError",
    "SlateEnvSpec",
    "check_slate_env",
    "item_feedback",
    "read_observation",
]

AUTORESET_MODES: tuple[str, ...] = ("single", "next_step", "same_step", "disabled")
"""How episodes restart: a single env (the trainer calls ``reset``) or a vector env's mode."""


class EnvContractError(ConfigError):
    """An environment does not follow the slate contract; the message says what is missing."""


@dataclass(frozen=True)
class SlateEnvSpec:
    """What :func:`check_slate_env` learned about an environment.

    Attributes:
        num_envs: sub-environments stepped together (1 for a single env).
        vector: whether it is a ``gymnasium.vector.VectorEnv``.
        k: slate size.
        n_candidates: candidates per observation.
        state_dim: ``d_u``.
        cand_dim: ``d_c``.
        autoreset: one of :data:`AUTORESET_MODES`.
        lockstep: a ``Disabled``-mode vector env that can only reset all sub-envs together.

    """

    num_envs: int
    vector: bool
    k: int
    n_candidates: int
    state_dim: int
    cand_dim: int
    autoreset: str
    lockstep: bool = False


def _box_shape(space: Any, key: str, ndim: int, what: str) -> tuple[int, ...]:
    from gymnasium import spaces

    if not isinstance(space, spaces.Box):
        raise EnvContractError(f"observation space key {key!r} must be a gymnasium.spaces.Box "
                               f"({what}), got {type(space).__name__}")
    if len(space.shape) != ndim:
        raise EnvContractError(f"observation space key {key!r} must have shape {what}, got "
                               f"{space.shape}")
    if any(s < 1 for s in space.shape):
        raise EnvContractError(f"observation space key {key!r} must be non-empty, got shape "
                               f"{space.shape}")
    return tuple(int(s) for s in space.shape)


def check_slate_env(env: Any) -> SlateEnvSpec:
    """Check that ``env`` follows the slate contract (module docstring), from its spaces.

    Args:
        env: a ``gymnasium.Env`` or ``gymnasium.vector.VectorEnv``.

    Returns:
        Its sizes and reset mode.

    Raises:
        EnvContractError: the first thing that does not fit, named (e.g. "observation space
            has no 'candidates' key").

    """
    import gymnasium
    from gymnasium import spaces
    from gymnasium.vector import AutoresetMode, VectorEnv

    if isinstance(env, VectorEnv):
        vector = True
        obs_space, act_space = env.single_observation_space, env.single_action_space
        num_envs = int(env.num_envs)
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        try:
            mode = AutoresetMode(mode)
        except ValueError as exc:
            raise EnvContractError(f"vector env metadata['autoreset_mode'] {mode!r} is not a "
                                   "gymnasium AutoresetMode") from exc
        autoreset = {AutoresetMode.NEXT_STEP: "next_step", AutoresetMode.SAME_STEP: "same_step",
                     AutoresetMode.DISABLED: "disabled"}[mode]
        lockstep = bool(env.metadata.get("lockstep", False)) and autoreset == "disabled"
    elif isinstance(env, gymnasium.Env):
        vector, num_envs, autoreset, lockstep = False, 1, "single", False
        obs_space, act_space = env.observation_space, env.action_space
    else:
        raise EnvContractError(f"env must be a gymnasium.Env or gymnasium.vector.VectorEnv, "
                               f"got {type(env).__name__}")
    if not isinstance(obs_space, spaces.Dict):
        raise EnvContractError(f"observation space must be a gymnasium.spaces.Dict with 'state' "
                               f"and 'candidates' keys, got {type(obs_space).__name__}")
    for key in ("state", "candidates"):
        if key not in obs_space.spaces:
            have = ", ".join(repr(k) for k in obs_space.spaces) or "none"
            raise EnvContractError(f"observation space has no {key!r} key (it has: {have})")
    (d_u,) = _box_shape(obs_space["state"], "state", 1, "(d_u,)")
    n, d_c = _box_shape(obs_space["candidates"], "candidates", 2, "(n, d_c)")
    shape = getattr(act_space, "shape", None)
    if shape is None or len(shape) != 1:
        raise EnvContractError(f"action space must hold int (k,) candidate positions, got "
                               f"{act_space!r}")
    dtype = getattr(act_space, "dtype", None)
    if dtype is None or np.dtype(dtype).kind not in "iu":
        raise EnvContractError(f"action space must have an integer dtype (candidate positions), "
                               f"got {dtype}")
    k = int(shape[0])
    if not 1 <= k <= n:
        raise EnvContractError(f"action space: slate size k={k} must be between 1 and the "
                               f"number of candidates ({n})")
    return SlateEnvSpec(num_envs=num_envs, vector=vector, k=k, n_candidates=n, state_dim=d_u,
                        cand_dim=d_c, autoreset=autoreset, lockstep=lockstep)


def _floats(x: Any) -> np.ndarray:
    a = np.asarray(x)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)


def read_observation(obs: Any, spec: SlateEnvSpec) -> tuple[np.ndarray, np.ndarray]:
    """The ``state`` and ``candidates`` arrays of an observation, batch-first.

    Args:
        obs: a single env's observation dict, or a vector env's batched one.
        spec: from :func:`check_slate_env`.

    Returns:
        ``(states (E, d_u), candidates (E, n, d_c))`` with ``E = num_envs``, float32 when
        the env's arrays are float32, else float64.

    Raises:
        EnvContractError: a key is missing or an array has the wrong shape.

    """
    if not isinstance(obs, dict):
        raise EnvContractError(f"observation must be a dict with 'state' and 'candidates', got "
                               f"{type(obs).__name__}")
    for key in ("state", "candidates"):
        if key not in obs:
            raise EnvContractError(f"observation has no {key!r} key (it has: "
                                   f"{', '.join(repr(k) for k in obs) or 'none'})")
    e = spec.num_envs
    # float32 observations stay float32 (half the memory of a replay buffer of candidates)
    states = _floats(obs["state"]).reshape((e, -1) if spec.vector else (1, -1))
    cands = _floats(obs["candidates"])
    if not spec.vector:
        cands = cands[None]
    want_s, want_c = (e, spec.state_dim), (e, spec.n_candidates, spec.cand_dim)
    if states.shape != want_s:
        raise EnvContractError(f"observation 'state' has shape {states.shape[1:]}, the space "
                               f"says {want_s[1:]}")
    if cands.shape != want_c:
        raise EnvContractError(f"observation 'candidates' has shape {cands.shape[1:]}, the "
                               f"space says {want_c[1:]}")
    return states, cands


def item_feedback(info: dict[str, Any], reward: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-slot clicks and rewards of one step from its (single-env) ``info``.

    Args:
        info: the step's info dict.
        reward: the step's total reward.
        k: slate size.

    Returns:
        ``(clicks bool (k,), item_rewards float64 (k,))``; without ``"item_rewards"`` the
        reward is spread over the clicked slots (all slots when none was clicked).

    Raises:
        EnvContractError: ``"clicks"`` is missing, or an entry has the wrong length.

    """
    if "clicks" not in info:
        raise EnvContractError(f"step info has no 'clicks' key (bool (k,) per shown slot); it "
                               f"has: {', '.join(repr(x) for x in info) or 'none'}")
    clicks = np.asarray(info["clicks"]).astype(bool).reshape(-1)
    if clicks.shape != (k,):
        raise EnvContractError(f"step info 'clicks' must have shape ({k},), got {clicks.shape}")
    if "item_rewards" in info:
        rewards = np.asarray(info["item_rewards"], dtype=np.float64).reshape(-1)
        if rewards.shape != (k,):
            raise EnvContractError(f"step info 'item_rewards' must have shape ({k},), got "
                                   f"{rewards.shape}")
        if not np.all(np.isfinite(rewards)):
            raise EnvContractError("step info 'item_rewards' contains NaN or inf")
        return clicks, rewards
    where = clicks if clicks.any() else np.ones(k, dtype=bool)
    rewards = np.where(where, float(reward) / int(where.sum()), 0.0)
    return clicks, rewards
