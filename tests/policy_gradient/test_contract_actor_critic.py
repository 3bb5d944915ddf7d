"""The shared SlatePolicy contract suite (tests/policy/test_contract.py) on actor_critic."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_policy_contract", Path(__file__).parents[1] / "policy" / "test_contract.py")
assert _spec is not None and _spec.loader is not None
_contract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_contract)


class TestActorCriticContract(_contract.PolicyContract):
    name = "actor_critic"
