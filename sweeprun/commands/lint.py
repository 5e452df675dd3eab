"""``sweeprun lint SWEEP.yaml [--strict] [--json]``: hyperparameter-search anti-patterns.

Prints each finding with its key path and a one-line why. Exit 0 with warnings; with
``--strict`` they are errors and the exit code is 1. An invalid file exits 2 (ConfigError).
Never imports optuna.
"""

from __future__ import annotations

import json
from pathlib import Path

from sweeprun.errors import EXIT_OK, EXIT_POLICY


def run(sweep: Path, strict: bool = False, json_out: bool = False) -> int:
    from sweeprun.config.lint import lint_config, warnings_json
    from sweeprun.config.load import load_config

    cfg = load_config(sweep)
    found = lint_config(cfg)
    code = EXIT_POLICY if strict and found else EXIT_OK
    if json_out:
        doc = {
            "file": str(sweep),
            "strict": strict,
            "warnings": warnings_json(found),
            "exit_code": code,
        }
        print(json.dumps(doc), flush=True)
        return code
    level = "error" if strict else "warning"
    for w in found:
        print(w.render().replace("warning:", f"{level}:", 1), flush=True)
    if not found:
        print(f"{sweep}: no lint warnings", flush=True)
    else:
        word = "errors" if strict else "warnings"
        n = len(found)
        print(f"{sweep}: {n} lint {word if n != 1 else word[:-1]}", flush=True)
    return code
