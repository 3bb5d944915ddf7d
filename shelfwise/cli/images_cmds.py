"""CLI: ``shelfwise images fetch`` downloads the catalog's image URLs into the workspace."""

from __future__ import annotations

from typing import Annotated

import typer

from shelfwise.cli._common import JsonOpt, WorkspaceOpt, print_json, workspace

images_app = typer.Typer(
    rich_markup_mode=None,
    help="Product images given as URLs.", no_args_is_help=True)

SHOWN_FAILURES = 5
"""Failure reasons printed in the human-readable summary (``--json`` lists them all)."""


def fetch(
    ws: WorkspaceOpt = None,
    force: Annotated[
        bool, typer.Option("--force/--no-force", help="Download URLs already in the cache again.")
    ] = False,
    # Ranges are checked by fetch_images (a ConfigError naming the option, exit 2).
    workers: Annotated[int, typer.Option(help="Concurrent downloads (1-64).")] = 8,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed to connect and per read.")
    ] = 10.0,
    retries: Annotated[
        int, typer.Option(help="Extra attempts on connection errors and 5xx (0-10).")
    ] = 2,
    build_index: Annotated[
        bool,
        typer.Option("--build-index/--no-build-index", help="Rebuild the index afterwards."),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Download the catalog's image URLs (cached by content), then rebuild the index.

    Products whose image was downloaded get image vectors. A product whose image cannot be
    downloaded keeps its row and a text-only vector; it is listed with the reason.
    Exit code 2 when image URLs exist and not one could be had.
    """
    from shelfwise.catalog import workspace_products
    from shelfwise.image_fetch import fetch_images
    from shelfwise.images import ImageError

    space = workspace(ws).ensure()
    products = workspace_products(space.catalog_db)
    report = fetch_images(
        space,
        products,
        progress=not as_json,
        force=force,
        workers=workers,
        timeout=timeout,
        retries=retries,
    )
    out: dict = {"fetch": report.to_dict(), "index": None}
    nothing = report.requested > 0 and report.fetched + report.cached == 0
    if build_index and not nothing:
        from shelfwise.pipeline import build_workspace_index

        out["index"] = build_workspace_index(space, progress=not as_json).to_dict()
    if as_json:
        print_json(out)
    else:
        _summary(report, out["index"])
    if nothing:
        first = report.failed[0][1] if report.failed else "unknown reason"
        raise ImageError(
            f"none of the {report.urls} image URLs could be fetched (first: {first})"
        )


def _summary(report, index: dict | None) -> None:
    if report.requested == 0:
        typer.echo("no product has an image URL; nothing to fetch")
    else:
        typer.echo(
            f"image URLs of {report.requested} products ({report.urls} distinct): "
            f"{report.fetched} fetched, {report.cached} already cached, "
            f"{len(report.failed)} failed ({report.bytes_downloaded:,} bytes, "
            f"{report.retries} retries, {report.seconds:.1f}s)"
        )
    for pid, reason in report.failed[:SHOWN_FAILURES]:
        typer.echo(f"  {pid}: {reason}", err=True)
    if len(report.failed) > SHOWN_FAILURES:
        typer.echo(
            f"  ... and {len(report.failed) - SHOWN_FAILURES} more (all of them with --json)",
            err=True,
        )
    if index is not None:
        typer.echo(
            f"index rebuilt: {index['n_products']} products, {index['images_used']} with an "
            f"image vector, {index['images_missing']} text-only for want of a usable image"
        )


def register(app: typer.Typer) -> None:
    """Add ``shelfwise images ...`` to the root app."""
    images_app.command("fetch")(fetch)
    app.add_typer(images_app, name="images")
