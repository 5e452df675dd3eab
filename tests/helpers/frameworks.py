"""A sweep over one of the framework programs of ``tests/integrations/programs/`` (each a
normal training script plus the one line that reports to sweeprun), written, run by the
installed ``sweeprun start`` and read back from its journal file; the ``framework_sweep``
fixture of ``tests/integrations/conftest.py`` gives one."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from tests.helpers.cli import Result, run_cli
from tests.helpers.paths import TESTS
from tests.helpers.studies import trials_of

PROGRAMS = TESTS / "integrations" / "programs"


@dataclass
class FrameworkSweep:
    """One sweep over ``programs/<program>``, written, started and read back."""

    tmp: Path
    name: str = "fw"

    @property
    def journal(self) -> str:
        return str(self.tmp / "journal.log")

    def write(
        self,
        program: str,
        metric: str,
        parameters: Mapping[str, Any],
        *,
        goal: str = "minimize",
        method: str = "grid",
        **extra: Any,
    ) -> Path:
        """The sweep file; ``parameters`` maps a name to a list (``values``) or a constant."""
        config = {
            "name": self.name,
            "program": str(PROGRAMS / program),
            "method": method,
            "metric": {"name": metric, "goal": goal},
            "parameters": {
                k: {"values": v} if isinstance(v, list) else {"value": v}
                for k, v in parameters.items()
            },
            **extra,
        }
        path = self.tmp / "sweep.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start(self, *args: str, timeout: float = 300) -> Result:
        sweep = self.tmp / "sweep.yaml"
        return run_cli(
            "start", str(sweep), "--storage", self.journal, *args, cwd=self.tmp, timeout=timeout
        )

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return sorted(trials_of(self.journal, self.name), key=lambda t: t.number)

    def run(self, *args: str) -> list[optuna.trial.FrozenTrial]:
        """Start the written sweep (it must succeed) and return its trials."""
        self.start(*args).assert_success()
        return self.trials()


def reports(trial: optuna.trial.FrozenTrial) -> list[dict[str, Any]]:
    """Every line the trial's program sent through ``sweeprun.report`` (the channel's log)."""
    log = Path(trial.user_attrs["sweeprun.log_dir"]) / "metrics.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def curve(trial: optuna.trial.FrozenTrial, name: str) -> dict[int, float]:
    """``{step: value}`` of metric ``name`` as the program reported it."""
    return {r["step"]: r[name] for r in reports(trial) if name in r}


def value_of(trial: optuna.trial.FrozenTrial) -> float:
    """The trial's told value (it must have one)."""
    assert trial.value is not None, f"trial {trial.number} has no value ({trial.state.name})"
    return trial.value


def stdout_of(trial: optuna.trial.FrozenTrial) -> str:
    return (Path(trial.user_attrs["sweeprun.log_dir"]) / "stdout.log").read_text()


def require(*packages: str) -> pytest.MarkDecorator:
    """Skip unless every package is installed (found, not imported: the frameworks are slow to
    import, and Keras would pick a backend in the test process)."""
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")
