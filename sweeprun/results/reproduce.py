"""How to run a finished trial again by hand: ``best``'s reproduce command and ``--script``.

A trial's program got more than its argv; a reproduction gives it the same inputs:

* ``SWEEPRUN_PARAMS`` (the parameters as JSON), always: it is cheap, and any module of the
  program may read it;
* the sweep's ``trial.env``;
* for a program that may use wandb (its file mentions wandb, or it cannot be read) while the
  W&B integration is on: ``WANDB_SWEEP_PARAM_PATH`` (W&B's ``config-<run>.yaml`` in the trial's
  directory, which ``wandb.config`` reads) and ``WANDB_MODE=offline`` when this machine has no
  W&B credentials (the agent's own rule);
* for ``${args_json_file}``: the trial's ``params.json``;
* the sweep's ``trial.cwd`` as the working directory, when it set one (else the command runs
  where it is typed, like the trial ran where ``sweeprun start`` was).

The ``hydra.run.dir`` override sweeprun gave a Hydra trial is left out, so a reproduction
writes Hydra's outputs where Hydra puts them by default, not over the trial's.

The command names the trial's files where they are; the script (``best --script FILE``)
writes them afresh into a temporary directory, so it runs on a machine without the trial's
directory too. The rest of the agent's environment (the W&B grouping variables, the metrics
channel, ``PYTHONUNBUFFERED``) is sweeprun's own business and left out.
"""

from __future__ import annotations

import glob
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sweeprun.integrations.hydra import run_dir_args
from sweeprun.integrations.wandb import offline_note, uses_wandb
from sweeprun.run.argv import args_json_text, uses_args_json_file, wandb_config_yaml
from sweeprun.storage.records import TrialRecord

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from sweeprun.config.models import SweepConfig

_EOF = "SWEEPRUN_EOF"


@dataclass(frozen=True)
class TrialFile:
    """A file the program reads: where the trial had it, its content, whether it is here."""

    path: str
    name: str  #: its name in the script's temporary directory
    text: str
    present: bool


@dataclass(frozen=True)
class Reproduction:
    argv: list[str]
    #: what the program needs beyond the caller's environment, in a stable order
    env: dict[str, str]
    cwd: str | None
    #: the files named in ``env`` or ``argv`` (by their path in the trial's directory)
    files: list[TrialFile] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        """The trial's files this machine does not have (the script recreates them)."""
        return [f.path for f in self.files if not f.present]

    def command(self) -> str:
        """One shell line: ``[cd DIR && ]env K=V ... ARGV`` (just ARGV with no variables)."""
        words = [f"{shlex.quote(k)}={shlex.quote(v)}" for k, v in self.env.items()]  # K='v'
        line = " ".join(
            ["env", *words, shlex.join(self.argv)] if words else [shlex.join(self.argv)]
        )
        return f"cd {shlex.quote(self.cwd)} && {line}" if self.cwd else line

    def script(self, title: str) -> str:
        """A POSIX sh script that recreates the files and runs the program with them."""
        renamed = {f.path: f'"$files"/{shlex.quote(f.name)}' for f in self.files}
        out = ["#!/bin/sh", f"# {title}", "set -e"]
        if self.files:
            out.append('files=$(mktemp -d "${TMPDIR:-/tmp}/sweeprun-trial.XXXXXX")')
            for f in self.files:
                out += [f"cat > {renamed[f.path]} <<'{_EOF}'", f.text.rstrip("\n"), _EOF]
        if self.cwd:
            out.append(f"cd {shlex.quote(self.cwd)}")
        else:
            out.insert(2, "# run it in the directory the sweep was started in")
        for k, v in self.env.items():
            out.append(f"{k}={renamed.get(v, shlex.quote(v))}")
            out.append(f"export {k}")
        out.append("exec " + " ".join(renamed.get(a, shlex.quote(a)) for a in self.argv))
        return "\n".join(out) + "\n"


def _program_file(cfg: SweepConfig, argv: Sequence[str]) -> str | None:
    if cfg.program:
        return cfg.program
    return next((a for a in argv[1:] if a.endswith(".py")), None)


def _may_use_wandb(cfg: SweepConfig, argv: Sequence[str], cwd: str) -> bool:
    if cfg.tracking.wandb is None:
        return False
    program = _program_file(cfg, argv)
    if program is None or not os.path.isfile(os.path.join(cwd, program)):
        return True  # cannot tell: give it what wandb reads
    return uses_wandb(program, cwd)


def _wandb_config(log_dir: str | None, params: Mapping[str, Any]) -> TrialFile:
    found = (
        sorted(glob.glob(os.path.join(glob.escape(log_dir), "config-*.yaml"))) if log_dir else []
    )
    path = found[0] if found else os.path.join(log_dir or ".", "config.yaml")
    return TrialFile(path, "config.yaml", wandb_config_yaml(params), bool(found))


def reproduction(
    cfg: SweepConfig,
    params: Mapping[str, Any],
    argv: Sequence[str],
    log_dir: str | None,
    environ: Mapping[str, str] = os.environ,
) -> Reproduction:
    """What running the trial with ``params`` and ``argv`` again takes (see the module)."""
    cwd = cfg.trial.cwd
    if log_dir:
        ours = run_dir_args([], log_dir)
        argv = [a for a in argv if a not in ours]
    env = {"SWEEPRUN_PARAMS": args_json_text(params)}
    env.update({str(k): str(v) for k, v in cfg.trial.env.items()})
    files: list[TrialFile] = []
    if uses_args_json_file(cfg.command) and log_dir:
        path = os.path.join(log_dir, "params.json")
        if path in argv:
            files.append(
                TrialFile(path, "params.json", args_json_text(params), os.path.exists(path))
            )
    if _may_use_wandb(cfg, argv, cwd or os.getcwd()):
        config = _wandb_config(log_dir, params)
        files.append(config)
        env["WANDB_SWEEP_PARAM_PATH"] = config.path
        if offline_note(environ, cfg.trial.env) is not None:
            env["WANDB_MODE"] = "offline"
    return Reproduction(list(argv), env, cwd, files)


def of_trial(cfg: SweepConfig, trial: FrozenTrial) -> Reproduction | None:
    """The reproduction of a launched trial (None: it never ran, so it has no command)."""
    rec = TrialRecord.of(trial)
    if rec.argv is None or rec.params is None:
        return None
    return reproduction(cfg, rec.params, rec.argv, rec.log_dir)
