"""CLI commands: ``shelfwise train`` (behaviour models from the event log, or a slate policy).

``shelfwise train --model NAME`` trains one behaviour model (ease, als, itemknn, sasrec) from
the event log; ``shelfwise train`` without ``--model`` and ``--policy`` trains what the
workspace needs (:func:`shelfwise.behaviour.needed_models`: the item model chosen by catalog
size, plus SASRec once enough shoppers have sequences) and refits the candidate-source blend;
``shelfwise train --policy NAME`` trains a slate policy as before.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from shelfwise.cli._common import JsonOpt, WorkspaceOpt, print_json, workspace
from shelfwise.errors import ConfigError


def _options(pairs: list[str] | None) -> dict[str, Any]:
    """``["alpha=0.3", "cascade=true"]`` -> ``{"alpha": 0.3, "cascade": True}`` (JSON values)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option must look like NAME=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _fmt_metric(m: dict[str, float]) -> str:
    return f"{m['mean']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"


def train(
    policy: Annotated[str | None, typer.Option(
        "--policy", help="Policy to train: random, greedy, linucb, lints, slateq, reinforce, "
                         "actor_critic (how it learns is read from the policy).",
        show_default=False)] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Behaviour model to train from the event log: ease, als, itemknn, "
                        "sasrec. Without --model and --policy: the models the workspace needs "
                        "(the item model by catalog size, plus sasrec when >= 20 shoppers have "
                        ">= 3 events) and the candidate-source blend.",
        show_default=False)] = None,
    source: Annotated[str, typer.Option(
        "--from", help="Experience: 'sim' (the demo-store simulator) or 'events' (the log).")
    ] = "sim",
    sessions: Annotated[int, typer.Option(help="Simulated training sessions (--from sim).")
                        ] = 2000,
    epochs: Annotated[int, typer.Option(
        help="Passes over each collected batch (sim) or over the event log (events).")] = 1,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    out: Annotated[str | None, typer.Option(
        help="Checkpoint name in the workspace's policies folder [default: the policy name, "
             "which `shelfwise serve` and `shelfwise evaluate --policy NAME` load].",
        show_default=False)] = None,
    eval_sessions: Annotated[int, typer.Option(
        help="Held-out simulated sessions of the final evaluation against random (0 skips; "
             "--from sim).")] = 500,
    checkpoint_every: Annotated[int, typer.Option(
        help="Save the checkpoint every so many sessions (0: only at the end).")] = 500,
    epsilon: Annotated[float, typer.Option(
        help="Share of uniformly random slates while training in the simulator.")] = 0.0,
    reward: Annotated[str | None, typer.Option(
        help="Reward spec for --from events, e.g. 'click+0.01*purchase_value'.")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", help="Policy hyperparameter NAME=VALUE (repeatable).")] = None,
    ws: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train behaviour models from the event log, or a slate policy (--policy)."""
    if policy is not None and model is not None:
        raise ConfigError("give --model or --policy, not both")
    if policy is None:
        _train_behaviour(ws, model, option, as_json)
        return
    from shelfwise.train import train as run_train

    if not 0.0 <= epsilon <= 1.0:
        raise ConfigError(f"--epsilon must be in [0, 1], got {epsilon:g}")
    report = run_train(
        workspace(ws), policy, source=source, sessions=sessions, epochs=epochs, seed=seed,
        out=out, eval_sessions=eval_sessions if source == "sim" else 0, reward=reward,
        policy_options=_options(option), checkpoint_every=checkpoint_every,
        epsilon=epsilon, progress=not as_json)
    if as_json:
        print_json(report.to_dict())
        return
    what = (f"{report.sessions} simulated sessions" if report.source == "sim"
            else f"{report.records} logged slates ({report.skipped} without replay data)")
    typer.echo(f"trained {report.policy} on {what} in {report.seconds:.1f}s; "
               f"saved {report.checkpoint} ({report.version})")
    curve = report.extra.get("learning_curve")
    if curve and len(curve["mean_return"]) > 1:
        first, last = curve["mean_return"][0], curve["mean_return"][-1]
        typer.echo(f"training return per session: {first:.3f} (first "
                   f"{curve['episodes'][0]} sessions) -> {last:.3f} (last chunk)")
    if report.evaluation and report.baseline:
        ev, base = report.evaluation, report.baseline
        typer.echo(f"held-out evaluation ({ev['sessions']} sessions, seed {ev['seed']}): "
                   f"mean return {_fmt_metric(ev['mean_return'])} vs random "
                   f"{_fmt_metric(base['mean_return'])}; click rate "
                   f"{_fmt_metric(ev['click_rate'])} vs {_fmt_metric(base['click_rate'])}")


def _train_behaviour(ws: str | None, model: str | None, option: list[str] | None,
                     as_json: bool) -> None:
    """``shelfwise train [--model NAME]``: behaviour models from the event log."""
    from shelfwise.behaviour import role_of, train_behaviour

    if model is not None:
        role_of(model.strip().lower())  # unknown name: exit 2 with the valid names
    opts = _options(option)
    options = {model.strip().lower(): opts} if model is not None and opts else None
    if model is None and opts:
        raise ConfigError("--option applies to one model; give it with --model NAME")
    report = train_behaviour(workspace(ws), None if model is None else [model],
                             options=options, progress=not as_json)
    if as_json:
        print_json(report.to_dict())
        return
    for m in report.models:
        sources = ", ".join(f"{v} {k}" for k, v in sorted(m.by_source.items()))
        typer.echo(f"trained {m.name} ({m.role} model) on {m.n_events} interactions ({sources}) "
                   f"of {m.n_users} shoppers, {m.items_with_events}/{m.n_items} products with "
                   f"events, in {m.seconds:.1f}s; saved {m.folder}")
    for line in report.skipped + report.notes:
        typer.echo(f"note: {line}")
    if report.blend is not None:
        top = ", ".join(f"{k} {v:+.2f}" for k, v in report.blend.items() if abs(v) >= 0.01)
        typer.echo(f"candidate-source blend fitted on {report.blend_users} shoppers' next "
                   f"items: {top}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("train")(train)
