"""Reasons benchmark: unsupported claims shown, model-reason share, wording variety, latency.

Shoppers are drawn (seeded) on two catalogs: the demo store (a workspace, default
``$SHELFWISE_TEST_DEMO`` or ``/tmp/demo-ws``) and a non-demo outdoor/kitchen catalog
(``tests/reasons/data/outdoor_catalog.jsonl``, 41 products in EUR, with injected product copy,
a free sample and a forged turn in a title). Each shopper has a query built from a product's
own words, a budget for half of them (0 for some: "a free … that costs nothing"), and a
history (bought or viewed) for half of them; the slate is the 10 products that share most
words with the query. The real default model (SmolLM2-135M-Instruct GGUF through
``agent.llm.LlamaCppChatModel``, one thread) chooses the facts of every reason
(``Explainer(llm_top=10)``); a smaller run lets the same model write free text
(``capable=True``) to show what the claim checker rejects. Every reason shown is checked by
``agent.claims.check_claims`` and by independent checks (no history for shoppers without one,
no budget claim over budget, no "costs 0", no copied injected copy or line breaks).

    .venv/bin/python benchmarks/reasons.py                      # full size (~10 min CPU)
    .venv/bin/python benchmarks/reasons.py --shoppers 4 --free-form 4 --out /tmp/reasons.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.claims import check_claims  # noqa: E402
from agent.explain import Explainer, Explanation  # noqa: E402
from agent.facts import HistoryItem, ShopperContext, extract_facts  # noqa: E402
from agent.products import ProductView  # noqa: E402
from agent.reasons import default_choice  # noqa: E402

OUTDOOR = ROOT / "tests" / "reasons" / "data" / "outdoor_catalog.jsonl"
LABELLED = ROOT / "tests" / "reasons" / "data" / "labelled_reasons.jsonl"
HISTORY = re.compile(r"\b(bought|looked at|saw earlier|before|history|viewed)\b", re.I)
BUDGET = re.compile(r"\b(budget|you set)\b", re.I)


def _pv(d: dict[str, Any]) -> ProductView:
    return ProductView(str(d["id"]), str(d["title"]), str(d["category"]), float(d["price"]),
                       str(d["currency"]), dict(d["attributes"]), str(d["description"]))


def load_catalogs(workspace: Path) -> dict[str, list[ProductView]]:
    """The demo store's products (from the workspace) and the outdoor catalog."""
    from shelfwise.catalog import CatalogStore
    from shelfwise.workspace import Workspace

    store = CatalogStore(Workspace.resolve(workspace).catalog_db)
    try:
        demo = [ProductView.from_any(p) for p in store.all()]
    finally:
        store.close()
    with open(OUTDOOR, encoding="utf-8") as f:
        outdoor = [_pv(json.loads(line)) for line in f if line.strip()]
    return {"demo": demo, "outdoor": outdoor}


def make_shopper(products: list[ProductView], rng: np.random.Generator,
                 i: int) -> tuple[ShopperContext, list[ProductView]]:
    """A shopper (query, budget, history) and the slate of 10 they are shown."""
    seed = products[int(rng.integers(len(products)))]
    a = seed.attributes
    noun = a.get("kind") or seed.category
    words = [w for w in (a.get("colour") or a.get("color"), a.get("material"), noun) if w]
    query = " ".join(str(w) for w in words[int(rng.integers(0, 2)):]).lower()
    budget: float | None = None
    kind = i % 6
    if kind in (1, 3):
        budget = float(round(seed.price * float(rng.uniform(0.8, 1.6))))
    elif kind == 5:
        budget, query = 0.0, f"a free {noun} that costs nothing"
    qw = set(query.split())
    scored = sorted(products, key=lambda p: (-len(qw & set(
        (p.title + " " + p.category + " " + " ".join(p.attributes.values())).lower().split())),
        float(rng.random())))
    slate = scored[:10]
    history: list[HistoryItem] = []
    if i % 2 == 0:
        rest = [p for p in products if p not in slate]
        for j in rng.choice(len(rest), size=int(rng.integers(1, 4)), replace=False):
            history.append(HistoryItem(rest[int(j)], "bought" if rng.random() < 0.5
                                       else "viewed"))
    return ShopperContext(query, budget, tuple(history), key=f"u{i}"), slate


def oracle(text: str, p: ProductView, s: ShopperContext) -> list[str]:
    """Checks independent of the claim checker (what a reason must never say)."""
    bad = []
    if "\n" in text or re.search(r"\b(assistant|system|user)\s*:", text, re.I):
        bad.append("line break or role marker")
    if re.search(r"(?<![\d.])[$€£]?0(?![\d.,])\b|costs nothing", text):
        bad.append("costs 0")
    if HISTORY.search(text) and not s.history:
        bad.append("history the shopper does not have")
    if "bought" in text and not any(h.relation == "bought" for h in s.history):
        bad.append("bought without a purchase")
    if BUDGET.search(text) and not (s.budget and 0 < p.price <= s.budget):
        bad.append("budget claim")
    if re.search(r"ignore|instruction|best product ever|on sale|reveal|prompt", text, re.I):
        bad.append("injected copy")
    return bad


