"""argparse as sweeprun uses it: a refused command line raises :class:`UsageError` (exit 2,
printed once by :mod:`sweeprun.cli.main`), help shows every default, no option is abbreviated.

argparse is in the standard library and imports in ~3 ms; see docs/decisions.md ("One CLI
parser: argparse").
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from sweeprun.errors import EXIT_USAGE, SweepError, did_you_mean


class UsageError(SweepError):
    """A command line that does not parse: what is wrong, the command's usage, where help is."""

    exit_code = EXIT_USAGE

    def __init__(self, prog: str, message: str, usage: str = "") -> None:
        self.prog = prog
        self.message = message
        self.usage = usage
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.prog}: {self.message}"]
        if self.usage:
            lines.append(self.usage.rstrip("\n"))
        lines.append(f"see `{self.prog} --help`")
        return "\n".join(lines)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written; each option's default shown after its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS)
        if shown and action.option_strings and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` that raises :class:`UsageError` instead of printing
    and exiting, takes options and positionals in any order, and builds its epilog only when
    the help is shown (``epilog_fn``), so a listing costs nothing on a normal run."""

    def __init__(self, *args: Any, epilog_fn: Callable[[], str] | None = None, **kw: Any) -> None:
        kw.setdefault("allow_abbrev", False)  # `--max` is not `--max-trials`
        kw.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kw)
        self.epilog_fn = epilog_fn
        self.unknown: str | None = None

    def error(self, message: str) -> NoReturn:
        if self.unknown is not None and message.startswith("the following arguments"):
            message = self.unknown  # `validate -x.yaml`: the unknown option is the news
        raise UsageError(self.prog, message, self.format_usage())

    def format_help(self) -> str:
        if self.epilog_fn is not None:
            self.epilog = self.epilog_fn()
            self.epilog_fn = None
        return super().format_help()

    def parse(self, args: list[str]) -> dict[str, Any]:
        """The keyword arguments ``args`` give; :class:`UsageError` on a bad command line, an
        unknown option named first, with a did-you-mean."""
        args = self._attach_values(args)
        options = args[: args.index("--")] if "--" in args else args
        self.unknown = self._unknown_option(options)
        # intermixed: `validate a.yaml --json b.yaml` gives both files; but Python 3.11's
        # intermixed parsing drops a `--` (then `-x.yaml` after it reads as an option), so a
        # command line with `--` is parsed plainly: options before it, positionals after it
        known = self.parse_known_args if "--" in args else self.parse_known_intermixed_args
        namespace, extras = known(args)
        if extras:
            self.error(self.unknown or f"unexpected extra argument '{extras[0]}'")
        return vars(namespace)

    def _attach_values(self, args: list[str]) -> list[str]:
        """``--sort -loss`` as ``--sort=-loss``: an option that takes a value takes the next
        word, even one that starts with ``-`` (argparse would read it as an option)."""
        out: list[str] = []
        words = iter(args)
        for arg in words:
            out.append(arg)
            if arg == "--":
                out.extend(words)
                break
            action = self._option_string_actions.get(arg)
            if action is None or action.nargs is not None:
                continue  # not an option, a flag, or a value attached already
            value = next(words, None)
            if value is None:
                break  # argparse: "expected one argument"
            if value[:1] == "-" and value not in ("-", "--"):
                out[-1] = f"{arg}={value}" if arg.startswith("--") else arg + value
            else:
                out.append(value)
        return out

    def _unknown_option(self, args: list[str]) -> str | None:
        """What to say about the first word of ``args`` that is an option nobody defines."""
        for arg in args:
            if arg[:1] != "-" or arg == "-" or _NUMBER.match(arg):
                continue
            name = arg.split("=", 1)[0]
            if arg[:2] != "--" and arg[:2] in self._option_string_actions:
                continue  # `-j2`, `-qj2`: a known short option and what follows it
            if name not in self._option_string_actions:
                hint = did_you_mean(name, self._long_options())
                return f"unknown option '{name}'" + (f"; {hint}" if hint else "")
        return None

    def _long_options(self) -> Iterable[str]:
        return (s for a in self._actions for s in a.option_strings if s.startswith("--"))


_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")  # argparse reads these as values, not options


def integer(text: str) -> int:
    """A whole number written in ASCII digits (with an optional sign), e.g. ``--jobs 4``."""
    body = text[1:] if text[:1] in "+-" else text
    if not (body.isascii() and body.isdigit()):
        raise ValueError(text)
    return int(text)


#: the most trials one agent runs at once (``sweeprun.config.limits.MAX_JOBS``; the CLI does
#: not import the config package, a unit test checks they agree)
MAX_JOBS = 4096
#: the largest count an option takes: a signed 64-bit integer (``config.limits.MAX_COUNT``)
MAX_COUNT = 2**63 - 1


def integer_upto(maximum: int, why: str) -> Callable[[str], int]:
    """:func:`integer` for an option that stops at ``maximum`` (``why``: the reason). Lower
    bounds stay with each command, which names the option in its message."""

    def parse(text: str) -> int:
        value = integer(text)
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}: {why}")
        return value

    parse.__name__ = "integer"  # argparse: "invalid integer value: 'x'" for a non-number
    return parse


jobs = integer_upto(MAX_JOBS, f"one agent runs at most {MAX_JOBS} trials at once; "
                              "start more agents for more")  # fmt: skip
count = integer_upto(MAX_COUNT, "counts are 64-bit integers; leave the option out for no limit")
