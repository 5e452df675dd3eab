"""Storage URLs: where a sweep lives, resolved in one place.

Precedence: ``--storage`` > ``SWEEPRUN_STORAGE`` > ``storage:`` in sweep.yaml > the default
journal file ``.sweeprun/journal.log`` (``$SWEEPRUN_DIR`` overrides ``.sweeprun``).

Accepted forms: a journal file path (or ``journal:///path``), ``sqlite:///``, ``postgresql://``,
``mysql://``, ``redis://``, ``grpc://host:port``. Passwords are masked in every message, and
removed from every driver error quoted (:func:`redact`). A URL that a driver would read
otherwise than sweeprun, such as a password with an unencoded ``@`` (the driver takes the rest
of the password for the host, and names it in its error), is refused with exit 2, where it came
from and the fix: %-encode the password (:func:`ambiguity`).

Opening the storage behind a URL is :mod:`sweeprun.storage.open`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from sweeprun.errors import SweepError, mask_url, url_credentials

RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")


def sweeprun_dir() -> Path:
    """The directory for the default journal and trial logs."""
    env = os.environ.get("SWEEPRUN_DIR")
    return Path(env) if env else Path.cwd() / ".sweeprun"


@dataclass(frozen=True)
class StorageSpec:
    url: str  # as the user wrote it (possibly with a password)
    kind: str  # journal | sqlite | postgresql | mysql | redis | grpc

    @property
    def display(self) -> str:
        return mask_url(self.url)

    @property
    def is_rdb(self) -> bool:
        return self.kind in ("sqlite", "postgresql", "mysql")

    @property
    def journal_path(self) -> Path:
        assert self.kind == "journal"
        return Path(self.url.removeprefix("journal://"))


def resolve(cli: str | None = None, config: str | None = None) -> StorageSpec:
    """Pick the storage URL by precedence and classify it (naming where it came from)."""
    if cli:
        return classify(cli, "--storage")
    env = os.environ.get("SWEEPRUN_STORAGE")
    if env:
        return classify(env, "SWEEPRUN_STORAGE")
    if config:
        return classify(config, CONFIG_SOURCE)
    return StorageSpec(str(sweeprun_dir() / "journal.log"), "journal")


CONFIG_SOURCE = "`storage:` in the sweep file"


def classify(url: str, source: str = "") -> StorageSpec:
    """The kind of storage behind ``url``; a URL that a driver would read otherwise than
    sweeprun (another host, user or password) is refused. ``source`` names where it came from
    (``--storage``, ``SWEEPRUN_STORAGE``, the sweep file) in the messages."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        return StorageSpec(url, "journal")
    where = f"{source}: " if source else ""
    base = scheme.split("+", 1)[0].lower()
    kinds = {"postgres": "postgresql", "mariadb": "mysql"}
    kind = kinds.get(base, base)
    if kind not in ("journal", "sqlite", "postgresql", "mysql", "redis", "grpc"):
        raise SweepError(
            f"{where}unknown storage URL scheme '{scheme}://' in {mask_url(url)}\n"
            "    fix: use a journal file path, sqlite:///file.db, postgresql://, mysql://, "
            "redis:// or grpc://host:port"
        )
    _refuse_ambiguous(url, kind, where)
    return StorageSpec(url, kind)


ENCODE_FIX = (
    "    fix: %-encode the user name and password: '@' -> %40, '/' -> %2F, '?' -> %3F, "
    "'#' -> %23, '[' -> %5B, ']' -> %5D, '%' -> %25, a space -> %20\n"
    "    (python3 -c 'import getpass, urllib.parse as u; "
    'print(u.quote(getpass.getpass(), safe=""))\' prints it), or keep the password out of the '
    "URL (PostgreSQL reads ~/.pgpass) and out of your shell history (SWEEPRUN_STORAGE)"
)


