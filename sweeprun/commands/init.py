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
_PROGRAM = re.compile(r"^program:\s*([^\s#]+)", re.MULTILINE)

#: the stand-in ``init`` writes next to a ``basic`` sweep file (stdlib only, so it runs under
#: whatever ``python`` the trials get): ``init`` then ``start`` works before any editing
EXAMPLE_PROGRAM = '''"""A stand-in training program written by `sweeprun init` (stdlib only).

Replace it with your own script taking the same flags, or point `program:` at yours.

It pretends to train for --epochs epochs and prints one JSON line per epoch, such as
{"epoch": 3, "val_loss": 0.41}: that line is how sweeprun reads a metric. The loss is lowest
near lr=0.03, weight_decay=1e-4, batch_size=64. SIM_STEP_SECONDS (default 0.02) is the
pretend work per epoch. A real scikit-learn version is examples/templates/basic.py in the
sweeprun repository.

    python train.py --lr=0.01 --batch_size=64 --weight_decay=1e-4 --epochs=10
"""

import argparse
import json
import math
import os
import random
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--batch_size", type=int, required=True)
    ap.add_argument("--weight_decay", type=float, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    a = ap.parse_args()

    penalty = (
        (math.log10(a.lr / 0.03) / 1.5) ** 2
        + 0.3 * (math.log10(a.weight_decay / 1e-4) / 2) ** 2
        + 0.1 * math.log2(a.batch_size / 64) ** 2
    )
    final = 0.3 + 0.6 * (1 - math.exp(-penalty))
    rng = random.Random(f"{a.lr} {a.batch_size} {a.weight_decay}")
    pause = float(os.environ.get("SIM_STEP_SECONDS", "0.02"))
    for epoch in range(1, a.epochs + 1):
        loss = (final + (2.5 - final) * math.exp(-0.35 * epoch)) * (1 + rng.gauss(0, 0.01))
        time.sleep(pause)
        print(json.dumps({"epoch": epoch, "val_loss": round(loss, 6)}), flush=True)


if __name__ == "__main__":
    main()
'''
#: the templates :data:`EXAMPLE_PROGRAM` fits (it takes exactly their flags)
EXAMPLE_FOR = frozenset({DEFAULT_TEMPLATE})


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


def write_example(name: str, text: str, out: Path) -> Path | None:
    """Write the stand-in program next to the sweep file ``out`` when template ``name`` has
    one and its ``program:`` file is not there yet (never over a user's file); say what to do
    next. The program's path, or None when the template names none."""
    match = _PROGRAM.search(text)
    if match is None:
        print("next: edit `parameters:` to the flags your command takes, then")
        return None
    program = out.parent / match.group(1)
    if program.exists():
        print(f"kept the existing {program}: `program:` runs it with the flags under `parameters:`")
        print("next: check that it takes those flags, then")
    elif name in EXAMPLE_FOR:
        try:
            program.write_text(EXAMPLE_PROGRAM, encoding="utf-8")
        except OSError as exc:
            raise SweepError(f"cannot write {program}: {exc.strerror or exc}") from None
        print(f"wrote {program}: a stand-in training program, so the sweep runs as it is")
        print("next: try it, then replace it with your script (or point `program:` at yours)")
    else:
        print(f"next: point `program:` at your training script (there is no {program} yet)")
        print("    and edit `parameters:` to the flags it takes, then")
    return program


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
    program = write_example(name, text, out)
    print(f"    sweeprun lint {out}    sweeprun smoke {out}    sweeprun start {out}")
    if out.resolve().parent != Path.cwd().resolve() and program is not None:
        print(
            f"(run them in {out.parent}: `program:` is relative to the directory sweeprun runs in)"
        )
    if template is None:
        others = [n for n in template_names() if n != name]
        print(f"other templates ({', '.join(others)}): sweeprun init --template NAME")
    return EXIT_OK
