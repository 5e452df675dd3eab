"""``sweeprun init [--template NAME] [-o sweep.yaml] [--force]``: write a commented sweep.yaml.

Templates are package data (``sweeprun/templates/<name>.yaml``). Without ``--template`` the
small generic ``basic`` template is written and the others are listed. An unknown template
or an existing file (without ``--force``) is a usage error (exit 2); nothing is written.
Never imports optuna.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from sweeprun.errors import EXIT_OK, SweepError, did_you_mean

DEFAULT_TEMPLATE = "basic"
_DESCRIPTION = re.compile(r"^description:\s*(.+)$", re.MULTILINE)


def template_names() -> list[str]:
    """Every template shipped with sweeprun, ``basic`` first."""
    root = resources.files("sweeprun") / "templates"
    names = sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))
    return sorted(names, key=lambda n: n != DEFAULT_TEMPLATE)


def template_text(name: str) -> str:
    """The text of template ``name``; a :class:`SweepError` listing them when unknown."""
    names = template_names()
    if name not in names:
        hint = did_you_mean(name, names)
        raise SweepError(
            f"unknown template '{name}'" + (f": {hint}" if hint else "") + "\n"
            + listing(names) + "\n    use: sweeprun init --template NAME"
        )  # fmt: skip
    return (resources.files("sweeprun") / "templates" / f"{name}.yaml").read_text("utf-8")


def describe(name: str) -> str:
    match = _DESCRIPTION.search(template_text(name))
    return match.group(1).strip() if match else ""


def listing(names: list[str]) -> str:
    width = max(len(n) for n in names)
    lines = ["templates:"]
    for n in names:
        default = " (default)" if n == DEFAULT_TEMPLATE else ""
        lines.append(f"  {n:<{width}}  {describe(n)}{default}")
    return "\n".join(lines)


def run(template: str | None = None, output: Path = Path("sweep.yaml"), force: bool = False) -> int:
    name = template or DEFAULT_TEMPLATE
    text = template_text(name)
    out = Path(output)
    if out.is_dir():
        raise SweepError(f"{out} is a directory: give a file name, e.g. -o {out}/sweep.yaml")
    if out.exists() and not force:
        raise SweepError(
            f"{out} already exists: use --force to overwrite it, or -o to write another file"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SweepError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out} (template '{name}')")
    print("next: point `program:` at your training script and edit `parameters:`, then")
    print(f"    sweeprun lint {out}    sweeprun smoke {out}    sweeprun start {out}")
    if template is None:
        others = [n for n in template_names() if n != name]
        print(f"other templates ({', '.join(others)}): sweeprun init --template NAME")
    return EXIT_OK
