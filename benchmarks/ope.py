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
from shelfwise.evaluate.reward_model import cross_fit_q_hat

ESTIMATORS = ("ips", "snips", "dm", "dr")
AGENT_POLICIES = ("greedy", "linucb", "lints", "reinforce")


def fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}"


def ci(est, digits: int = 4) -> str:
    return f"[{fmt(est.ci_low, digits)}, {fmt(est.ci_high, digits)}]"


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson 95% interval of a proportion (the coverage's own uncertainty)."""
    p = hits / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return centre - half, centre + half


def synthetic_section(quick: bool) -> list[str]:
    n_actions, k, dim = 10, 3, 4
    n_log = 1000 if quick else 3000
    reps = 1 if quick else 40
    n_boot = 100 if quick else 300
    n_refits = 10 if quick else 25
    bandit = SyntheticSlateBandit(n_actions=n_actions, k=k, dim=dim, seed=0)
    policies = [(0.0, 1.0, "behaviour itself"), (0.5, 1.0, "half-informed softmax"),
                (1.0, 0.5, "informed, sharper"), (-0.5, 1.0, "anti-informed")]
    names = ["ips", "snips", "dm", "dr", "pi", "dm (fixed model)", "dr (fixed model)"]
    lines = [
        "## Synthetic slates with known values: interval coverage",
        "",
        f"`SyntheticSlateBandit(n_actions={n_actions}, k={k}, dim={dim})`: position-based clicks "
        "(`0.9^p * sigmoid(x.theta_a + b_a)`), a Plackett-Luce behaviour policy and Plackett-Luce "
        "evaluation policies with exact position-wise marginals; value = expected clicks per "
        f"slate, computed on {20_000 if quick else 200_000:,} fresh contexts with no reward "
        f"noise. {reps} independent logs of "
        f"{n_log:,} slates (seeds 0..{reps - 1}); for each, every estimator's 95% interval. "
        "**Coverage** is the share of the logs whose interval contains the true value (target "
        "about 95%; its own Wilson 95% interval in brackets, since it is measured on "
        f"{reps} logs). Reward model for DM/DR: logistic regression on item one-hot x context, "
        "item and position one-hots, 2-fold cross-fitted for the point estimate. `dm`/`dr`: the "
        f"model is refitted on {n_refits} bootstrap resamples and the interval is the point "
        "estimate +- 1.96 x the refits' standard deviation, so it includes the model's own "
        "error. `dm (fixed model)`/`dr (fixed model)`: the old interval (rounds resampled, "
        f"model held fixed; {n_boot} resamples, as obp). `pi`: the pseudo-inverse slate "
        "estimator (Swaminathan et al., 2017) with the behaviour policy's exact pairwise "
        "marginals; it uses only the slate's total clicks.",
        "",
        "| evaluation policy | true value | estimator | mean estimate | mean rel. error | "
        "mean CI width | coverage |",
        "|---|---|---|---|---|---|---|",
    ]
    truths = {(q, t): bandit.true_value(q, t, n_contexts=20_000 if quick else 200_000)
              for q, t, _ in policies}
    runs: dict[tuple[float, float], list[dict[str, object]]] = {key: [] for key in truths}
    for rep in range(reps):
        log = bandit.sample_log(n_log, np.random.default_rng(rep))
        q_hat = cross_fit_q_hat(bandit.featurize(log), log.rewards, log.actions, n_actions,
                                kind="logistic", n_folds=2, seed=rep)
        refit = bandit.model_refit(log, n_refits, seed=rep)
        pairwise = bandit.behaviour_pairwise(log)
        for quality, temp, _ in policies:
            data = bandit.ope_input(log, quality, temp, q_hat=q_hat, q_refit=refit,
                                    pairwise=pairwise)
            res = dict(estimate(data, ("ips", "snips", "dm", "dr", "pi"),
                                n_bootstrap=n_boot, seed=rep))
            fixed = bandit.ope_input(log, quality, temp, q_hat=q_hat)
            for e, est in estimate(fixed, ("dm", "dr"), n_bootstrap=n_boot, seed=rep).items():
                res[f"{e} (fixed model)"] = est
            runs[(quality, temp)].append(res)
    overall: dict[str, list[bool]] = {e: [] for e in names}
    for quality, temp, label in policies:
        truth = truths[(quality, temp)]
        for e in names:
            ests = [r[e] for r in runs[(quality, temp)]]
            hits = [est.covers(truth) for est in ests]
            overall[e] += hits
            lo, hi = wilson(sum(hits), len(hits))
            lines.append(
                f"| {label} (q={quality:g}, T={temp:g}) | {fmt(truth)} | {e} | "
                f"{fmt(float(np.mean([x.value for x in ests])))} | "
                f"{np.mean([x.relative_error(truth) for x in ests]):.3f} | "
                f"{np.mean([x.ci_high - x.ci_low for x in ests]):.3f} | "
                f"{np.mean(hits):.0%} [{lo:.0%}, {hi:.0%}] |")
    lines += ["", "Coverage over all four policies "
              f"({len(overall['ips'])} intervals each):", ""]
    lines += ["| estimator | coverage | Wilson 95% interval |", "|---|---|---|"]
    for e, hits in overall.items():
        lo, hi = wilson(sum(hits), len(hits))
        lines.append(f"| {e} | {np.mean(hits):.1%} | [{lo:.0%}, {hi:.0%}] |")
    lines.append("")
    return lines


def obd_section(quick: bool) -> list[str]:
    n_boot = 100 if quick else 1000
    n_sim = 20_000 if quick else 100_000
    n_refits = 0 if quick else 20
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
        f"cross-fitted for the point estimate; DM/DR intervals refit it on {n_refits} bootstrap "
        "resamples (point estimate +- 1.96 sd of the refits), so they include the model's own "
        "error. 'covers' says whether the interval contains BTS's observed click rate.",
        "",
        "| campaign | BTS distribution | observed BTS click rate | estimator | click rate | 95% CI "
        "| relative error vs observed | covers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    runs = [("all", "prior")] if quick else [("all", "prior"), ("all", "empirical"),
                                             ("men", "prior"), ("women", "prior")]
    for campaign, method in runs:
        cmp = compare_bts(campaign, method=method, n_bootstrap=n_boot, n_sim=n_sim,
                          n_refits=n_refits)
        obs = cmp.observed
        errs = cmp.relative_errors()
        for e, est in cmp.estimates.items():
            lines.append(f"| {campaign} | {method} | {fmt(obs.value, 5)} {ci(obs, 5)} | {e} | "
                         f"{fmt(est.value, 5)} | {ci(est, 5)} | {errs[e]:.3f} | "
                         f"{'yes' if est.covers(obs.value) else 'no'} |")
    lines.append("")
    return lines


def trained_section(quick: bool) -> list[str]:
    n_boot = 100 if quick else 1000
    lines = [
        "## A policy trained on the OBD random log",
        "",
        "The random log is split by time: the first 7,000 rows train the policy, the last 3,000 "
        "evaluate it (IPS/SNIPS/DM/DR with the random log's uniform propensities; DM/DR's reward "
        "model is cross-fitted on the test rows and refitted on 20 resamples for the "
        "intervals). `logistic-softmax(T)` is a logistic click "
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
                                          n_bootstrap=n_boot, n_refits=0 if quick else 20)
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
        "Intervals are 95% bootstrap intervals over logged rounds (seeded): percentile "
        "intervals for IPS, SNIPS and PI; for DM and DR the reward model is refitted on each "
        "resample (normal interval from the refits' spread).",
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
