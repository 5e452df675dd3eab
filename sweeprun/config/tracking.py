"""``tracking:`` in sweep.yaml: MLflow logging of finished trials and W&B run grouping.

This module holds the configuration models (imported by :mod:`sweeprun.config.models`, so it stays
light: pydantic only) and the W&B environment variables of a trial. The MLflow logger itself is
in :mod:`sweeprun.integrations.mlflow`, imported only when a sweep asks for it.

.. code-block:: yaml

    tracking:
      mlflow:                      # or `mlflow: true` for every default
        tracking_uri: sqlite:///mlflow.db   # default: $MLFLOW_TRACKING_URI, else MLflow's own
        experiment: my-experiment  # default: the sweep name
        tags: {team: vision}       # added to every run
        curves: true               # log intermediate values as the metric's history
      wandb:                       # on by default; `wandb: false` turns it off
        group: my-group            # WANDB_RUN_GROUP, default: the sweep name
        job_type: sweep            # WANDB_JOB_TYPE, default: sweep
        tags: [baseline, v2]       # WANDB_TAGS, default: sweeprun
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from sweeprun.config.limits import string_problem
from sweeprun.config.parameters import at_key
from sweeprun.errors import SweepError

#: the extra that brings MLflow's client
MLFLOW_EXTRA = "'sweeprun[mlflow]'"


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _on_off(value: Any) -> Any:
    """``true`` → every default, ``false``/``null`` → off, a mapping → as given."""
    if value is True:
        return {}
    if value is False:
        return None
    return value


def _tag_map(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: (str(v).lower() if isinstance(v, bool) else str(v))
            if isinstance(v, str | int | float | bool)
            else v
            for k, v in value.items()
        }
    return value


def _tag_list(value: Any) -> Any:
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    return value


class MlflowTracking(_Block):
    """Log each finished trial as an MLflow run (params, values, state, curves)."""

    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI (sqlite:///mlflow.db, file:./mlruns, http://host:5000);"
        " default: $MLFLOW_TRACKING_URI, else MLflow's default.",
    )
    experiment: str | None = Field(
        None, min_length=1, description="MLflow experiment name; default: the sweep name."
    )
    tags: Annotated[dict[str, str], BeforeValidator(_tag_map)] = Field(
        default_factory=dict, description="Tags added to every run."
    )
    curves: bool = Field(True, description="Log intermediate values as the metric's history.")


class WandbTracking(_Block):
    """Environment variables that group the program's own wandb runs by sweep."""

    group: str | None = Field(
        None, min_length=1, description="WANDB_RUN_GROUP; default: the sweep name."
    )
    job_type: str | None = Field(None, min_length=1, description="WANDB_JOB_TYPE; default: sweep.")
    tags: Annotated[list[str] | None, BeforeValidator(_tag_list)] = Field(
        None, description="WANDB_TAGS (a list, or comma-separated text); default: sweeprun."
    )
    sweep_id: bool = Field(
        False,
        description="Set WANDB_SWEEP_ID to the sweep name, as W&B's agent does (wandb then"
        " ignores the project, entity and run id given to wandb.init; WANDB_PROJECT and"
        " WANDB_ENTITY still apply). Off by default: the parameters reach wandb.config through"
        " WANDB_SWEEP_PARAM_PATH either way.",
    )

    @model_validator(mode="after")
    def _env_values(self) -> WandbTracking:
        """Each value becomes an environment variable of every trial: refuse what no program
        can be started with (a NUL, more than 128 KiB)."""
        tags = None if self.tags is None else ",".join(self.tags)
        values = {
            "group": ("WANDB_RUN_GROUP", self.group),
            "job_type": ("WANDB_JOB_TYPE", self.job_type),
            "tags": ("WANDB_TAGS", tags),
        }
        problems = []
        for key, (var, value) in values.items():
            problem = "" if value is None else string_problem(f"{var}={value}", var)
            if problem:
                problems.append(at_key(key, problem))
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _also_boolean(schema: dict[str, Any]) -> None:
    """JSON Schema: the block may also be written ``true`` or ``false``."""
    schema["anyOf"] = [*schema.get("anyOf", []), {"type": "boolean"}]


class Tracking(_Block):
    """Where finished trials are logged besides the sweep's storage."""

    mlflow: Annotated[MlflowTracking | None, BeforeValidator(_on_off)] = Field(
        None,
        description="Log each finished trial to MLflow (true, or a mapping of options).",
        json_schema_extra=_also_boolean,
    )
    wandb: Annotated[WandbTracking | None, BeforeValidator(_on_off)] = Field(
        default_factory=WandbTracking,
        description="Set WANDB_RUN_GROUP/WANDB_JOB_TYPE/WANDB_TAGS for the program (false: off).",
        json_schema_extra=_also_boolean,
    )


def check_tracking(tracking: Tracking) -> None:
    """Refuse (exit 2) ``tracking.mlflow`` without MLflow installed, before anything runs."""
    if tracking.mlflow is None:
        return
    try:
        found = importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise SweepError(
            "tracking.mlflow needs MLflow's client, which is not installed\n"
            f"    fix: pip install {MLFLOW_EXTRA} (or remove tracking.mlflow from the sweep)"
        )


def wandb_env(tracking: Tracking, sweep: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The W&B grouping variables of a trial.

    Values written in ``tracking.wandb`` always apply; a default (group = the sweep name,
    job type ``sweep``, tag ``sweeprun``) applies only where ``environ`` has no value of its
    own, so a user's exported ``WANDB_RUN_GROUP`` keeps working.
    """
    block = tracking.wandb
    if block is None:
        return {}
    chosen = {
        "WANDB_RUN_GROUP": (block.group, sweep),
        "WANDB_JOB_TYPE": (block.job_type, "sweep"),
        "WANDB_TAGS": (",".join(block.tags) if block.tags is not None else None, "sweeprun"),
    }
    env: dict[str, str] = {}
    for key, (explicit, default) in chosen.items():
        if explicit is not None:
            env[key] = explicit
        elif key not in environ:
            env[key] = default
    if block.sweep_id:
        env["WANDB_SWEEP_ID"] = sweep
    return env


__all__ = [
    "MLFLOW_EXTRA",
    "MlflowTracking",
    "Tracking",
    "WandbTracking",
    "check_tracking",
    "wandb_env",
]
