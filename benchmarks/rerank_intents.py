"""Does the language model help rerank text intents that attribute words do not cover?

Intents are occasions, uses and styles ("something for a rainy hike", "a watch I can swim
with"), asked of the demo store (2,000 products). For each intent the shop's recommender
(greedy policy, fresh shopper, no model) serves its top ``n`` products for the text (the
**policy order**, weight 0); the model scores those ``n`` (score mode, the prompt as served:
one forward pass); the order is ``argsort((1 - w) * z(policy) + w * z(model))``. Metric:
NDCG@10 against graded labels (0/1/2), the ideal being the best 10 labels among the same
``n`` candidates, so the number measures ordering, not retrieval. ``n = 10`` is what serving
does (the model re-orders the served slate); ``n = 20`` lets it pick 10 of 20.

Labels, and how they were made honest: each intent has a rule over the product's own
catalog facts (``kind``, ``style``, ``material``, ``category`` and the feature phrases of its
description, e.g. "waterproof upper", "laptop sleeve", "water resistance to 100 m"), written
from the catalog's vocabulary (``INTENTS`` below) before any model score was looked at and
never tuned afterwards. 2 = the product does what the intent asks (a waterproof jacket for the
rainy hike), 1 = partly (a parka without a waterproof feature), 0 = not. They are one
reader's judgement, written down and reproducible; the model sees title, price and at most
two attributes (and, in the ``+desc`` rows, 80 characters of the description), so a rule
that rests on a description phrase is a fact the default prompt does not show.

    .venv/bin/python benchmarks/rerank_intents.py                 # ~3-6 min on 2 busy cores
    .venv/bin/python benchmarks/rerank_intents.py --quick --out /tmp/ri.md
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)


def log(msg: str) -> None:
    print(f"[rerank-intents] {msg}", file=sys.stderr, flush=True)


# -- the product's facts, as the label rules read them -----------------------------------------

def _a(p: Any, key: str) -> str:
    return str(dict(p.attributes or {}).get(key, "")).lower()


def kind(p: Any, *kinds: str) -> bool:
    return _a(p, "kind") in kinds


def style(p: Any, *styles: str) -> bool:
    return _a(p, "style") in styles


def mat(p: Any, *materials: str) -> bool:
    return _a(p, "material") in materials


def cat(p: Any, *cats: str) -> bool:
    return str(p.category).lower() in cats


def feat(p: Any, *phrases: str) -> bool:
    text = str(p.description or "").lower()
    return any(ph in text for ph in phrases)


Rule = Callable[[Any], int]


def graded(two: Callable[[Any], bool], one: Callable[[Any], bool]) -> Rule:
    return lambda p: 2 if two(p) else (1 if one(p) else 0)


INTENTS: list[tuple[str, Rule]] = [
    ("something for a rainy hike", graded(
        lambda p: feat(p, "waterproof", "water-resistant") and cat(p, "jackets", "shoes", "bags"),
        lambda p: feat(p, "windproof", "waterproof", "water-resistant", "packable hood")
        or kind(p, "rain jacket", "parka", "field jacket", "boots"))),
    ("keep me warm on a winter walk", graded(
        lambda p: feat(p, "warm knit", "insulated lining", "chunky knit") or kind(p, "parka"),
        lambda p: mat(p, "wool", "cashmere", "felt")
        or kind(p, "beanie", "snood", "turtleneck", "scarf", "shawl"))),
    ("a bag that fits my laptop for the office", graded(
        lambda p: cat(p, "bags") and feat(p, "laptop sleeve"),
        lambda p: kind(p, "backpack", "tote bag"))),
    ("comfortable shoes for standing all day", graded(
        lambda p: cat(p, "shoes") and feat(p, "cushioned insole"),
        lambda p: cat(p, "shoes") and (feat(p, "non-slip rubber sole", "lightweight build")
                                       or kind(p, "sneakers", "trainers")))),
    ("a watch I can swim with", graded(
        lambda p: feat(p, "water resistance to 100 m"), lambda p: kind(p, "diver watch"))),
    ("sun protection at the beach", graded(
        lambda p: feat(p, "uv protection"),
        lambda p: kind(p, "sun hat", "bucket hat") or feat(p, "wide brim") or mat(p, "straw"))),
    ("an outfit for a job interview", graded(
        lambda p: style(p, "formal") and kind(p, "blazer", "oxford shirt", "button-down shirt",
                                              "tailored trousers", "oxford shoes", "loafers"),
        lambda p: style(p, "formal"))),
    ("cosy clothes for lounging at home", graded(
        lambda p: kind(p, "hoodie", "joggers"),
        lambda p: feat(p, "relaxed fit", "kangaroo pocket", "chunky knit")
        or (style(p, "casual") and cat(p, "sweaters", "trousers", "shirts")))),
    ("gear for the gym", graded(
        lambda p: style(p, "sporty") and kind(p, "joggers", "trainers", "sneakers", "t-shirt",
                                              "hoodie", "smartwatch", "baseball cap"),
        lambda p: style(p, "sporty"))),
    ("a dress for a summer wedding", graded(
        lambda p: cat(p, "dresses") and style(p, "formal"),
        lambda p: cat(p, "dresses") or (style(p, "formal") and kind(p, "clutch")))),
    ("something light to pack for a weekend away", graded(
        lambda p: feat(p, "packable", "lightweight"),
        lambda p: feat(p, "travel") or kind(p, "backpack", "tote bag"))),
    ("a gift for someone who loves timeless classics", graded(
        lambda p: feat(p, "timeless pieces"), lambda p: style(p, "vintage"))),
    ("clothes that don't need ironing on a business trip", graded(
        lambda p: feat(p, "wrinkle-resistant", "easy-iron"),
        lambda p: style(p, "formal") and cat(p, "shirts", "trousers"))),
    ("something easy to wear for Saturday errands", graded(
        lambda p: feat(p, "weekends and errands"), lambda p: style(p, "casual"))),
    ("a night out at a cocktail bar", graded(
        lambda p: feat(p, "evenings out"),
        lambda p: style(p, "formal") and cat(p, "dresses", "shoes", "bags"))),
    ("something for a run in the cold", graded(
        lambda p: style(p, "sporty") and (mat(p, "wool", "fleece")
                                          or feat(p, "warm knit", "insulated", "windproof")),
        lambda p: style(p, "sporty") or feat(p, "windproof"))),
    ("a hat to keep my ears warm", graded(
        lambda p: kind(p, "beanie") or (cat(p, "hats") and feat(p, "warm knit")),
        lambda p: cat(p, "hats") and mat(p, "wool", "felt", "cashmere", "acrylic"))),
    ("a small bag for my phone and keys at a party", graded(
        lambda p: kind(p, "clutch", "crossbody bag"), lambda p: kind(p, "handbag"))),
    ("trousers with room for things on a trail", graded(
        lambda p: kind(p, "cargo pants"),
        lambda p: kind(p, "joggers") or (cat(p, "trousers") and feat(p, "deep pockets")))),
    ("a watch that looks right with a suit", graded(
        lambda p: kind(p, "dress watch"),
        lambda p: cat(p, "watches") and (style(p, "formal") or feat(p, "sapphire crystal")))),
    ("a watch to track my workouts", graded(
        lambda p: kind(p, "smartwatch"),
        lambda p: cat(p, "watches") and style(p, "sporty"))),
    ("shoes for a formal dinner", graded(
        lambda p: kind(p, "oxford shoes", "loafers") and style(p, "formal"),
        lambda p: kind(p, "oxford shoes", "loafers"))),
    ("something breathable for hot weather", graded(
        lambda p: feat(p, "breathable", "lightweight weave") or mat(p, "linen"),
        lambda p: mat(p, "cotton", "straw", "mesh"))),
    ("a bag I can carry hands-free while cycling", graded(
        lambda p: kind(p, "backpack"), lambda p: kind(p, "crossbody bag"))),
    ("a smart-casual shirt for the office", graded(
        lambda p: kind(p, "oxford shirt", "button-down shirt", "polo shirt")
        and feat(p, "office"),
        lambda p: kind(p, "oxford shirt", "button-down shirt"))),
    ("layers for a chilly autumn evening", graded(
        lambda p: kind(p, "cardigan", "turtleneck", "field jacket", "wrap scarf", "shawl"),
        lambda p: mat(p, "wool", "cashmere") or cat(p, "sweaters", "scarves"))),
    ("something to wear on a long flight", graded(
        lambda p: feat(p, "relaxed fit", "stretch waistband") or kind(p, "joggers", "hoodie"),
        lambda p: feat(p, "travel") or style(p, "casual"))),
    ("a present for a new graduate starting work", graded(
        lambda p: style(p, "formal") and kind(p, "dress watch", "blazer", "handbag",
                                              "tote bag", "oxford shoes"),
        lambda p: style(p, "formal") or feat(p, "office"))),
]


def ndcg_at(labels: np.ndarray, order: np.ndarray, k: int = 10) -> float:
    """NDCG@k of ``order`` (indices into ``labels``) with gain ``2^label - 1``."""
    gain = 2.0 ** labels - 1.0
    disc = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = float((gain[order[:k]] * disc[: len(order[:k])]).sum())
    ideal = np.sort(gain)[::-1][:k]
    idcg = float((ideal * disc[: len(ideal)]).sum())
    return dcg / idcg if idcg > 0 else float("nan")


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return np.zeros_like(x) if sd < 1e-12 else (x - x.mean()) / sd


@dataclass
class Slate:
    intent: str
    products: list[Any]
    policy: np.ndarray
    labels: np.ndarray


def policy_slates(workspace: Path, n: int, intents: list[tuple[str, Rule]]) -> list[Slate]:
    """The recommender's top ``n`` for each intent (no model), with the rule labels."""
    from agent.products import ProductView
    from shelfwise.shop import open_assistant

    tmp = Path(tempfile.mkdtemp(prefix="rerank-intents-"))
    ws = tmp / "ws"
    shutil.copytree(workspace, ws, ignore=shutil.ignore_patterns("events.sqlite*"))
    try:
        assistant = open_assistant(ws, llm=False, policy="greedy", k=n)
        rec = assistant.tools.recommender
        out = []
        for i, (text, rule) in enumerate(intents):
            resp = rec.recommend(f"bench-{i}", text, None, n, rng=np.random.default_rng(i))
            items = sorted(resp.items, key=lambda it: it.position)
            views = [ProductView.from_any(it.product) for it in items]
            out.append(Slate(text, views, np.array([it.policy_score for it in items], float),
                             np.array([rule(v) for v in views], dtype=float)))
        rec.events.close()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def model_scores(model: Any, slates: list[Slate], description_chars: int) -> tuple[
        list[np.ndarray | None], list[float]]:
    from agent.rerank import Reranker

    rr = Reranker(model, mode="score", blend_weight=1.0, cache_size=0, timeout_s=120.0,
                  max_candidates=max(len(s.products) for s in slates),
                  description_chars=description_chars)
    scores, took = [], []
    for s in slates:
        t0 = time.perf_counter()
        res = rr.rerank(s.intent, None, s.products, s.policy, len(s.products))
        took.append(time.perf_counter() - t0)
        scores.append(None if res.fallback else np.asarray(res.llm_scores, float))
    return scores, took


