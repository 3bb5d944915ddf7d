"""Sponsored slots in the shopper simulator: ad revenue against the shopper's return.

Every configuration serves the same held-out shoppers (common random numbers) of the demo-store
simulator (:class:`shelfwise.sim.ads.SponsoredSimBatch`): a seeded share of the catalogue is
sponsored with uniform bids, slate ranks ``--positions`` are ad slots, and each irrelevant ad
shown drains ``--annoyance`` of the session's time budget. Policies are served through
:class:`shelfwise.sponsored.SponsoredLayout` (organic slots from organic candidates, ad slots
from sponsored ones, drawn from ``policy logits + bid_weight * log(bid)``):

* ``no ads``: greedy with no ad slots (sponsored products compete as organic ones);
* greedy (``agent.policy.registry.make_policy("greedy")``) for several ``bid_weight``;
* random (the logging baseline): ads by bid alone;
* LinUCB trained online (``--train-sessions``, its public ``update``) in the same simulator
  under two reward weightings, then frozen.

Each configuration's per-session totals are scalarised under a few reward weightings
(:class:`shelfwise.rewards.RewardWeights`) to show which one each weighting prefers.
Intervals are 95% normal intervals of the mean over sessions. Writes
``benchmarks/reports/sponsored.md`` and ``sponsored.png``::

    .venv/bin/python benchmarks/sponsored.py --workspace /tmp/demo-ws            # full
    .venv/bin/python benchmarks/sponsored.py -w /tmp/demo-ws --quick --out /tmp/s.md
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

EVAL_SEED = 20261202
BID_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)
ANNOYANCE_LEVELS = (0.0, 1.0, 3.0)
"""Annoyance per irrelevant ad of the sensitivity rows (the main level is ``--annoyance``)."""
WEIGHTINGS: dict[str, dict[str, float]] = {
    "clicks (today)": {"click": 1.0},
    "clicks + 0.3 retention": {"click": 1.0, "retention": 0.3},
    "clicks + 2 ad revenue": {"click": 1.0, "ad_revenue": 2.0},
    "clicks + 2 ad revenue + 0.3 retention": {"click": 1.0, "ad_revenue": 2.0,
                                              "retention": 0.3},
    "ad revenue only": {"ad_revenue": 1.0},
}


@dataclass
class Row:
    """One configuration's per-session totals."""

    name: str
    policy: str
    bid_weight: float | None
    totals: dict[str, np.ndarray]
    lengths: np.ndarray
    seconds: float


def _ci(x: np.ndarray) -> tuple[float, float]:
    x = np.asarray(x, dtype=np.float64)
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else 0.0
    return float(x.mean()), float(half)


def _paired(a: np.ndarray, b: np.ndarray, digits: int = 2) -> str:
    """Mean of ``a - b`` over the same sessions with its 95% interval."""
    return _cell(np.asarray(a, np.float64) - np.asarray(b, np.float64), digits)


def _cell(x: np.ndarray, digits: int = 2) -> str:
    m, h = _ci(x)
    return f"{m:.{digits}f} ± {h:.{digits}f}"


def _train_linucb(sim: Any, layout: Any, weights: Any, sessions: int, seed: int,
                  dim: int) -> Any:
    """LinUCB learning online per step from per-item rewards under ``weights``."""
    from agent.policy import Feedback
    from agent.policy.registry import make_policy

    policy = make_policy("linucb", dim=dim, seed=seed, alpha=0.1, temperature=0.01)
    rng = np.random.default_rng(seed)
    k = sim.config.k
    done = 0
    while done < sessions:
        b = min(100, sessions - done)
        sim.reset(b, rng)
        while not sim.done.all():
            live = np.flatnonzero(~sim.done)
            acts = np.tile(np.arange(k), (b, 1))
            chosen = {}
            for s in live:
                ids = sim.candidate_ids[s]
                cands = sim.catalog.vectors[ids]
                logits = policy.logits(sim.states[s], cands, rng)
                laid = layout.select(logits, sim.sponsored[ids], k, rng, bids=sim.bids[ids])
                acts[s] = laid.slate.item_ids
                chosen[int(s)] = (sim.states[s].copy(), cands, laid)
            res = sim.step(acts, rng)
            batch = []
            for s, (state, cands, laid) in chosen.items():
                clicks = np.zeros(k, dtype=bool)
                rewards = np.zeros(k)
                r = int(res.clicked_rank[s])
                if r >= 0:
                    clicks[r] = True
                    row = int(res.clicked_row[s])
                    ad = bool(laid.ads[r]) and bool(sim.sponsored[row])
                    rewards[r] = (weights.click + weights.ad_revenue * (sim.bids[row] if ad
                                                                        else 0.0)
                                  + weights.purchase_value * (res.price[s] if res.purchased[s]
                                                              else 0.0))
                batch.append(Feedback(state=state, candidates=cands, slate=laid.slate,
                                      clicks=clicks, rewards=rewards))
            policy.update(batch)
        done += b
    return policy


