"""CLI commands: ``shelfwise ingest-events`` (past interactions in) and ``shelfwise events``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shelfwise.cli._common import JsonOpt, WorkspaceOpt, print_json, workspace
from shelfwise.errors import ConfigError

if TYPE_CHECKING:
    from shelfwise.interactions.validate import Catalog
    from shelfwise.workspace import Workspace

events_app = typer.Typer(
    rich_markup_mode=None,
    help="The event log: export it for notebooks and other tools.",
                         no_args_is_help=True)


def _catalog(ws: Workspace) -> Catalog:
    """Product ids and prices of the workspace's catalog."""
    from shelfwise.catalog import workspace_products
    from shelfwise.interactions.validate import Catalog

    products = workspace_products(ws.catalog_db)
    return Catalog.from_pairs([p.id for p in products], [p.price for p in products])


def ingest_events(
    path: Annotated[Path, typer.Argument(
        metavar="FILE", help="Past interactions: CSV, TSV, JSON Lines or Parquet with user, "
        "product, time and kind columns (optional value, quantity, session).",
        show_default=False)],
    fmt: Annotated[str, typer.Option(
        "--format", help="auto (by content), csv, tsv, jsonl or parquet.")] = "auto",
    column_map: Annotated[list[str] | None, typer.Option(
        "--map", help="FIELD=COLUMN, repeatable: --map user=customer_id --map product=sku "
        "--map time=created_at --map kind=event. Fields: user, product, time, kind, value, "
        "quantity, session; unmapped ones are found by their usual names.",
        show_default=False)] = None,
    kind_map: Annotated[list[str] | None, typer.Option(
        "--map-kind", help="WORD=KIND for the shop's own kind words, repeatable: --map-kind "
        "order=purchase --map-kind detail=view. Kinds: view, click, add_to_cart, purchase.",
        show_default=False)] = None,
    kind: Annotated[str | None, typer.Option(
        "--kind", help="Kind of rows without one (a file of orders: --kind purchase).",
        show_default=False)] = None,
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Write malformed rows to the rejects file and go on (default: "
        "stop at the first, naming its row and field).")] = False,
    rejects: Annotated[Path | None, typer.Option(
        "--rejects", help="Rejects file (JSON Lines: row, field, reason, raw) [default: "
        "FILE.rejects.jsonl].", show_default=False)] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Rows per batch (one transaction each).")] = 65536,
    no_progress: Annotated[bool, typer.Option(
        "--no-progress", help="Hide the progress bar.")] = False,
    ws: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a shop's past interactions (views, clicks, add-to-cart, purchases) into the event log.

    They are stored as organic events (no slate, no propensity), with ids from their content:
    importing the same file again adds nothing. Products not in the catalog and (with
    --skip-invalid) malformed rows go to the rejects file with their reasons.
    """
    from shelfwise.events import SQLiteEventStore
    from shelfwise.interactions import ImportOptions, import_interactions
    from shelfwise.interactions.fields import parse_field_map, parse_kind_map

    space = workspace(ws)
    options = ImportOptions(
        fmt=fmt, column_map=parse_field_map(column_map or []),
        kind_map=parse_kind_map(kind_map or []), default_kind=kind, skip_invalid=skip_invalid,
        rejects_path=rejects, batch_size=batch_size, progress=not no_progress and not as_json)
    catalog = _catalog(space)
    with SQLiteEventStore(space.events_db) as store:
        summary = import_interactions(path, store, catalog, options)
    if as_json:
        print_json(summary.to_dict())
        return
    typer.echo(f"{summary.read:,} rows read from {path.name} ({summary.format}): "
               f"{summary.inserted:,} new interactions, {summary.duplicates:,} already in the "
               f"log, {summary.rejected:,} rejected in {summary.seconds:.1f} s "
               f"({summary.rows_per_second:,.0f} rows/s)")
    if summary.rejected:
        typer.secho(f"rejected {summary.rejected:,} rows ({summary.unknown_products:,} unknown "
                    f"products, {summary.invalid:,} invalid); reasons in "
                    f"{summary.rejects_file}", err=True, fg=typer.colors.YELLOW)
        for line in summary.examples[:3]:
            typer.echo(f"  {line}", err=True)


def export(
    output: Annotated[Path, typer.Argument(
        metavar="OUT", help="Parquet file to write (organic and served events, with a source "
        "column).", show_default=False)],
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace OUT if it exists.")] = False,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Rows per Parquet row group.")] = 65536,
    ws: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the whole event log to a Parquet file, streamed (for notebooks and other tools).

    Columns: source (organic/served), kind (view, click, add_to_cart, purchase, impression),
    event_id, time (UTC), user_id, product_id, session_id, value, quantity, slate_id, position,
    propensity, score, policy, policy_version, margin.
    """
    from shelfwise.events import SQLiteEventStore
    from shelfwise.interactions import export_events

    space = workspace(ws)
    if not space.events_db.is_file():
        raise ConfigError(f"no event log at {space.events_db}: import interactions "
                          "(`shelfwise ingest-events FILE`) or serve slates first")
    with SQLiteEventStore(space.events_db) as store:
        summary = export_events(store, output, batch_size=batch_size, overwrite=overwrite)
    if as_json:
        print_json(summary.to_dict())
        return
    parts = ", ".join(f"{n:,} {s}" for s, n in sorted(summary.by_source.items())) or "no events"
    typer.echo(f"{summary.rows:,} rows ({parts}) written to {summary.output} in "
               f"{summary.seconds:.1f} s")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("ingest-events")(ingest_events)
    events_app.command("export")(export)
    app.add_typer(events_app, name="events")
