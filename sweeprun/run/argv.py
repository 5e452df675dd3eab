"""Parameters + command template → the argv and environment of one trial (no processes).

W&B semantics (``wandb/wandb_agent.py`` and ``wandb/sdk/launch/sweeps/utils.py``), mirrored:

* Each ``command:`` element that is exactly a macro (``${args}``) is replaced by a list of
  elements; any other element passes through unchanged, so values never go through a shell
  and a value with spaces, quotes or ``;`` stays one argv element.
* ``${envvar:NAME}`` is substituted *inside* any element, like W&B (``--data=${envvar:D}/x``).
  An unset variable becomes its bare name ``NAME``, as W&B's ``create_sweep_command`` does
  (``os.environ.get(name, name)``); :func:`template_problems` warns about it beforehand
  (rule ``unset-envvar``, an error with ``--strict``).
* Values are formatted with ``str()`` like W&B's f-strings: ``True``, ``None``, ``0.001``,
  ``1e-05``, ``[1, 2]``. A nested ``parameters:`` block arrives as one top-level parameter
  whose value is a dict (W&B re-nests before formatting), so it becomes
  ``--optimizer={'lr': 0.1, 'beta': 0.9}`` with ``${args}`` and a real JSON object with
  ``${args_json}``.
* ``${env}``: W&B inserts ``/usr/bin/env`` so that the next element is looked up on PATH.
  ``subprocess`` already looks the program up on the trial environment's PATH, and without
  ``env`` in between a missing program is a clean "program not found" error instead of
  ``env``'s exit 127. So ``${env}`` expands to nothing, unless the next element is a
  ``NAME=value`` assignment or an option (``-i``) meant for ``env``: then ``/usr/bin/env``.
* ``${interpreter}`` is the Python running sweeprun (W&B: ``python`` from PATH).
* An element that starts with ``${`` and ends with ``}`` (after ``${envvar:...}`` is
  substituted) is a macro, as in W&B's ``Agent._command_run``; an unknown one (``${arg}``) is
  dropped, as W&B drops it (``sweep_vars.get(name)`` is None). :func:`template_problems`
  warns about it beforehand with a "did you mean" hint (rule ``unknown-macro``, an error with
  ``--strict``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweeprun.errors import SweepError, did_you_mean

DEFAULT_TEMPLATE: tuple[str, ...] = ("${env}", "${interpreter}", "${program}", "${args}")
ENV_PROGRAM = "/usr/bin/env"

_ENVVAR_RE = re.compile(r"\$\{envvar:([^}]*)\}")
_ENV_ASSIGNMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_VALID_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_value(value: Any) -> str:
    """Format one parameter value the way W&B does in ``--k=v`` (``str()`` of the value)."""
    return str(value)


def args_json_text(params: Mapping[str, Any]) -> str:
    """The JSON of the parameters (``${args_json}``; the content of ``${args_json_file}``)."""
    return json.dumps(dict(params), default=str)


def _args(params: Mapping[str, Any]) -> list[str]:
    return [f"--{k}={format_value(v)}" for k, v in params.items()]


def _args_no_hyphens(params: Mapping[str, Any]) -> list[str]:
    return [f"{k}={format_value(v)}" for k, v in params.items()]


def _args_no_boolean_flags(params: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for k, v in params.items():
        if isinstance(v, bool):
            if v:
                out.append(f"--{k}")
        else:
            out.append(f"--{k}={format_value(v)}")
    return out


def _args_no_equals(params: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for k, v in params.items():
        out += [f"--{k}", format_value(v)]
    return out


def _args_append_hydra(params: Mapping[str, Any]) -> list[str]:
    return [f"+{k}={format_value(v)}" for k, v in params.items()]


def _args_override_hydra(params: Mapping[str, Any]) -> list[str]:
    return [f"++{k}={format_value(v)}" for k, v in params.items()]


def _args_json(params: Mapping[str, Any]) -> list[str]:
    return [args_json_text(params)]


_PARAM_MACROS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "args": _args,
    "args_no_hyphens": _args_no_hyphens,
    "args_no_boolean_flags": _args_no_boolean_flags,
    "args_no_equals": _args_no_equals,
    "args_append_hydra": _args_append_hydra,
    "args_override_hydra": _args_override_hydra,
    "args_json": _args_json,
}
#: ``sweeprun_python`` (sweeprun's own Python) is substituted by ``run/request.TrialPlan``
MACROS: tuple[str, ...] = (
    "env",
    "interpreter",
    "sweeprun_python",
    "program",
    *_PARAM_MACROS,
    "args_json_file",
)


def uses_args_json_file(template: Sequence[str] | None) -> bool:
    """True when the template has ``${args_json_file}`` (the caller must write that file)."""
    return template is not None and "${args_json_file}" in [str(t) for t in template]


#: the variables every trial's environment gets from sweeprun itself (:func:`trial_env`;
#: ``CUDA_VISIBLE_DEVICES`` with GPUs), so ``${envvar:SWEEPRUN_TRIAL}`` is never unset
TRIAL_VARIABLES = frozenset(
    {
        "SWEEPRUN_SWEEP", "SWEEPRUN_TRIAL", "SWEEPRUN_TRIAL_DIR", "SWEEPRUN_LAUNCH",
        "SWEEPRUN_PARAMS", "WANDB_RUN_ID", "WANDB_SWEEP_PARAM_PATH", "CUDA_VISIBLE_DEVICES",
    }
)  # fmt: skip
#: rule → what it flags: where W&B's agent is lenient, sweeprun does the same with a warning
#: (``--strict``: an error)
LENIENT_RULES: dict[str, str] = {
    "unknown-macro": "an unknown whole-element ${macro} in command: (W&B drops it)",
    "unset-envvar": "${envvar:NAME} of an unset variable (W&B passes the bare NAME)",
}
NO_PROGRAM = "uses ${program} but the sweep has no 'program:'"
NO_PROGRAM_FIX = "add 'program: train.py' to the sweep file, or remove ${program} from 'command:'"


@dataclass(frozen=True)
class TemplateProblem:
    """One finding about a ``command:`` template: an error (``rule`` None), or where W&B is
    lenient a warning (``rule`` one of :data:`LENIENT_RULES`)."""

    path: tuple[str | int, ...]  # e.g. ("command", 2)
    message: str
    fix: str
    rule: str | None = None


def _is_macro(text: str) -> bool:
    """W&B's test for an element that is a macro (``Agent._command_run``)."""
    return text.startswith("${") and text.endswith("}")


