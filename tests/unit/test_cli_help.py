"""Every `wooforce` command and argument has help text, and README's Commands section lists every command and
option (issue 16, point 13)."""
from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

from cli.main import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"
GLOBAL_OPTIONS = {"--json"}  # README says once that commands printing a result take it


def _commands(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...],
                                                                                      argparse.ArgumentParser]]:
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, p
    for a in subs:
        for name, sp in a.choices.items():
            yield from _commands(sp, (*path, name))


def _rows() -> list[str]:
    section = README.read_text().split("\n## Commands\n")[1].split("\n## ")[0]
    return [line for line in section.splitlines() if line.startswith("| `wooforce")]


def test_every_command_and_argument_has_help():
    missing = []
    for path, p in _commands(build_parser()):
        for a in p._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            if not a.help or a.help == argparse.SUPPRESS:
                missing.append(f"wooforce {' '.join(path)} {'/'.join(a.option_strings) or a.dest}")
    assert not missing, "arguments without help text:\n" + "\n".join(missing)


def test_every_subcommand_has_help_in_its_parent_listing():
    def walk(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[str]:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                helped = {c.dest for c in a._choices_actions if c.help}
                for name, sp in a.choices.items():
                    if name not in helped:
                        yield " ".join((*path, name))
                    yield from walk(sp, (*path, name))
    assert not list(walk(build_parser()))


def test_readme_commands_section_lists_every_command_and_option():
    rows = _rows()
    problems = []
    for path, p in _commands(build_parser()):
        # a command's rows: its first cell names every word of its path (`stores disable / enable / remove ID`)
        mine = [r.split(" | ")[0] + " | " + r.split(" | ")[1] for r in rows
                if re.search(rf"`wooforce {re.escape(path[0])}\b", r) or f"`{path[0]} " in r]
        mine = [r for r in mine if all(re.search(rf"\b{re.escape(w)}\b", r) for w in path)]
        if not mine:
            problems.append(f"no row for `wooforce {' '.join(path)}`")
            continue
        for a in p._actions:
            long = [o for o in a.option_strings if o.startswith("--")]
            if long and long[0] not in GLOBAL_OPTIONS and long[0] != "--help" and \
                    not any(re.search(rf"{re.escape(long[0])}\b(?!-)", r) for r in mine):
                problems.append(f"`wooforce {' '.join(path)}`: {long[0]} is not in README's Commands section")
    assert not problems, "\n".join(problems)


def test_readme_no_longer_calls_the_demo_reserved():
    demo = [r for r in _rows() if r.startswith("| `wooforce demo")]
    assert demo and "reserved" not in demo[0] and "--keep-console" in demo[0]