def run(workspace: Path, sessions: int, train_sessions: int, positions: tuple[int, ...],
        share: float, annoyance: float) -> tuple[list[Row], dict[str, Any]]:
    """Serve every configuration on the same shoppers; return their rows and the setup."""
    import torch

    from agent.policy.registry import make_policy
    from shelfwise.engine import Engine
    from shelfwise.rewards import RewardWeights
    from shelfwise.sim.ads import SponsoredSimBatch, layout_policy_fn
    from shelfwise.sim.config import SimConfig
    from shelfwise.sim.workspace import sim_inputs
    from shelfwise.sponsored import SponsoredLayout

    torch.set_num_threads(1)
    engine = Engine.open(workspace)
    cfg = SimConfig(sponsored_share=share, sponsored_positions=positions,
                    sponsored_annoyance=annoyance)
    inputs = sim_inputs(engine, cfg)
    sim = SponsoredSimBatch(inputs.latent, inputs.vectors, cfg,
                            query_encoder=inputs.query_encoder)
    no_ad_cfg = SimConfig(sponsored_share=share, sponsored_annoyance=annoyance)
    plain = SponsoredSimBatch(inputs.latent, inputs.vectors, no_ad_cfg,
                              query_encoder=inputs.query_encoder)
    dim = sim.catalog.dim
    rows: list[Row] = []

    def serve(name: str, policy: Any, layout: SponsoredLayout, target: Any = sim) -> None:
        t0 = time.perf_counter()
        stats, totals = target.run_components(layout_policy_fn(target, policy, layout),
                                              sessions, EVAL_SEED)
        rows.append(Row(name, str(policy.name), layout.bid_weight if layout.enabled else None,
                        totals, stats.lengths.astype(np.float64), time.perf_counter() - t0))
        m = totals["ad_revenue"].mean()
        print(f"{name}: ad revenue {m:.3f}, clicks {totals['click'].mean():.2f}, "
              f"length {stats.lengths.mean():.2f} ({time.perf_counter() - t0:.0f}s)",
              flush=True)

    greedy = make_policy("greedy", dim=dim, seed=0)
    serve("no ads (greedy)", greedy, SponsoredLayout(), plain)
    for bw in BID_WEIGHTS:
        serve(f"greedy, bid_weight {bw:g}", greedy, SponsoredLayout(positions, bw))
    for level in ANNOYANCE_LEVELS:
        if level != annoyance:
            other = SponsoredSimBatch(inputs.latent, inputs.vectors,
                                      cfg.model_copy(update={"sponsored_annoyance": level}),
                                      query_encoder=inputs.query_encoder)
            serve(f"greedy, bid_weight 1, annoyance {level:g}", greedy,
                  SponsoredLayout(positions, 1.0), other)
    rnd = make_policy("random", dim=dim, seed=0)
    serve("random, bid_weight 1", rnd, SponsoredLayout(positions, 1.0))
    train_s = {}
    for label, weights in (("clicks", RewardWeights()),
                           ("clicks + 2 ad revenue", RewardWeights(ad_revenue=2.0))):
        t0 = time.perf_counter()
        layout = SponsoredLayout(positions, 1.0)
        pol = _train_linucb(sim, layout, weights, train_sessions, seed=1, dim=dim)
        train_s[label] = time.perf_counter() - t0
        serve(f"linucb trained on {label}, bid_weight 1", pol, layout)
    engine.close()
    setup = {"config": cfg, "n_products": sim.catalog.n_products,
             "n_sponsored": int(sim.sponsored.sum()), "train_s": train_s}
    return rows, setup


