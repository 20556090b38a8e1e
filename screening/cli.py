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


def _tidy_help(params) -> None:
    """What the help shows of each parameter, made plain.

    * Flags as ``--quiet``, not ``--quiet <bool>``: typer's rich help prints every option's
      type, flags included (its plain help skips flags); a flag takes no value, so its type
      column is emptied.
    * A default given as text (``show_default="1"``: the option's own default is None, so a
      config file can set the value) as ``[default: 1]``, not typer's ``[default: (1)]``.
    * A repeatable option's or a many-valued argument's type as its element's (``<path>``;
      ``<path>...`` for an argument), not the annotation ``<list[Path]>``.
    * A required argument in the usage line as ``IMAGES...``, not typer's ``{IMAGES}...``.
    """
    import re

    for p in params:
        if getattr(p, "_mammo_help_tidied", False):
            continue
        p._mammo_help_tidied = True
        if getattr(p, "is_flag", False) or getattr(p, "count", False):
            p.metavar = ""
        shown = getattr(p, "show_default", None)
        if isinstance(shown, str) and hasattr(p, "_get_default_string"):
            p._get_default_string = lambda *_, _shown=shown, **__: _shown
        if (getattr(p, "multiple", False) or getattr(p, "nargs", 1) != 1) and hasattr(p, "display_type_rich"):
            def element_type(ctx, _typed=p.display_type_rich, _argument=p.param_type_name == "argument"):
                text = _typed(ctx)
                m = re.fullmatch(r"<list\[(\w+)\]>(?:\.\.\.)?", text or "")
                return text if m is None else f"<{m.group(1).lower()}>" + ("..." if _argument else "")

            p.display_type_rich = element_type
        if getattr(p, "required", False) and hasattr(p, "_usage_display_name"):
            p._usage_display_name = lambda _usage=p._usage_display_name: _usage().replace("{", "").replace("}", "")


class MammoGroup(TyperGroup):
    """A command group whose help (and its commands' help) shows parameters plainly (:func:`_tidy_help`)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        _tidy_help(params)
        return params

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None and not isinstance(cmd, MammoGroup):
            _tidy_help(cmd.get_params(ctx))
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


def _cli_error_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """``(usage and other command-line errors, aborts)`` of the typer in use: recent typer
    raises its own copy of click's exceptions (under ``typer.exceptions.TyperException``),
    older typer click's own."""
    errors: list[type] = []
    aborts: list[type] = [typer.Abort]
    try:
        from typer.exceptions import TyperException

        errors.append(TyperException)
    except ImportError:
        pass
    try:
        import click

        errors.append(click.ClickException)
        aborts.append(click.Abort)
    except ImportError:
        pass
    return tuple(errors), tuple(aborts)


def _command_line_error(err) -> int:
    """One line for an unknown option, a bad value, a missing argument ...; returns the exit status (2).

    typer would draw a box of several lines; ``mammo`` says every error in one line.
    """
    if type(err).__name__ == "NoArgsIsHelpError":  # `mammo` or `mammo detector` alone: the help was shown
        return err.exit_code
    ctx = getattr(err, "ctx", None)
    see = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    typer.echo(f"error: {' '.join(err.format_message().split())}{see}", err=True)
    return EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> None:
    """Entry point; exit status as in the module docstring."""
    from converters.errors import InputError

    app = build_app()
    cli_errors, aborts = _cli_error_types()
    try:
        # standalone_mode=False: command-line errors come here (one line each) instead of being
        # drawn by typer; a command's typer.Exit(code) comes back as the return value.
        code = app(args=argv, prog_name="mammo", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except cli_errors as err:
        sys.exit(_command_line_error(err))
    except aborts:
        typer.echo("aborted", err=True)
        sys.exit(EXIT_SOME_FAILED)
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
