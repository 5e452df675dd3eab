"""Turn one trial's parameter values into a :class:`TrialRequest`: argv, env, cwd, files.

Per-trial files live in ``<sweeprun dir>/<safe_name(sweep)>/trial-<n>/``: ``stdout.log``,
``stderr.log``, ``metrics.jsonl`` (the client channel), ``params.json`` and W&B's
``config-<run>.yaml``. A trial records its directory (``sweeprun.log_dir``); whatever looks a
trial's files up uses :func:`find_trial_dir` (the recorded one first, then the computed one).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeprun.config.tracking import wandb_env
from sweeprun.errors import SweepError
from sweeprun.integrations.hydra import run_dir_args, uses_hydra
from sweeprun.integrations.wandb import trial_wandb_env
from sweeprun.run.argv import (
    DEFAULT_TEMPLATE,
    args_json_text,
    build_argv,
    trial_env,
    uses_args_json_file,
    wandb_config_yaml,
)
from sweeprun.run.process.child import TrialRequest

if TYPE_CHECKING:
    from sweeprun.config.models import SweepConfig

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: a name kept as its own directory: 1-100 of ``A-Za-z0-9_.-``, no leading or trailing dot
_KEPT = re.compile(r"[A-Za-z0-9_-](?:[A-Za-z0-9_.-]{0,98}[A-Za-z0-9_-])?")
_SLUG_MAX = 80  # characters of the readable part of a changed name
_HASH_SEP = "+"  # never in a kept name: a changed name's directory is never a kept one's
_HASH_HEX = 16  # 64 bits of SHA-256


def safe_name(name: str) -> str:
    """The directory of sweep ``name`` under the sweeprun dir: one path component (never
    empty, ``.`` or ``..``; no ``/`` or NUL; at most 100 ASCII bytes), a different one for
    every name, the same one every time.

    A name that is already a safe slug (:data:`_KEPT`) is its own directory, as it always
    was. Any other name gets a readable slug (runs of other characters become ``_``, at most
    80 characters, ``sweep`` when nothing is left), ``+`` and 16 hex digits of the SHA-256 of
    the exact name: ``team/exp`` -> ``team_exp+<hash>``, ``..`` -> ``sweep+<hash>``. The
    ``+`` keeps the two kinds apart (no kept name has one). Sweeps made before this mapping
    recorded their old directory in ``sweeprun.log_dir``, which :func:`find_trial_dir`
    prefers."""
    if _KEPT.fullmatch(name):
        return name
    slug = _UNSAFE.sub("_", name).strip(".")[:_SLUG_MAX] or "sweep"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]
    return f"{slug}{_HASH_SEP}{digest}"


def trial_dir_of(root: Path, sweep: str, number: int) -> Path:
    """The directory a new attempt of trial ``number`` of ``sweep`` gets under ``root``."""
    return root / safe_name(sweep) / f"trial-{number:05d}"


def find_trial_dir(recorded: object, root: Path, sweep: str, number: int) -> Path | None:
    """Where trial ``number`` of ``sweep`` keeps its files on this machine: the directory
    it recorded (``recorded``, its ``sweeprun.log_dir``: a sweep made before the directory
    mapping changed keeps its old one), else the one :func:`trial_dir_of` computes; None when
    neither is a directory here."""
    if isinstance(recorded, str) and recorded and Path(recorded).is_dir():
        return Path(recorded)
    computed = trial_dir_of(root, sweep, number)
    return computed if computed.is_dir() else None


@dataclass(frozen=True)
class Prepared:
    request: TrialRequest
    trial_dir: Path
    run_id: str
    launch: str  # the marker every process of this attempt carries (SWEEPRUN_LAUNCH)


def _private_write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


SWEEPRUN_PYTHON_MACRO = "${sweeprun_python}"
#: the directory (under the sweeprun dir) holding a ``sweeprun`` package that loads this
#: installation's sweeprun: put on the ``PYTHONPATH`` of a trial whose ``python`` is another one
CLIENT_PATH_DIR = "client-path"


@dataclass(frozen=True)
class Interpreter:
    """What ``${interpreter}`` is for the trials of one agent: W&B's agent runs ``python``
    looked up on the trial's ``PATH`` (``wandb/wandb_agent.py``: ``sweep_vars["interpreter"] =
    ["python"]`` after ``/usr/bin/env``), so an active virtualenv or conda env is the one used.
    ``python3`` when there is no ``python``; sweeprun's own Python when there is neither."""

    path: str
    how: str  # "python" | "python3" | "sweeprun": how it was found

    @property
    def is_sweeprun_own(self) -> bool:
        """The same environment as sweeprun's (the same ``bin`` directory, or the very file)."""
        own = os.path.abspath(sys.executable)
        mine = os.path.abspath(self.path)
        return mine == own or os.path.dirname(mine) == os.path.dirname(own)

    def note(self) -> str:
        """The one ``note:`` line ``start`` prints about it."""
        if self.how == "sweeprun":
            return (
                f"trials run ${{interpreter}} = {self.path}: neither python nor python3 is on "
                "the trial's PATH, so sweeprun's own Python is used; activate your training "
                "environment (or set PATH under trial.env) to use its python"
            )
        own = " (sweeprun's own)" if self.is_sweeprun_own else ""
        return (
            f"trials run ${{interpreter}} = {self.path}{own} (the {self.how} on PATH; "
            f"${{sweeprun_python}} is sweeprun's own: {sys.executable})"
        )