def template_problems(
    template: Sequence[Any] | None,
    *,
    program: str | None = None,
    environ: Container[str] | None = None,
) -> list[TemplateProblem]:
    """What :func:`build_argv` would refuse or change, found before any trial (for
    ``validate``, ``start`` and ``smoke``): ``${program}`` without ``program:`` and a
    malformed ``${envvar:}`` (errors); an unknown macro and, when ``environ`` (the names set
    in the trials' environment) is given, an unset ``${envvar:NAME}`` (warnings)."""
    problems: list[TemplateProblem] = []
    for i, element in enumerate(template or ()):
        text = str(element)
        path = ("command", i)
        if "${envvar:" in text:
            for name in _ENVVAR_RE.findall(text):
                if not _VALID_ENV_NAME.fullmatch(name):
                    problems.append(TemplateProblem(
                        path, f"{text!r} does not name an environment variable",
                        "write ${envvar:NAME} with a variable name such as DATA_DIR",
                    ))  # fmt: skip
                elif environ is not None and name not in environ:
                    problems.append(TemplateProblem(
                        path,
                        f"{text!r} uses the environment variable {name}, which is not set: "
                        f"W&B's agent passes the bare name '{name}' instead, and so does "
                        "sweeprun",
                        f"export {name}=... before running sweeprun, or set it under "
                        "trial.env in the sweep file",
                        "unset-envvar",
                    ))  # fmt: skip
            continue
        if not _is_macro(text):
            continue
        name = text[2:-1]
        if name == "program" and not program:
            problems.append(TemplateProblem(path, NO_PROGRAM, NO_PROGRAM_FIX))
        elif name not in MACROS:
            known = ["${" + k + "}" for k in MACROS]
            hint = did_you_mean(text, known)
            problems.append(TemplateProblem(
                path,
                f"unknown macro {text!r}: W&B's agent drops it from the command line, and so "
                "does sweeprun",
                (f"{hint} Else" if hint else f"use one of {', '.join(known)}, or") + " remove it",
                "unknown-macro",
            ))  # fmt: skip
    return problems


