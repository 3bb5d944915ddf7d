"""Options and output helpers shared by the command modules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shelfwise.workspace import WORKSPACE_ENV, Workspace

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        envvar=WORKSPACE_ENV,
        help="Workspace folder [default: ./shelfwise-data].",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def workspace(path: Path | None) -> Workspace:
    """The workspace named by ``--workspace`` / ``$SHELFWISE_HOME`` / the default."""
    return Workspace.resolve(path)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_hits(hits: list[Any], title: str) -> None:
    """A readable table of search hits (rank, id, title, category, price, score)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("#", "right"),
        ("id", "left"),
        ("title", "left"),
        ("category", "left"),
        ("price", "right"),
        ("score", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for rank, hit in enumerate(hits, start=1):
        p = hit.product
        stock = "" if p.in_stock else " (out of stock)"
        table.add_row(
            str(rank),
            p.id,
            p.title + stock,
            p.category,
            f"{p.price:.2f} {p.currency}",
            f"{hit.score:.3f}",
        )
    Console(width=120).print(table)
