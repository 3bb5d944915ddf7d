"""``shelfwise evaluate --offline``: rank the behaviour models and baselines on the event log.

The options are declared on ``evaluate`` in :mod:`shelfwise.cli.evaluate_cmds`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer

from shelfwise.errors import ConfigError, ShelfwiseError


@dataclass(frozen=True)
class OfflineArgs:
    """The ``--offline`` options of ``shelfwise evaluate``, as given on the command line."""

    split: str
    k: str
    negatives: int | None
    include_history: bool
    baselines: str
    models: str
    kinds: str | None
    cut: str | None
    test_fraction: float
    min_users: int
    plot: Path | None
    n_bootstrap: int
    seed: int
    as_json: bool


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(t) for t in _csv(text))
    except ValueError as exc:
        raise ConfigError(f"--k must be comma-separated positive ints, got {text!r}") from exc
    if not ks or min(ks) < 1:
        raise ConfigError(f"--k must be comma-separated positive ints, got {text!r}")
    return ks


def _cut_time(text: str | None) -> float | None:
    """``--cut`` as unix seconds: a number, or an ISO date/time (UTC unless it says otherwise)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--cut must be unix seconds or an ISO date such as 2024-05-01, got "
                          f"{text!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def run_offline(args: OfflineArgs, workspace: Path | None) -> None:
    """Evaluate on the workspace's event log and print a table (or JSON); optionally plot.

    Raises:
        ShelfwiseError: no event log; NotEnoughInteractionsError when too few shoppers can be
            evaluated; ConfigError for bad options.

    """
    from shelfwise.catalog import CatalogStore
    from shelfwise.evaluate.log_interactions import interactions_from_log
    from shelfwise.evaluate.offline import OfflineConfig, evaluate_offline
    from shelfwise.events import SQLiteEventStore
    from shelfwise.workspace import Workspace

    cfg = OfflineConfig(split=args.split, ks=_ks(args.k), exclude_history=not args.include_history,
                        negatives=args.negatives, baselines=tuple(_csv(args.baselines)),
                        cut_time=_cut_time(args.cut), test_fraction=args.test_fraction,
                        n_bootstrap=args.n_bootstrap, seed=args.seed, min_users=args.min_users,
                        reference="mostpop")
    candidates = _csv(args.models)
    ws = Workspace.resolve(workspace)
    if not ws.events_db.exists():
        raise ShelfwiseError(f"no event log at {ws.events_db}: import past interactions or serve "
                             "slates first")
    catalog_ids = None
    if ws.catalog_db.exists():
        store = CatalogStore(ws.catalog_db)
        try:
            catalog_ids = [p.id for p in store.all()] or None
        finally:
            store.close()
    with SQLiteEventStore(ws.events_db) as events:
        log = interactions_from_log(events, catalog_ids=catalog_ids,
                                    kinds=_csv(args.kinds) if args.kinds else None)
    from encoders.behaviour.base import make_behaviour_model

    scorers = {name: make_behaviour_model(name) for name in candidates}
    report = evaluate_offline(log.data, scorers, cfg)
    plot_path = None
    if args.plot is not None:
        from shelfwise.evaluate.offline_report import plot_ndcg

        plot_path = plot_ndcg(report, args.plot)
    if args.as_json:
        doc = {"source": "events", **report.to_dict(),
               "log": {"events_by_kind": log.by_kind, "events_by_source": log.by_source,
                       "dropped_unknown_items": log.dropped_unknown_items},
               "plot": None if plot_path is None else str(plot_path)}
        typer.echo(json.dumps(doc, indent=2))
        return
    from rich.console import Console

    from shelfwise.evaluate.offline_report import rich_table

    console = Console()
    for k in report.ks:
        console.print(rich_table(report, k))
    if log.dropped_unknown_items:
        console.print(f"{log.dropped_unknown_items} events on products not in the catalog were "
                      "left out")
    if plot_path is not None:
        console.print(f"plot: {plot_path}")
