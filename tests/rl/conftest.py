"""Fixtures of the env-agnostic trainer tests: the known-optimum cascade environment."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SLATE_ENV = Path(__file__).with_name("slate_env.py")


def load_slate_env() -> ModuleType:
    """Import ``tests/rl/slate_env.py`` by path (tests are not a package)."""
    name = "shelfwise_tests_slate_env"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SLATE_ENV)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def slate_env_module() -> ModuleType:
    return load_slate_env()


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)
