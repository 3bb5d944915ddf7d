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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; turns ShelfwiseError into a one-line message, exit 2."""
    _register_commands()
    try:
        app(args=argv if argv is not None else sys.argv[1:], standalone_mode=False)
    except ShelfwiseError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        return 2
    except SystemExit as exc:  # --help and click's own usage errors
        return int(exc.code or 0)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        click_errors, aborts = _click_exception_types()
        if isinstance(exc, click_errors):
            exc.show()  # "Usage: ... Error: ..." on stderr, no traceback
            return int(getattr(exc, "exit_code", 2))
        if isinstance(exc, aborts):
            return 1
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