def boot(x: np.ndarray, rng: np.random.Generator, n: int = 2000) -> tuple[float, float]:
    idx = rng.integers(0, len(x), size=(n, len(x)))
    m = x[idx].mean(axis=1)
    return float(np.percentile(m, 2.5)), float(np.percentile(m, 97.5))


def table(name: str, slates: list[Slate], scores: list[np.ndarray | None], took: list[float],
          seed: int) -> tuple[list[str], dict[float, float]]:
    rng = np.random.default_rng(seed)
    keep = [i for i, s in enumerate(slates) if s.labels.max() > 0]
    fallbacks = sum(sc is None for sc in scores)
    per_w: dict[float, np.ndarray] = {}
    for w in WEIGHTS:
        vals = []
        for i in keep:
            s, sc = slates[i], scores[i]
            llm = np.zeros(len(s.products)) if sc is None else sc
            blend = (1 - w) * _z(s.policy) + w * _z(llm)
            order = np.lexsort((np.arange(len(blend)), -blend))
            vals.append(ndcg_at(s.labels, order))
        per_w[w] = np.asarray(vals)
    base = per_w[0.0]
    cis = {w: boot(per_w[w] - base, rng) for w in WEIGHTS}
    lines = [f"| {name} | " + " | ".join(
        f"{per_w[w].mean():.3f}" + ("" if w == 0 else
                                     f" ({(per_w[w] - base).mean():+.3f} "
                                     f"[{cis[w][0]:+.3f}, {cis[w][1]:+.3f}])")
        for w in WEIGHTS) + f" | {len(keep)} | {fallbacks} | {np.median(took):.2f} |"]
    return lines, {w: (float(per_w[w].mean() - base.mean()), *cis[w]) for w in WEIGHTS}


