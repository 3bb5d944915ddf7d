"""Small torch helpers shared by the neural policies (seeded MLPs, numpy <-> state_dict)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.policy.base import PolicyConfig, _positive, _positive_int
from encoders.errors import PolicyError

MAX_HIDDEN = 4096
"""Largest ``hidden`` width of a policy MLP (checkpoints declaring more are refused)."""
MAX_GRAD_STEPS = 10_000
"""Largest ``grad_steps`` per ``update`` call."""


@dataclass
class NeuralPolicyConfig(PolicyConfig):
    """Hyperparameters that every MLP-scored policy shares."""

    hidden: int = 64
    """Hidden units of the scoring MLP."""
    lr: float = 1e-3
    """Adam learning rate."""
    grad_steps: int = 1
    """Gradient steps per ``update`` call (on the same batch)."""

    def validate(self) -> None:  # noqa: D102
        _positive_int(self, "hidden", hi=MAX_HIDDEN)
        _positive_int(self, "grad_steps", hi=MAX_GRAD_STEPS)
        _positive(self, "lr")


def torch_module() -> Any:
    """Import torch, with the install command in the error."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        raise PolicyError("this policy needs torch: pip install torch==2.13.0 "
                          "(CPU build)") from exc
    return torch


def make_mlp(in_dim: int, hidden: int, seed: int) -> Any:
    """``Linear(in, hidden) -> ReLU -> Linear(hidden, 1)``, initialised from ``seed``.

    The global torch RNG is forked, so building a policy never changes other code's draws.
    """
    torch = torch_module()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(in_dim, hidden), torch.nn.ReLU(),
                                  torch.nn.Linear(hidden, 1))
    return net.double()


def state_to_numpy(module: Any, prefix: str) -> dict[str, np.ndarray]:
    """``{prefix + key: array}`` of a module's ``state_dict``."""
    return {f"{prefix}{k}": v.detach().cpu().numpy().copy()
            for k, v in module.state_dict().items()}


def load_numpy_state(module: Any, params: dict[str, np.ndarray], prefix: str) -> None:
    """Load arrays written by :func:`state_to_numpy` into ``module``.

    Raises:
        PolicyError: a key is missing or a shape differs.

    """
    torch = torch_module()
    own = module.state_dict()
    new = {}
    for key, ref in own.items():
        full = f"{prefix}{key}"
        if full not in params:
            raise PolicyError(f"checkpoint lacks parameter {full!r}")
        arr = np.asarray(params[full])
        if tuple(arr.shape) != tuple(ref.shape):
            raise PolicyError(f"checkpoint parameter {full!r} has shape {arr.shape}, "
                              f"expected {tuple(ref.shape)}")
        new[key] = torch.from_numpy(arr.astype(np.float64))
    module.load_state_dict(new)


def mlp_param_shapes(prefix: str, in_dim: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """Shapes of :func:`make_mlp`'s ``state_dict`` under ``prefix`` (nothing is allocated)."""
    return {f"{prefix}0.weight": (hidden, in_dim), f"{prefix}0.bias": (hidden,),
            f"{prefix}2.weight": (1, hidden), f"{prefix}2.bias": (1,)}


def snapshot_modules(*objs: Any) -> list[Any]:
    """Deep copies of the ``state_dict`` of each module or optimizer in ``objs``."""
    import copy

    return [copy.deepcopy(obj.state_dict()) for obj in objs]


def restore_modules(objs: tuple[Any, ...], states: list[Any]) -> None:
    """Load what :func:`snapshot_modules` returned back into ``objs``."""
    for obj, state in zip(objs, states, strict=True):
        obj.load_state_dict(state)


def check_step(policy_name: str, loss: Any, module: Any) -> None:
    """Refuse a gradient step whose loss or gradients are NaN or infinite.

    Raises:
        PolicyError: names the policy and what overflowed (the caller restores its state).

    """
    torch = torch_module()
    if not bool(torch.isfinite(loss).all()):
        raise PolicyError(f"{policy_name}: update refused: the loss is NaN or infinite "
                          "(rewards too large?); the policy is unchanged")
    for name, param in module.named_parameters():
        if param.grad is not None and not bool(torch.isfinite(param.grad).all()):
            raise PolicyError(f"{policy_name}: update refused: the gradient of {name!r} is "
                              "NaN or infinite (rewards too large?); the policy is unchanged")


def nonfinite_optimizer_state(optimizer: Any) -> str | None:
    """``"optimizer state"`` when any tensor of ``optimizer``'s state is NaN or infinite."""
    torch = torch_module()
    for state in optimizer.state.values():
        for key, value in state.items():
            if torch.is_tensor(value) and value.is_floating_point() \
                    and not bool(torch.isfinite(value).all()):
                return f"optimizer state {key!r}"
    return None
