"""sweep.yaml as frozen pydantic models: a strict superset of W&B's sweep configuration.

Loading a file into these models is :mod:`sweeprun.config.load`; turning pydantic's errors
into key-path problems is :mod:`sweeprun.config.explain`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from sweeprun.config.checks import _cross_problems
from sweeprun.config.limits import (
    MAX_BRACKETS,
    MAX_COUNT,
    MAX_GPUS_PER_TRIAL,
    MAX_JOBS,
    MAX_RUNG_OFFSET,
    MAX_SEED,
    MAX_STEP,
    MIN_GPU_FRACTION,
    MIN_HEARTBEAT,
    preview,
    string_problem,
)
from sweeprun.config.parameters import (
    NAME_PATTERN,
    ParamSpec,
    at_key,
)
from sweeprun.config.tracking import Tracking
from sweeprun.config.types import (
    EARLY_TERMINATE_OPTIONS,
    METHODS,
    WANDB_ONLY_KEYS,
    WRAPPER_OPTIONS,
    Duration,
    Int,
    Number,
    Resource,
    TextMap,
    TrialDuration,
    _words,
)
from sweeprun.errors import did_you_mean


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Model):
    """The metric to optimize (W&B's ``metric``), or one of ``metrics``."""

    name: str = Field(min_length=1, description="Name of the metric the program reports.")
    goal: Literal["minimize", "maximize"] = Field("minimize", description="Direction.")
    target: Number | None = Field(None, description="Stop the sweep once a trial reaches it.")
    summary: Literal["best", "last"] = Field(
        "best", description="Trial value: best value seen (W&B) or the last one reported."
    )
    impute: Literal["latest", "best", "worst"] | None = Field(
        None, description="W&B only; accepted and ignored."
    )
    impute_while_running: Annotated[
        Literal["latest", "best", "worst", "false"] | None,
        BeforeValidator(lambda v: "false" if v is False else v),
        WithJsonSchema({"enum": ["latest", "best", "worst", "false", False, None]}),
    ] = Field(None, description="W&B only; accepted and ignored.")


class EarlyTerminate(_Model):
    """Early stopping: W&B ``hyperband`` or one of Optuna's pruners, with its options."""

    type: Literal[
        "hyperband", "median", "percentile", "asha", "successive_halving",
        "threshold", "wilcoxon", "optuna_hyperband",
    ] = Field(description="The pruning rule.")  # fmt: skip
    min_iter: Int | None = Field(
        None, ge=1, le=MAX_STEP, description="hyperband: first step to prune at."
    )
    max_iter: Int | None = Field(
        None, ge=1, le=MAX_STEP, description="hyperband: last step to prune at."
    )
    s: Int | None = Field(
        None, ge=1, le=MAX_BRACKETS, description="hyperband: number of brackets before max_iter."
    )
    eta: Number | None = Field(None, gt=1, description="hyperband: keep the top 1/eta (3).")
    strict: bool | None = Field(None, description="hyperband: W&B's strict rule (true).")
    n_startup_trials: Int | None = Field(
        None, ge=0, le=MAX_COUNT, description="Trials before pruning (5)."
    )
    n_warmup_steps: Int | None = Field(
        None, ge=0, le=MAX_STEP, description="Steps before pruning (0)."
    )
    interval_steps: Int | None = Field(
        None, ge=1, le=MAX_STEP, description="Check every N steps (1)."
    )
    n_min_trials: Int | None = Field(
        None, ge=1, le=MAX_COUNT, description="Trials reporting a step (1)."
    )
    percentile: Number | None = Field(None, ge=0, le=100, description="percentile: 0..100.")
    min_resource: Resource = Field(None, description="Minimum steps before a rung, or 'auto'.")
    max_resource: Resource = Field(None, description="optuna_hyperband: max steps or 'auto'.")
    reduction_factor: Int | None = Field(
        None, ge=2, le=MAX_STEP, description="Promotion ratio (>= 2)."
    )
    min_early_stopping_rate: Int | None = Field(
        None, ge=0, le=MAX_RUNG_OFFSET, description="asha: rung offset."
    )
    bootstrap_count: Int | None = Field(
        None, ge=0, le=MAX_COUNT, description="Trials to fill a rung first."
    )
    lower: Number | None = Field(None, description="threshold: prune below this.")
    upper: Number | None = Field(None, description="threshold: prune above this.")
    p_threshold: Number | None = Field(None, ge=0, le=1, description="wilcoxon: 0..1 (0.1).")
    n_startup_steps: Int | None = Field(
        None, ge=0, le=MAX_STEP, description="wilcoxon: steps first (2)."
    )
    patience: Int | None = Field(
        None, ge=0, le=MAX_STEP, description="Wrap in PatientPruner: steps to wait."
    )
    min_delta: Number | None = Field(None, ge=0, description="PatientPruner tolerance (0).")

    @model_validator(mode="before")
    @classmethod
    def _options_of_type(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return data  # a type that is no text: the Literal check reports it
        if data["type"] not in EARLY_TERMINATE_OPTIONS:
            return data
        kind = data["type"]
        takes = (*EARLY_TERMINATE_OPTIONS[kind], *WRAPPER_OPTIONS)
        problems = []
        for key, value in data.items():
            if key == "type" or key in takes or key not in cls.model_fields or value is None:
                continue
            owners = [t for t, opts in EARLY_TERMINATE_OPTIONS.items() if key in opts]
            problems.append(
                at_key(
                    key,
                    f"'{key}' is not an option of type '{kind}' (it is an option of "
                    f"{', '.join(owners)}); '{kind}' takes: {', '.join(takes)}",
                )
            )
        if problems:
            raise ValueError("\n".join(problems))
        return data

    @model_validator(mode="after")
    def _check(self) -> EarlyTerminate:
        t = self.type
        if t == "hyperband" and self.min_iter is None and (self.max_iter is None or self.s is None):
            raise ValueError("W&B hyperband needs `min_iter`, or both `max_iter` and `s`")
        if t == "percentile" and self.percentile is None:
            raise ValueError(at_key("percentile", "type 'percentile' needs `percentile` (0..100)"))
        if t == "threshold":
            if self.lower is None and self.upper is None:
                raise ValueError("type 'threshold' needs `lower`, `upper` or both")
            if self.lower is not None and self.upper is not None and self.lower > self.upper:
                raise ValueError(at_key("lower", "lower must not be greater than upper"))
        halving = t in {"asha", "successive_halving"}
        if self.bootstrap_count and halving and not isinstance(self.min_resource, int):
            raise ValueError(at_key("bootstrap_count", "needs an integer `min_resource`"))
        band = t == "optuna_hyperband"
        if self.bootstrap_count and band and not isinstance(self.max_resource, int):
            raise ValueError(at_key("bootstrap_count", "needs an integer `max_resource`"))
        lo, hi = self.min_resource, self.max_resource
        if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
            raise ValueError(at_key("min_resource", "must not exceed max_resource"))
        if self.min_delta is not None and self.patience is None:
            raise ValueError(at_key("min_delta", "min_delta needs `patience`"))
        return self

    def options(self) -> dict[str, Any]:
        """The options the user set: those of ``type`` plus ``patience``/``min_delta``.

        For W&B ``hyperband`` the defaults ``eta: 3`` and ``strict: true`` are filled in.
        """
        keys = (*EARLY_TERMINATE_OPTIONS[self.type], *WRAPPER_OPTIONS)
        out = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        if self.type == "hyperband":
            out.setdefault("eta", 3.0)
            out.setdefault("strict", True)
        return out


class Budget(_Model):
    """When the sweep stops: a number of trials and/or a wall-clock time."""

    trials: Int | None = Field(None, gt=0, le=MAX_COUNT, description="Stop after this many trials.")
    time: Duration | None = Field(None, gt=0, description="Stop starting trials after this.")
    deadline: Duration | None = Field(
        None, gt=0, description="Hard deadline: stop running trials too after this long."
    )


class TrialSettings(_Model):
    """How each trial process runs."""

    timeout: TrialDuration | None = Field(None, gt=0, description="Kill a trial after this long.")
    retries: Int = Field(
        0, ge=0, le=MAX_COUNT, description="Re-run a failed trial this many times."
    )
    kill_grace: TrialDuration = Field(10.0, ge=0, description="SIGTERM → SIGKILL delay.")
    env: TextMap = Field(default_factory=dict, description="Extra environment variables.")
    cwd: str | None = Field(None, description="Working directory of each trial.")
    heartbeat: TrialDuration = Field(
        10.0,
        ge=MIN_HEARTBEAT,
        description="How often an agent renews the lease of its running trials.",
    )
    lease_grace: TrialDuration = Field(
        60.0, gt=0, description="A running trial whose lease is this stale is failed and re-run."
    )

    @field_validator("cwd")
    @classmethod
    def _cwd(cls, value: str | None) -> str | None:
        if value is not None and "\0" in value:
            raise ValueError(
                "contains a NUL character (\\0), which no directory name can hold: remove it"
            )
        return value


class Resources(_Model):
    """Resources each trial takes."""

    gpus_per_trial: Number = Field(
        0.0, ge=0, le=MAX_GPUS_PER_TRIAL, description="GPUs per trial; fractions share."
    )

    @field_validator("gpus_per_trial")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if 0 < value < MIN_GPU_FRACTION:
            raise ValueError(
                f"{value!r} GPUs per trial would let more trials share a GPU than one agent "
                f"runs: use at least {MIN_GPU_FRACTION} (or 0 for no GPUs)"
            )
        return value


class Failures(_Model):
    """Failure policy."""

    max_consecutive: Int | None = Field(
        5,
        ge=0,
        le=MAX_COUNT,
        description="Stop after N failures in a row at the start (0/null: never).",
    )


class ReportSettings(_Model):
    """Which output lines carry metrics (the client channel always does)."""

    format: Literal["json", "kv", "regex"] = Field(
        "json", description="json: JSON lines and name=value; kv: name=value; regex: pattern."
    )
    pattern: str | None = Field(None, description="regex with groups (?P<name>) (?P<value>).")
    streams: tuple[Literal["stdout", "stderr"], ...] = Field(
        ("stdout", "stderr"),
        description="Output streams read for metric lines (default both).",
    )

    @model_validator(mode="after")
    def _check(self) -> ReportSettings:
        if self.format == "regex" and self.pattern is None:
            raise ValueError(at_key("pattern", "`format: regex` needs a `pattern`"))
        if self.pattern is None:
            return self
        if self.format != "regex":
            raise ValueError(at_key("pattern", "`pattern` is used only with `format: regex`"))
        try:
            groups = re.compile(self.pattern).groupindex
        except re.error as exc:
            raise ValueError(at_key("pattern", f"not a valid regular expression: {exc}")) from None
        missing = [g for g in ("name", "value") if g not in groups]
        if missing:
            raise ValueError(
                at_key(
                    "pattern",
                    f"the pattern needs named groups {missing}, e.g. "
                    r"'(?P<name>\w+)=(?P<value>\S+)'",
                )
            )
        return self


class SmokeSettings(_Model):
    """`sweeprun smoke`: a short run over the search space."""

    args: list[str] = Field(default_factory=list, description="Extra arguments for each trial.")
    env: TextMap = Field(default_factory=dict, description="Extra environment variables.")
    timeout: TrialDuration | None = Field(None, gt=0, description="Per-trial timeout.")
    max_trials: Int | None = Field(None, gt=0, le=MAX_COUNT, description="Trials to run at most.")

    @field_validator("args")
    @classmethod
    def _args(cls, value: list[str]) -> list[str]:
        _refuse_bad_words(value)
        return value


class SweepConfig(_Model):
    """A whole sweep.yaml."""

    program: str | None = Field(None, description="Training script to run.")
    command: Annotated[list[str] | None, BeforeValidator(_words)] = Field(
        None, min_length=1, description="argv template with macros such as ${args}."
    )
    method: str = Field(description="Search method.", json_schema_extra={"enum": list(METHODS)})
    metric: MetricSpec | None = Field(None, description="The metric to optimize.")
    metrics: list[MetricSpec] | None = Field(
        None, min_length=2, description="Several metrics: multi-objective (Pareto front)."
    )
    parameters: dict[str, ParamSpec] = Field(description="The search space.")
    early_terminate: EarlyTerminate | None = Field(None, description="Early stopping.")
    run_cap: Int | None = Field(
        None, gt=0, le=MAX_COUNT, description="Run at most this many trials."
    )
    name: str | None = Field(None, description="Sweep name.")
    description: str | None = Field(None, description="Free text.")
    parallelism: Int | None = Field(None, ge=1, le=MAX_JOBS, description="Trials run at once.")
    seed: Int | None = Field(None, ge=0, le=MAX_SEED, description="Sampler seed.")
    storage: str | None = Field(None, description="Storage URL or journal file.")
    budget: Budget = Field(default_factory=Budget, description="Trial and time budget.")
    trial: TrialSettings = Field(default_factory=TrialSettings, description="Per-trial settings.")
    resources: Resources = Field(default_factory=Resources, description="Per-trial resources.")
    baseline: list[dict[str, Any]] = Field(
        default_factory=list, description="Parameter sets to run first (full or partial)."
    )
    failures: Failures = Field(default_factory=Failures, description="Failure policy.")
    report: ReportSettings = Field(default_factory=ReportSettings, description="Metric lines.")
    smoke: SmokeSettings = Field(default_factory=SmokeSettings, description="Smoke runs.")
    sampler: dict[str, Any] | None = Field(None, description="Options for the sampler.")
    tracking: Annotated[Tracking, BeforeValidator(lambda v: {} if v is None else v)] = Field(
        default_factory=Tracking, description="MLflow logging and W&B run grouping."
    )

    _notes: tuple[str, ...] = PrivateAttr(default=())

    def trial_cap(self, extra: int | None = None) -> int | None:
        """The trial cap: the smallest of ``run_cap``, ``budget.trials`` and ``extra`` (e.g.
        ``--max-trials``); None when none is set. The one place this rule lives."""
        caps = [c for c in (self.run_cap, self.budget.trials, extra) if c]
        return min(caps) if caps else None

    @property
    def notes(self) -> tuple[str, ...]:
        """One line per W&B-only key that was ignored."""
        return self._notes

    @model_validator(mode="wrap")
    @classmethod
    def _wandb_only(cls, data: Any, handler: ModelWrapValidatorHandler[SweepConfig]) -> Any:
        if not isinstance(data, Mapping):
            return handler(data)
        data = dict(data)
        notes = []
        for key in WANDB_ONLY_KEYS:
            if key in data:
                del data[key]
                notes.append(f"note: '{key}' is a W&B-only key; sweeprun ignores it")
        model = handler(data)
        model._notes = tuple(notes)
        return model

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        choices = ", ".join(METHODS)
        if not isinstance(value, str):
            raise ValueError(f"must be one of {choices}, got {value!r}")
        if value == "custom":
            raise ValueError(
                "method 'custom' (W&B's custom scheduler) is not supported: sweeprun "
                f"runs Optuna samplers directly; use one of {choices}"
            )
        if value not in METHODS:
            hint = did_you_mean(value, METHODS)
            raise ValueError(f"unknown method {value!r}: {hint + ' ' if hint else ''}"
                             f"use one of {choices}")  # fmt: skip
        return value

    @field_validator("program")
    @classmethod
    def _program(cls, value: str | None) -> str | None:
        if value is not None:
            problem = string_problem(value, "the program")
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | None) -> list[str] | None:
        _refuse_bad_words(value or [])
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value and (len(value) > 200 or any(ord(c) < 32 for c in value)):
            raise ValueError(
                f"invalid sweep name {preview(value)}: use 1-200 printable characters "
                "(letters, digits, '-', '_', '.' recommended)"
            )
        return value

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameter_names(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            if not value:
                raise ValueError(
                    "`parameters` is empty: add at least one, e.g. `lr: {min: 0.0001, max: 0.1}`"
                )
            bad = [
                at_key(str(n), f"parameter name {n!r} is not valid: start with a letter or '_' "
                               "and use only letters, digits, '_', '.' and '-'")
                for n in value
                if not isinstance(n, str) or not NAME_PATTERN.match(n)
            ]  # fmt: skip
            if bad:
                raise ValueError("\n".join(bad))
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> SweepConfig:
        problems = list(_cross_problems(self))
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _refuse_bad_words(words: list[str]) -> None:
    """Refuse the argv words (``command:``, ``smoke.args``) no program can be started with,
    each at its index."""
    problems = []
    for i, word in enumerate(words):
        problem = string_problem(word, f"the argument {preview(word)}")
        if problem:
            problems.append(at_key([i], problem))
    if problems:
        raise ValueError("\n".join(problems))
