"""One spelling per option across all commands, read from the typer app itself."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import typer

from shelfwise.cli import _register_commands, app


def _leaf_commands() -> list[tuple[str, Any]]:
    _register_commands()
    out: list[tuple[str, Any]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        subs = getattr(command, "commands", None)
        if subs is None:
            out.append((" ".join(path), command))
            return
        for name, sub in subs.items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


def _options(command: Any) -> list[Any]:
    return [p for p in command.params
            if getattr(p, "opts", None) and p.opts[0].startswith("-")]


def _flags(param: Any) -> frozenset[str]:
    return frozenset([*param.opts, *getattr(param, "secondary_opts", [])])


def test_each_flag_is_spelled_the_same_everywhere():
    """An option's flags (short form, ``--no-`` form) are the same in every command."""
    seen: dict[str, dict[frozenset[str], list[str]]] = defaultdict(lambda: defaultdict(list))
    for name, command in _leaf_commands():
        for param in _options(command):
            for flag in _flags(param):
                seen[flag][_flags(param)].append(name)
    mixed = {flag: {"/".join(sorted(k)): v for k, v in spellings.items()}
             for flag, spellings in seen.items() if len(spellings) > 1}
    assert not mixed, f"one flag, several spellings: {mixed}"


def test_slate_size_and_workspace_everywhere():
    """``-k/--k`` wherever a count of results is taken, ``-w/--workspace`` for a workspace."""
    checked = {"k": 0, "workspace": 0}
    for name, command in _leaf_commands():
        for param in _options(command):
            flags = _flags(param)
            if param.name == "k" or flags & {"-k", "--k"}:
                assert flags == {"-k", "--k"}, (name, sorted(flags))
                checked["k"] += 1
            if param.name in ("ws", "workspace") or flags & {"-w", "--workspace"}:
                assert flags == {"-w", "--workspace"}, (name, sorted(flags))
                checked["workspace"] += 1
    # search, similar, chat, batch, evaluate take k; nearly every command a workspace
    assert checked["k"] >= 5
    assert checked["workspace"] >= 12


def test_llm_switch_is_one_pair():
    for name, command in _leaf_commands():
        for param in _options(command):
            if _flags(param) & {"--llm", "--no-llm"}:
                assert _flags(param) == {"--llm", "--no-llm"}, name


def test_short_flags_mean_one_thing():
    """A one-letter flag names the same long option in every command."""
    meaning: dict[str, set[str]] = defaultdict(set)
    for _, command in _leaf_commands():
        for param in _options(command):
            shorts = [f for f in _flags(param) if len(f) == 2]
            longs = sorted(f for f in _flags(param) if f.startswith("--"))
            for short in shorts:
                meaning[short].add(longs[0] if longs else short)
    assert {s: m for s, m in meaning.items() if len(m) > 1} == {}
