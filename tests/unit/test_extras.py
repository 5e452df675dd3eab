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


def test_make_install_installs_the_all_extra_and_ci_the_integrations_too() -> None:
    """So `pip check` in `make install` sees every optional dependency resolve with the pins;
    the test tier's frameworks (GBs of torch on a machine without the CPU build at hand) come
    with `make install-integrations`, which CI runs."""
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[dev,all]'" in makefile and "-e '.[dev,all,integrations]'" in makefile
    assert "make install install-integrations" in (ROOT / ".ci" / "run").read_text()
