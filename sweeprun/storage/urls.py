"""Storage URLs: where a sweep lives, resolved in one place.

Precedence: ``--storage`` > ``SWEEPRUN_STORAGE`` > ``storage:`` in sweep.yaml > the default
journal file ``.sweeprun/journal.log`` (``$SWEEPRUN_DIR`` overrides ``.sweeprun``).

Accepted forms: a journal file path (or ``journal:///path``), ``sqlite:///``, ``postgresql://``,
``mysql://``, ``redis://``, ``grpc://host:port``. Passwords are masked in every message.

Opening the storage behind a URL is :mod:`sweeprun.storage.open`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from sweeprun.errors import SweepError, mask_url

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
    """Pick the storage URL by precedence and classify it."""
    url = cli or os.environ.get("SWEEPRUN_STORAGE") or config
    if not url:
        return StorageSpec(str(sweeprun_dir() / "journal.log"), "journal")
    return classify(url)


def classify(url: str) -> StorageSpec:
    scheme, sep, _ = url.partition("://")
    if not sep:
        return StorageSpec(url, "journal")
    base = scheme.split("+", 1)[0].lower()
    if base == "journal":
        return StorageSpec(url, "journal")
    if base in ("postgresql", "postgres"):
        return StorageSpec(url, "postgresql")
    if base in ("mysql", "mariadb"):
        return StorageSpec(url, "mysql")
    if base in ("sqlite", "redis", "grpc"):
        return StorageSpec(url, base)
    raise SweepError(
        f"unknown storage URL scheme '{scheme}://' in {mask_url(url)}\n"
        "    fix: use a journal file path, sqlite:///file.db, postgresql://, mysql://, "
        "redis:// or grpc://host:port"
    )


def password_of(url: str) -> str | None:
    """The password in a storage URL, if any (``scheme://user:password@host``)."""
    _, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    creds = rest.rpartition("@")[0]
    return creds.split(":", 1)[1] or None if ":" in creds else None


def redact(text: str, url: str) -> str:
    """``text`` with the URL masked and its password (raw or %-decoded) removed."""
    text = text.replace(url, mask_url(url))
    pw = password_of(url)
    if pw:
        for form in {pw, unquote(pw), quote(unquote(pw), safe="")}:
            if len(form) >= 3:  # shorter ones would shred the text, and are no secret
                text = text.replace(form, "***")
    return text


def sqlalchemy_url(spec: StorageSpec) -> str:
    """The URL SQLAlchemy needs: the psycopg (3) or PyMySQL driver unless one is named."""
    scheme, _, rest = spec.url.partition("://")
    if spec.kind == "postgresql" and "+" not in scheme:
        return f"postgresql+psycopg://{rest}"
    if spec.kind == "mysql" and "+" not in scheme:
        return f"mysql+pymysql://{rest}"
    return spec.url
