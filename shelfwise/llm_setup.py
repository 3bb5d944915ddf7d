"""The shop's language model from its ``[llm]`` config section and the ``--llm-*`` options.

One place turns configuration into the chat model, the reranker and the served blend weight,
for ``chat``, ``serve`` and ``batch`` alike:

* :func:`resolve_llm_config` — the workspace's ``[llm]`` section with the command line's
  overrides applied; a bad value is a :class:`~shelfwise.errors.ConfigError` naming the option
  (``--llm-backend``) or the file and key (``llm.backend``).
* :func:`open_chat_model` — the backend's chat model (:func:`agent.llm_backends.make_chat_model`).
* :func:`make_reranker` — a reranker only when its scores are used: ``rerank_weight > 0`` or
  ``always_score``. At weight 0 the score call is skipped entirely.
* :func:`write_rerank_weight` — store the weight chosen by ``shelfwise evaluate
  --rerank-weights --write-config`` in the workspace's ``shelfwise.toml``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shelfwise.config import LLMConfig, load_config
from shelfwise.errors import ConfigError

__all__ = ["CLI_OPTIONS", "llm_summary", "make_reranker", "needs_scores", "open_chat_model",
           "resolve_llm_config", "write_rerank_weight"]

CLI_OPTIONS = {"backend": "--llm-backend", "model_path": "--llm-model",
               "checkpoint": "--llm-model", "model": "--llm-model", "base_url": "--llm-url",
               "timeout_s": "--llm-timeout", "retries": "--llm-retries",
               "n_threads": "--llm-threads", "rerank_weight": "--llm-weight",
               "api_key_env": "--llm-api-key-env"}
"""``[llm]`` field -> the command-line option that overrides it."""


def resolve_llm_config(config_file: str | Path | None = None, *, backend: str | None = None,
                       model: str | None = None, url: str | None = None,
                       timeout: float | None = None, retries: int | None = None,
                       threads: int | None = None, weight: float | None = None,
                       api_key_env: str | None = None) -> LLMConfig:
    """The ``[llm]`` section of ``config_file`` with the ``--llm-*`` overrides applied.

    ``model`` (``--llm-model``) sets the field that names the model for the chosen backend:
    ``model_path`` (llama-cpp: a GGUF path or ``smollm2`` / ``gemma3-270m``), ``checkpoint``
    (transformers) or ``model`` (openai, ollama: the endpoint's model name).

    Args:
        config_file: the workspace's ``shelfwise.toml`` (missing: defaults).
        backend: ``--llm-backend``.
        model: ``--llm-model``.
        url: ``--llm-url`` (base URL of an OpenAI-compatible or Ollama endpoint).
        timeout: ``--llm-timeout`` seconds.
        retries: ``--llm-retries``.
        threads: ``--llm-threads`` (llama-cpp).
        weight: ``--llm-weight`` (the model's weight in the served order).
        api_key_env: ``--llm-api-key-env``.

    Returns:
        The validated section.

    Raises:
        ConfigError: the file's section is invalid (names the file and key) or an option's
            value is (names the option).

    """
    base = load_config(config_file).llm  # file problems are named by load_config
    data = base.model_dump()
    given: dict[str, Any] = {"backend": backend, "base_url": url, "timeout_s": timeout,
                             "retries": retries, "n_threads": threads,
                             "rerank_weight": weight, "api_key_env": api_key_env}
    data.update({k: v for k, v in given.items() if v is not None})
    from_cli = {k for k, v in given.items() if v is not None}
    if model is not None:
        field = {"llama-cpp": "model_path", "transformers": "checkpoint"}.get(
            str(data["backend"]), "model")
        data[field] = model
        from_cli.add(field)
    try:
        return LLMConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else ""
            if key in from_cli:
                where = CLI_OPTIONS[key]
            elif not key:  # a rule across fields: backend openai/ollama needs a model name
                where = "--llm-model / llm.model"
            else:
                where = f"llm.{key}" + (f" in {config_file}" if config_file else "")
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid language-model setting: " + "; ".join(problems)) from exc


def open_chat_model(cfg: LLMConfig) -> Any:
    """The chat model ``cfg`` names (None for ``backend = "none"``).

    Raises:
        LLMError: the backend's package or the model file is missing (with the pip command).
        ConfigError: a setting the backend needs is missing.
    """
    from agent.llm_backends import make_chat_model

    return make_chat_model(cfg.backend, model_path=cfg.model_path, checkpoint=cfg.checkpoint,
                           base_url=cfg.base_url, model=cfg.model, api_key_env=cfg.api_key_env,
                           timeout_s=cfg.timeout_s, retries=cfg.retries, n_threads=cfg.n_threads)


def needs_scores(cfg: LLMConfig) -> bool:
    """Whether anyone uses the model's rerank scores: weight above 0, or ``always_score``."""
    return cfg.backend != "none" and (cfg.rerank_weight > 0.0 or cfg.always_score)


def make_reranker(cfg: LLMConfig, chat_model: Any) -> Any:
    """A :class:`agent.rerank.Reranker` over ``chat_model``, or None when its scores are unused.

    At ``rerank_weight = 0`` (and without ``always_score``) no reranker is built, so the
    score call (~1.3 s on one llama.cpp thread) is never made.

    The reranker's deadline covers the guard's own attempts: ``timeout_s * (retries + 1)``
    plus their back-off.
    """
    if chat_model is None or not needs_scores(cfg):
        return None
    from agent.rerank import Reranker

    return Reranker(chat_model, blend_weight=cfg.rerank_weight,
                    timeout_s=cfg.timeout_s * (cfg.retries + 1) + 2.0 * cfg.retries + 1.0)


def llm_summary(cfg: LLMConfig, chat_model: Any, reranker: Any = None,
                recommender: Any = None, explainer: Any = None) -> dict[str, Any]:
    """What the model did: backend, weight, calls and fallbacks (for summaries and /metrics).

    Returns:
        ``{"backend", "rerank_weight", "score_call", "calls", "rerank", "reasons",
        "fallbacks"}``; ``calls`` holds the remote guard's counters (None for local models),
        ``fallbacks`` the slates served in policy order and the reasons served as templates
        because the model failed.
    """
    from agent.llm_backends import call_stats

    rr = reranker.stats.as_dict() if reranker is not None else None
    ex = None
    reason_fallbacks = int(getattr(recommender, "reason_fallbacks", 0) or 0)
    st = getattr(explainer, "stats", None)
    if st is not None:
        rejected = dict(getattr(st, "rejected", {}) or {})
        ex = {"llm_used": int(getattr(st, "llm_used", 0)),
              "template_used": int(getattr(st, "template_used", 0)), "rejected": rejected}
        if getattr(explainer, "chat_model", None) is not None:
            # "not_asked": past the products the model writes for, by design, not a failure
            reason_fallbacks += sum(n for k, n in rejected.items() if k != "not_asked")
    if recommender is not None:
        rerank_fallbacks = int(getattr(recommender, "llm_fallbacks", 0) or 0)
    else:
        rerank_fallbacks = sum(rr["fallbacks"].values()) if rr else 0
    return {"backend": cfg.backend, "rerank_weight": cfg.rerank_weight,
            "score_call": reranker is not None, "calls": call_stats(chat_model),
            "rerank": rr, "reasons": ex,
            "fallbacks": {"rerank": rerank_fallbacks, "reasons": reason_fallbacks}}


_TABLE = re.compile(r"^\s*\[\s*([^\]\[]+?)\s*\]\s*(?:#.*)?$")
_WEIGHT_LINE = re.compile(r"^\s*rerank_weight\s*=")


def write_rerank_weight(config_file: str | Path, weight: float) -> None:
    """Set ``[llm] rerank_weight`` in ``config_file``, keeping every other line as it is.

    The file is re-read with :mod:`tomllib` and validated before it replaces the old one
    (temporary file + rename), so a file this function cannot edit safely is left untouched.

    Args:
        config_file: the workspace's ``shelfwise.toml`` (created when missing).
        weight: in ``[0, 1]``.

    Raises:
        ConfigError: ``weight`` is out of range, the file is not valid TOML or holds ``llm``
            in a form other than an ``[llm]`` table (e.g. an inline table).

    """
    if not 0.0 <= float(weight) <= 1.0:
        raise ConfigError(f"rerank_weight must be in [0, 1], got {weight}")
    path = Path(config_file)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    load_config(path if path.exists() else None)  # refuse to edit a file that is already bad
    lines = text.splitlines()
    value = f"rerank_weight = {float(weight)!r}"
    start = next((i for i, ln in enumerate(lines) if (m := _TABLE.match(ln)) and
                  m.group(1).strip() == "llm"), None)
    if start is None:
        if "llm" in tomllib.loads(text):
            raise ConfigError(f"{path}: 'llm' is not an [llm] table; set llm.rerank_weight = "
                              f"{float(weight):g} by hand")
        lines += (["", "[llm]"] if lines else ["[llm]"]) + [value]
    else:
        end = next((i for i in range(start + 1, len(lines)) if _TABLE.match(lines[i]) or
                    lines[i].lstrip().startswith("[[")), len(lines))
        hit = next((i for i in range(start + 1, end) if _WEIGHT_LINE.match(lines[i])), None)
        if hit is None:
            lines.insert(start + 1, value)
        else:
            lines[hit] = value
    new = "\n".join(lines) + "\n"
    try:
        parsed = tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: cannot set rerank_weight safely ({exc}); set "
                          f"[llm] rerank_weight = {float(weight):g} by hand") from exc
    if parsed.get("llm", {}).get("rerank_weight") != float(weight):
        raise ConfigError(f"{path}: cannot set rerank_weight safely; set [llm] rerank_weight "
                          f"= {float(weight):g} by hand")
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(new, encoding="utf-8")
    try:
        load_config(tmp)
    except ConfigError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
