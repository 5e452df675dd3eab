"""Read a sweep file, or a config read back from storage, into a :class:`SweepConfig`.

``load_config(path)`` reads a file (see :mod:`sweeprun.config.yamlread`) and validates it;
``parse_config(data)`` validates data read back from storage. Both raise one
:class:`~sweeprun.errors.ConfigError` listing every problem found, each at its key path
(``parameters.lr.min``, ``metrics[1].goal``) with its line and a fix
(:mod:`sweeprun.config.explain`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sweeprun.config.explain import explain
from sweeprun.config.launch import launch_problems
from sweeprun.config.models import SweepConfig
from sweeprun.config.yamlread import load_yaml
from sweeprun.errors import ConfigError, ConfigProblem


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; raises :class:`ConfigError` listing every problem."""
    source = str(path)
    try:
        loaded = load_yaml(path)
        return _validate(loaded.data, loaded.lines, source)
    except ConfigError:
        raise
    except Exception as exc:  # a validation bug must still not escape as a traceback
        raise _internal(source, exc) from exc


def parse_config(data: Mapping[str, Any], source: str = "<config>") -> SweepConfig:
    """Validate already-parsed data (e.g. a config read back from storage)."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, [ConfigProblem("", "the configuration must be a mapping")])
    try:
        return _validate(dict(data), {}, source)
    except ConfigError:
        raise
    except Exception as exc:
        raise _internal(source, exc) from exc


def _internal(source: str, exc: Exception) -> ConfigError:
    return ConfigError(
        source,
        [
            ConfigProblem(
                "",
                f"could not validate the file ({type(exc).__name__}: {exc})",
                fix="this is a sweeprun bug: please report it with the file",
            )
        ],
    )


def _validate(data: dict[str, Any], lines: Mapping[tuple[str | int, ...], int], source: str
              ) -> SweepConfig:  # fmt: skip
    launch = launch_problems(data, lines)
    try:
        if not launch:
            return SweepConfig.model_validate(data)
        SweepConfig.model_validate({**data, **_LAUNCH_STANDINS})  # the file's other problems
        problems = []
    except ValidationError as exc:
        problems = explain(exc, {**data, **_LAUNCH_STANDINS} if launch else data, lines)
    raise ConfigError(source, launch + problems)


#: what a W&B Launch sweep lacks, filled in to find the file's other problems too
_LAUNCH_STANDINS = {"method": "random", "program": "train.py"}
