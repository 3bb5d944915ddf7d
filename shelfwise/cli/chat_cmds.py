"""``shelfwise chat``: the shopping assistant in the terminal (REPL or one message)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer

from shelfwise.cli._common import JsonOpt, WorkspaceOpt, print_json, workspace
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
from shelfwise.errors import ConfigError

_HELP = "Type what you are looking for; 'like 2' / 'buy 3' react to a pick; 'quit' leaves."


def reply_to_dict(reply: Any, conversation_id: str, response: Any = None) -> dict[str, Any]:
    """The JSON form of an :class:`agent.assistant.AssistantReply`.

    Args:
        reply: the assistant's reply.
        conversation_id: the conversation.
        response: the recommender's :class:`~shelfwise.recommender.RecommendResponse` of the
            slate shown (adds ``policy``, ``reranked``, ``fallback`` and ``prompt_hash``).
    """
    intent = reply.intent
    served = response is not None and response.slate_id == reply.slate_id and reply.products
    return {
        "conversation_id": conversation_id,
        "reply": reply.text,
        "summary": reply.summary or reply.text,
        "kind": reply.kind,
        "slate_id": reply.slate_id,
        "products": [
            {"position": i, "id": p.id, "title": p.title, "category": p.category,
             "price": float(p.price), "currency": p.currency, "attributes": dict(p.attributes),
             "reason": r}
            for i, (p, r) in enumerate(zip(reply.products, reply.reasons, strict=True), start=1)
        ],
        "intent": {**reply.intent_dict(), "similar_to": intent.similar_to},
        "reactions": [{"kind": r.kind, "pick": r.pick, "product_id": r.product_id,
                       "slate_id": r.slate_id} for r in reply.reactions_recorded],
        "user_id": response.user_id if served else None,
        "policy": response.policy if served else None,
        "reranked": bool(response.reranked) if served else False,
        # None: no language model reranked; else whether it fell back to the policy order
        "fallback": (bool(response.llm_fallback) if served and (
            response.reranked or response.llm_fallback) else reply.rerank_fallback),
        "prompt_hash": response.prompt_hash if served else None,
    }


def _print_cards(reply: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from agent.display import as_data
    from agent.products import format_price

    console = Console(width=120, highlight=False)
    if not reply.products:
        console.print(escape(as_data(reply.summary or reply.text, 400)))
        return
    table = Table(show_header=True, header_style="bold", title_justify="left")
    for name, justify in (("#", "right"), ("product", "left"), ("price", "right"),
                          ("why", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for i, (p, r) in enumerate(zip(reply.products, reply.reasons, strict=True), start=1):
        # merchant text is data: one line, no role labels, no rich markup
        table.add_row(str(i), f"[bold]{escape(as_data(p.title))}[/bold]\n"
                              f"[dim]{escape(as_data(p.category, 60))} · "
                              f"{escape(as_data(p.id, 60))}[/dim]",
                      format_price(float(p.price), p.currency), escape(as_data(r, 300)))
    console.print(escape(as_data(reply.summary or reply.text.splitlines()[0], 400)))
    console.print(table)


def _answer(assistant: Any, conversation_id: str, message: str, user: str | None) -> Any:
    if not message or not message.strip():
        raise ConfigError("message is empty; say what you are looking for, e.g. "
                          "'waterproof jacket under 150'")
    return assistant.respond(conversation_id, message.strip(), user)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command()
    def chat(
        once: Annotated[str | None, typer.Option(
            "--once", help="Answer one message and exit (no REPL).")] = None,
        llm: Annotated[bool, typer.Option(
            "--llm/--no-llm", help="Rerank and explain with the language model; --no-llm is "
                                   "rule-based only (no model is loaded).")] = True,
        policy: Annotated[str, typer.Option(help="Slate policy (checkpoint name).")] = "linucb",
        k: Annotated[int, typer.Option("-k", "--k", min=1, max=20,
                                       help="Products per answer.")] = 5,
        conversation: Annotated[str | None, typer.Option(
            help="Conversation id (default: a new one).")] = None,
        user: Annotated[str | None, typer.Option(
            help="Shopper id whose history personalises the picks (default: the "
                 "conversation id).")] = None,
        ws: WorkspaceOpt = None,
        json_out: JsonOpt = False,
        llm_backend: LLMBackendOpt = None,
        llm_model: LLMModelOpt = None,
        llm_url: LLMUrlOpt = None,
        llm_timeout: LLMTimeoutOpt = None,
        llm_retries: LLMRetriesOpt = None,
        llm_threads: LLMThreadsOpt = None,
        llm_weight: LLMWeightOpt = None,
    ) -> None:
        """Chat with the shopping assistant (picks are logged; reactions update the policy)."""
        from shelfwise.shop import open_assistant

        if once is not None and not once.strip():
            raise ConfigError("--once message is empty; say what you are looking for, e.g. "
                              "--once 'waterproof jacket under 150'")
        space = workspace(ws)
        llm_config = LLMOptions(llm_backend, llm_model, llm_url, llm_timeout, llm_retries,
                                llm_threads, llm_weight).resolve(space.config_file)
        assistant = open_assistant(space, llm=llm, policy=policy, k=k,
                                   llm_config=llm_config)
        try:
            _converse(assistant, once, conversation, user, json_out)
        finally:  # reactions updated the policy: save them for the next start
            assistant.tools.recommender.close_checkpoints()


def _converse(assistant: Any, once: str | None, conversation: str | None, user: str | None,
              json_out: bool) -> None:
    """Answer ``once``, or run the REPL until the shopper quits."""
    conv = conversation or uuid.uuid4().hex
    if once is not None:
        reply = _answer(assistant, conv, once, user)
        if json_out:
            data = reply_to_dict(reply, conv, assistant.tools.last_response(conv))
            stats = getattr(assistant.tools, "llm_stats", None)
            if callable(stats):  # backend, score call, remote calls and counted fallbacks
                data["llm"] = stats()
            print_json(data)
        else:
            _print_cards(reply)
        return
    typer.echo(_HELP)
    while True:
        try:
            message = input("you> ")
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            break
        if message.strip().lower() in ("quit", "exit", "q"):
            break
        if not message.strip():
            continue
        reply = _answer(assistant, conv, message, user)
        if json_out:
            print_json(reply_to_dict(reply, conv, assistant.tools.last_response(conv)))
        else:
            _print_cards(reply)
