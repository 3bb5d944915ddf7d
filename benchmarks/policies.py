"""Policy benchmark: every slate policy in the shopper simulator and in a known-optimum env.

Both parts go through the env-agnostic trainer (``shelfwise.rl.train_in_env`` /
``evaluate_in_env``), the path any Gymnasium slate environment takes:

1. **Shopper simulator** (demo-store workspace, d = 384): each policy is trained on lock-step
   batches of simulated sessions (``ShopperVectorEnv``; training seeds from
   ``SeedSequence([seed, TRAIN_STREAM])``), frozen, and evaluated on the same held-out
   sessions (``EVAL_SEED``; common random numbers across policies). Two oracles read the
   simulator's true utilities (diverse top-k): ``oracle_myopic`` (immediate click utility)
   and ``oracle`` (plus the products' latent quality: the ceiling).
2. **Known-optimum cascade env** (``tests/rl/slate_env.py``, loaded by path; a different
   choice model, a hidden item quality, and an exactly known optimal policy), 8 envs in a
   ``gymnasium.vector.SyncVectorEnv``.

Writes ``benchmarks/reports/policies.md`` and two learning-curve PNGs next to it::

    .venv/bin/python benchmarks/policies.py --workspace /tmp/ws-train      # full
    .venv/bin/python benchmarks/policies.py --quick --out /tmp/p.md -w WS  # smoke (a minute)

The workspace must hold the demo store and its index (``shelfwise demo``). Candidates come
from the exact top dot product over the index vectors (what the flat FAISS index returns,
vectorised for speed) plus the simulator's random candidates.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

POLICIES = ("random", "greedy", "linucb", "lints", "slateq", "reinforce", "actor_critic")

# Training budget per policy (full mode), chosen on development seeds (never the eval seed).
FULL_PLAN: dict[str, dict[str, Any]] = {
    "random": {"sessions": 0},
    "greedy": {"sessions": 0},
    "linucb": {"sessions": 1000, "options": {"alpha": 0.1, "temperature": 0.01}},
    "lints": {"sessions": 1000, "options": {"v": 0.1, "temperature": 0.01}},
    "slateq": {"sessions": 5000, "epochs": 2, "epsilon": 0.1,
               "options": {"lr": 3e-3, "temperature": 0.5, "gamma": 0.9}},
    # prior = weight of cos(state, item) added to the actor's logits (starts near greedy);
    # the actor-critic settings are those of benchmarks/policy_gradient_sim.py's example
    "reinforce": {"sessions": 5000, "epochs": 2, "options": {"prior": 20, "lr": 3e-3}},
    "actor_critic": {"sessions": 5000, "epochs": 2,
                     "options": {"prior": 20, "lr": 3e-3, "critic_lr": 3e-3,
                                 "gae_lambda": 0.9}},
}

# Known-optimum env: episodes of at most 5 steps (tests/rl uses about half of these).
CASCADE_PLAN: dict[str, dict[str, Any]] = {
    "random": {"episodes": 0},
    "greedy": {"episodes": 0},
    "linucb": {"episodes": 500},
    "lints": {"episodes": 500},
    "slateq": {"episodes": 800, "epsilon": 0.1, "update_every": 2},
    "reinforce": {"episodes": 1200, "options": {"lr": 0.03}},
    "actor_critic": {"episodes": 1200, "options": {"lr": 0.03, "critic_lr": 0.01}},
}


def _plan(quick: bool) -> dict[str, dict[str, Any]]:
    if not quick:
        return FULL_PLAN
    return {name: {**cfg, "sessions": min(cfg["sessions"], 60)} for name, cfg in
            FULL_PLAN.items()}


def load_cascade_env() -> Any:
    """Import ``tests/rl/slate_env.py`` by path (the tests are not a package)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "rl" / "slate_env.py"
    name = "shelfwise_tests_slate_env"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


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


