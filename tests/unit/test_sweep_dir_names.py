"""Property tests of the sweep name → directory mapping (``sweeprun.run.request.safe_name``):
distinct names never share a directory, and every directory is one harmless path component."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sweeprun.run.request import safe_name

MAX_BYTES = 120
SAFE_SLUG = re.compile(r"[A-Za-z0-9_-](?:[A-Za-z0-9_.-]{0,98}[A-Za-z0-9_-])?")

# names that differ only in characters a slug has to replace, or only past a cut-off
tricky_chars = st.sampled_from(["/", "_", " ", ".", "..", "\x00", "a", "-", "\\", "ü", "+", "~"])
tricky = st.lists(tricky_chars, max_size=12).map("".join)
long_names = st.builds(lambda n, tail: "x" * n + tail, st.integers(80, 320), tricky)
names = st.one_of(st.text(max_size=300), tricky, long_names)

PINNED = [
    "team/exp",
    "team_exp",
    "team exp",
    "..",
    ".",
    "sweep",
    "",
    "a\x00b",
    "a" * 100,
    "a" * 101,
    "a" * 150,
    "a" * 151,
]


def _is_component(d: str) -> bool:
    return (
        bool(d)
        and d not in (".", "..")
        and "/" not in d
        and "\x00" not in d
        and len(d.encode("utf-8")) <= MAX_BYTES
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(names, unique=True, max_size=40))
@example(PINNED)
@example(["team/exp", "team_exp", "team exp"])
@example(["..", ".", "sweep"])
def test_distinct_names_get_distinct_directories(batch: list[str]) -> None:
    dirs = [safe_name(n) for n in batch]
    assert len(set(dirs)) == len(dirs), sorted(zip(dirs, batch, strict=True))


@settings(max_examples=300, deadline=None)
@given(names)
@example("..")
@example(".")
@example("")
@example("/")
@example("a/../../b")
@example("\x00")
@example("ü" * 300)
@example("/" * 300)
def test_every_directory_is_one_bounded_path_component(name: str) -> None:
    d = safe_name(name)
    assert _is_component(d), (name, d)


@settings(max_examples=300, deadline=None)
@given(names)
@example("team/exp")
@example("a" * 150)
def test_a_directory_name_used_as_a_sweep_name_gets_another_directory(name: str) -> None:
    """Injective across the two kinds of result: a name that is kept as it is can never be
    the directory some other (changed) name maps to."""
    d = safe_name(name)
    assert safe_name(name) == d  # stable
    if d != name:
        assert safe_name(d) != d, (name, d)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(SAFE_SLUG, fullmatch=True))
@example("sweep")
@example("team_exp")
@example("my-sweep.v2")
def test_names_that_are_already_safe_keep_their_directory(name: str) -> None:
    assert safe_name(name) == name
