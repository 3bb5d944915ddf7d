"""Policy-gradient tuning runs in the shopper simulator (REINFORCE, actor-critic vs greedy).

Trains one policy through the public trainer (``shelfwise.train.train_in_sim``, i.e.
``shelfwise.rl.train_in_env`` on the shopper vector env) and evaluates it, greedy and random on
the same held-out sessions (``EVAL_SEED``), printing mean returns with 95% intervals and the
paired difference to greedy. A development tool for choosing hyperparameters (the full
policy report is ``benchmarks/policies.py``)::

    .venv/bin/python benchmarks/policy_gradient_sim.py -w WS actor_critic 2000 \\
        '{"prior": 20, "lr": 3e-3, "critic_lr": 3e-3, "gae_lambda": 0.9}' --epochs 2

Set ``OPENBLAS_NUM_THREADS=1`` on a shared machine (BLAS threads spin against each other).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def paired(a: np.ndarray, b: np.ndarray) -> str:
    """Mean of ``a - b`` (same sessions) with a normal 95% interval."""
    d = a - b
    half = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
    return f"{d.mean():+.3f} [{d.mean() - half:+.3f}, {d.mean() + half:+.3f}]"


def main() -> None:
    """Command-line entry point."""
    import torch

    from agent.policy import make_policy
    from shelfwise.engine import Engine
    from shelfwise.sim.workspace import sim_from_workspace
    from shelfwise.train import EVAL_SEED, evaluate_in_sim, train_in_sim

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-w", "--workspace", type=Path, required=True)
    ap.add_argument("policy")
    ap.add_argument("sessions", type=int)
    ap.add_argument("options", nargs="?", default="{}", help="policy hyperparameters (JSON)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--eval-sessions", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    engine = Engine.open(args.workspace)
    sim = sim_from_workspace(engine, use_index=False)
    policy = make_policy(args.policy, dim=sim.catalog.dim, seed=args.seed,
                         **json.loads(args.options))
    t0 = time.perf_counter()
    stats = train_in_sim(policy, sim, args.sessions, seed=args.seed, epochs=args.epochs)
    seconds = time.perf_counter() - t0
    results = {name: evaluate_in_sim(p, sim, args.eval_sessions, EVAL_SEED)
               for name, p in (("random", make_policy("random")),
                               ("greedy", make_policy("greedy")), (args.policy, policy))}
    engine.close()
    print(f"{args.policy} {args.options} epochs={args.epochs}: {args.sessions} sessions, "
          f"{stats.updates} updates, {seconds:.0f} s")
    greedy = results["greedy"].per_episode["returns"]
    for name, res in results.items():
        diff = paired(res.per_episode["returns"], greedy) if name != "greedy" else ""
        print(f"  {name:>14}: return {res.mean_return}  vs greedy {diff}")


if __name__ == "__main__":
    main()
