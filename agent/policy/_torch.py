"""Small torch helpers shared by the neural policies (seeded MLPs, numpy <-> state_dict)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.policy.base import PolicyConfig, _positive, _positive_int
from encoders.errors import PolicyError


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
        _positive_int(self, "hidden", "grad_steps")
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
