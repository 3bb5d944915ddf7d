"""``shelfwise evaluate --rerank-weights``: the model's blend weight chosen on the shop's logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from shelfwise.errors import ConfigError, ShelfwiseError


def run_rerank_weights(workspace: Path | None, weights: str, *, reward: str, max_slates: int,
                       n_bootstrap: int, seed: int, write_config: bool, as_json: bool,
                       llm_options: Any = None) -> None:
    """Estimate every weight of ``weights`` off-policy and optionally store the chosen one.

    Args:
        workspace: the workspace folder (None: the default).
        weights: ``--rerank-weights`` text, e.g. ``"0,0.25,0.5,1"``.
        reward: reward spec (``click`` by default).
        max_slates: most recent slates with a query to score.
        n_bootstrap: bootstrap resamples.
        seed: bootstrap seed.
        write_config: write the chosen weight to ``[llm] rerank_weight`` of the workspace's
            ``shelfwise.toml``.
        as_json: print JSON instead of a table.
        llm_options: :class:`~shelfwise.cli.llm_options.LLMOptions` overriding ``[llm]``.

    Raises:
        ConfigError: bad weights, no language model configured, or nothing to evaluate.
        ShelfwiseError: no event log.
    """
    from agent.products import ProductView
    from agent.rerank import Reranker
    from shelfwise.catalog import CatalogStore
    from shelfwise.cli.llm_options import LLMOptions
    from shelfwise.evaluate.rerank_weights import evaluate_rerank_weights, parse_weights
    from shelfwise.events import SQLiteEventStore
    from shelfwise.llm_setup import open_chat_model, write_rerank_weight
    from shelfwise.workspace import Workspace

    grid = parse_weights(weights)
    ws = Workspace.resolve(workspace)
    cfg = (llm_options or LLMOptions()).resolve(ws.config_file)
    if not ws.events_db.exists():
        raise ShelfwiseError(f"no event log at {ws.events_db}: serve slates with queries "
                             "(chat, /recommend) before choosing a rerank weight")
    if cfg.backend == "none":
        raise ConfigError("--rerank-weights needs a language model, but [llm] backend is "
                          "'none'; pass --llm-backend")
    model = open_chat_model(cfg)
    reranker = Reranker(model, blend_weight=1.0, cache_size=0,
                        timeout_s=cfg.timeout_s * (cfg.retries + 1) + 2.0 * cfg.retries + 1.0)
    catalog = CatalogStore(ws.catalog_db)

    def products_of(ids: list[str]) -> list[Any]:
        out = []
        for pid in ids:
            p = catalog.get(pid)
            if p is None:
                raise ConfigError(f"logged product {pid!r} is no longer in the catalog; "
                                  "evaluate logs of the current catalog")
            out.append(ProductView.from_any(p))
        return out

    def score(query: str, products: list[Any], scores: Any) -> Any:
        res = reranker.rerank(query, None, products, scores, len(products))
        return None if res.fallback else res.llm_scores

    try:
        with SQLiteEventStore(ws.events_db) as store:
            result = evaluate_rerank_weights(store, products_of, score, grid, reward=reward,
                                             max_slates=max_slates, n_bootstrap=n_bootstrap,
                                             seed=seed)
    finally:
        close = getattr(catalog, "close", None)
        if callable(close):
            close()
    if write_config:
        write_rerank_weight(ws.config_file, result.chosen)
    if as_json:
        data = result.to_dict()
        data["written_to"] = str(ws.config_file) if write_config else None
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Model blend weight on {result.n} logged slates with a query "
                        f"(reward {result.reward}; {result.fallbacks} model fallbacks, "
                        f"{result.skipped_no_query} slates without a query skipped)")
    for c in ("weight", "value", "95% CI", "vs 0", "95% CI of difference"):
        table.add_column(c, justify="right")
    for e in result.estimates:
        table.add_row(f"{e.weight:g}", f"{e.value:.4f}", f"[{e.ci_low:.4f}, {e.ci_high:.4f}]",
                      f"{e.delta:+.4f}", f"[{e.delta_low:+.4f}, {e.delta_high:+.4f}]")
    console = Console()
    console.print(table)
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
    where = f"; written to {ws.config_file} [llm] rerank_weight" if write_config else \
        " (pass --write-config to store it)"
    typer.echo(f"chosen rerank weight: {result.chosen:g}{where}")