def ambiguity(url: str, kind: str) -> str | None:
    """Why a database driver would read ``url`` otherwise than sweeprun does, or None.

    SQLAlchemy (PostgreSQL, MySQL) ends the password at the *first* ``@``; Redis' parser
    (:func:`urllib.parse.urlsplit`) ends the host part at the first ``/``, ``?`` or ``#``,
    reads ``[...]`` as an IPv6 address and drops tabs and newlines; sweeprun masks up to the
    *last* ``@``. They agree when the URL has at most one ``@``, none of ``/ ? # [ ]`` before
    it, and no space or control character."""
    if kind in ("journal", "sqlite"):  # a path after ``///``: no host, user or password
        return None
    rest = url.partition("://")[2]
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in rest):
        return "it contains a space or a control character, which URL parsers drop or stop at"
    ats = rest.count("@")
    if ats > 1:
        return (
            f"it has {ats} unencoded '@', and the database driver takes everything after the "
            "first one for the host: it would connect elsewhere, and name part of the "
            "password in its error"
        )
    if ats == 1 and any(c in rest.partition("@")[0] for c in "/?#[]"):
        return (
            "the part before its '@' (user name and password) contains an unencoded '/', '?', "
            "'#', '[' or ']', which URL parsers read as the end of the host or an IPv6 address: "
            "the driver would connect elsewhere, and name part of the password in its error"
        )
    return None


def _refuse_ambiguous(url: str, kind: str, where: str) -> None:
    if kind == "grpc" and "@" in url:
        raise SweepError(
            f"{where}the storage URL {mask_url(url)} names a user or password, which the "
            "gRPC storage proxy does not take\n"
            "    fix: give the proxy as grpc://host:port (the address `sweeprun serve` prints); "
            "the database password goes to `sweeprun serve --storage` only"
        )
    why = ambiguity(url, kind)
    if why:
        raise SweepError(f"{where}ambiguous storage URL {mask_url(url)}: {why}\n{ENCODE_FIX}")


def password_of(url: str) -> str | None:
    """The password in a storage URL (``scheme://user:password@host``), up to the last ``@``."""
    parts = url_credentials(url)
    return parts[2] or None if parts is not None else None


_QUERY_SECRET = re.compile(r"(?i)[?&](?:password|passwd)=([^&#]*)")
_SEPARATORS = "@:/?#"  # where a parser may cut a password in two
MARK = "***"
MIN_FRAGMENT = 3  # shorter fragments would shred the text, and are no secret


def secrets_of(url: str) -> list[str]:
    """Every text in ``url`` that could be a password: up to the last ``@`` (sweeprun's
    reading), up to the first ``@`` (SQLAlchemy's), and a ``password=`` in the query."""
    found = [pw for pw in (password_of(url),) if pw]
    _, sep, rest = url.partition("://")
    if sep and "@" in rest and not rest.startswith("/"):
        first = rest.partition("@")[0].partition(":")[2]
        if first:
            found.append(first)
    found += [m.group(1) for m in _QUERY_SECRET.finditer(url) if m.group(1)]
    return found


def fragments(secret: str) -> set[str]:
    """``secret`` and each piece of it between separators (``@ : / ? #``) or the ends, alone or
    joined with its neighbours: whatever a parser that cuts at one of them could show."""
    cuts = [i for i, c in enumerate(secret) if c in _SEPARATORS]
    starts = [0, *(i + 1 for i in cuts)]
    ends = [*cuts, len(secret)]
    return {secret[a:b] for a in starts for b in ends if b > a}


def redact(text: str, url: str) -> str:
    """``text`` with the URL masked and its password removed: raw, %-decoded and %-encoded,
    and every fragment of those around an ``@ : / ? #`` of 3 characters or more."""
    text = text.replace(url, mask_url(url))
    forms: set[str] = set()
    for secret in secrets_of(url):
        for form in (secret, unquote(secret), quote(unquote(secret), safe="")):
            forms |= {f for f in fragments(form) if len(f) >= MIN_FRAGMENT and f != MARK}
    ordered = sorted(forms, key=lambda f: (-len(f), f))
    changed = True
    while changed:  # a replacement may join pieces into a fragment again; each one shrinks
        changed = False  # the text or turns a character into '*', so this ends
        for form in ordered:
            if form in text:
                text = text.replace(form, MARK)
                changed = True
    return text


def sqlalchemy_url(spec: StorageSpec) -> str:
    """The URL SQLAlchemy needs: the psycopg (3) or PyMySQL driver unless one is named."""
    scheme, _, rest = spec.url.partition("://")
    if spec.kind == "postgresql" and "+" not in scheme:
        return f"postgresql+psycopg://{rest}"
    if spec.kind == "mysql" and "+" not in scheme:
        return f"mysql+pymysql://{rest}"
    return spec.url
