"""Off-policy evaluation benchmark: synthetic slates with known values, and the Open Bandit Dataset.

Writes ``benchmarks/reports/ope.md``. Regenerate with::

    .venv/bin/python benchmarks/ope.py            # full (a couple of minutes on 2 cores)
    .venv/bin/python benchmarks/ope.py --quick --out /tmp/ope.md   # smoke test (seconds)
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from shelfwise.evaluate import SyntheticSlateBandit, estimate
from shelfwise.evaluate.obd import compare_bts, evaluate_trained_policy

ESTIMATORS = ("ips", "snips", "dm", "dr")
AGENT_POLICIES = ("greedy", "linucb", "lints", "reinforce")


def fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}"


def ci(est, digits: int = 4) -> str:
    return f"[{fmt(est.ci_low, digits)}, {fmt(est.ci_high, digits)}]"


def synthetic_section(quick: bool) -> list[str]:
    n_log = 2000 if quick else 10_000
    reps = 2 if quick else 10
    n_boot = 100 if quick else 500
    bandit = SyntheticSlateBandit(n_actions=20, k=3, dim=5, seed=0)
    policies = [(0.0, 1.0, "behaviour itself"), (0.5, 1.0, "half-informed softmax"),
                (1.0, 0.5, "informed, sharper"), (-0.5, 1.0, "anti-informed")]
    lines = [
        "## Synthetic slates with known values",
        "",
        f"`SyntheticSlateBandit(n_actions=20, k=3, dim=5)`: position-based clicks "
        f"(`0.9^p * sigmoid(x.theta_a + b_a)`), Plackett-Luce behaviour and evaluation policies "
        f"with exact position-wise marginals. Value = expected clicks per slate. "
        f"{n_log:,} logged slates per run, {reps} runs (log seeds 0..{reps - 1}); the table shows "
        f"run 0's estimate and 95% bootstrap CI ({n_boot} resamples), and over all runs the mean "
        f"relative error and how often the CI covered the true value. Reward model for DM/DR: "
        f"logistic regression on item one-hot x context, item and position one-hots, "
        f"2-fold cross-fitted.",
        "",
        "| evaluation policy | true value | estimator | estimate (run 0) | 95% CI | rel. error "
        "(run 0) | mean rel. error | CI coverage |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summary: dict[str, list[float]] = {e: [] for e in ESTIMATORS}
    for quality, temp, label in policies:
        truth = bandit.true_value(quality, temp, n_contexts=20_000 if quick else 200_000)
        runs = []
        for rep in range(reps):
            log = bandit.sample_log(n_log, np.random.default_rng(rep))
            data = bandit.ope_input(log, quality, temp, seed=rep)
            runs.append(estimate(data, ESTIMATORS, n_bootstrap=n_boot, seed=rep))
        for e in ESTIMATORS:
            errs = [r[e].relative_error(truth) for r in runs]
            cover = np.mean([r[e].covers(truth) for r in runs])
            summary[e] += errs
            first = runs[0][e]
            lines.append(
                f"| {label} (q={quality:g}, T={temp:g}) | {fmt(truth)} | {e} | {fmt(first.value)} "
                f"| {ci(first)} | {fmt(first.relative_error(truth), 3)} | "
                f"{fmt(float(np.mean(errs)), 3)} | {cover:.0%} |")
    lines += ["", "Mean relative error over all policies and runs: " + ", ".join(
        f"{e.upper()} {np.mean(v):.3f}" for e, v in summary.items()) + ".", ""]
    lines.append("DM's interval resamples rounds with the reward model held fixed, so it is "
                 "narrow and does not reflect the model's bias; its coverage is low by design.")
    lines.append("")
    return lines


def obd_section(quick: bool) -> list[str]:
    n_boot = 100 if quick else 1000
    n_sim = 20_000 if quick else 100_000
    lines = [
        "## Open Bandit Dataset: Bernoulli TS estimated from the random policy's log",
        "",
        "The OBD sample in the `obp` 0.4.1 wheel (ZOZOTOWN, campaign `all`: 10,000 rows per "
        "logging policy, 80 items, 3 positions). Each row is one (impression, position); as in "
        "obp's benchmark the position is part of the context and the value is the click rate per "
        "shown item. The truth is BTS's observed click rate in its own log (with its own 95% CI: "
        "only 42 clicks). BTS's action distribution: `prior` simulates BTS from its production "
        "prior (`obp/policy/conf/prior_bts.yaml`, as obp's `compute_batch_action_dist`, "
        f"{n_sim:,} draws); `empirical` uses the item-position frequencies of the bts log "
        "(BTS updated during the week, so its logged propensities vary in time; the frequencies "
        "estimate the time-averaged distribution). Reward model: logistic regression (C=0.1) on "
        "user one-hots, item features and one-hot, position and user-item affinity, 3-fold "
        "cross-fitted.",
        "",
        "| BTS distribution | estimator | click rate | 95% CI | relative error vs observed |",
        "|---|---|---|---|---|",
    ]
    for method in ("prior", "empirical"):
        cmp = compare_bts("all", method=method, n_bootstrap=n_boot, n_sim=n_sim)
        if method == "prior":
            obs = cmp.observed
            lines.insert(-2, f"Observed BTS click rate: **{fmt(obs.value, 5)}** "
                             f"{ci(obs, 5)} (n={obs.n:,}).\n")
        errs = cmp.relative_errors()
        for e, est in cmp.estimates.items():
            lines.append(f"| {method} | {e} | {fmt(est.value, 5)} | {ci(est, 5)} | "
                         f"{errs[e]:.3f} |")
    lines.append("")
    return lines


def trained_section(quick: bool) -> list[str]:
    n_boot = 100 if quick else 1000
    lines = [
        "## A policy trained on the OBD random log",
        "",
        "The random log is split by time: the first 7,000 rows train the policy, the last 3,000 "
        "evaluate it (IPS/SNIPS/DM/DR with the random log's uniform propensities; DM/DR's reward "
        "model is cross-fitted on the test rows). `logistic-softmax(T)` is a logistic click "
        "model on user, item and position features whose policy shows items Plackett-Luce by "
        "`softmax(logit(p_click)/T)`. Next to it: the random policy's observed click rate on the "
        "same test rows, BTS estimated on the same rows, and BTS's observed click rate.",
        "",
        "| policy | estimator | click rate | 95% CI |",
        "|---|---|---|---|",
    ]
    candidates: list[tuple[str, float]] = [("logistic", 0.5)] if quick else [
        ("logistic", 1.0), ("logistic", 0.5), ("logistic", 0.2)]
    agent_names: list[str] = []
    try:
        import agent.policy as ap

        if hasattr(ap, "make_policy") and not quick:
            agent_names = list(AGENT_POLICIES)
    except ImportError:
        pass
    notes = []
    res = None
    for name, temp in candidates + [(n, 0.0) for n in agent_names]:
        try:
            res = evaluate_trained_policy(name, "all", temperature=temp or 0.5,
                                          n_bootstrap=n_boot)
        except Exception as exc:  # noqa: BLE001 - report, keep going
            notes.append(f"- `{name}`: not evaluated ({type(exc).__name__}: {exc})")
            continue
        for e, est in res.estimates.items():
            lines.append(f"| {res.policy} | {e} | {fmt(est.value, 5)} | {ci(est, 5)} |")
    if res is not None:
        lines.append(f"| random (test rows) | observed | {fmt(res.random.value, 5)} | "
                     f"{ci(res.random, 5)} |")
        for e, est in res.bts.items():
            lines.append(f"| bts (test rows) | {e} | {fmt(est.value, 5)} | {ci(est, 5)} |")
        lines.append(f"| bts (own log) | observed | {fmt(res.bts_observed.value, 5)} | "
                     f"{ci(res.bts_observed, 5)} |")
    if not agent_names:
        notes.append("- `agent.policy` policies (greedy, linucb, lints, reinforce) were not "
                     "available when this report was generated; only the logistic-softmax "
                     "policy is shown.")
    lines += ["", *notes, ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "reports" / "ope.md")
    args = parser.parse_args()
    t0 = time.perf_counter()
    body = [
        "# Off-policy evaluation benchmark",
        "",
        "Generated by `benchmarks/ope.py`" + (" (quick mode)" if args.quick else "") + ". "
        "Regenerate: `.venv/bin/python benchmarks/ope.py` (writes this file). "
        "All intervals are 95% percentile-bootstrap intervals over logged rounds (seeded).",
        "",
    ]
    body += synthetic_section(args.quick)
    body += obd_section(args.quick)
    body += trained_section(args.quick)
    body.append(f"Run time {time.perf_counter() - t0:.0f} s on {platform.machine()} "
                f"({platform.python_version()}).")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(body) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