def resolve_interpreter(environ: Mapping[str, str]) -> Interpreter:
    """``${interpreter}`` for a trial whose environment is ``environ``: ``python`` on its
    ``PATH``, else ``python3``, else sweeprun's own Python (:class:`Interpreter`)."""
    search = environ.get("PATH", os.defpath)
    for name in ("python", "python3"):
        found = shutil.which(name, path=search)
        if found:
            return Interpreter(os.path.abspath(found), name)
    return Interpreter(sys.executable, "sweeprun")


def uses_interpreter(template: Sequence[Any] | None) -> bool:
    """Whether the ``command:`` template (None: the default one) has ``${interpreter}``."""
    return "${interpreter}" in [str(t) for t in (template or DEFAULT_TEMPLATE)]


def interpreter_note(cfg: SweepConfig, environ: Mapping[str, str] = os.environ) -> str | None:
    """The ``note:`` saying which Python the trials of ``cfg`` run (None: the command does not
    use ``${interpreter}``)."""
    if not uses_interpreter(cfg.command):
        return None
    env = {**environ, **{str(k): str(v) for k, v in cfg.trial.env.items()}}
    return resolve_interpreter(env).note()


def check_program(cfg: SweepConfig, environ: Mapping[str, str] = os.environ) -> None:
    """Raise a :class:`SweepError` (exit 2, before anything is stored or launched) when the
    command runs ``${program}`` and that file is not there: relative to the trial's working
    directory, nor (for a command that runs it directly) an executable on PATH."""
    if not cfg.program or "${program}" not in [str(t) for t in (cfg.command or DEFAULT_TEMPLATE)]:
        return
    cwd = cfg.trial.cwd or os.getcwd()
    path = os.path.join(cwd, cfg.program)
    if os.path.exists(path):
        return
    env = {**environ, **{str(k): str(v) for k, v in cfg.trial.env.items()}}
    if os.sep not in cfg.program and shutil.which(cfg.program, path=env.get("PATH", os.defpath)):
        return
    where = "" if os.path.isabs(cfg.program) else f" (in {cwd}, the trials' working directory)"
    raise SweepError(
        f"program: {cfg.program!r} does not exist{where}; no trial was started.\n"
        f"  fix: point 'program:' at your training script (a path relative to the directory "
        f"you run sweeprun in, or set trial.cwd), or create {path}"
    )


def _package_dir() -> str:
    return str(Path(__file__).resolve().parent.parent)


def _client_shim(real: str) -> str:
    """A ``sweeprun/__init__.py`` that makes ``import sweeprun`` (and its submodules) load the
    package in ``real``, whatever Python runs it (sweeprun's client is stdlib only)."""
    return (
        '"""Written by sweeprun for trials run by another Python than its own: it loads the\n'
        'sweeprun package installed in the directory below (the client is stdlib only)."""\n\n'
        f"__path__ = [{real!r}]\n"
        "from sweeprun.client import report  # noqa: E402\n\n"
        '__all__ = ["report"]\n'
    )


