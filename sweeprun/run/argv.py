"""Parameters + command template → the argv and environment of one trial (no processes).

W&B semantics (``wandb/wandb_agent.py`` and ``wandb/sdk/launch/sweeps/utils.py``), mirrored:

* Each ``command:`` element that is exactly a macro (``${args}``) is replaced by a list of
  elements; any other element passes through unchanged, so values never go through a shell
  and a value with spaces, quotes or ``;`` stays one argv element.
* ``${envvar:NAME}`` is substituted *inside* any element, like W&B (``--data=${envvar:D}/x``).
  W&B leaves the bare name when the variable is unset; sweeprun raises a :class:`SweepError`
  instead, since running with the literal text ``NAME`` is never what the user meant.
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
* An unknown ``${name}`` element is a config error with a "did you mean" hint (W&B silently
  drops it, which hides typos such as ``${arg}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sweeprun.errors import SweepError, did_you_mean

DEFAULT_TEMPLATE: tuple[str, ...] = ("${env}", "${interpreter}", "${program}", "${args}")
ENV_PROGRAM = "/usr/bin/env"

_ENVVAR_RE = re.compile(r"\$\{envvar:([^}]*)\}")
_MACRO_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
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
MACROS: tuple[str, ...] = ("env", "interpreter", "program", *_PARAM_MACROS, "args_json_file")


def uses_args_json_file(template: Sequence[str] | None) -> bool:
    """True when the template has ``${args_json_file}`` (the caller must write that file)."""
    return template is not None and "${args_json_file}" in [str(t) for t in template]


def template_problems(template: Sequence[Any] | None) -> list[str]:
    """Problems of a ``command:`` template that can be found before any trial (for validate)."""
    problems: list[str] = []
    for i, element in enumerate(template or ()):
        text = str(element)
        m = _MACRO_RE.fullmatch(text)
        if m and m.group(1) not in MACROS:
            hint = did_you_mean(m.group(1), MACROS)
            fix = f"; {hint}" if hint else f"; known macros: {', '.join(MACROS)}"
            problems.append(f"command[{i}]: unknown macro {text!r}{fix}")
        for name in _ENVVAR_RE.findall(text):
            if not _VALID_ENV_NAME.fullmatch(name):
                problems.append(f"command[{i}]: {text!r} does not name an environment variable")
    return problems


def _expand_envvars(text: str, environ: Mapping[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in environ:
            raise SweepError(
                f"command: {text!r} uses the environment variable {name}, which is not set.\n"
                f"  fix: export {name}=... before running sweeprun, or set it under "
                f"trial.env in the sweep file"
            )
        return environ[name]

    return _ENVVAR_RE.sub(repl, text)


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
    Raises :class:`SweepError` for an unknown macro, an unset ``${envvar:...}``, or a macro
    whose input is missing (``${program}`` without ``program:``).
    """
    elements = [str(t) for t in (template if template else DEFAULT_TEMPLATE)]
    argv: list[str] = []
    for i, text in enumerate(elements):
        m = _MACRO_RE.fullmatch(text)
        if m is None:
            argv.append(_expand_envvars(text, environ) if "${envvar:" in text else text)
            continue
        name = m.group(1)
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
                raise SweepError(
                    "command: uses ${program} but the sweep has no 'program:'.\n"
                    "  fix: add 'program: train.py' to the sweep file, or remove ${program} "
                    "from 'command:'"
                )
            argv.append(program)
        elif name == "args_json_file":
            if args_json_file is None:
                raise SweepError("command: ${args_json_file} needs a file path (internal)")
            argv.append(args_json_file)
        else:
            hint = did_you_mean(name, MACROS)
            raise SweepError(
                f"command: unknown macro {text!r}; "
                + (hint if hint else f"known macros: {', '.join('${' + k + '}' for k in MACROS)}")
            )
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
