"""CLI commands: ``shelfwise evaluate`` (off-policy evaluation of a candidate policy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shelfwise.cli.llm_options import LLMBackendOpt, LLMModelOpt, LLMUrlOpt
from shelfwise.errors import ConfigError, PolicyError, ShelfwiseError

SOURCES = ("events", "obd")


def _resolve_policy(spec: str, policies_dir: Path | None) -> Any:
    """Build the candidate policy from a checkpoint path, a checkpoint name or a registry name.

    A checkpoint name is looked up in the workspace's policies folder.
    """
    path = Path(spec).expanduser()
    found = path if path.exists() else None
    if found is None and policies_dir is not None and (policies_dir / spec).exists():
        found = policies_dir / spec
    looks_like_path = any(sep in spec for sep in ("/", "\\")) or path.suffix != ""
    if found is None and looks_like_path:
        raise ConfigError(f"--policy: policy file not found: {spec}")
    try:
        import agent.policy as policies
    except ImportError as exc:  # pragma: no cover - agent is part of this distribution
        raise PolicyError(f"cannot import agent.policy: {exc}") from exc
    if found is not None:
        loader = getattr(policies, "load_policy", None)
        if loader is None:
            raise PolicyError(f"--policy: cannot load checkpoint {found}: agent.policy has no "
                              "load_policy")
        return loader(found)
    make = getattr(policies, "make_policy", None)
    if make is None:
        raise PolicyError(f"--policy: cannot build policy {spec!r}: agent.policy has no "
                          "make_policy")
    return make(spec)


def _fmt(x: float) -> str:
    return f"{x:.5g}"


def _print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c, justify="left" if c in ("policy", "estimator") else "right")
    for row in rows:
        table.add_row(*[_fmt(row[c]) if isinstance(row[c], float) else str(row[c])
                        for c in columns])
    Console().print(table)


def _est_row(est: Any, **extra: Any) -> dict[str, Any]:
    return {**extra, "estimator": est.estimator, "value": est.value, "ci_low": est.ci_low,
            "ci_high": est.ci_high, "n": est.n}


def evaluate(
    policy: Annotated[str | None, typer.Option(
        "--policy", help="Candidate policy: a checkpoint path, a checkpoint name in the "
        "workspace's policies folder, or a registry name (random, greedy, linucb, lints, slateq, "
        "reinforce). With --from obd: 'bts' (BTS vs its observed click rate), 'logistic', or a "
        "registry name to train on the random log. Required unless --offline.")] = None,
    source: Annotated[str, typer.Option(
        "--from", help="Logged data: 'events' (the workspace's event log) or 'obd' (Open "
        "Bandit Dataset sample).")] = "events",
    estimators: Annotated[str, typer.Option(
        "--estimators", help="Comma-separated estimators: ips, snips, dm, dr (pi, the "
        "pseudo-inverse slate estimator, needs the logging policy's pairwise marginals and is "
        "available from Python).")
    ] = "ips,snips,dm,dr",
    reward: Annotated[str, typer.Option(
        "--reward", help="Reward spec for events, e.g. 'click+0.01*purchase_value'.")] = "click",
    logging_policy: Annotated[str | None, typer.Option(
        "--logging-policy", help="Only impressions logged by this policy.")] = None,
    campaign: Annotated[str, typer.Option(
        "--campaign", help="OBD campaign: all, men, women.")] = "all",
    bts_method: Annotated[str, typer.Option(
        "--bts-method", help="OBD: BTS action distribution from its 'prior' (as obp) or "
        "'empirical' frequencies in the bts log.")] = "prior",
    n_bootstrap: Annotated[int, typer.Option("--n-bootstrap", help="Bootstrap resamples.")
                           ] = 1000,
    refits: Annotated[int, typer.Option(
        "--refits", help="DM/DR: reward-model refits on bootstrap resamples, so their intervals "
        "include the model's own error (0 holds the model fixed: faster, but the intervals are "
        "too narrow).")] = 30,
    seed: Annotated[int, typer.Option("--seed", help="Seed of everything random.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")
                       ] = False,
    workspace: Annotated[Path | None, typer.Option(
        "--workspace", "-w",
        help="Workspace folder (default $SHELFWISE_HOME or ./shelfwise-data)."
    )] = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Ranking evaluation on the event log instead: behaviour models and "
        "baselines (most-popular, item-kNN, EASE) trained on a time split, full ranking over the "
        "catalog, HR/NDCG/MRR/coverage/popularity with bootstrap intervals.")] = False,
    split: Annotated[str, typer.Option(
        "--split", help="Offline: 'leave-last-out' (per shopper) or 'time' (one cut).")
    ] = "leave-last-out",
    k: Annotated[str, typer.Option("-k", "--k", help="Offline: cut-offs K, comma-separated.")
                 ] = "10,20",
    negatives: Annotated[int | None, typer.Option(
        "--negatives", help="Offline: rank among N sampled negatives instead of the whole "
        "catalog (labelled SAMPLED).")] = None,
    include_history: Annotated[bool, typer.Option(
        "--include-history", help="Offline: let a shopper's own history be recommended.")
    ] = False,
    baselines: Annotated[str, typer.Option(
        "--baselines", help="Offline: baselines, comma-separated (mostpop or behaviour models).")
    ] = "mostpop,itemknn,ease",
    models: Annotated[str, typer.Option(
        "--models", help="Offline: behaviour models to evaluate beside the baselines, e.g. "
        "'als,sasrec'.")] = "",
    kinds: Annotated[str | None, typer.Option(
        "--kinds", help="Offline: interaction kinds to use (view, click, add_to_cart, "
        "purchase); default all.")] = None,
    cut: Annotated[str | None, typer.Option(
        "--cut", help="Offline, --split time: cut time (unix seconds or ISO date).")] = None,
    test_fraction: Annotated[float, typer.Option(
        "--test-fraction", help="Offline, --split time: share of events after the default cut.")
    ] = 0.2,
    min_users: Annotated[int, typer.Option(
        "--min-users", help="Offline: fewest shoppers to evaluate.")] = 10,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Offline: write a PNG of NDCG@K with intervals per model.")] = None,
    rerank_weights: Annotated[str | None, typer.Option(
        "--rerank-weights", help="Choose the language model's blend weight instead: estimate "
        "each weight of this grid (e.g. 0,0.25,0.5,1) on the logged slates with a query "
        "(position-based IPS; one model score call per slate).", show_default=False)] = None,
    write_config: Annotated[bool, typer.Option(
        "--write-config", help="With --rerank-weights: store the chosen weight as [llm] "
        "rerank_weight in the workspace's shelfwise.toml.")] = False,
    max_slates: Annotated[int, typer.Option(
        "--max-slates", help="With --rerank-weights: most recent slates to score.")] = 200,
    llm_backend: LLMBackendOpt = None,
    llm_model: LLMModelOpt = None,
    llm_url: LLMUrlOpt = None,
) -> None:
    """Estimate a policy's value from logged data (IPS/SNIPS/DM/DR), or rank models (--offline).

    Without --offline: off-policy evaluation of a candidate policy before it ships. With
    --offline: the behaviour models and baselines on a time split of the event log, full
    ranking over the catalog with each shopper's history excluded.
    """
    from shelfwise.evaluate.estimators import parse_estimators
    from shelfwise.workspace import Workspace

    if n_bootstrap < 10:
        raise ConfigError(f"--n-bootstrap must be at least 10, got {n_bootstrap}")
    if refits != 0 and refits < 10:
        raise ConfigError(f"--refits must be 0 (model held fixed) or at least 10, got {refits}")
    if write_config and rerank_weights is None:
        raise ConfigError("--write-config stores the weight chosen by --rerank-weights; pass "
                          "--rerank-weights too, e.g. --rerank-weights 0,0.25,0.5,1")
    if rerank_weights is not None:
        from shelfwise.cli.llm_options import LLMOptions
        from shelfwise.cli.rerank_eval import run_rerank_weights

        run_rerank_weights(workspace, rerank_weights, reward=reward, max_slates=max_slates,
                           n_bootstrap=n_bootstrap, seed=seed, write_config=write_config,
                           as_json=as_json,
                           llm_options=LLMOptions(llm_backend, llm_model, llm_url))
        return
    if offline:
        from shelfwise.cli.offline_eval import OfflineArgs, run_offline

        run_offline(OfflineArgs(split, k, negatives, include_history, baselines, models, kinds,
                                cut, test_fraction, min_users, plot, n_bootstrap, seed, as_json),
                    workspace)
        return
    if policy is None:
        raise ConfigError("--policy is required (or pass --offline for ranking evaluation)")
    names = parse_estimators(estimators)
    if source not in SOURCES:
        raise ConfigError(f"--from: unknown source {source!r}; choose from: {', '.join(SOURCES)}")
    ws = Workspace.resolve(workspace)
    if source == "obd":
        _evaluate_obd(policy, names, campaign, bts_method, n_bootstrap, refits, seed, as_json)
        return
    if not ws.events_db.exists():
        raise ShelfwiseError(f"no event log at {ws.events_db}: serve slates (or run the "
                             "simulator) to log impressions first, or use --from obd")
    from shelfwise.evaluate.replay import evaluate_events
    from shelfwise.events import SQLiteEventStore

    candidate = _resolve_policy(policy, ws.policies_dir)
    features = None
    if (ws.index_dir).exists() and any(ws.index_dir.iterdir()):
        features = _index_lookup(ws.index_dir)
    with SQLiteEventStore(ws.events_db) as store:
        result = evaluate_events(store, candidate, estimators=names, reward=reward,
                                 logging_policy=logging_policy, features=features,
                                 n_bootstrap=n_bootstrap, n_refits=refits, seed=seed)
    name = getattr(candidate, "name", policy)
    rows = [_est_row(e, policy=name) for e in result.estimates.values()]
    rows.append(_est_row(result.logged, policy=logging_policy or "logged"))
    if as_json:
        typer.echo(json.dumps({"source": "events", "policy": name, "reward": result.reward,
                               "n": result.n, "skipped": result.skipped, "estimates": rows},
                              indent=2))
        return
    _print_table(f"{name} on {result.n} logged slates (reward {result.reward}; "
                 f"{result.skipped} skipped without replay data)", rows,
                 ["policy", "estimator", "value", "ci_low", "ci_high", "n"])


def _index_lookup(index_dir: Path) -> Any:
    """Look up candidate features in the workspace index (loaded on first use)."""
    cache: dict[str, Any] = {}

    def lookup(ids: list[str]) -> Any:
        if "index" not in cache:
            from index import VectorIndex

            cache["index"] = VectorIndex.load(index_dir)
        return cache["index"].vectors(ids)

    return lookup


def _evaluate_obd(policy: str, names: list[str], campaign: str, bts_method: str,
                  n_bootstrap: int, refits: int, seed: int, as_json: bool) -> None:
    from shelfwise.evaluate.obd import compare_bts, evaluate_trained_policy

    if policy == "bts":
        cmp = compare_bts(campaign, method=bts_method, estimators=names,
                          n_bootstrap=n_bootstrap, n_refits=refits, seed=seed)
        errs = cmp.relative_errors()
        rows = [_est_row(e, policy="bts (from random log)", rel_error=errs[k])
                for k, e in cmp.estimates.items()]
        rows.insert(0, _est_row(cmp.observed, policy="bts (observed)", rel_error=0.0))
        title = (f"OBD ({campaign}): Bernoulli TS click rate, estimated from the random log "
                 f"(BTS distribution: {bts_method})")
        cols = ["policy", "estimator", "value", "ci_low", "ci_high", "n", "rel_error"]
    else:
        if Path(policy).suffix or "/" in policy:
            raise ConfigError("--from obd trains the policy on the OBD random log; pass a "
                              "policy name (bts, logistic, linucb, ...), not a checkpoint")
        res = evaluate_trained_policy(policy, campaign, estimators=names,
                                      n_bootstrap=n_bootstrap, n_refits=refits, seed=seed)
        rows = [_est_row(e, policy=res.policy) for e in res.estimates.values()]
        rows.append(_est_row(res.random, policy="random (test rows)"))
        rows += [_est_row(e, policy="bts (test rows)") for e in res.bts.values()]
        rows.append(_est_row(res.bts_observed, policy="bts (observed)"))
        title = (f"OBD ({campaign}): click rate of {res.policy} trained on {res.n_train} "
                 "random-log rows, evaluated on the rest")
        cols = ["policy", "estimator", "value", "ci_low", "ci_high", "n"]
    if as_json:
        typer.echo(json.dumps({"source": "obd", "campaign": campaign, "policy": policy,
                               "estimates": rows}, indent=2))
        return
    _print_table(title, rows, cols)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("evaluate")(evaluate)
