"""CLI, the retrieval half: demo, ingest, index build, search, similar, encoders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shelfwise.cli._common import JsonOpt, WorkspaceOpt, print_hits, print_json, workspace
from shelfwise.errors import ConfigError

index_app = typer.Typer(
    rich_markup_mode=None,
    help="Build the product index.", no_args_is_help=True)
encoders_app = typer.Typer(
    rich_markup_mode=None,
    help="Train and inspect encoders.", no_args_is_help=True)

DEMO_SEARCHES = (
    ("text", "red leather handbag", {}),
    ("filtered", "waterproof jacket", {"max_price": 150.0}),
)


def _filters(
    category: list[str] | None, min_price: float | None, max_price: float | None, in_stock: bool
):
    from index import SearchFilter

    for name, value in (("--min-price", min_price), ("--max-price", max_price)):
        if value is not None and value < 0:
            raise ConfigError(f"{name} must be >= 0, got {value:g}")
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ConfigError(f"--min-price ({min_price:g}) is above --max-price ({max_price:g})")
    cats = frozenset(c.strip().lower() for c in category) if category else None
    return SearchFilter(
        categories=cats, min_price=min_price, max_price=max_price, in_stock_only=in_stock
    )


def _report_build(report, as_json: bool) -> None:
    if as_json:
        return
    msg = (
        f"indexed {report.n_products} products (d={report.dim}, {report.index_spec}) in "
        f"{report.seconds:.1f}s; encoded {report.texts_encoded} texts and "
        f"{report.images_encoded} images (the rest came from the cache)"
    )
    if report.aligner_trained:
        msg += (
            f"; image aligner trained, held-out image→text recall@10 = "
            f"{report.aligner_recall_at_10:.3f}"
        )
    typer.echo(msg)


def demo(
    ws: WorkspaceOpt = None,
    products: Annotated[int, typer.Option(min=10, help="How many demo products.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the demo store.")] = 0,
    force: Annotated[bool, typer.Option(help="Regenerate the store even if one exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create the demo store (once), build its index (cached) and show a few searches."""
    from shelfwise.catalog import CatalogStore
    from shelfwise.demo_store import generate_demo_store
    from shelfwise.engine import Engine
    from shelfwise.pipeline import build_workspace_index

    space = workspace(ws).ensure()
    store = CatalogStore(space.catalog_db)
    existing = len(store)
    store.close()
    latent = space.demo_dir / "latent.parquet"
    if force or existing == 0 or not latent.is_file():
        if existing and not latent.is_file() and not force:
            raise ConfigError(
                f"{space.root} already holds a catalog that is not the demo store; "
                "use another --workspace or --force"
            )
        if not as_json:
            typer.echo(f"writing the demo store ({products} products) to {space.root}")
        generate_demo_store(space, products, seed, progress=not as_json)
    report = build_workspace_index(space, progress=not as_json)
    _report_build(report, as_json)
    engine = Engine.open(space)
    try:
        behaviour = _demo_behaviour(space, engine, seed, as_json)
        results = {}
        for label, text, flt in DEMO_SEARCHES:
            hits = engine.search(
                text=text, filters=_filters(None, None, flt.get("max_price"), False), k=5
            )
            title = f"{label}: {text!r}" + (f" under {flt['max_price']:g}" if flt else "")
            results[title] = hits
        first = engine.catalog.all()[0]
        results[f"image: the picture of {first.id} ({first.title})"] = engine.search(
            image=first.image, k=5
        )
        if not as_json:
            for title, hits in results.items():
                print_hits(hits, title)
        slate = _demo_slate(space, DEMO_CHAT, as_json)
        if as_json:
            print_json(
                {
                    "build": report.to_dict(),
                    "behaviour": behaviour,
                    "assistant": slate,
                    "searches": {t: [h.to_dict() for h in hs] for t, hs in results.items()},
                }
            )
    finally:
        engine.close()


DEMO_CHAT = "waterproof jacket under 150"

DEMO_SASREC = {"max_seconds": 30.0}
"""The demo's SASRec training budget (keeps ``make demo`` fast; a few thousand events)."""


