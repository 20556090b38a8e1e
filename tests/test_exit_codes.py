"""Exit status of `mammo` (0 done, 1 some inputs failed, 2 bad arguments/input, 3 internal
error with a log) and what `--help` shows."""

import re

import pytest
from typer.testing import CliRunner

from converters.images import encode_pgm
from phantoms import phantom_film, small_mias
from screening.cli import build_app, main
from test_screening import stub_screener


def run_main(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, capsys.readouterr()


@pytest.fixture
def films(tmp_path, monkeypatch):
    import screening.run as run

    monkeypatch.setattr(run, "Screener", lambda cfg: stub_screener())
    d = tmp_path / "films"
    d.mkdir()
    (d / "good.pgm").write_bytes(encode_pgm(phantom_film(128, [(40, 60, 10)])))
    return d


def test_all_done_is_0(tmp_path, films, capsys):
    code, _ = run_main(["screen", str(films), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code in (0, None)


def test_some_inputs_failed_is_1_and_each_is_named(tmp_path, films, capsys):
    (films / "cut.pgm").write_bytes(b"P5\n128 128\n255\n")
    (films / "bomb.pgm").write_bytes(b"P5\n60000 60000\n255\n")
    code, cap = run_main(["screen", str(films), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 1
    assert "cut.pgm" in cap.out and "bomb.pgm" in cap.out and "limit" in cap.out


@pytest.mark.parametrize(
    "args",
    [
        lambda t: ["screen", str(t / "films"), "--out", "/proc/mammo-out"],
        lambda t: ["screen", str(t / "films"), "--out", str(t / "films" / "good.pgm" / "sub")],
        lambda t: ["screen", str(t / "films"), "--max-pixels", "0"],
        lambda t: ["convert", "--mias-dir", str(small_mias(t / "mias")), "--out", "/proc/mammo-out", "--quiet", "--film-size", "256"],
    ],
)
def test_bad_output_or_argument_is_2_one_line_no_traceback(tmp_path, films, capsys, args):
    code, cap = run_main(args(tmp_path), capsys)
    assert code == 2
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in cap.err


@pytest.mark.parametrize("args, words, command", [
    (["screen", "x", "--no-such-flag"], "No such option: --no-such-flag", "mammo screen"),
    (["screen", "x", "--threads", "abc"], "Invalid value for '--threads'", "mammo screen"),
    (["detector", "predict"], "Missing argument 'IMAGES'", "mammo detector predict"),
    (["no-such-command"], "No such command 'no-such-command'", "mammo"),
])
def test_usage_errors_are_2_and_one_line(capsys, args, words, command):
    code, cap = run_main(args, capsys)
    assert code == 2
    lines = cap.err.strip().splitlines()  # not typer's box of several lines
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], cap.err
    assert lines[0].endswith(f"(see {command} --help)")


@pytest.mark.parametrize("args", [[], ["detector"]])
def test_a_group_alone_shows_its_help(capsys, args):
    code, cap = run_main(args, capsys)
    assert code == 2 and "Usage: mammo" in cap.out + cap.err and "error:" not in cap.err


def test_internal_error_is_3_with_one_line_and_a_log(tmp_path, films, capsys, monkeypatch):
    import screening.run as run

    def broken(*a, **k):
        raise RuntimeError("detector exploded\nsecond line")

    monkeypatch.setattr(run, "screen_items", broken)
    code, cap = run_main(["screen", str(films), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 3
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("internal error: RuntimeError: detector exploded second line")
    log = re.search(r"full traceback in (\S+\.log)\)", lines[0]).group(1)
    text = open(log).read()
    assert "Traceback" in text and "broken" in text
    import os

    os.unlink(log)


# ---- help ------------------------------------------------------------------------------


def help_text(*args):
    res = CliRunner().invoke(build_app(), [*args, "--help"], prog_name="mammo", env={"COLUMNS": "160"})
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("args", [(), ("screen",), ("demo",), ("convert",), ("evaluate",), ("inspect",),
                                  ("detector",), ("detector", "train"), ("classifier",), ("classifier", "train")])
def test_flags_show_without_a_type(args):
    text = help_text(*args)
    assert "--help" in text and "<bool>" not in text


def test_flags_still_work_after_help_rendering(tmp_path, films, capsys):
    help_text("screen")
    code, cap = run_main(["screen", str(films), "--out", str(tmp_path / "o"), "--quiet", "--overwrite"], capsys)
    assert code in (0, None) and "good.pgm" in cap.out


@pytest.mark.parametrize("group", [(), ("detector",), ("classifier",)])
def test_every_group_lists_all_its_commands(group):
    import typer

    app = build_app()
    for name in group:
        app = next(g.typer_instance for g in app.registered_groups if g.name == name)
    command = typer.main.get_command(app)
    names = list(command.commands)
    assert len(names) >= 4
    text = help_text(*group)
    for n in names:
        assert re.search(rf"^\W*{re.escape(n)}\s", text, re.M), f"{n} missing from help of {group}"
    if group:  # the group's own description names every command too
        root = help_text()
        line = next(l for l in root.splitlines() if re.match(rf"^\W*{group[0]}\s", l))
        following = root[root.index(line):].split("\n")[:3]
        for n in names:
            assert n in " ".join(following), f"{n} not in the description of {group[0]}"


def test_help_epilog_documents_exit_codes():
    text = " ".join(help_text().split())
    for words in ("0 all done", "1 some inputs failed", "2 bad arguments or input", "3 internal error"):
        assert words in text


def _help_of(*args) -> str:
    return " ".join(help_text(*args).split())  # one line, whatever the terminal width


@pytest.mark.parametrize("args", [("screen",), ("demo",), ("convert",), ("evaluate",), ("inspect",), ("detector", "train"),
                                  ("detector", "predict"), ("detector", "import-weights"), ("detector", "ensemble"),
                                  ("classifier", "train"), ("classifier", "evaluate"), ("classifier", "export"),
                                  ("classifier", "cv-report")])
def test_help_shows_plain_placeholders_defaults_and_examples(args):
    text = _help_of(*args)
    for raw in ("[default: (", "list[", "{", "``", "busy", "2-core", "../shared", "out/splits.json"):
        assert raw not in text, f"{raw!r} in the help of {args}"


def test_help_names_arguments_and_shows_the_configs_defaults():
    from converters.convert import ConvertConfig
    from screening.pipeline import ScreenConfig

    assert "Usage: mammo screen [OPTIONS] [FILMS]..." in _help_of("screen")
    assert "Usage: mammo detector predict [OPTIONS] IMAGES..." in _help_of("detector", "predict")
    assert "Usage: mammo detector import-weights [OPTIONS] CHECKPOINT" in _help_of("detector", "import-weights")
    assert "--data <path> Converted folder" in _help_of("detector", "train")
    # options whose own default is None (a config file may set them) show the config's default
    screen, convert = _help_of("screen"), _help_of("convert")
    sc, cc = ScreenConfig(), ConvertConfig()
    for text, flag, value in [(screen, "--threads", sc.num_threads), (screen, "--max-pixels", sc.max_pixels),
                              (screen, "--runtime", sc.runtime), (convert, "--categories", cc.categories),
                              (convert, "--film-size", cc.film_size), (convert, "--seed", cc.seed),
                              (convert, "--val-frac", cc.val_frac), (convert, "--test-frac", cc.test_frac),
                              (convert, "--imgsz", cc.preprocessing.imgsz)]:
        shown = text.split(flag + " ", 1)[1].split("[default: ", 1)[1].split("]", 1)[0]
        assert shown == str(value), (flag, shown)
    assert "[default: preprocess]" in convert and cc.preprocess
    assert "Continue an interrupted run in --out: keep the films it finished" in screen


def test_help_examples_use_the_documented_paths():
    inspect = _help_of("inspect")
    assert "mammo inspect --mias-dir $MIAS_DIR --report work/eval-test/report.json" in inspect
    assert "data/mias" not in inspect and "runs/eval" not in inspect
    assert "--splits work/mias-converted/splits.json" in _help_of("classifier", "evaluate")
    assert "mammo classifier train --mias-dir $MIAS_DIR" in _help_of("classifier", "train")
    assert "--out work/eval-test" in _help_of("evaluate")
