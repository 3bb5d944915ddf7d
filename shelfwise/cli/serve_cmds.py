"""CLI: ``shelfwise serve`` — the HTTP API and web chat page."""

from __future__ import annotations

from typing import Annotated

import typer

from shelfwise.cli._common import WorkspaceOpt, workspace
from shelfwise.cli.llm_options import (
    LLMBackendOpt,
    LLMModelOpt,
    LLMOptions,
    LLMRetriesOpt,
    LLMThreadsOpt,
    LLMTimeoutOpt,
    LLMUrlOpt,
    LLMWeightOpt,
)


def serve(
    ws: WorkspaceOpt = None,
    host: Annotated[str, typer.Option(help="Address to bind; a non-loopback address needs an "
                                           "API key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar="SHELFWISE_API_KEY", show_envvar=True,
        help="Require this key in the X-API-Key header of every API request.")] = None,
    policy: Annotated[str, typer.Option(
        help="Slate policy: registry name (linucb, lints, greedy, random, slateq, reinforce), "
             "a checkpoint name in the workspace's policies/ folder, or a path.")] = "linucb",
    llm: Annotated[bool, typer.Option(
        "--llm/--no-llm", help="Rerank and explain with the local language model.")] = True,
    seed: Annotated[int | None, typer.Option(help="Seed of the policy and served order.")] = None,
    max_body_bytes: Annotated[int, typer.Option(
        min=1, help="Larger request bodies are refused with 413.")] = 64 * 1024,
    insecure_no_auth: Annotated[bool, typer.Option(
        "--insecure-no-auth", help="Allow a non-loopback host without an API key.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    allowed_host: Annotated[list[str] | None, typer.Option(
        "--allowed-host", help="Also answer requests whose Host header names this host "
        "(repeatable; '*.example.com' patterns, '*' for any). Without an API key only "
        "localhost, 127.0.0.1, [::1] and the bound address are answered (DNS rebinding).")
    ] = None,
    llm_backend: LLMBackendOpt = None,
    llm_model: LLMModelOpt = None,
    llm_url: LLMUrlOpt = None,
    llm_timeout: LLMTimeoutOpt = None,
    llm_retries: LLMRetriesOpt = None,
    llm_threads: LLMThreadsOpt = None,
    llm_weight: LLMWeightOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) and the web chat page at /."""
    from shelfwise.serve import create_app
    from shelfwise.serve.server import allowed_hosts_for, require_key_for_host, run

    # checked before anything loads, so that a misconfigured server fails at once
    require_key_for_host(host, api_key, insecure_no_auth=insecure_no_auth)
    hosts = allowed_hosts_for(host, api_key, allowed_host or ())
    from shelfwise.serve.wiring import open_service

    space = workspace(ws)
    llm_config = LLMOptions(llm_backend, llm_model, llm_url, llm_timeout, llm_retries,
                            llm_threads, llm_weight).resolve(space.config_file)
    service = open_service(space, policy=policy, llm=llm, seed=seed, llm_config=llm_config)
    try:
        app = create_app(service, api_key=api_key, max_body_bytes=max_body_bytes,
                         allowed_hosts=hosts)
        shown = "[::1]" if host == "::1" else host
        typer.echo(f"shelfwise: serving on http://{shown}:{port}/ (API docs at /docs; "
                   f"auth {'on' if api_key else 'off'}, policy {policy}, "
                   f"llm {llm_config.backend if llm else 'off'}, rerank weight "
                   f"{llm_config.rerank_weight:g})", err=True)
        run(app, host=host, port=port, log_level=log_level)
    finally:
        service.close()


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command(name="serve")(serve)
