"""The ``shelfwise`` command line; each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from shelfwise.errors import ShelfwiseError

app = typer.Typer(
    name="shelfwise",
    help="shelfwise: a recommendation agent for online shops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # help texts are plain text: "[default: ./shelfwise-data]" must not be read as rich markup
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from shelfwise import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """shelfwise: a recommendation agent for online shops."""


@app.command()
def version() -> None:
    """Print shelfwise's version."""
    from shelfwise import __version__

    typer.echo(__version__)


_registered: list[bool] = []


def _register_commands() -> None:
    # Once per process: main() is called many times by the tests, and registering again would
    # add every command again, making each call slower than the last.
    if _registered:
        return
    _registered.append(True)
    # Imported here so that `import shelfwise.cli` stays cheap and free of side effects.
    from shelfwise.cli import (
        batch_cmds,
        catalog_cmds,
        chat_cmds,
        evaluate_cmds,
        serve_cmds,
        train_cmds,
    )

    for module in (catalog_cmds, train_cmds, evaluate_cmds, chat_cmds, serve_cmds, batch_cmds):
        module.register(app)
    from shelfwise.cli import images_cmds  # images fetch

    images_cmds.register(app)
    from shelfwise.cli import events_cmds  # ingest-events, events export

    events_cmds.register(app)


def _click_exception_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Click's usage-error and abort classes: typer >= 0.24 raises its own bundled copies."""
    import click

    errors: list[type] = [click.exceptions.ClickException]
    aborts: list[type] = [click.exceptions.Abort]
    try:
        from typer._click import exceptions as bundled  # type: ignore[import-not-found]
    except ImportError:  # an older typer uses the real click
        pass
    else:
        errors.append(bundled.ClickException)
    aborts.append(typer.Abort)
    return tuple(errors), tuple(aborts)


def _error(message: str, hint: str | None = None) -> None:
    """``error: message`` (and a hint line) on stderr."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    if hint:
        typer.echo(hint, err=True)


def _usage_hint(exc: Exception) -> str | None:
    """``Try 'shelfwise search --help' for help.`` for the command a usage error came from."""
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return None
    help_names = getattr(ctx, "help_option_names", None) or ["--help"]
    return f"Try '{ctx.command_path} {help_names[0]}' for help."


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script.

    Bad input of any kind (a ShelfwiseError, a usage error from the parser: unknown command
    or option, missing argument, a value of the wrong type) prints ``error: ...`` on stderr
    and returns 2, never a traceback; ``--help`` and ``--version`` return 0.
    """
    _register_commands()
    try:
        app(args=argv if argv is not None else sys.argv[1:], prog_name="shelfwise",
            standalone_mode=False)
    except ShelfwiseError as exc:
        _error(str(exc))
        return 2
    except SystemExit as exc:  # typer.Exit from --version and friends
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        click_errors, aborts = _click_exception_types()
        if isinstance(exc, click_errors) and type(exc).__name__ == "NoArgsIsHelpError":
            # a bare `shelfwise` or `shelfwise index`: the help, then what is missing
            typer.echo(exc.format_message(), err=True)
            _error("missing command: choose one of the commands listed above")
            return 2
        if isinstance(exc, click_errors):
            # click's own layout is "Usage: ... Error: ..."; shelfwise prints one
            # "error: ..." line like every other bad input, and where to find help
            _error(exc.format_message(), _usage_hint(exc))
            code = int(getattr(exc, "exit_code", 2))
            return 2 if code == 1 else code
        if isinstance(exc, aborts):
            return 1
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
