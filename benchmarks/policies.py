"""Policy benchmark: every slate policy in the demo-store shopper simulator, same held-out seeds.

Each policy is trained in the simulator on training streams (``shelfwise.train.train_in_sim``,
seeds derived from ``SeedSequence([seed, TRAIN_STREAM])``), then frozen and evaluated on the
same ``--eval-sessions`` sessions (seed ``shelfwise.train.EVAL_SEED``, never used in training;
common random numbers across policies). Two oracles read the simulator's true utilities
(diverse top-k): ``oracle_myopic`` maximises the immediate click utility (and so takes the
clickbait), ``oracle`` adds the products' latent quality (the ceiling). Writes
``benchmarks/reports/policies.md``. Regenerate with::

    .venv/bin/python benchmarks/policies.py --workspace /tmp/ws-train      # full
    .venv/bin/python benchmarks/policies.py --quick --out /tmp/p.md -w WS  # smoke (seconds)

The workspace must hold the demo store and its index (``shelfwise demo``). Candidates come
from the exact top dot product over the index vectors (what the flat FAISS index returns,
vectorised for speed) plus the simulator's random candidates.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

POLICIES = ("random", "greedy", "linucb", "lints", "slateq", "reinforce")

# Training budget per policy (full mode). Bandits learn online after every step; slateq and
# reinforce from collected batches. Tuned on training returns only, never on eval seeds.
FULL_PLAN: dict[str, dict[str, Any]] = {
    "random": {"sessions": 1},
    "greedy": {"sessions": 1},
    "linucb": {"sessions": 1000, "options": {"alpha": 0.1, "temperature": 0.01}},
    "lints": {"sessions": 1000, "options": {"v": 0.1, "temperature": 0.01}},
    "slateq": {"sessions": 5000, "epochs": 3, "epsilon": 0.1,
               "options": {"lr": 3e-3, "temperature": 0.5, "gamma": 0.9}},
    "reinforce": {"sessions": 2000, "epochs": 2,
                  "options": {"lr": 3e-3, "entropy": 0.01}},
}


def _plan(quick: bool) -> dict[str, dict[str, Any]]:
    if not quick:
        return FULL_PLAN
    return {name: {**cfg, "sessions": min(cfg["sessions"], 40)} for name, cfg in
            FULL_PLAN.items()}


def paired_ratio_ci(num: np.ndarray, den: np.ndarray, base: np.ndarray, *,
                    n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Ratio of gains ``(mean(num) - mean(base)) / (mean(den) - mean(base))`` with a 95% CI.

    The arrays hold per-session totals ``(n,)`` of policies evaluated on the same sessions
    (session ``i`` is the same shopper for each), so sessions are resampled jointly (paired
    percentile bootstrap); resamples whose denominator gain is not positive count as
    -inf (they cannot support the target).
    """
    rng = np.random.default_rng(seed)
    n = base.size
    point = (num.mean() - base.mean()) / (den.mean() - base.mean())
    idx = rng.integers(0, n, size=(n_boot, n))
    g_num = num[idx].mean(axis=1) - base[idx].mean(axis=1)
    g_den = den[idx].mean(axis=1) - base[idx].mean(axis=1)
    ratios = np.where(g_den > 0, g_num / np.where(g_den > 0, g_den, 1.0), -np.inf)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return float(point), float(lo), float(hi)


