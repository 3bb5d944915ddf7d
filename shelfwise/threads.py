"""Run one request's numeric work on one thread (numpy's BLAS, torch's and FAISS's OpenMP).

A request multiplies small arrays: 100 candidates x 386 features against a 386 x 386 matrix,
one query of a few tokens through MiniLM, a short sequence through SASRec. Split over two
threads, each such call costs more in hand-off than it saves, and on a busy machine far more:
with the other cores taken, a thread waits for its descheduled partner at every barrier.
Measured on the shared 2-core machine under load: ``(100, 386) @ (386, 386)`` took 20 ms with
OpenBLAS's 2 threads and 1.0 ms with one; a MiniLM-sized linear layer 11.7 ms vs 0.6 ms; a
known shopper's text-query request 328 ms vs 16 ms (p50,
``benchmarks/reports/recommend_latency.md``). A server answers concurrent requests on
several threads anyway, so one thread per request uses the cores as well as splitting each
request would.

:func:`one_thread` limits the pools for a ``with`` block (through threadpoolctl):

- OpenMP (torch's intra-op pool, FAISS): the limit is a per-thread setting, so each request's
  thread limits and restores its own, whichever thread the web server runs it on;
- OpenBLAS (numpy): its thread count is one setting for the whole process (even
  ``openblas_set_num_threads_local`` changes it for every thread), so a per-request limit
  would race between concurrent requests. The first block sets it to 1 for the rest of the
  process instead: a process that serves recommendations multiplies small arrays.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["one_thread"]

_lock = threading.Lock()
_openmp: Any = None
_modules_at_scan = -1


def _openmp_pools() -> Any:
    """The process's OpenMP pools (a threadpoolctl controller), OpenBLAS set to one thread.

    threadpoolctl finds pools by scanning the loaded libraries (about 1 ms), so the scan is
    repeated only when something was imported since the last one: torch or FAISS loaded
    after the first request bring their own pools.
    """
    global _openmp, _modules_at_scan
    if len(sys.modules) != _modules_at_scan:
        with _lock:
            if len(sys.modules) != _modules_at_scan:
                from threadpoolctl import ThreadpoolController, threadpool_limits

                # not a ``with`` block: the setting stays (see the module docstring)
                threadpool_limits(limits=1, user_api="blas")
                _openmp = ThreadpoolController().select(user_api="openmp")
                _modules_at_scan = len(sys.modules)
    return _openmp


@contextmanager
def one_thread() -> Iterator[None]:
    """Numeric libraries use one thread inside the block (nestable, thread-safe)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        # torch sets a thread's OpenMP count on its first use in that thread (to the last
        # torch.set_num_threads); let that happen first, or it would undo the limit
        torch.get_num_threads()
    limiter = _openmp_pools().limit(limits=1)  # OpenMP: this thread only
    try:
        yield
    finally:
        limiter.restore_original_limits()
