"""``pip install 'sweeprun[all]'`` turns on every optional feature: the ``all`` extra names each
user-facing extra of pyproject.toml (not the developer's ``dev`` nor the test tier's frameworks)."""

from __future__ import annotations

import re

from tests.helpers.paths import ROOT

NOT_FOR_USERS = {"dev", "integrations", "all"}


def _extras() -> dict[str, str]:
    """Extra name → the text of its list (tomllib is not in Python 3.10)."""
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]\n", 1)[1]
    section = re.split(r"^\[", section, maxsplit=1, flags=re.M)[0]
    starts = list(re.finditer(r"^([a-z][a-z0-9_-]*) = \[", section, flags=re.M))
    ends = [m.start() for m in starts[1:]] + [len(section)]
    return {m.group(1): section[m.end() : end] for m, end in zip(starts, ends, strict=True)}


def test_the_all_extra_names_every_user_extra() -> None:
    extras = _extras()
    assert {"postgres", "mlflow", "dev", "integrations"} <= set(extras)  # the parse found them
    match = re.match(r'"sweeprun\[([a-z0-9_,-]+)\]"\]', extras["all"])
    assert match, extras["all"]
    assert set(match.group(1).split(",")) == set(extras) - NOT_FOR_USERS


def test_ci_installs_the_all_extra_and_the_integrations_make_install_neither() -> None:
    """`pip check` in CI's `make install-integrations` sees every optional dependency resolve
    with the pins; `make install` (the README's first command) takes neither the GP sampler's
    torch nor the test tier's frameworks (GBs where no CPU build is at hand)."""
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[dev]'" in makefile and "-e '.[dev,all,integrations]'" in makefile
    assert "make install install-integrations" in (ROOT / ".ci" / "run").read_text()