def client_path(root: Path) -> Path:
    """The directory to put on a trial's ``PYTHONPATH`` so that its ``import sweeprun`` loads
    this installation's sweeprun (one directory per installation, so agents of two installations
    sharing a sweeprun dir do not overwrite each other's; written once, atomically)."""
    real = _package_dir()
    digest = hashlib.sha256(real.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]
    where = root / CLIENT_PATH_DIR / digest
    init = where / "sweeprun" / "__init__.py"
    text = _client_shim(real)
    try:
        if init.read_text(encoding="utf-8") == text:
            return where
    except OSError:
        pass
    init.parent.mkdir(parents=True, exist_ok=True)
    tmp = init.with_name(f".__init__.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, init)
    return where


@dataclass(frozen=True)
class TrialPlan:
    """What every trial of one agent shares, worked out once: the base environment (the
    agent's own, the sweep's ``trial.env``, ``--env``, the W&B variables and hook, unbuffered
    Python), the working directory and the limits. :meth:`prepare` adds one trial's part."""

    cfg: SweepConfig
    sweep: str
    root: Path
    base_env: dict[str, str]
    cwd: str
    extra_args: tuple[str, ...]
    timeout: float | None
    args_json: bool
    interpreter: Interpreter

    @classmethod
    def build(
        cls,
        cfg: SweepConfig,
        *,
        sweep: str,
        root: Path,
        extra_env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        timeout: float | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> TrialPlan:
        base = dict(environ)
        env_extra = {**wandb_env(cfg.tracking, sweep, base), **cfg.trial.env}
        if extra_env:
            env_extra.update(extra_env)
        if cfg.tracking.wandb is not None:  # the program's own wandb reaches sweeprun
            env_extra.update(trial_wandb_env(base, env_extra))
        if "PYTHONUNBUFFERED" not in base and "PYTHONUNBUFFERED" not in env_extra:
            # un-flushed print() reaches us as it happens, so pruning stops a program early
            env_extra["PYTHONUNBUFFERED"] = "1"
        base.update({str(k): str(v) for k, v in env_extra.items()})
        interpreter = resolve_interpreter(base)
        return cls(
            cfg=cfg,
            sweep=sweep,
            root=root,
            base_env=base,
            cwd=cfg.trial.cwd or os.getcwd(),
            extra_args=tuple(extra_args or ()),
            timeout=timeout if timeout is not None else cfg.trial.timeout,
            args_json=uses_args_json_file(cfg.command),
            interpreter=interpreter,
        )

    def _client_env(self, env: dict[str, str]) -> None:
        """A trial run by another Python than sweeprun's still imports sweeprun's client: the
        directory of :func:`client_path` goes last on its ``PYTHONPATH`` (the user's entries and
        the wandb hook keep their places)."""
        if self.interpreter.is_sweeprun_own or env.get("SWEEPRUN_CLIENT_PATH") == "0":
            return
        where = str(client_path(self.root))
        current = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if where not in current:
            env["PYTHONPATH"] = os.pathsep.join([*current, where])

    def prepare(
        self,
        number: int,
        values: dict[str, Any],
        cuda_devices: str | None = None,
        *,
        dry: bool = False,
    ) -> Prepared:
        """One trial's directory, files, environment and argv; ``dry``: the same request
        without creating the directory or writing the files (a preview)."""
        cfg = self.cfg
        trial_dir = trial_dir_of(self.root, self.sweep, number)
        run_id = secrets.token_hex(4)
        launch = secrets.token_hex(8)
        param_path = trial_dir / f"config-{run_id}.yaml"
        json_path = trial_dir / "params.json"
        if not dry:
            trial_dir.mkdir(parents=True, exist_ok=True)
            _private_write(param_path, wandb_config_yaml(values))
            if self.args_json:
                _private_write(json_path, args_json_text(values))
        env = trial_env(
            self.base_env,
            sweep=self.sweep,
            trial_number=number,
            trial_dir=str(trial_dir),
            params=values,
            run_id=run_id,
            launch=launch,
            param_path=str(param_path),
            cuda_devices=cuda_devices,
        )
        if not dry:
            self._client_env(env)
        template = [
            sys.executable if str(t) == SWEEPRUN_PYTHON_MACRO else t
            for t in (cfg.command or DEFAULT_TEMPLATE)
        ]
        argv = build_argv(
            template,
            values,
            program=cfg.program,
            interpreter=self.interpreter.path,
            environ=env,
            args_json_file=str(json_path),
        )
        argv = [*argv, *self.extra_args]
        if uses_hydra(cfg.command, cfg.program, self.cwd):  # its own hydra.run.dir per trial
            argv += run_dir_args(argv, str(trial_dir))
        request = TrialRequest(
            argv=tuple(argv),
            env=env,
            cwd=self.cwd,
            stdout_path=trial_dir / "stdout.log",
            stderr_path=trial_dir / "stderr.log",
            timeout=self.timeout,
            kill_grace=cfg.trial.kill_grace,
        )
        return Prepared(request, trial_dir, run_id, launch)


def params_json(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, default=str)
