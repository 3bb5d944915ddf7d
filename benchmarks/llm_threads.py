"""llama.cpp threads vs. a competing process: why one thread is the default on 2 cores.

Times a ~250-token score call (`LlamaCppChatModel.next_token_logprobs`, the reranker's single
forward pass) with 1 and 2 llama.cpp threads, alone and beside busy-loop processes that each
hold one core, and prints a Markdown table (quoted in `benchmarks/reports/llm.md`).

    .venv/bin/python benchmarks/llm_threads.py [--calls 6] [--busy 0 1]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import statistics
import time

WORDS = "red leather bag blue cotton shirt black wool coat green suede boot".split()


def _spin() -> None:
    while True:
        pass


def _prompt(i: int) -> list:
    from langchain_core.messages import HumanMessage, SystemMessage

    rnd = random.Random(i)
    words = " ".join(rnd.choice(WORDS) for _ in range(240))
    return [SystemMessage("You rank products."), HumanMessage(words + " Answer with a letter.")]


def time_calls(threads: int, calls: int) -> list[float]:
    """Seconds per score call, after one warm-up call, for ``calls`` different prompts."""
    from agent.llm import LlamaCppChatModel

    model = LlamaCppChatModel(n_threads=threads)
    model.next_token_logprobs(_prompt(-1), ["A", "B"])
    out = []
    for i in range(calls):
        t0 = time.perf_counter()
        model.next_token_logprobs(_prompt(i), ["A", "B"])
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1],
                        help="numbers of busy-loop processes to try")
    args = parser.parse_args()
    print("| llama.cpp threads | busy processes | median s | max s |")
    print("|---:|---:|---:|---:|")
    for busy in args.busy:
        spinners = [mp.Process(target=_spin, daemon=True) for _ in range(busy)]
        for p in spinners:
            p.start()
        try:
            for threads in (1, 2):
                ts = time_calls(threads, args.calls)
                print(f"| {threads} | {busy} | {statistics.median(ts):.3f} | {max(ts):.3f} |",
                      flush=True)
        finally:
            for p in spinners:
                p.terminate()


if __name__ == "__main__":
    main()
