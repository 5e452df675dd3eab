"""User-facing errors and exit codes.

Every error a user can cause is a :class:`SweepError`; the CLI catches it at one boundary,
prints its message and exits with its code, never with a traceback.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

EXIT_OK = 0
EXIT_POLICY = 1  # the sweep ran but failed its policy
EXIT_USAGE = 2  # usage or config error; nothing was launched
EXIT_INTERNAL = 3  # a bug: traceback logged to a file
EXIT_INTERRUPTED = 130


class SweepError(Exception):
    """An error the user can fix. ``str(err)`` is the whole message shown to them."""

    exit_code = EXIT_USAGE


class ConfigError(SweepError):
    """A sweep.yaml problem: names the file, the key path (and line) and the fix."""

    def __init__(self, file: str, problems: Sequence[ConfigProblem]) -> None:
        self.file = file
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.file}: invalid sweep configuration"
        if len(self.problems) > 1:
            head += f" ({len(self.problems)} problems)"
        lines = [head]
        for p in self.problems:
            lines.append("  " + p.render())
        return "\n".join(lines)


class ConfigProblem:
    """One problem at one key path, e.g. ``parameters.lr.min`` (line 7)."""

    def __init__(self, path: str, message: str, line: int | None = None, fix: str = "") -> None:
        self.path = path
        self.message = message
        self.line = line
        self.fix = fix

    def render(self) -> str:
        where = f"at {self.path or '(top level)'}"
        if self.line is not None:
            where += f" (line {self.line})"
        text = f"{where}: {self.message}"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text

    def __repr__(self) -> str:
        return f"ConfigProblem({self.path!r}, {self.message!r}, line={self.line})"


class PolicyFailure(SweepError):
    """The sweep ran but failed its policy (every trial failed, too many consecutive failures)."""

    exit_code = EXIT_POLICY


class Interrupted(SweepError):
    exit_code = EXIT_INTERRUPTED


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``did you mean 'x'?`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|passwd)=)[^&#]*")


def url_credentials(url: str) -> tuple[str, str, str | None, str] | None:
    """``scheme://user:password@rest`` split at the *last* ``@`` as (``scheme://``, user,
    password or None, rest), or None when the URL names no user (a path such as
    ``sqlite:///C:/a@b.db`` has an empty authority). The widest reading: whatever a driver
    could take for the password is inside the password (drivers that split at the first ``@``
    take less; :func:`sweeprun.storage.urls.classify` refuses URLs where that matters)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest or rest.startswith("/"):
        return None
    creds, _, host = rest.rpartition("@")
    user, colon, password = creds.partition(":")
    return f"{scheme}://", user, password if colon else None, host


def mask_url(url: str) -> str:
    """Hide the password of a storage URL: ``postgresql://u:***@h/db`` (and a ``password=``
    in its query)."""
    parts = url_credentials(url)
    if parts is not None and parts[2] is not None:
        head, user, _, host = parts
        url = f"{head}{user}:***@{host}"
    return _QUERY_SECRET.sub(r"\1***", url) if "://" in url else url