def models_to_run(quick: bool, only: tuple[str, ...] = ()) -> list[tuple[str, Any, str]]:
    """(name, chat model or None, note) per model: SmolLM2; Gemma 3 270M when installed.

    ``only``: model aliases to keep (``smollm2``, ``gemma3-270m``); empty keeps both.
    """
    from agent.llm import LlamaCppChatModel
    from agent.llm_backends import resolve_gguf
    from encoders.errors import LLMError

    out = []
    for alias, name in (("smollm2", "SmolLM2-135M-Instruct Q4_1"),
                        ("gemma3-270m", "Gemma 3 270M Q4_K_M")):
        if only and alias not in only:
            continue
        try:
            path = resolve_gguf(alias)
        except LLMError as exc:
            out.append((name, None, str(exc)))
            continue
        out.append((name, LlamaCppChatModel(model_path=str(path), n_threads=1), ""))
        if quick:
            break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=os.environ.get("SHELFWISE_HOME"),
                        help="a built demo workspace (copied; never written)")
    parser.add_argument("--quick", action="store_true", help="4 intents, one model, n=10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="",
                        help="comma-separated aliases to run (smollm2, gemma3-270m); default both")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "reports" / "rerank_intents.md")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from _demo import demo_workspace

    ws = demo_workspace(args.workspace)
    start = time.perf_counter()
    intents = INTENTS[:4] if args.quick else INTENTS
    sizes = (10,) if args.quick else (10, 20)
    slates = {n: policy_slates(ws, n, intents) for n in sizes}
    log(f"policy slates ready ({time.perf_counter() - start:.0f}s)")
    head = ("| model, candidates, prompt | " + " | ".join(f"w={w:g}" for w in WEIGHTS)
            + " | intents | fallbacks | score call p50 (s) |")
    rows = [head, "|" + "---|" * (len(WEIGHTS) + 4)]
    notes, deltas = [], {}
    only = tuple(m.strip() for m in args.models.split(",") if m.strip())
    for name, model, note in models_to_run(args.quick, only):
        if model is None:
            notes.append(f"- **{name}: not measured** — {note}.")
            continue
        for n in sizes:
            for desc in ((0,) if args.quick else (0, 80)):
                sc, took = model_scores(model, slates[n], desc)
                label = f"{name}, n={n}, {'title+attrs' if desc == 0 else '+desc 80'}"
                lines, d = table(label, slates[n], sc, took, args.seed)
                rows += lines
                deltas[label] = d
                log(f"{label}: {lines[0]}")
    rel = {n: np.mean([float((s.labels > 0).mean()) for s in slates[n]]) for n in sizes}
    gains = [(lab, w, d[0]) for lab, dd in deltas.items() for w, d in dd.items()
             if w > 0 and d[1] > 0]
    losses = [(lab, w) for lab, dd in deltas.items() for w, d in dd.items() if w > 0 and d[2] < 0]
    lines = [
        "# Does the model help rerank text intents? (NDCG@10 of the blend, demo store)", "",
        f"Generated by `benchmarks/rerank_intents.py{' --quick' if args.quick else ''}"
        f"{' --models ' + args.models if args.models else ''}` on "
        f"{platform.machine()} / Python {platform.python_version()}, {os.cpu_count()} CPUs "
        f"(shared), in {time.perf_counter() - start:.0f} s; one llama.cpp thread.", "",
        __doc__.split("\n\n", 1)[1].split("    .venv")[0].strip(), "",
        f"{len(intents)} intents. Share of the policy's candidates with label > 0: "
        + ", ".join(f"{rel[n]:.0%} (n={n})" for n in sizes)
        + ". Intents whose candidates are all 0 are left out (NDCG undefined).", "",
        "Each cell: mean NDCG@10 over intents, and for w > 0 the paired difference to the "
        "policy order (w=0) with its 95% bootstrap interval over intents.", "",
        *rows, "", *notes, ""]
    if deltas:
        verdict = ("Weights whose paired gain has its 95% interval above 0: " + "; ".join(
            f"{lab} w={w:g} ({d:+.3f})" for lab, w, d in gains) + ".") if gains else (
            "**No weight above 0 improves NDCG@10**: no paired interval lies above 0.")
        if losses:
            verdict += " Significantly worse than the policy order: " + "; ".join(
                f"{lab} w={w:g}" for lab, w in losses) + "."
        lines += [verdict, "", "The shop's own weight is chosen on its logs with `shelfwise "
                  "evaluate --rerank-weights 0,0.25,0.5,1 --write-config`; at weight 0 no score "
                  "call is made. The score-call column is wall time while other jobs loaded the "
                  "2 cores (1-minute load ~15-20); see `benchmarks/reports/llm.md` for latency.",
                  ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
