"""The ``--llm-*`` options shared by ``chat``, ``serve`` and ``batch``.

Each overrides one field of the workspace's ``[llm]`` config section
(:func:`shelfwise.llm_setup.resolve_llm_config`); a bad value stops the command with
``error: invalid language-model setting: --llm-…: …`` and exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

LLMBackendOpt = Annotated[str | None, typer.Option(
    "--llm-backend", help="Language model backend: llama-cpp, transformers, openai, ollama or "
    "none [default: [llm] backend, else llama-cpp].", show_default=False)]
LLMModelOpt = Annotated[str | None, typer.Option(
    "--llm-model", help="llama-cpp: GGUF path, 'smollm2' or 'gemma3-270m'; transformers: "
    "checkpoint folder; openai/ollama: the endpoint's model name.", show_default=False)]
LLMUrlOpt = Annotated[str | None, typer.Option(
    "--llm-url", help="Base URL of an OpenAI-compatible endpoint (e.g. "
    "http://127.0.0.1:8080/v1) or an Ollama server.", show_default=False)]
LLMTimeoutOpt = Annotated[float | None, typer.Option(
    "--llm-timeout", help="Seconds per model call before it is retried / falls back.",
    show_default=False)]
LLMRetriesOpt = Annotated[int | None, typer.Option(
    "--llm-retries", help="Retries of a failed model call before the fallback.",
    show_default=False)]
LLMThreadsOpt = Annotated[int | None, typer.Option(
    "--llm-threads", help="llama.cpp CPU threads.", show_default=False)]
LLMWeightOpt = Annotated[float | None, typer.Option(
    "--llm-weight", help="Weight of the model's score in the served order, 0..1 (0 skips the "
    "score call) [default: [llm] rerank_weight].", show_default=False)]


@dataclass(frozen=True)
class LLMOptions:
    """The ``--llm-*`` values of one command (None: not given)."""

    backend: str | None = None
    model: str | None = None
    url: str | None = None
    timeout: float | None = None
    retries: int | None = None
    threads: int | None = None
    weight: float | None = None

    def resolve(self, config_file: Any) -> Any:
        """The :class:`~shelfwise.config.LLMConfig` of ``config_file`` with these overrides.

        Raises:
            ConfigError: names the option or the file's key that is invalid.
        """
        from shelfwise.llm_setup import resolve_llm_config

        return resolve_llm_config(config_file, backend=self.backend, model=self.model,
                                  url=self.url, timeout=self.timeout, retries=self.retries,
                                  threads=self.threads, weight=self.weight)