def paired_rate_ratio_ci(num: np.ndarray, base: np.ndarray, *, n_boot: int = 2000,
                         seed: int = 0) -> tuple[float, float, float]:
    """``mean(num) / mean(base)`` of per-session values ``(n,)`` with a paired 95% CI."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, base.size, size=(n_boot, base.size))
    ratios = num[idx].mean(axis=1) / base[idx].mean(axis=1)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return float(num.mean() / base.mean()), float(lo), float(hi)


def _cell(m: Any, digits: int = 3) -> str:
    return f"{m.mean:.{digits}f} [{m.ci_low:.{digits}f}, {m.ci_high:.{digits}f}]"


def run(workspace: Path, eval_sessions: int, quick: bool, seed: int,
        train_seeds: int = 1) -> list[str]:
    """Train and evaluate every policy; return the report's markdown lines."""
    import torch

    from agent.policy import make_policy
    from shelfwise.engine import Engine
    from shelfwise.sim import oracle_policy
    from shelfwise.sim.workspace import sim_from_workspace
    from shelfwise.train import EVAL_SEED, evaluate_in_sim, train_in_sim

    torch.set_num_threads(1)
    engine = Engine.open(workspace)
    sim = sim_from_workspace(engine, use_index=False)
    results: dict[str, Any] = {}
    train_s: dict[str, float] = {}
    train_sessions: dict[str, int] = {}

    def train_and_evaluate(name: str, train_seed: int) -> tuple[Any, float, int]:
        cfg = _plan(quick)[name]
        policy = make_policy(name, dim=sim.catalog.dim, seed=train_seed,
                             **cfg.get("options", {}))
        t0 = time.perf_counter()
        sessions = 0
        if name not in ("random", "greedy"):
            train_in_sim(policy, sim, cfg["sessions"], seed=train_seed,
                         epochs=cfg.get("epochs", 1), epsilon=cfg.get("epsilon", 0.0),
                         batch_sessions=100)
            sessions = cfg["sessions"]
        seconds = time.perf_counter() - t0
        res = evaluate_in_sim(policy, sim, eval_sessions, EVAL_SEED)
        print(f"{name} (training seed {train_seed}): train {seconds:.0f}s, return "
              f"{res.mean_return}", flush=True)
        return res, seconds, sessions

    for name in POLICIES:
        results[name], train_s[name], train_sessions[name] = train_and_evaluate(name, seed)
    slateq_by_seed = {seed: results["slateq"]}
    for extra in range(1, train_seeds):
        slateq_by_seed[seed + extra] = train_and_evaluate("slateq", seed + extra)[0]
    for name, quality in (("oracle_myopic", 0.0), ("oracle", 2.0)):
        results[name] = evaluate_in_sim(oracle_policy(sim, diverse=True, quality=quality), sim,
                                        eval_sessions, EVAL_SEED)
        train_s[name] = 0.0
        train_sessions[name] = 0
    engine.close()

    rnd = results["random"]
    lines = ["| policy | train sessions | train s | mean return | click rate (per slate) | "
             "purchase value | session length |", "|---|---:|---:|---|---|---|---|"]
    for name, res in results.items():
        lines.append(f"| {name} | {train_sessions[name]} | {train_s[name]:.0f} | "
                     f"{_cell(res.mean_return)} | {_cell(res.click_rate)} | "
                     f"{_cell(res.purchase_value, 1)} | {_cell(res.length, 2)} |")

    def gain(name: str) -> float:
        return results[name].mean_return.mean - rnd.mean_return.mean

    def per_session(name: str, what: str) -> np.ndarray:
        s = results[name].stats
        return s.returns if what == "return" else s.clicks / np.maximum(s.lengths, 1)

    g_greedy, g_slateq = gain("greedy"), gain("slateq")
    ratio, r_lo, r_hi = paired_ratio_ci(per_session("slateq", "return"),
                                        per_session("greedy", "return"),
                                        per_session("random", "return"))
    ctr = {n: paired_rate_ratio_ci(per_session(n, "ctr"), per_session("random", "ctr"))
           for n in ("linucb", "lints")}

    def verdict(point: float, lo: float, target: float) -> str:
        if lo >= target:
            return "met (the whole 95% interval is above the target)"
        if point >= target:
            return "met at the point estimate only (the interval reaches below the target)"
        return "missed"

    checks = [
        "",
        "## Targets",
        "",
        "Ratios with paired percentile-bootstrap 95% intervals (2,000 resamples of the "
        "evaluation sessions, the same shoppers for every policy).",
        "",
        f"- SlateQ gain over random: {g_slateq:+.3f}; greedy gain over random: "
        f"{g_greedy:+.3f}; ratio **{ratio:.2f}** [{r_lo:.2f}, {r_hi:.2f}] (target >= 1.5) -> "
        f"**{verdict(ratio, r_lo, 1.5) if g_greedy > 0 and g_slateq > g_greedy else 'missed'}**",
        *(f"- {label} click rate / random: **{ctr[n][0]:.2f}x** [{ctr[n][1]:.2f}, "
          f"{ctr[n][2]:.2f}] (target >= 1.3x) -> **{verdict(*ctr[n][:2], 1.3)}**"
          for n, label in (("linucb", "LinUCB"), ("lints", "LinTS"))),
        f"- Oracle (ceiling) return / random: "
        f"{results['oracle'].mean_return.mean / rnd.mean_return.mean:.2f}x",
    ]
    if len(slateq_by_seed) > 1:
        checks += ["", "### SlateQ over training seeds", "",
                   "The interval above covers evaluation noise for one trained SlateQ. Training "
                   "itself is random (initial weights, exploration, simulated shoppers), so "
                   "SlateQ was trained again with other seeds (same budget) and evaluated on "
                   "the same sessions:", "",
                   "| training seed | mean return | gain ratio vs greedy [95% CI] |",
                   "|---:|---|---|"]
        ratios = []
        for s, res in slateq_by_seed.items():
            r, lo, hi = paired_ratio_ci(res.stats.returns, per_session("greedy", "return"),
                                        per_session("random", "return"))
            ratios.append(r)
            checks.append(f"| {s} | {_cell(res.mean_return)} | {r:.2f} [{lo:.2f}, {hi:.2f}] |")
        checks += ["", f"Across {len(ratios)} training seeds the ratio is {min(ratios):.2f} to "
                   f"{max(ratios):.2f} (mean {np.mean(ratios):.2f}); target 1.5 is met by "
                   f"{sum(r >= 1.5 for r in ratios)} of {len(ratios)} trained policies."]
    return lines + checks


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", "-w", type=Path,
                        default=Path(os.environ.get("SHELFWISE_HOME", "shelfwise-data")),
                        help="workspace with the demo store and index")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--eval-sessions", type=int, default=None,
                        help="evaluation sessions per policy [20000; quick: 200]")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--train-seeds", type=int, default=None,
                        help="SlateQ trainings with seeds seed, seed+1, ... [3; quick: 1]")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "reports" / "policies.md")
    args = parser.parse_args()
    n_eval = args.eval_sessions or (200 if args.quick else 20_000)
    t0 = time.perf_counter()
    n_seeds = args.train_seeds or (1 if args.quick else 3)
    table = run(args.workspace, n_eval, args.quick, args.seed, n_seeds)
    cmd = "benchmarks/policies.py" + (" --quick" if args.quick else "")
    body = [
        "# Slate policies in the shopper simulator",
        "",
        f"Demo store workspace, {n_eval} held-out evaluation sessions per policy (the same "
        "shoppers for every policy), reward = 1 per click, slate k = 5 of 50 candidates. "
        "Means with 95% confidence intervals (normal approximation over sessions). Click "
        "rate = clicks per slate shown; purchase value = summed price of purchases per "
        "session; session length = slates shown.",
        "",
        *table,
        "",
        "## Simulator model",
        "",
        MODEL,
        "",
        "## Diagnosis",
        "",
        DIAGNOSIS,
        "",
        "## Reproduce",
        "",
        f"    .venv/bin/python {cmd} --workspace <demo workspace>",
        "",
        f"Run time {time.perf_counter() - t0:.0f} s on {platform.machine()} "
        f"({platform.processor() or 'cpu'}, {os.cpu_count()} logical cores, shared), "
        f"Python {platform.python_version()}, numpy {np.__version__}, one torch thread.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(body) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


MODEL = """\
RecSim-interest-evolution-like (`shelfwise/sim/vector_env.py`, defaults in
`shelfwise/sim/config.py`):

- Shoppers: normal affinities (sd `taste_scale` = 0.7) over category, colour, style and
  material values, a uniform price sensitivity in [0.2, 1.0] (cheap items attract), 30 % of
  sessions with a text intent. Each session starts with `seed_history` = 3 products the
  shopper liked before (drawn from softmax(utility) over the catalogue) in the click
  history, so the state (recency-weighted mean of clicked vectors, mixed with the query)
  reveals tastes from step 1.
- Latent quality `q` per product = price-band term (budget -0.3, mid 0, premium 0.2,
  luxury 0.3) + a fixed brand offset uniform in [-1, 1] (`quality_brand` = 1.0, hashed from
  the brand name). Policies never see `q`, but it is learnable from the product vectors
  (brand words are in the text): a ridge regression from the 384-d vectors predicts `q`
  with held-out R^2 = 0.71 (ridge 0.3; 1,500 train / 500 test products).
- Click: conditional logit over the slate with position bias, outside option utility 3.5;
  click utility = taste - price term + intent bonus - 0.5 x boredom - `clickbait_appeal`
  (0.5) x `q` (low-quality "clickbait" looks more attractive).
- Long-term: each slate costs 1 unit of the session budget (10), an empty slate 1 more; a
  click refunds `sigmoid(core utility)` + `quality_budget` (1.5) x `q`, so satisfying items
  extend the session and clickbait ends it early. Mild boredom (shown +0.05, click +0.3,
  decay 0.85, weight 0.5), taste drift 0.1 toward clicks, `repetition_cost` = 0 (was 0.5).
- Reward = 1 per click (the session return is total clicks); purchase value is reported.
  Sessions end when the budget is spent or after 20 slates."""


DIAGNOSIS = """\
- Relevance pays: cosine-to-state `greedy` and the click-trained bandits beat random on
  clicks per slate, and an oracle reading the true tastes beats random by a wide margin.
- Myopic click maximisation takes the bait: `oracle_myopic` (true click utility, no
  quality) has the highest click rate but much shorter sessions than `oracle` (quality
  weight 2); the gap between them is the long-term headroom. LinUCB/LinTS regress the
  immediate click: they reach the highest learned click rates (see Targets) but sessions
  barely longer than random's (8.2-8.4 vs 8.2 slates), so their return falls below `greedy`'s
  (about 9.1 slates per session; why its slates last longer was not measured).
- SlateQ learns item values by TD(0) on the session return (gamma 0.9, next-state slate
  value under a target network, clicked items only). A clickbait click more often ends the
  session (future value 0) and leaves a low-quality click history in the next state. SlateQ
  has a lower click rate than the bandits but the longest learned sessions (about 10
  slates) and the highest learned return and purchase value, which fits it having learned
  to favour quality brands (the mechanism was not measured item by item).
- LinUCB's 770x770 confidence term dominates evaluation time.
- Uncertainty: the gain ratio is a ratio of two noisy gains. The paired bootstrap interval
  under Targets covers the evaluation sessions of one trained SlateQ; the table of
  training seeds shows how much training randomness adds. The margin over 1.5 is modest
  (a few hundredths to about 0.15), not large: with 3,000 instead of 5,000 training
  sessions SlateQ reached about 1.48 in a development run (seed 999).
- Figures move a little between machines: the demo workspace is rebuilt on each machine
  and the aligned image CNN's training is not bit-identical across CPUs (threaded
  kernels), so the fused product vectors differ slightly (greedy's return was 5.73 on the
  workspace of 2026-11-25, 5.52 on this one; the SlateQ/greedy ratio 1.55 then, 1.57 now).
- `reinforce` (2,000 sessions) only slightly beats random; its reward-to-go gradient is
  noisy at this budget and it was not tuned for this simulator.
- The simulator's parameters (taste 0.7, outside option 3.5, quality weights, seeded
  history) and the bandit temperatures were chosen on development runs with other seeds
  (999), never on the evaluation seed; they are a modelling choice, documented above."""


if __name__ == "__main__":
    main()
