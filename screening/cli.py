"""The ``mammo`` command: thin wiring of each package's commands into one typer app.

Exit status (also in ``mammo --help``):

* 0: all done;
* 1: some inputs failed (a film could not be read); each is named, the rest are done;
* 2: bad arguments or input: one line on stderr naming the argument or file;
* 3: internal error: one line on stderr, plus the file the full traceback was written to.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from classifier.cli import app as classifier_app
from detector.cli import app as detector_app
from screening.convert_cmd import convert_command
from screening.evaluate_cmd import evaluate_command
from screening.screen_cmd import demo_command, screen_command

EXIT_OK, EXIT_SOME_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

EXIT_CODES_EPILOG = (
    "Exit status: 0 all done; 1 some inputs failed (each is named, the rest are done); "
    "2 bad arguments or input (one line naming it); 3 internal error (one line, plus the file "
    "holding the full traceback)."
)


def _hide_flag_types(params) -> None:
    """Show flags as ``--quiet``, not ``--quiet <bool>``.

    typer's rich help prints every option's type, flags included (its plain help skips
    flags); a flag takes no value, so its type column is emptied here.
    """
    for p in params:
        if getattr(p, "is_flag", False) or getattr(p, "count", False):
            p.metavar = ""


class MammoGroup(TyperGroup):
    """A command group whose help (and its commands' help) shows flags without a type."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        _hide_flag_types(params)
        return params

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None and not isinstance(cmd, MammoGroup):
            _hide_flag_types(cmd.get_params(ctx))
        return cmd


def _group_help(summary: str, app: typer.Typer) -> str:
    """``summary`` followed by every command the group has, so the list cannot go stale."""
    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands if not c.hidden]
    return f"{summary.rstrip('.')}: {', '.join(names)}."


def _root() -> None:
    """mammoscreen: find lesions on whole mammograms and grade them.

    Start with `mammo demo`; every command has --help.
    """


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="mammo",
        help="mammoscreen: find lesions on whole mammograms and grade them.",
        epilog=EXIT_CODES_EPILOG,
        cls=MammoGroup,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback(epilog=EXIT_CODES_EPILOG)(_root)
    app.command("demo")(demo_command)
    app.command("screen")(screen_command)
    app.command("evaluate")(evaluate_command)
    app.command("convert")(convert_command)
    app.add_typer(detector_app, name="detector", cls=MammoGroup,
                  help=_group_help("Lesion detector", detector_app))
    app.add_typer(classifier_app, name="classifier", cls=MammoGroup,
                  help=_group_help("Grade lesion crops as normal, benign or malignant (BCDCNN and ResNet-18)", classifier_app))
    from screening.calc_cmd import calc_app, verdict_app

    app.add_typer(calc_app, name="calcifications", cls=MammoGroup,
                  help=_group_help("Calcification clusters at native resolution", calc_app))
    app.add_typer(verdict_app, name="verdict", cls=MammoGroup,
                  help=_group_help("The film-level model behind abnormal_score, malignant_score and the verdict", verdict_app))
    from screening.inspect_cmd import inspect_command

    app.command("inspect")(inspect_command)
    return app


def _internal_error(err: BaseException) -> int:
    """Write the traceback to a log file; print one line naming it; return exit status 3."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    try:
        fd, log = tempfile.mkstemp(prefix="mammo-error-", suffix=".log")
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(f"mammo {' '.join(sys.argv[1:])}\n{text}")
        where = f"full traceback in {log}"
    except OSError:  # no writable temp folder: the traceback goes to stderr after all
        where = "traceback follows"
        typer.echo(text, err=True)
    first = " ".join(str(err).split())[:200]
    typer.echo(f"internal error: {type(err).__name__}: {first} ({where})", err=True)
    return EXIT_INTERNAL


def main(argv: list[str] | None = None) -> None:
    """Entry point; exit status as in the module docstring."""
    from converters.errors import InputError

    app = build_app()
    try:
        app(args=argv, prog_name="mammo")
    except InputError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as err:
        if err.filename is None:
            sys.exit(_internal_error(err))
        # an output path that cannot be made, a folder where a file should go, no permission ...
        typer.echo(f"error: {err.filename}: {err.strerror or err}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as err:  # anything else is a defect: one line, the traceback in a log
        sys.exit(_internal_error(err))


if __name__ == "__main__":
    main()
