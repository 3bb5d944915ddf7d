"""CLI command: ``shelfwise batch`` (slates for many shoppers at once, on Ray Data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shelfwise.cli._common import JsonOpt, WorkspaceOpt
from shelfwise.cli.llm_options import (
    LLMBackendOpt,
    LLMModelOpt,
    LLMOptions,
    LLMRetriesOpt,
    LLMThreadsOpt,
    LLMTimeoutOpt,
    LLMUrlOpt,
)


def batch(
    input_path: Annotated[Path, typer.Argument(
        metavar="INPUT", help="Shoppers: Parquet file or folder, or CSV, with a user_id column "
        "and optional query, history (list, or space-separated product ids) and constraint "
        "columns: min_price, max_price, category, in_stock, exclude. A query's own "
        "constraints ('jacket under 90') apply too.", show_default=False)],
    output: Annotated[Path, typer.Argument(
        metavar="OUTPUT", help="Folder of Parquet part files (one per input partition); a "
        "re-run resumes it.", show_default=False)],
    k: Annotated[int, typer.Option("--k", "-k", help="Products per slate.")] = 10,
    policy: Annotated[str, typer.Option(
        "--policy", help="Registry name (random, greedy, linucb, lints, slateq, reinforce), a "
        "checkpoint path, or a checkpoint name in the workspace's policies folder.")
    ] = "greedy",
    seed: Annotated[int, typer.Option(
        "--seed", help="Seed: the same seed gives the same slates, however the job is split.")
    ] = 0,
    reasons: Annotated[str, typer.Option(
        "--reasons", help="One reason per product: none, template (from product facts) or "
        "llm (local language model writes the top 2 reasons, grounding-checked; templates "
        "for the rest).")] = "none",
    candidates: Annotated[int, typer.Option(
        "--candidates", help="Products retrieved per shopper before the policy picks k.")
    ] = 100,
    address: Annotated[str | None, typer.Option(
        "--address", envvar="RAY_ADDRESS", help="Ray cluster address [default: $RAY_ADDRESS, "
        "else a local Ray].", show_default=False)] = None,
    workers: Annotated[int, typer.Option(
        "--workers", help="Ray worker actors; each loads the engine and policy once.")] = 1,
    partition_size: Annotated[int, typer.Option(
        "--partition-size", help="Input rows per partition (one part file each; the unit of "
        "resumption).")] = 2000,
    include_history: Annotated[bool, typer.Option(
        "--include-history", help="Let slates hold products the shopper already interacted "
        "with (the history column and the event log); by default they never do.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Recompute everything instead of resuming OUTPUT.")] = False,
    no_progress: Annotated[bool, typer.Option(
        "--no-progress", help="Hide the progress bar.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    llm_backend: LLMBackendOpt = None,
    llm_model: LLMModelOpt = None,
    llm_url: LLMUrlOpt = None,
    llm_timeout: LLMTimeoutOpt = None,
    llm_retries: LLMRetriesOpt = None,
    llm_threads: LLMThreadsOpt = None,
) -> None:
    """Generate a slate for every shopper in INPUT, on Ray Data, into OUTPUT (Parquet)."""
    from shelfwise.batch import BatchConfig, run_batch
    from shelfwise.cli._common import print_json
    from shelfwise.cli._common import workspace as resolve_workspace

    space = resolve_workspace(workspace)
    llm = LLMOptions(llm_backend, llm_model, llm_url, llm_timeout, llm_retries,
                     llm_threads).resolve(space.config_file)
    config = BatchConfig(k=k, policy=policy, seed=seed, reasons=reasons,
                         n_candidates=candidates, partition_size=partition_size,
                         workers=workers, address=address, include_history=include_history,
                         llm=llm.model_dump())
    result = run_batch(input_path, output, space, config,
                       progress=not no_progress, overwrite=overwrite)
    if as_json:
        print_json(result.to_dict())
        return
    typer.echo(f"{result.users} shoppers in {result.partitions} partitions: computed "
               f"{len(result.computed)}, skipped {len(result.skipped)} (already done); "
               f"{result.rows_written} rows written to {result.output} in "
               f"{result.seconds:.1f} s ({result.users_per_second:.0f} shoppers/s); "
               f"policy {result.policy_version}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("batch")(batch)
