"""Storage URLs whose password has an ``@`` (or another URL delimiter) in it: refused when a driver
would read another host, user or password than sweeprun, accepted %-encoded; and the redaction
of driver errors, which removes every fragment of the password a parser could cut out."""

from __future__ import annotations

import re
import string
from urllib.parse import quote, unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from sweeprun.errors import SweepError, mask_url
from sweeprun.storage.urls import classify, password_of, redact, resolve

SEPARATORS = "@:/?#"


def fragments(secret: str, least: int) -> set[str]:
    """The test's own reading: ``secret`` and every run of it from one separator (or its
    start) to another (or its end), of ``least`` characters or more."""
    starts = [0] + [i + 1 for i, c in enumerate(secret) if c in SEPARATORS]
    ends = [i for i, c in enumerate(secret) if c in SEPARATORS] + [len(secret)]
    return {secret[a:b] for a in starts for b in ends if b - a >= least}


AMBIGUOUS = [
    ("postgresql://postgres:a@Secret9x@127.0.0.1:5432/test", "a@Secret9x"),
    ("postgresql+psycopg://postgres:a@Secret9x@db/test", "a@Secret9x"),
    ("postgres://u:x@y@z@h/db", "x@y@z"),
    ("mysql://root:p@ss@Word7@127.0.0.1:3306/test", "p@ss@Word7"),
    ("mariadb://root:p@ss@Word7@127.0.0.1/test", "p@ss@Word7"),
    ("redis://:r@Secr3t@127.0.0.1:6379/0", "r@Secr3t"),
    ("redis://default:r@Secr3t@127.0.0.1:6379/0", "r@Secr3t"),
    ("postgresql://u:sl/ash9Pw@h/db", "sl/ash9Pw"),  # Redis' parser would end the host at '/'
    ("redis://:qu?ery9Pw@h:6379/0", "qu?ery9Pw"),
    ("redis://:ha#sh9Pw@h:6379/0", "ha#sh9Pw"),
    ("postgresql://u:sp ace9Pw@h/db", "sp ace9Pw"),
    ("redis://:tab\tbed9Pw@h/0", "tab\tbed9Pw"),  # urlsplit drops the tab
]


@pytest.mark.parametrize(("url", "password"), AMBIGUOUS)
def test_an_ambiguous_url_is_refused_without_showing_its_password(url: str, password: str) -> None:
    with pytest.raises(SweepError) as err:
        classify(url, "--storage")
    text = str(err.value)
    assert err.value.exit_code == 2
    assert text.startswith("--storage: ")
    assert "%40" in text and "fix:" in text
    assert ":***@" in text
    for frag in fragments(password, 3):
        assert frag not in text


def test_a_grpc_url_takes_no_password() -> None:
    with pytest.raises(SweepError, match="grpc://host:port") as err:
        classify("grpc://agent:g@Pr0xyPw@127.0.0.1:13000", "--storage")
    assert "Pr0xyPw" not in str(err.value)
    assert "grpc://agent:***@127.0.0.1:13000" in str(err.value)
    with pytest.raises(SweepError, match="grpc://host:port"):
        classify("grpc://agent:pw@127.0.0.1:13000")


@pytest.mark.parametrize(
    ("env", "cli", "config", "source"),
    [
        (None, "postgresql://u:a@b@h/db", None, "--storage: "),
        ("postgresql://u:a@b@h/db", None, None, "SWEEPRUN_STORAGE: "),
        (None, None, "postgresql://u:a@b@h/db", "`storage:` in the sweep file: "),
        ("postgresql://u:a@b@h/db", None, "postgresql://u@h/db", "SWEEPRUN_STORAGE: "),
    ],
)
def test_the_message_names_where_the_url_came_from(
    monkeypatch: pytest.MonkeyPatch,
    env: str | None,
    cli: str | None,
    config: str | None,
    source: str,
) -> None:
    if env:
        monkeypatch.setenv("SWEEPRUN_STORAGE", env)
    else:
        monkeypatch.delenv("SWEEPRUN_STORAGE", raising=False)
    with pytest.raises(SweepError) as err:
        resolve(cli, config)
    assert str(err.value).startswith(source)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("postgresql://postgres:a%40Secret9x@127.0.0.1:5432/test", "postgresql"),
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql"),
        ("postgresql://u:pa:ss@h/db?sslmode=require", "postgresql"),  # ':' in a password is fine
        ("mysql://root:p%40ss%40Word7@127.0.0.1:3306/test", "mysql"),
        ("redis://:r%40Secr3t@127.0.0.1:6379/0", "redis"),
        ("redis://127.0.0.1:6379/0", "redis"),
        ("grpc://127.0.0.1:13000", "grpc"),
        ("sqlite:////tmp/u@host/sweeps.db", "sqlite"),  # a path: '@' is just a character
        ("sqlite:///C:/a:b@c.db", "sqlite"),
        ("/tmp/me@box/journal.log", "journal"),
        ("journal:///tmp/a@b@c/journal.log", "journal"),
    ],
)
def test_unambiguous_urls_and_paths_are_accepted(url: str, kind: str) -> None:
    assert classify(url).kind == kind