def _plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (what, label) in zip(axes, (("length", "session length (steps)"),
                                        ("click", "clicks per session (shopper return)")),
                                 strict=True):
        pts = []
        for r in rows:
            x, xh = _ci(r.totals["ad_revenue"])
            y, yh = _ci(r.lengths if what == "length" else r.totals["click"])
            style = "o" if r.policy == "greedy" else ("s" if r.policy == "random" else "^")
            ax.errorbar(x, y, xerr=xh, yerr=yh, fmt=style, capsize=2,
                        label=r.name if what == "length" else None)
            if r.policy == "greedy" and r.bid_weight is not None and "annoyance" not in r.name:
                pts.append((x, y))
        if pts:
            ax.plot(*zip(*pts, strict=True), "-", color="grey", alpha=0.5)
        ax.set_xlabel("ad revenue per session")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.legend(loc="lower center", ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.18, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _annoyance_of(row: Row, default: float) -> float:
    if "annoyance" in row.name:
        return float(row.name.rsplit(" ", 1)[1])
    return default


def report(rows: list[Row], setup: dict[str, Any], args: argparse.Namespace,
           seconds: float, png: Path | None) -> str:
    """The markdown report."""
    from shelfwise.rewards import RewardWeights

    cfg = setup["config"]
    lines = [
        "# Sponsored slots: ad revenue against the shopper's return",
        "",
        f"Shopper simulator over the demo store ({setup['n_products']} products, "
        f"{setup['n_sponsored']} sponsored = share {cfg.sponsored_share:g}, seed "
        f"{cfg.sponsored_seed}, bids uniform in {cfg.bid_range}); slate k = {cfg.k}, ad ranks "
        f"{list(cfg.sponsored_positions)} (0-based); each irrelevant ad shown (core utility < "
        f"{cfg.sponsored_relevance:g}) costs {cfg.sponsored_annoyance:g} of the session's time "
        f"budget ({cfg.budget:g}). {args.sessions} held-out sessions per row, the same shoppers "
        f"for every row (seed {EVAL_SEED}). ± is the half-width of the 95% normal interval of "
        "the mean over sessions. Ads are drawn from `policy logits + bid_weight * log(bid)` "
        "among the sponsored candidates the simulator retrieved.",
        "",
        "| configuration | ad revenue / session | clicks / session | purchase value / "
        "session | session length | irrelevant ads / session | s |",
        "|---|---|---|---|---|---|---:|",
    ]
    for r in rows:
        lines.append(f"| {r.name} | {_cell(r.totals['ad_revenue'], 3)} | "
                     f"{_cell(r.totals['click'])} | {_cell(r.totals['purchase_value'], 1)} | "
                     f"{_cell(r.lengths)} | {_cell(r.totals['annoyance'])} | {r.seconds:.0f} |")
    lines += ["", "LinUCB training (online, same simulator, ads via `bid_weight` 1): "
              + ", ".join(f"{k}: {args.train_sessions} sessions, {v:.0f} s"
                          for k, v in setup["train_s"].items()) + ".", ""]
    base = rows[0]
    ref = next((r for r in rows if r.policy == "greedy" and r.bid_weight == 0.0
                and "annoyance" not in r.name), base)
    lines += ["## Paired differences (same shoppers)", "",
              f"Per-session differences, mean and 95% interval: against `{base.name}` (what "
              f"ads cost) and against `{ref.name}` (what ranking ads by bid adds).", "",
              f"| configuration | Δ ad revenue vs {ref.name} | Δ clicks vs no ads | "
              f"Δ session length vs no ads | Δ session length vs {ref.name} |",
              "|---|---|---|---|---|"]
    for r in rows[1:]:
        lines.append(f"| {r.name} | {_paired(r.totals['ad_revenue'], ref.totals['ad_revenue'], 3)}"
                     f" | {_paired(r.totals['click'], base.totals['click'])} | "
                     f"{_paired(r.lengths, base.lengths)} | {_paired(r.lengths, ref.lengths)} |")
    lines += [""]
    lines += ["## Which configuration each reward weighting prefers", "",
              "Mean weighted return per session (`RewardWeights.combine` summed over the "
              "session), 95% interval; the best row per weighting in bold (annoyance "
              "sensitivity rows excluded).", ""]
    names = list(WEIGHTINGS)
    lines.append("| configuration | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    values: dict[str, list[np.ndarray]] = {}
    for wname, wmap in WEIGHTINGS.items():
        w = RewardWeights.from_mapping(wmap)
        values[wname] = [w.click * r.totals["click"] + w.ad_revenue * r.totals["ad_revenue"]
                         + w.retention * r.totals["retention"]
                         + w.purchase_value * r.totals["purchase_value"] for r in rows]
    # the annoyance rows are other simulators (sensitivity), not choices a shop makes
    choices = [i for i, r in enumerate(rows) if "annoyance" not in r.name]
    best = {w: max(choices, key=lambda i, v=vals: float(v[i].mean()))
            for w, vals in values.items()}
    for i, r in enumerate(rows):
        cells = []
        for w in names:
            c = _cell(values[w][i])
            cells.append(f"**{c}**" if best[w] == i else c)
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    top = max(rows, key=lambda r: r.totals["ad_revenue"].mean())
    lines += [
        "",
        "## Reading",
        "",
        f"- Ads cost the shopper: against no ads ({_cell(base.lengths)} steps, "
        f"{_cell(base.totals['click'])} clicks), the highest-revenue row ({top.name}: "
        f"{_cell(top.totals['ad_revenue'], 3)} ad revenue) has {_cell(top.lengths)} steps and "
        f"{_cell(top.totals['click'])} clicks per session.",
        "- Annoyance at irrelevant ads (greedy, bid_weight 1; session length by annoyance per "
        "irrelevant ad): "
        + "; ".join(f"{_annoyance_of(r, args.annoyance):g}: {r.lengths.mean():.2f}"
                    for r in sorted((r for r in rows if r.policy == "greedy"
                                     and r.bid_weight == 1.0),
                                    key=lambda r: _annoyance_of(r, args.annoyance))) + ".",
        "- Greedy by `bid_weight` (ad revenue / session length / irrelevant ads): "
        + "; ".join(f"{r.bid_weight:g}: {r.totals['ad_revenue'].mean():.3f} / "
                    f"{r.lengths.mean():.2f} / {r.totals['annoyance'].mean():.2f}"
                    for r in rows if r.policy == "greedy" and r.bid_weight is not None
                    and "annoyance" not in r.name) + ".",
        "- Preferred configuration per weighting: "
        + "; ".join(f"{w}: {rows[i].name}" for w, i in best.items()) + ".",
        "- LinUCB sees no bid feature (its features are state-item similarities), so its "
        "training weighting can only shift which items it likes overall; the layout's bid "
        "blend is the direct lever on ad revenue here.",
        "",
    ]
    if png is not None:
        lines += [f"![trade-off]({png.name})", ""]
    lines += [
        "Regenerate with:",
        "",
        "    .venv/bin/python benchmarks/sponsored.py --workspace <demo workspace>",
        "",
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds:.0f} s wall, "
        f"{platform.machine()}, {os.cpu_count()} CPUs (shared).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", "-w", type=Path, required=True,
                        help="workspace with the demo store and index")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--train-sessions", type=int, default=300)
    parser.add_argument("--positions", type=str, default="1,3")
    parser.add_argument("--share", type=float, default=0.2)
    parser.add_argument("--annoyance", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "reports" / "sponsored.md")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.train_sessions = 60, 20
    positions = tuple(int(p) for p in args.positions.split(",") if p.strip())
    t0 = time.perf_counter()
    rows, setup = run(args.workspace, args.sessions, args.train_sessions, positions,
                      args.share, args.annoyance)
    png = args.out.with_suffix(".png")
    try:
        _plot(rows, png)
    except ImportError:
        png = None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(rows, setup, args, time.perf_counter() - t0, png))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