def _demo_behaviour(space, engine, seed: int, quiet: bool) -> dict:
    """Simulated shopping history (once) and the behaviour models trained on it (once)."""
    from shelfwise import demo_store
    from shelfwise.behaviour import MANIFEST, behaviour_root, train_behaviour

    out: dict = {"history_events": 0, "trained": []}
    if not (behaviour_root(space) / MANIFEST).is_file():
        out["history_events"] = demo_store.write_demo_history(
            engine, demo_store.DEMO_HISTORY_SESSIONS, seed=seed)
        if not quiet:
            typer.echo(f"simulated shopping history: {out['history_events']} organic "
                       "interactions logged; training behaviour models")
        report = train_behaviour(space, options={"sasrec": dict(DEMO_SASREC)},
                                 progress=not quiet)
        out["trained"] = [m.name for m in report.models]
        if not quiet:
            typer.echo(f"behaviour models: {', '.join(out['trained'])} "
                       f"({report.seconds:.1f}s); the demo's recommendations use them")
    engine.reload_behaviour()
    return out


def _demo_slate(space, message: str, quiet: bool) -> dict:
    """The main job in one step: the assistant answers a shopper, the slate is logged."""
    from shelfwise.shop import open_assistant

    assistant = open_assistant(space, llm=False)
    reply = assistant.respond("demo", message)
    out = {
        "message": message,
        "reply": reply.text,
        "slate_id": reply.slate_id,
        "products": [
            {"id": p.id, "title": p.title, "price": p.price, "reason": r}
            for p, r in zip(reply.products, reply.reasons, strict=True)
        ],
    }
    if not quiet:
        from rich.console import Console

        console = Console(width=120)
        console.print(f"\n[bold]assistant[/bold] (policy slate, logged as {reply.slate_id}) "
                      f"for {message!r}: {reply.text}")
        console.print("Try: shelfwise chat   ·   shelfwise serve   ·   shelfwise train --policy "
                      "slateq --from sim")
    return out