def test_paths_are_not_masked() -> None:
    assert mask_url("sqlite:///C:/a:b@c.db") == "sqlite:///C:/a:b@c.db"
    assert mask_url("/tmp/a:b@c/journal.log") == "/tmp/a:b@c/journal.log"


def test_a_password_in_the_query_is_masked_and_redacted() -> None:
    url = "postgresql://u@h/db?sslmode=require&password=Qu3ryPw0rd"
    assert mask_url(url) == "postgresql://u@h/db?sslmode=require&password=***"
    assert "Qu3ryPw0rd" not in redact("FATAL: password 'Qu3ryPw0rd' rejected", url)


@pytest.mark.parametrize(
    ("url", "message", "gone"),
    [
        (  # psycopg, given the URL unencoded: the host is the rest of the password
            "postgresql://postgres:a@Secret9x@127.0.0.1:5432/test",
            "failed to resolve host 'Secret9x@127.0.0.1': [Errno -2] Name or service not known",
            ["Secret9x"],
        ),
        (  # PyMySQL
            "mysql://root:p@ss@Word7@127.0.0.1:3306/test",
            "(2003, \"Can't connect to MySQL server on 'ss@Word7@127.0.0.1'\")",
            ["ss@Word7", "Word7"],
        ),
        (  # a port cut out of the password at a ':'
            "postgresql://u:ab@Sec:ret9x@h:5432/db",
            'invalid integer value "ret9x@h:5432" for connection option "port"',
            ["ret9x"],
        ),
        (  # %-decoded by the driver
            "postgresql://u:p%40ssW0rd%3Ax@h/db",
            "password authentication failed: 'p@ssW0rd:x'",
            ["p@ssW0rd", "ssW0rd"],
        ),
    ],
)
def test_redact_removes_every_fragment_a_driver_shows(
    url: str, message: str, gone: list[str]
) -> None:
    out = redact(message, url)
    for frag in gone:
        assert frag not in out, out
    assert "***" in out


PASSWORDS = st.text(alphabet=string.printable, min_size=1)
FILLER = st.sampled_from(
    ["failed to resolve host '", "' ", "@", ":", "/", "127.0.0.1", " port ", "(", ")", "\n", ""]
)


@settings(max_examples=300, deadline=None)
@given(
    password=PASSWORDS,
    picks=st.lists(st.tuples(FILLER, st.integers(0, 10_000)), max_size=8),
    encoded=st.booleans(),
)
def test_no_fragment_of_a_random_password_survives_redaction(
    password: str, picks: list[tuple[str, int]], encoded: bool
) -> None:
    """Whatever pieces of the password (as written in the URL or %-decoded, as the driver
    sees it) a message quotes, amid any text, none of 4 characters or more is left."""
    written = quote(password, safe="") if encoded else password
    url = f"postgresql://user:{written}@db.example:5432/sweeps"
    forms = (written, unquote(written))
    pieces = sorted(set().union(*(fragments(f, 1) for f in forms)) | {url})
    message = "".join(f + pieces[i % len(pieces)] for f, i in picks) + unquote(written)
    out = redact(message, url)
    for frag in set().union(*(fragments(f, 4) for f in forms)):
        assert frag not in out, (frag, out)


@settings(max_examples=300, deadline=None)
@given(password=PASSWORDS)
def test_an_accepted_url_means_the_same_to_the_drivers_and_a_refused_one_hides_it(
    password: str,
) -> None:
    """SQLAlchemy (PostgreSQL, MySQL) and urlsplit (Redis) see the host, user and password that
    sweeprun sees, or sweeprun refuses the URL without showing a fragment of the password."""
    for template in ("postgresql://user:{}@db.example:5432/sweeps", "redis://:{}@db.example/0"):
        url = template.format(password)
        try:
            classify(url)
        except SweepError as err:
            # the message shows the URL masked, and does not depend on the password's letters
            assert mask_url(url) == template.format("***")
            with pytest.raises(SweepError) as same:
                classify(template.format(re.sub(r"[A-Za-z0-9]", "Z", password)))
            assert str(same.value) == str(err)
            continue
        ours = password_of(url) or ""
        if url.startswith("postgresql"):
            sa = make_url(url)
            assert (sa.host, sa.username, sa.password) == ("db.example", "user", unquote(ours))
        parts = urlsplit(url)
        assert (parts.hostname, parts.password) == ("db.example", ours)
    # and the %-encoded form of any password is always accepted, and means that password
    assert classify(f"postgresql://user:{quote(password, safe='')}@h/db").kind == "postgresql"
    encoded = f"mysql://user:{quote(password, safe='')}@h:3306/db"
    assert make_url(encoded).password == password and make_url(encoded).host == "h"


def test_fragments_of_the_tests_own_reading() -> None:
    assert fragments("a@Secret9x", 3) == {"a@Secret9x", "Secret9x"}
    assert fragments("ab:c@de", 4) == {"ab:c@de", "ab:c", "c@de"}
