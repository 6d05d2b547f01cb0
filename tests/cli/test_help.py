"""The command line's shape: shared options are defined once (same group, same help in every command), and the
parser that builds only the invoked command's options parses exactly as the full one (issue 25)."""

from __future__ import annotations

import argparse

import pytest

from edgelite.cli import _command_in, build_parser, main

COMMANDS = ("convert", "analyze", "qat", "distill", "serve", "run", "compare", "bench", "check", "inspect")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(p: argparse.ArgumentParser) -> dict[str, tuple[str | None, str | None]]:
    """option string -> (group title, help) of one command."""
    found = {}
    for group in p._action_groups:
        for action in group._group_actions:
            for flag in action.option_strings:
                found[flag] = (group.title, action.help)
    return found


def test_every_command_is_there_and_has_help():
    assert tuple(_subparsers(build_parser())) == COMMANDS
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0


# group title -> the options every command lists there, with one help text wherever they appear
SHARED = {
    "runtime": ("--no-xnnpack", "--backend", "--delegate", "--delegate-option", "--no-cache"),
    "int8 calibration": ("--calib", "--samples", "--seed"),
    "evaluation data": ("--eval", "--eval-samples"),
    "output": ("-o", "--json", "--html", "--save-run", "--junit", "--markdown"),
}
SAME_HELP = ("--no-xnnpack", "--backend", "--delegate", "--delegate-option", "--no-cache", "--eval-samples", "--seed")


def test_shared_options_sit_in_one_group_with_one_help_text():
    commands = {name: _options(p) for name, p in _subparsers(build_parser()).items()}
    for name, options in commands.items():
        for title, flags in SHARED.items():
            for flag in flags:
                if flag in options and not (flag in ("--samples", "--seed") and name == "compare"):
                    assert options[flag][0] == title, (name, flag, options[flag])
        assert options.get("--threads", ("runtime",))[0] == "runtime", name
    assert commands["compare"]["--samples"][0] == commands["compare"]["--seed"][0] == "evaluation data"
    for flag in SAME_HELP:
        helps = {options[flag][1] for options in commands.values() if flag in options}
        assert len(helps) == 1, (flag, helps)
        assert all(helps), flag


def test_every_option_has_help():
    for name, p in _subparsers(build_parser()).items():
        for flag, (_, text) in _options(p).items():
            assert text, f"edgelite {name} {flag} has no help text"


@pytest.mark.parametrize("argv", [
    ["run", "m.tflite", "a.png", "b.npy", "--top-k", "3", "--json", "--threads", "2", "--no-cache"],
    ["-v", "bench", "m.tflite", "--threads", "1,2", "--xnnpack", "both", "--json", "out.json"],
    ["compare", "f.tflite", "q.tflite", "--data", "eval", "--samples", "50", "--seed", "3", "--html", "r.html"],
    ["convert", "m.keras", "-o", "m.tflite", "--calib", "c", "--max-drop", "1", "--eval", "e", "--mean", "127.5"],
    ["analyze", "m.keras", "--calib", "c", "--top", "5"],
    ["qat", "m.h5", "-o", "q.tflite", "--train", "t", "--seed", "1"],
    ["distill", "t.keras", "--student", "s.keras", "-o", "s.tflite", "--data", "d", "--eval", "e"],
    ["serve", "repo", "--threads", "2", "--port", "9000"],
    ["check", "--json", "c.json", "--no-cache"],
    ["inspect", "m.tflite", "--gpu", "--json"],
])
def test_building_only_the_invoked_command_parses_alike(argv):
    assert _command_in(argv) == next(a for a in argv if not a.startswith("-"))
    assert build_parser(_command_in(argv)).parse_args(argv) == build_parser().parse_args(argv)


def test_command_detection():
    assert _command_in([]) is None
    assert _command_in(["--version"]) is None
    assert _command_in(["-v", "--", "run", "x"]) == "run"
    only_run = build_parser("run")
    with pytest.raises(Exception, match="invalid choice: 'nope'"):  # the full list of commands is still there
        only_run.parse_args(["nope"])
