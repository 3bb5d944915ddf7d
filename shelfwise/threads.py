"""Run one request's numeric work on one thread (numpy's BLAS, torch's and FAISS's OpenMP).

A request multiplies small arrays: 100 candidates x 386 features against a 386 x 386 matrix,
one query of a few tokens through MiniLM, a short sequence through SASRec. Split over two
threads, each such call costs more in hand-off than it saves, and on a busy machine far more:
with the other cores taken, a thread waits for its descheduled partner at every barrier.
Measured on the shared 2-core machine under load: ``(100, 386) @ (386, 386)`` took 20 ms with
OpenBLAS's 2 threads and 1.0 ms with one; a MiniLM-sized linear layer 11.7 ms vs 0.6 ms; a
whole text-query request 517 ms vs 30 ms (``benchmarks/reports/recommend_latency.md``). A
server answers concurrent requests on several threads anyway, so one thread per request
uses the cores as well as splitting each request would.

:func:`one_thread` limits the pools for a ``with`` block (through threadpoolctl):

- OpenMP (torch's intra-op pool, FAISS): the limit is a per-thread setting, so each request's
  thread limits and restores its own, whichever thread the web server runs it on;
- OpenBLAS (numpy): its thread count is one setting for the whole process (even
  ``openblas_set_num_threads_local`` changes it for every thread), so a per-request limit
  would race between concurrent requests. The first block sets it to 1 for the rest of the
  process instead: a process that serves recommendations multiplies small arrays.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["one_thread"]

_lock = threading.Lock()
_controller: Any = None


def _pools() -> Any:
    """The OpenMP pools of the process, found once (threadpoolctl scans the libraries).

    OpenBLAS is set to one thread at the same time, for good.
    """
    global _controller
    with _lock:
        if _controller is None:
            from threadpoolctl import ThreadpoolController, threadpool_limits

            # not a ``with`` block: the setting stays (see the module docstring)
            threadpool_limits(limits=1, user_api="blas")
            _controller = ThreadpoolController().select(user_api="openmp")
    return _controller


@contextmanager
def one_thread() -> Iterator[None]:
    """Numeric libraries use one thread inside the block (nestable, thread-safe)."""
    limiter = _pools().limit(limits=1)  # OpenMP: this thread only
    try:
        yield
    finally:
        limiter.restore_original_limits()