def ingest(
    path: Annotated[
        Path,
        typer.Argument(
            help="Catalog file: Merchant Center TSV/XML, Shopify CSV export, or a CSV, TSV, "
            "JSON Lines or Parquet table."
        ),
    ],
    ws: WorkspaceOpt = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="auto (by content and header), csv, tsv, jsonl, parquet, merchant-tsv, "
            "merchant-xml or shopify [default: shelfwise.toml's [catalog] format, else auto].",
            show_default=False,
        ),
    ] = None,
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="FIELD=COLUMN for plain tables, repeatable: --map title=Name "
            "--map price='Sale Price' --map attr_brand=Vendor "
            "(overrides shelfwise.toml's [catalog] columns).",
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            help="Currency of prices that name none "
            "[default: shelfwise.toml's [catalog] currency, else USD]."
        ),
    ] = None,
    shop_url: Annotated[
        str | None,
        typer.Option(help="The shop's address; Shopify products link to SHOP_URL/products/HANDLE."),
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Write bad rows to a side file instead of failing."),
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Side file for rejected rows [default: PATH.rejects.jsonl].")
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Make this file the whole catalog (products not in it are removed). By default "
            "the file is merged: new ids are added, known ids updated, others kept.",
        ),
    ] = False,
    fetch_images: Annotated[
        bool,
        typer.Option("--fetch-images", help="Download image URLs (cached) before indexing."),
    ] = False,
    build_index: Annotated[
        bool, typer.Option("--build-index/--no-build-index", help="Rebuild the index afterwards.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Load products from a shop's catalog file into the workspace (and rebuild the index).

    Merges by default (new ids added, known ids updated, others kept); --replace starts the
    catalog afresh. Prints a summary (loaded, new/updated, rejected, skipped, images); exits
    with code 2 when nothing could be loaded.
    """
    from shelfwise.catalog import CatalogStore, NothingLoadedError, load_catalog
    from shelfwise.config import load_config
    from shelfwise.feeds.columns import normalize_header, parse_column_map
    from shelfwise.pipeline import build_workspace_index

    space = workspace(ws).ensure()
    cli_map = parse_column_map(column_map or [])
    overrides = {
        k: v
        for k, v in {
            "catalog.format": fmt,
            "catalog.currency": currency.strip().upper() if currency else None,
            "catalog.shop_url": shop_url,
        }.items()
        if v is not None
    }
    config = load_config(space.config_file, **overrides).catalog
    mapping = {normalize_header(k): v for k, v in config.columns.items()}
    mapping.update(cli_map)
    result = load_catalog(
        path,
        skip_invalid=skip_invalid,
        rejects_path=rejects,
        fmt=config.format,
        column_map=mapping,
        map_given=bool(cli_map),
        default_currency=config.currency,
        shop_url=config.shop_url,
    )
    out: dict = {
        "file": str(path),
        "format": result.format,
        "loaded": len(result.products),
        "new": 0,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "rejected": len(result.rejects),
        "skipped": len(result.skipped),
        "rejects_file": str(result.rejects_path) if result.rejects_path else None,
        "images": {
            "local": result.local_images,
            "urls": result.url_images,
            "urls_not_fetched": result.url_images,
            "missing": len(result.missing_images),
        },
        "ignored_columns": result.ignored_columns,
        "replace": replace,
    }
    if not result.products:
        if as_json:
            print_json(out)
        why = [f"{len(result.rejects)} rejected"] if result.rejects else []
        if result.skipped:
            why.append(f"{len(result.skipped)} skipped (not for sale)")
        where = f"; reasons in {result.rejects_path}" if result.rejects_path else ""
        raise NothingLoadedError(
            f"{path}: nothing loaded ({', '.join(why) or 'the file holds no products'}){where}; "
            f"the catalog in {space.root} is unchanged"
        )
    store = CatalogStore(space.catalog_db)
    try:
        change = store.replace_all(result.products) if replace else store.merge(result.products)
        total = len(store)
    finally:
        store.close()
    out.update(new=change.new, updated=change.updated, unchanged=change.unchanged,
               removed=change.removed, catalog_size=total)
    if fetch_images and result.url_images:
        from shelfwise.image_fetch import fetch_images as fetch

        fetched = fetch(space, result.products, progress=not as_json)
        out["images"]["urls_not_fetched"] = len(fetched.failed)
        out["fetch"] = {
            "requested": fetched.requested,
            "fetched": fetched.fetched,
            "cached": fetched.cached,
            "failed": len(fetched.failed),
            "failures": [{"id": pid, "reason": why} for pid, why in fetched.failed[:20]],
        }
    if not as_json:
        _print_ingest_summary(out, result)
    if build_index:
        report = build_workspace_index(space, progress=not as_json)
        out["index"] = report.to_dict()
        _report_build(report, as_json)
    elif not as_json:
        typer.echo("the index was not rebuilt (--no-build-index): run `shelfwise index build`")
    if as_json:
        print_json(out)


def _print_ingest_summary(out: dict, result) -> None:
    """The human-readable ingest summary (the same numbers as ``--json``)."""
    verb = "replaced the catalog with" if out["replace"] else "loaded"
    typer.echo(
        f"{verb} {out['loaded']} products from {out['file']} ({out['format']}): "
        f"{out['new']} new, {out['updated']} updated, {out['unchanged']} unchanged"
        + (f", {out['removed']} removed" if out["removed"] else "")
        + f"; the catalog now holds {out['catalog_size']}"
    )
    images = out["images"]
    line = f"images: {images['local']} local files, {images['urls']} URLs"
    if "fetch" in out:
        f = out["fetch"]
        line += (f" ({f['fetched']} downloaded, {f['cached']} cached, {f['failed']} failed: "
                 "text-only vectors)")
    elif images["urls"]:
        line += " (not downloaded: text-only vectors until `shelfwise ingest --fetch-images`)"
    if images["missing"]:
        line += f", {images['missing']} missing files (loaded without an image)"
    typer.echo(line)
    if out["ignored_columns"]:
        shown = ", ".join(out["ignored_columns"][:12])
        more = len(out["ignored_columns"]) - 12
        typer.echo(f"columns not loaded: {shown}" + (f" and {more} more" if more > 0 else "")
                   + " (map one with --map FIELD=COLUMN or --map attr_NAME=COLUMN)")
    if result.rejects or result.skipped or result.missing_images:
        parts = []
        if result.rejects:
            parts.append(f"rejected {len(result.rejects)} rows")
        if result.skipped:
            parts.append(f"skipped {len(result.skipped)} not for sale")
        if result.missing_images:
            parts.append(f"{len(result.missing_images)} images missing")
        typer.echo(f"{'; '.join(parts)}: reasons in {out['rejects_file']}", err=True)


def index_build(
    ws: WorkspaceOpt = None,
    spec: Annotated[
        str | None,
        typer.Option(help="FAISS factory string or 'auto' (exact below 50k items, HNSW above)."),
    ] = None,
    image_weight: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Weight of the image vector in product vectors."),
    ] = None,
    image_model: Annotated[
        str | None, typer.Option(help="'aligned' (default) or a CLIP checkpoint path / hub id.")
    ] = None,
    text_model: Annotated[
        str | None,
        typer.Option(
            help="'default' (bundled all-MiniLM-L6-v2) or a sentence-transformers path / id."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Encode the catalog (cached by content) and build and save the product index."""
    from shelfwise.config import load_config
    from shelfwise.pipeline import build_workspace_index

    space = workspace(ws).ensure()
    overrides = {
        k: v
        for k, v in {
            "index.spec": spec,
            "encoders.image_weight": image_weight,
            "encoders.image_model": image_model,
            "encoders.text_model": text_model,
        }.items()
        if v is not None
    }
    config = load_config(space.config_file, **overrides)
    report = build_workspace_index(space, config, progress=not as_json)
    if as_json:
        print_json(report.to_dict())
    else:
        _report_build(report, as_json)


def search(
    text: Annotated[str | None, typer.Argument(help="What the shopper is looking for.")] = None,
    image: Annotated[Path | None, typer.Option(help="Query image file.")] = None,
    category: Annotated[
        list[str] | None, typer.Option(help="Only this category (repeatable).")
    ] = None,
    min_price: Annotated[float | None, typer.Option(help="Lowest price.")] = None,
    max_price: Annotated[float | None, typer.Option(help="Highest price.")] = None,
    in_stock: Annotated[bool, typer.Option("--in-stock", help="Only products in stock.")] = False,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="How many results.")] = 10,
    ws: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search products by text, image or both, with filters."""
    from shelfwise.engine import Engine

    if (text is None or not text.strip()) and image is None:
        raise ConfigError("give a query TEXT, --image PATH, or both")
    if image is not None and not image.is_file():
        raise ConfigError(f"--image: file not found: {image}")
    filters = _filters(category, min_price, max_price, in_stock)
    engine = Engine.open(workspace(ws))
    try:
        hits = engine.search(
            text=text if text and text.strip() else None, image=image, filters=filters, k=k
        )
    finally:
        engine.close()
    if as_json:
        print_json([{"rank": r, **h.to_dict()} for r, h in enumerate(hits, start=1)])
    else:
        print_hits(hits, f"search: {text or ''}{' + image ' + str(image) if image else ''}")


def similar(
    product_id: Annotated[str, typer.Argument(help="A product id.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="How many results.")] = 10,
    category: Annotated[list[str] | None, typer.Option(help="Only this category.")] = None,
    ws: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Products most like PRODUCT_ID (itself excluded)."""
    from shelfwise.engine import Engine

    engine = Engine.open(workspace(ws))
    try:
        hits = engine.similar(product_id, k, _filters(category, None, None, False))
    finally:
        engine.close()
    if as_json:
        print_json([{"rank": r, **h.to_dict()} for r, h in enumerate(hits, start=1)])
    else:
        print_hits(hits, f"similar to {product_id}")


def align_images(
    ws: WorkspaceOpt = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Training epochs.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the offline image encoder into the text space, then rebuild the index."""
    from shelfwise.config import load_config
    from shelfwise.pipeline import build_workspace_index

    space = workspace(ws).ensure()
    overrides = {"encoders.align_epochs": epochs} if epochs else {}
    config = load_config(space.config_file, **overrides)
    if config.encoders.image_model != "aligned":
        raise ConfigError("encoders.image_model is a CLIP model; the aligned encoder is not used")
    report = build_workspace_index(space, config, progress=not as_json, retrain_images=True)
    if as_json:
        print_json(report.to_dict())
    else:
        _report_build(report, as_json)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(demo)
    app.command()(ingest)
    app.command()(search)
    app.command()(similar)
    index_app.command("build")(index_build)
    encoders_app.command("align-images")(align_images)
    app.add_typer(index_app, name="index")
    app.add_typer(encoders_app, name="encoders")