def paired_diff_ci(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, seed: int = 0
                   ) -> tuple[float, float, float]:
    """``mean(a) - mean(b)`` of paired per-session values ``(n,)`` with a 95% CI."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    diffs = a[idx].mean(axis=1) - b[idx].mean(axis=1)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(a.mean() - b.mean()), float(lo), float(hi)


def verdict(point: float, lo: float, target: float) -> str:
    """met / met at the point estimate only / missed."""
    if lo >= target:
        return "met (the whole 95% interval is above the target)"
    if point >= target:
        return "met at the point estimate only (the interval reaches below the target)"
    return "missed"


def _cell(m: Any, digits: int = 3) -> str:
    if m is None:
        return "-"
    return f"{m.mean:.{digits}f} [{m.ci_low:.{digits}f}, {m.ci_high:.{digits}f}]"


def _train(name: str, policy: Any, env: Any, episodes: int, cfg: dict[str, Any],
           seed: int, time_limit: float | None = None) -> tuple[float, Any, int]:
    """Train within the episode budget and time limit; (seconds, curve, episodes trained)."""
    from shelfwise.rl import train_in_env

    if episodes <= 0 or policy.learning.mode == "none":
        return 0.0, None, 0
    res = train_in_env(policy, env, episodes, seed=seed, epochs=cfg.get("epochs", 1),
                       epsilon=cfg.get("epsilon", 0.0), update_every=cfg.get("update_every"),
                       curve_every=max(1, episodes // 15), time_limit=time_limit)
    return res.seconds, res.curve, res.episodes


def run_shopper(workspace: Path, eval_sessions: int, quick: bool, seed: int,
                out_dir: Path, train_seconds: float | None = None
                ) -> tuple[list[str], list[str], dict[str, Any]]:
    """Train and evaluate every policy in the simulator; (table, target lines, numbers)."""
    from agent.policy import POLICIES as REGISTERED
    from agent.policy import make_policy
    from shelfwise.engine import Engine
    from shelfwise.rl import plot_curves
    from shelfwise.sim import ShopperVectorEnv, oracle_policy
    from shelfwise.sim.workspace import sim_from_workspace
    from shelfwise.train import EVAL_SEED, evaluate_in_sim

    engine = Engine.open(workspace)
    sim = sim_from_workspace(engine, use_index=False)
    env = ShopperVectorEnv(sim, 100)
    results: dict[str, Any] = {}
    rows: dict[str, tuple[int, float]] = {}
    curves: dict[str, Any] = {}
    for name in POLICIES:
        if name not in REGISTERED:
            print(f"{name}: not registered, skipped", flush=True)
            continue
        cfg = _plan(quick)[name]
        policy = make_policy(name, dim=sim.catalog.dim, seed=seed, **cfg.get("options", {}))
        seconds, curve, trained = _train(name, policy, env, cfg["sessions"], cfg, seed,
                                         train_seconds)
        if curve is not None:
            curves[name] = curve
        results[name] = evaluate_in_sim(policy, sim, eval_sessions, EVAL_SEED)
        rows[name] = (trained, seconds)
        print(f"sim {name}: train {seconds:.0f}s, return {results[name].mean_return}",
              flush=True)
    for name, quality in (("oracle_myopic", 0.0), ("oracle", 2.0)):
        results[name] = evaluate_in_sim(oracle_policy(sim, diverse=True, quality=quality), sim,
                                        eval_sessions, EVAL_SEED)
        rows[name] = (0, 0.0)
    engine.close()
    rnd = results["random"].mean_return.mean
    plot_curves(curves, out_dir / "policies_curves_sim.png",
                title="shopper simulator: mean training-session return",
                reference={"random": rnd, "greedy": results["greedy"].mean_return.mean,
                           "oracle": results["oracle"].mean_return.mean})
    table = ["| policy | train sessions | train s | mean return | click rate (per slate) | "
             "purchase value | session length |", "|---|---:|---:|---|---|---|---|"]
    for name, res in results.items():
        table.append(f"| {name} | {rows[name][0]} | {rows[name][1]:.0f} | "
                     f"{_cell(res.mean_return)} | {_cell(res.click_rate)} | "
                     f"{_cell(res.purchase_value, 1)} | {_cell(res.length, 2)} |")

    def ret(name: str) -> np.ndarray:
        return results[name].per_episode["returns"]

    learned = [n for n in results if n in REGISTERED and
               REGISTERED[n].learning.mode != "none"]
    best = max(learned, key=lambda n: results[n].mean_return.mean)
    share, s_lo, s_hi = paired_ratio_ci(ret(best), ret("oracle"), ret("random"))
    lines = [f"- Best learned policy `{best}`: **{share:.0%}** [{s_lo:.0%}, {s_hi:.0%}] of the "
             f"random-to-oracle headroom (target >= 50%) -> **{verdict(share, s_lo, 0.5)}**"]
    numbers: dict[str, Any] = {"best_sim": best, "share": share}
    for name, label in (("reinforce", "Corrected policy gradient (`reinforce`)"),
                        ("actor_critic", "Actor-critic (`actor_critic`)")):
        if name not in results:
            lines.append(f"- {label}: not registered -> **missed**")
            continue
        d, lo, hi = paired_diff_ci(ret(name), ret("greedy"))
        lines.append(f"- {label} minus greedy return: **{d:+.3f}** [{lo:+.3f}, {hi:+.3f}] "
                     f"(target > 0) -> **{verdict(d, lo, 1e-12)}**")
    for name in results:
        if name in learned:
            numbers[f"sim_{name}"] = results[name].mean_return.mean
    return table, lines, numbers


def run_cascade(quick: bool, seed: int, eval_episodes: int, out_dir: Path
                ) -> tuple[list[str], list[str]]:
    """Every policy in the known-optimum cascade env; (table, target lines)."""
    import gymnasium
    import torch

    from agent.policy import POLICIES as REGISTERED
    from agent.policy import make_policy
    from shelfwise.rl import evaluate_in_env, plot_curves

    torch.set_num_threads(1)
    mod = load_cascade_env()

    def make() -> Any:
        return mod.CascadeSlateEnv(a=2.0, b=3.0)

    env = gymnasium.vector.SyncVectorEnv([make] * 8)
    results: dict[str, Any] = {}
    rows: dict[str, tuple[int, float]] = {}
    curves: dict[str, Any] = {}
    for name in POLICIES:
        if name not in REGISTERED:
            continue
        cfg = dict(CASCADE_PLAN[name])
        if quick:
            cfg["episodes"] = min(cfg["episodes"], 80)
        policy = make_policy(name, seed=seed, **cfg.get("options", {}))
        seconds, curve, trained = _train(name, policy, env, cfg["episodes"], cfg, seed)
        if curve is not None:
            curves[name] = curve
        results[name] = evaluate_in_env(policy, env, eval_episodes)
        rows[name] = (trained, seconds)
        print(f"cascade {name}: train {seconds:.0f}s, return {results[name].mean_return}",
              flush=True)
    results["optimal"] = evaluate_in_env(mod.OptimalPolicy(make()), env, eval_episodes)
    rows["optimal"] = (0, 0.0)
    exact = make().expected_optimal_return(n_samples=4000 if quick else 20000)
    opt = results["optimal"].mean_return.mean
    plot_curves(curves, out_dir / "policies_curves_cascade.png",
                title="known-optimum cascade env: mean training-episode return",
                reference={"random": results["random"].mean_return.mean, "optimal": exact})
    table = ["| policy | train episodes | train s | mean return | share of optimal | "
             "click rate (per slate) | episode length |", "|---|---:|---:|---|---:|---|---|"]
    for name, res in results.items():
        table.append(f"| {name} | {rows[name][0]} | {rows[name][1]:.0f} | "
                     f"{_cell(res.mean_return)} | {res.mean_return.mean / opt:.0%} | "
                     f"{_cell(res.click_rate)} | {_cell(res.length, 2)} |")
    learned = [n for n in results if n in REGISTERED and
               REGISTERED[n].learning.mode != "none"]
    best = max(learned, key=lambda n: results[n].mean_return.mean)
    r, lo, hi = paired_ratio_ci(results[best].per_episode["returns"],
                                results["optimal"].per_episode["returns"],
                                np.zeros(eval_episodes))
    lines = [f"- Known-optimum env: best learned policy `{best}` reaches **{r:.0%}** "
             f"[{lo:.0%}, {hi:.0%}] of the optimal policy's return on the same episodes "
             f"(target >= 90%) -> **{verdict(r, lo, 0.9)}**; the optimal policy's expected "
             f"return computed exactly from the model is {exact:.3f} (its evaluation: "
             f"{_cell(results['optimal'].mean_return)})."]
    return table, lines


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", "-w", type=Path,
                        default=Path(os.environ.get("SHELFWISE_HOME", "shelfwise-data")),
                        help="workspace with the demo store and index")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--eval-sessions", type=int, default=None,
                        help="evaluation sessions per policy [2000; quick: 200]")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--cascade-episodes", type=int, default=2000,
                        help="held-out episodes per policy in the known-optimum env")
    parser.add_argument("--train-seconds", type=float, default=None,
                        help="simulator training time limit per policy (no new sessions are "
                             "started after it; the table shows the sessions trained)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "reports" / "policies.md")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    n_eval = args.eval_sessions or (200 if args.quick else 2000)
    n_cascade = 200 if args.quick else args.cascade_episodes
    t0 = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # the two parts are independent: the cascade env runs in a second process meanwhile
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1) as pool:
        cascade = pool.submit(run_cascade, args.quick, args.seed, n_cascade, args.out.parent)
        sim_table, sim_lines, _ = run_shopper(args.workspace, n_eval, args.quick, args.seed,
                                              args.out.parent, args.train_seconds)
        t_sim = time.perf_counter() - t0
        cas_table, cas_lines = cascade.result()
    cmd = "benchmarks/policies.py" + (" --quick" if args.quick else "")
    body = [
        "# Slate policies in the shopper simulator and in a known-optimum environment",
        "",
        "Every policy is trained and evaluated through `shelfwise.rl.train_in_env` / "
        "`evaluate_in_env`, the path any Gymnasium slate environment takes; how each policy "
        "is fed is read from its `learning` declaration, never from its name. Means with 95% "
        "confidence intervals (normal approximation over episodes); targets use paired "
        "percentile-bootstrap intervals (2,000 resamples, the same episodes for every policy).",
        "",
        "## Targets",
        "",
        *sim_lines,
        *cas_lines,
        "",
        "## Shopper simulator",
        "",
        f"Demo store workspace, {n_eval} held-out evaluation sessions per policy (the same "
        "shoppers for every policy), reward = 1 per click, slate k = 5 of 50 candidates. "
        "Click rate = clicks per slate shown; purchase value = summed price of purchases per "
        "session; session length = slates shown. Training: lock-step batches of 100 sessions "
        "(`ShopperVectorEnv`)"
        + (f", at most {args.train_seconds:.0f} s of training per policy (the machine is shared; "
           "train sessions = what fit)" if args.train_seconds else "")
        + ". Learning curves: `policies_curves_sim.png`.",
        "",
        *sim_table,
        "",
        "## Known-optimum environment",
        "",
        "`tests/rl/slate_env.py::CascadeSlateEnv(a=2, b=3)`: 4 shopper types, 60 items, 10 "
        "candidates, k = 3; cascade clicks with `p = sigmoid(2 u.x + 3 q.x - 3)` (`q` a hidden "
        "quality direction), leave with probability 0.5 after a slate without a click, at most "
        "5 slates. The optimal policy shows the 3 candidates of highest true `p`. "
        f"{n_cascade} held-out episodes per policy; 8 environments in a "
        "`SyncVectorEnv` (NextStep autoreset). Learning curves: `policies_curves_cascade.png`.",
        "",
        *cas_table,
        "",
        "## Simulator model",
        "",
        MODEL,
        "",
        "## Reproduce",
        "",
        f"    .venv/bin/python {cmd} --workspace <demo workspace>",
        "",
        f"Wall time {time.perf_counter() - t0:.0f} s (simulator part {t_sim:.0f} s; the "
        "known-optimum part ran alongside in a second process) on "
        f"{platform.machine()} ({platform.processor() or 'cpu'}, {os.cpu_count()} logical "
        f"cores, shared with other jobs), Python {platform.python_version()}, numpy "
        f"{np.__version__}, one torch thread.",
    ]
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


if __name__ == "__main__":
    main()