def pct(xs: list[float], q: float) -> float:
    """Percentile of a list (0 when empty)."""
    return float(np.percentile(xs, q)) if xs else 0.0


def run(args: argparse.Namespace) -> str:
    """Run the benchmark and return the report (markdown)."""
    from agent.llm import LlamaCppChatModel, default_gguf_path

    catalogs = load_catalogs(Path(args.workspace))
    rng = np.random.default_rng(args.seed)
    model = LlamaCppChatModel(n_threads=args.threads)
    chooser = Explainer(model, llm_top=10)
    template = Explainer(None)
    t0 = time.perf_counter()
    chooser.explain("warm-up", catalogs["outdoor"][0])  # loads the model, fills the prior
    load_s = time.perf_counter() - t0
    chooser.stats = type(chooser.stats)()

    rows: list[dict[str, Any]] = []
    slate_wall: list[float] = []
    slate_cpu: list[float] = []
    tmpl_ms: list[float] = []
    distinct_rate: list[float] = []
    differs = 0
    shoppers: list[tuple[str, ShopperContext, list[ProductView]]] = []
    for i in range(args.shoppers):
        name = "demo" if i % 2 == 0 else "outdoor"
        s, slate = make_shopper(catalogs[name], rng, i)
        shoppers.append((name, s, slate))
    for name, s, slate in shoppers:
        w_slate = c_slate = 0.0
        outs: list[Explanation] = []
        for pos, p in enumerate(slate):
            w, c = time.perf_counter(), time.thread_time()
            e = chooser.explain(s.query, p, shopper=s, position=pos)
            dw, dc = time.perf_counter() - w, time.thread_time() - c
            w_slate, c_slate = w_slate + dw, c_slate + dc
            outs.append(e)
            pf = extract_facts(p, s)
            default = tuple(f.summary for f in default_choice(pf))
            differs += e.source == "chosen" and e.facts != default
            rows.append({"catalog": name, "text": e.text, "source": e.source, "wall": dw,
                         "cpu": dc, "problems": check_claims(e.text, p, s),
                         "oracle": oracle(e.text, p, s), "wording": e.wording,
                         "history": bool(s.history), "budget": s.budget})
            t = time.perf_counter()
            template.explain(s.query, p, shopper=s, position=pos)
            tmpl_ms.append((time.perf_counter() - t) * 1000)
        slate_wall.append(w_slate)
        slate_cpu.append(c_slate)
        distinct_rate.append(len({e.wording for e in outs}) / len(outs))

    # free text from the same model, declared capable only for this measurement
    writer = Explainer(model, capable=True, llm_top=10)
    free_rows: list[dict[str, Any]] = []
    rejected_examples: list[str] = []
    accepted_examples: list[str] = []
    for _name, s, slate in shoppers[: args.free_form]:
        for pos, p in enumerate(slate[:5]):
            w = time.perf_counter()
            e = writer.explain(s.query, p, shopper=s, position=pos)
            free_rows.append({"source": e.source, "wall": time.perf_counter() - w,
                              "problems": check_claims(e.text, p, s),
                              "oracle": oracle(e.text, p, s)})
            if e.problems and len(rejected_examples) < 8:
                rejected_examples.append(f"{'; '.join(e.problems[:2])} → served: “{e.text}”")
            if e.source == "llm" and len(accepted_examples) < 8:
                accepted_examples.append(f"“{e.text}” ({p.title}, {p.price:g} {p.currency})")

    # the checker on the labelled set
    missed = false_rej = n_un = n_sup = 0
    with open(LABELLED, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            sh = r["shopper"]
            ctx = ShopperContext(sh["query"], sh["budget"], tuple(
                HistoryItem(_pv(h["product"]), h["relation"]) for h in sh["history"]))
            probs = check_claims(r["sentence"], _pv(r["product"]), ctx)
            if r["label"] == "unsupported":
                n_un += 1
                missed += not probs
            else:
                n_sup += 1
                false_rej += bool(probs)

    n = len(rows)
    unsupported = sum(bool(r["problems"]) or bool(r["oracle"]) for r in rows)
    free_unsupported = sum(bool(r["problems"]) or bool(r["oracle"]) for r in free_rows)
    st = chooser.stats
    wst = writer.stats
    walls = [r["wall"] * 1000 for r in rows]
    cpus = [r["cpu"] * 1000 for r in rows]
    by_cat = Counter(r["catalog"] for r in rows)
    load = os.getloadavg()
    now = time.gmtime()
    examples = [r for r in rows if r["history"] or r["budget"]][:6] + rows[1::97][:4]
    lines = [
        "# Reasons: grounded by construction",
        "",
        f"Generated by `benchmarks/reasons.py` on {time.strftime('%Y-%m-%d %H:%M UTC', now)}"
        f" ({platform.machine()}, {os.cpu_count()} CPUs, load average during the run "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}: the machine was shared with other "
        "jobs, so wall times are inflated; CPU time of the llama.cpp thread is given beside "
        "them).",
        "",
        f"Model: `{Path(default_gguf_path()).name}` (SmolLM2-135M-Instruct) through "
        f"`agent.llm.LlamaCppChatModel`, n_threads={args.threads}; load + calibration "
        f"{load_s:.1f} s. Shoppers: {len(shoppers)} ({by_cat['demo'] // 10} on the demo store of "
        f"{len(catalogs['demo'])} products, {by_cat['outdoor'] // 10} on the outdoor catalog of "
        f"{len(catalogs['outdoor'])} products), slates of 10, seed {args.seed}. Half the "
        "shoppers have a history (bought or viewed), a third a budget, a sixth asked for a "
        "made-up free product (budget 0).",
        "",
        "## Reasons shown (model chooses the facts, sentence constructed)",
        "",
        "| metric | value | target |",
        "|---|---|---|",
        f"| reasons generated | {n} | ≥ 200 |",
        f"| unsupported claims shown (claim checker or independent checks) | {unsupported} | 0 |",
        f"| model-chosen reasons (`source == 'chosen'`) | {st.chosen_used}/{n} "
        f"({st.model_share:.0%}) | — |",
        f"| model choice differs from the default fact order | {differs}/{st.chosen_used} | — |",
        f"| fact-choice errors (fell back to the default order) | {st.rejected['error']} | — |",
        f"| distinct wordings per slate of 10 (mean) | {statistics.mean(distinct_rate):.2f} | — |",
        f"| distinct sentences overall | {len({r['text'] for r in rows})}/{n} | — |",
        f"| latency per reason, wall p50 / p95 | {pct(walls, 50):.0f} / {pct(walls, 95):.0f} ms"
        " | — |",
        f"| latency per reason, CPU p50 / p95 | {pct(cpus, 50):.0f} / {pct(cpus, 95):.0f} ms"
        " | — |",
        f"| latency per slate of 10, wall p50 / p95 | {pct(slate_wall, 50):.2f} / "
        f"{pct(slate_wall, 95):.2f} s | — |",
        f"| latency per slate of 10, CPU p50 / p95 | {pct(slate_cpu, 50):.2f} / "
        f"{pct(slate_cpu, 95):.2f} s | — |",
        f"| constructed reason without a model, p50 / p95 | {pct(tmpl_ms, 50):.2f} / "
        f"{pct(tmpl_ms, 95):.2f} ms | — |",
        "",
        "The chat and the server use `Explainer(model)` with the default `llm_top=3`: the model "
        "chooses the facts of the top three reasons of a slate (what the shopper reads first) "
        f"and a slate costs about 3 × {pct(cpus, 50):.0f} ms of CPU; `llm_top=10` as measured "
        "here gives every reason a model choice.",
        "",
        "## Free text from the same model (declared capable for this measurement only)",
        "",
        f"{len(free_rows)} reasons (first 5 of the first {args.free_form} slates): "
        f"{wst.llm_used} model sentences passed the claim checker, "
        f"{wst.rejected['unsupported']} were rejected as unsupported and replaced by the "
        f"constructed reason, {wst.rejected['empty'] + wst.rejected['error']} empty or failed; "
        f"unsupported claims shown: **{free_unsupported}**. Wall p50 "
        f"{pct([r['wall'] * 1000 for r in free_rows], 50):.0f} ms per reason. This is why "
        "SmolLM2-135M (and Gemma 3 270M) stay `capable=False` by default.",
        "",
        "Rejected model sentences (problem → what was shown instead):",
        "",
        *[f"- {x}" for x in rejected_examples],
        "",
        "Model sentences that passed the checker and were shown:",
        "",
        *[f"- {x}" for x in accepted_examples],
        "",
        "## Claim checker on the labelled set",
        "",
        f"`tests/reasons/data/labelled_reasons.jsonl`: {n_un + n_sup} labelled reasons "
        f"(demo store and outdoor catalog, including the cases quoted in issue 12). "
        f"Unsupported reasons accepted: **{missed}/{n_un}** (target 0); supported reasons "
        f"rejected: {false_rej}/{n_sup}.",
        "",
        "## Examples",
        "",
        *[f"- ({r['catalog']}, {r['source']}) {r['text']}" for r in examples],
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", default=os.environ.get("SHELFWISE_TEST_DEMO", "/tmp/demo-ws"),
                    help="demo workspace (shelfwise demo)")
    ap.add_argument("--shoppers", type=int, default=24, help="shoppers (slates of 10)")
    ap.add_argument("--free-form", type=int, default=6,
                    help="slates whose first 5 reasons the model writes as free text")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "reports" / "reasons.md"))
    args = ap.parse_args()
    report = run(args)
    Path(args.out).write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
