"""The ``mammo`` command: thin wiring of each package's commands into one typer app."""

from __future__ import annotations

import sys

import typer

from classifier.cli import app as classifier_app
from detector.cli import app as detector_app
from screening.convert_cmd import convert_command
from screening.evaluate_cmd import evaluate_command
from screening.screen_cmd import demo_command, screen_command


def _root() -> None:
    """mammoscreen: find lesions on whole mammograms and grade them.

    Start with `mammo demo`; every command has --help.
    """


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="mammo",
        help="mammoscreen: find lesions on whole mammograms and grade them.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(_root)
    app.command("demo")(demo_command)
    app.command("screen")(screen_command)
    app.command("evaluate")(evaluate_command)
    app.command("convert")(convert_command)
    app.add_typer(detector_app, name="detector")
    app.add_typer(classifier_app, name="classifier")
    from screening.inspect_cmd import inspect_command

    app.command("inspect")(inspect_command)
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad input becomes one line on stderr and exit status 2."""
    from converters.errors import InputError

    app = build_app()
    try:
        app(args=argv, prog_name="mammo")
    except InputError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except (FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError) as err:
        # an output path that is a file, a folder where a file should go, or no write permission
        typer.echo(f"error: {err.filename}: {err.strerror}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