def _expand_envvars(text: str, environ: Mapping[str, str]) -> str:
    """``${envvar:NAME}`` → the variable's value, or the bare ``NAME`` when it is unset
    (W&B's ``create_sweep_command``: ``os.environ.get(name, name)``)."""
    return _ENVVAR_RE.sub(lambda m: environ.get(m.group(1), m.group(1)), text)


def build_argv(
    template: Sequence[Any] | None,
    params: Mapping[str, Any],
    *,
    program: str | None,
    interpreter: str,
    environ: Mapping[str, str],
    args_json_file: str | None = None,
) -> list[str]:
    """Expand a W&B ``command:`` template into the argv of one trial.

    ``params`` maps top-level parameter names to values (nested blocks as dicts), in the
    order given. ``environ`` is the trial's environment, for ``${envvar:NAME}``.
    An unknown macro is dropped and an unset ``${envvar:NAME}`` gives ``NAME``, as in W&B.
    Raises :class:`SweepError` for a macro whose input is missing (``${program}`` without
    ``program:``) or an empty command line.
    """
    elements = [str(t) for t in (template if template else DEFAULT_TEMPLATE)]
    argv: list[str] = []
    for i, raw in enumerate(elements):
        text = _expand_envvars(raw, environ) if "${envvar:" in raw else raw
        if not _is_macro(text):
            argv.append(text)
            continue
        name = text[2:-1]
        if name in _PARAM_MACROS:
            argv += _PARAM_MACROS[name](params)
        elif name == "env":
            following = elements[i + 1] if i + 1 < len(elements) else ""
            if _ENV_ASSIGNMENT_RE.match(following) or following.startswith("-"):
                argv.append(ENV_PROGRAM)
        elif name == "interpreter":
            argv.append(interpreter)
        elif name == "program":
            if not program:
                raise SweepError(f"command: {NO_PROGRAM}.\n  fix: {NO_PROGRAM_FIX}")
            argv.append(program)
        elif name == "args_json_file":
            if args_json_file is None:
                raise SweepError("command: ${args_json_file} needs a file path (internal)")
            argv.append(args_json_file)
        # else an unknown macro: W&B's agent drops it (template_problems warned)
    if not argv:
        raise SweepError("command: expands to an empty command line; fix: list the program")
    return argv


def trial_env(
    base: Mapping[str, str],
    *,
    sweep: str,
    trial_number: int,
    trial_dir: str,
    params: Mapping[str, Any],
    run_id: str,
    launch: str,
    param_path: str,
    cuda_devices: str | None,
) -> dict[str, str]:
    """The environment of one trial: ``base`` (the agent's environment with the sweep's
    ``trial.env`` over it, see ``TrialPlan``), then sweeprun's own variables, which always win
    because the program relies on them."""
    env = dict(base)
    env.update(
        {
            "SWEEPRUN_SWEEP": sweep,
            "SWEEPRUN_TRIAL": str(trial_number),
            "SWEEPRUN_TRIAL_DIR": trial_dir,
            "SWEEPRUN_LAUNCH": launch,
            "SWEEPRUN_PARAMS": args_json_text(params),
            "WANDB_RUN_ID": run_id,
            "WANDB_SWEEP_PARAM_PATH": param_path,
        }
    )
    if cuda_devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = cuda_devices
    return env


def wandb_config_yaml(params: Mapping[str, Any]) -> str:
    """The ``config-<run>.yaml`` W&B's agent writes to ``WANDB_SWEEP_PARAM_PATH``.

    Format (``wandb.sdk.lib.config_util.save_config_file_from_dict``): ``wandb_version: 1``,
    a blank line, then ``name: {value: v}`` per top-level parameter, block style, in order.
    """
    text = "wandb_version: 1\n"
    if params:
        text += "\n" + "".join(
            f"{_yaml_key(str(k))}:\n  value: {json.dumps(_plain(v), ensure_ascii=False)}\n"
            for k, v in params.items()
        )
    return text


_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _yaml_key(key: str) -> str:
    """A mapping key as YAML (JSON is YAML): bare when safe, quoted otherwise."""
    if _BARE_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS:
        return key
    return json.dumps(key, ensure_ascii=False)


def _plain(value: Any) -> Any:
    """Values safe for ``yaml.safe_dump`` (tuples → lists, unknown types → str)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
