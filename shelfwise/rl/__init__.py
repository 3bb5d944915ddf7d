"""The RL engine as a library: train shelfwise's slate policies in any Gymnasium slate env.

- :mod:`shelfwise.rl.contract`: the environment contract and :func:`check_slate_env`.
- :func:`train_in_env` / :func:`evaluate_in_env`: single or vector envs, every autoreset mode,
  progress bars, seeds, checkpoints, learning curves.
- :func:`train_on_records`: logged records (the event log), grouped by the policy's
  ``learning.mode``.
- :func:`plot_curves`: learning curves to PNG.
"""

from shelfwise.rl.contract import (
    EnvContractError,
    SlateEnvSpec,
    check_slate_env,
)
from shelfwise.rl.curves import LearningCurve, plot_curves
from shelfwise.rl.learners import train_on_records
from shelfwise.rl.trainer import (
    EVAL_SEED,
    EvalResult,
    Metric,
    TrainResult,
    evaluate_in_env,
    train_in_env,
)

__all__ = [
    "EVAL_SEED",
    "EnvContractError",
    "EvalResult",
    "LearningCurve",
    "Metric",
    "SlateEnvSpec",
    "TrainResult",
    "check_slate_env",
    "evaluate_in_env",
    "plot_curves",
    "train_in_env",
    "train_on_records",
]
