"""Hyperparameter-search anti-patterns in a valid sweep config (pure; no optuna import).

:func:`lint_config` returns one :class:`LintWarning` per finding, each with a rule id, the key
path it is about, a message and a one-line why. The rules (:data:`RULES`) are documented in
docs/lint.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sweeprun.errors import ConfigProblem
from sweeprun.space.grid import FLAT_SEP, flat_space_size, flatten, grid_count

if TYPE_CHECKING:
    from sweeprun.config.models import SweepConfig
    from sweeprun.config.parameters import ParamSpec

#: rule id → what it flags (docs/lint.md has the long form)
RULES: dict[str, str] = {
    "grid-size": "grid search over many parameters or combinations",
    "linear-scale": "a learning-rate-like parameter on a linear scale spanning > 10x",
    "no-early-stopping": "a budget of >= 50 trials without early_terminate",
    "no-baseline": "no baseline configuration",
    "test-set": "a metric or parameter that looks like a test-set quantity",
    "use-bayes": "random or grid search with a large budget of possibly expensive trials",
    "tiny-budget": "a model-based method with fewer than 20 trials",
    "no-budget": "no run_cap, budget.trials or budget.time (and not a grid)",
    "nested-args": "a nested parameters block passed through ${args} or a Hydra macro",
}

GRID_MAX_VARYING = 4
GRID_MAX_COMBINATIONS = 1000
EARLY_STOP_BUDGET = 50
LARGE_BUDGET = 100
EXPENSIVE_SECONDS = 600.0
TINY_BUDGET = 20
MODEL_METHODS = ("bayes", "tpe", "gp", "auto")
LINEAR = ("uniform", "int_uniform", "q_uniform")
#: parameter names (matched as the end of the flat name) that belong on a log scale
LOG_SCALE_NAMES = (
    "lr", "learning_rate", "learningrate", "eta", "weight_decay", "wd", "eps", "epsilon",
    "alpha", "lambda", "l1", "l2", "reg", "decay",
)  # fmt: skip
_LOG_NAME = re.compile(
    r"(?:^|[_.\-/])(?:" + "|".join(re.escape(n) for n in LOG_SCALE_NAMES) + r")$", re.IGNORECASE
)
#: the command macros that write each top-level value with ``str()``, with what precedes the
#: name: a nested block becomes one argument ``key={'a': 1}`` (run/argv.py)
STR_MACROS = {
    "${args}": "--",
    "${args_no_hyphens}": "",
    "${args_no_boolean_flags}": "--",
    "${args_no_equals}": "--",
    "${args_append_hydra}": "+",
    "${args_override_hydra}": "++",
}
_TEST_NAME = re.compile(r"(?:^test(?:$|[_.\-/])|[_.\-/]test$)", re.IGNORECASE)


@dataclass(frozen=True)
class LintWarning:
    rule: str  # one of RULES
    path: str  # key path, e.g. parameters.optimizer.parameters.lr
    message: str  # what was found
    why: str  # one line: why it matters and what to do

    def render(self) -> str:
        """Two lines: ``warning: <path>: <message> [<rule>]`` and ``    why: <why>``."""
        return f"warning: {self.path}: {self.message} [{self.rule}]\n    why: {self.why}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class LenientWarning(LintWarning):
    """Where W&B is lenient and sweeprun follows it (an unknown macro, an unset
    ``${envvar:...}``, a duplicate key): what was found and, as ``why``, the fix. An error
    with ``--strict`` (:meth:`problem`)."""

    line: int | None = None

    def render(self) -> str:
        """``warning: <path>: <message> [<rule>]`` and ``    fix: <fix>``."""
        return f"warning: {self.path}: {self.message} [{self.rule}]\n    fix: {self.why}"

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "path": self.path, "message": self.message, "why": self.why}

    def problem(self) -> ConfigProblem:
        """The same finding as an error (``--strict``)."""
        return ConfigProblem(
            self.path, f"{self.message} [{self.rule}; an error with --strict]", self.line, self.why
        )


def param_path(flat_name: str) -> str:
    """``optimizer/lr`` → ``parameters.optimizer.parameters.lr``."""
    return ".".join(f"parameters.{part}" for part in flat_name.split(FLAT_SEP))


def trial_budget(cfg: SweepConfig) -> int | None:
    """The number of trials the sweep will run at most, if known."""
    size = flat_space_size(flatten(cfg.parameters)) if cfg.method == "grid" else None
    return cfg.trial_cap(size)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _grid_size(cfg: SweepConfig, specs: dict[str, ParamSpec]) -> Iterator[LintWarning]:
    if cfg.method != "grid":
        return
    counts = {name: grid_count(spec) for name, spec in specs.items()}
    varying = [n for n, c in counts.items() if c is not None and c > 1]
    size = flat_space_size(specs)
    if size is None or (len(varying) <= GRID_MAX_VARYING and size <= GRID_MAX_COMBINATIONS):
        return
    yield LintWarning(
        "grid-size",
        "parameters",
        f"grid over {len(varying)} varying parameters: {size:,} combinations",
        "grid cost multiplies with every parameter added; random or bayes search covers as "
        "many dimensions in a fixed budget (set `method: random` or `bayes` and a run_cap)",
    )


def _linear_scale(cfg: SweepConfig, specs: dict[str, ParamSpec]) -> Iterator[LintWarning]:
    for name, spec in specs.items():
        leaf = name.split(FLAT_SEP)[-1]
        if spec.dist not in LINEAR or not _LOG_NAME.search(leaf):
            continue
        lo, hi = spec.min, spec.max
        if lo is None or hi is None or lo <= 0 or hi / lo <= 10:
            continue
        top = (hi - hi / 10) / (hi - lo)
        yield LintWarning(
            "linear-scale",
            param_path(name),
            f"'{leaf}' is {spec.dist} over [{_fmt(lo)}, {_fmt(hi)}], {hi / lo:.0f}x on a "
            f"linear scale: {top:.0%} of trials fall above {_fmt(hi / 10)}",
            "learning rates and regularisation strengths act by order of magnitude; use "
            "`distribution: log_uniform_values` (or q_log_uniform_values) so each decade gets "
            "an equal share",
        )


def _no_early_stopping(cfg: SweepConfig, budget: int | None) -> Iterator[LintWarning]:
    if budget is None or budget < EARLY_STOP_BUDGET or cfg.early_terminate is not None:
        return
    if cfg.metric is None:  # nothing to prune on (and multi-objective cannot be pruned)
        return
    yield LintWarning(
        "no-early-stopping",
        "early_terminate",
        f"{budget} trials and no early_terminate",
        "if trials report per-epoch metrics, stopping bad ones early saves most of the budget: "
        "add e.g. `early_terminate: {type: hyperband, min_iter: 3}`",
    )


def _no_baseline(cfg: SweepConfig) -> Iterator[LintWarning]:
    if cfg.baseline:
        return
    yield LintWarning(
        "no-baseline",
        "baseline",
        "no baseline configuration",
        "a known-good configuration run first gives the sweep a reference value and catches "
        "a broken program before the budget is spent: add `baseline: [{lr: 0.001, ...}]`",
    )


def _test_set(cfg: SweepConfig, specs: dict[str, ParamSpec]) -> Iterator[LintWarning]:
    why = (
        "tuning on a test-set metric leaks the test set into the model choice, so the final "
        "score is optimistic: optimize a validation metric and keep the test set for the end"
    )
    if cfg.metric is not None and _TEST_NAME.search(cfg.metric.name):
        yield LintWarning(
            "test-set", "metric.name", f"metric '{cfg.metric.name}' looks like a test-set metric",
            why,
        )  # fmt: skip
    for i, m in enumerate(cfg.metrics or []):
        if _TEST_NAME.search(m.name):
            yield LintWarning(
                "test-set", f"metrics[{i}].name", f"metric '{m.name}' looks like a test-set metric",
                why,
            )  # fmt: skip
    for name in specs:
        leaf = name.split(FLAT_SEP)[-1]
        if _TEST_NAME.search(leaf):
            yield LintWarning(
                "test-set",
                param_path(name),
                f"parameter '{leaf}' looks like a test-set setting",
                "choosing test-set settings by a tuned score leaks the test set into the model "
                "choice: fix the test split outside the sweep",
            )


def _use_bayes(cfg: SweepConfig, budget: int | None) -> Iterator[LintWarning]:
    if cfg.method not in ("random", "grid") or budget is None or budget < LARGE_BUDGET:
        return
    timeout = cfg.trial.timeout
    if timeout is not None and timeout < EXPENSIVE_SECONDS:
        return
    cost = (
        f"that may each run up to {_fmt(timeout / 60)} min"
        if timeout is not None
        else "(if trials are expensive)"
    )
    metric = "" if (cfg.metric or cfg.metrics) else " (it needs a `metric:`)"
    yield LintWarning(
        "use-bayes",
        "method",
        f"{cfg.method} search over {budget} trials {cost}",
        "a model-based search learns from finished trials and usually reaches a good "
        f"configuration in far fewer of them: use `method: bayes`{metric}",
    )


def _tiny_budget(cfg: SweepConfig, budget: int | None) -> Iterator[LintWarning]:
    if cfg.method not in MODEL_METHODS or budget is None or budget >= TINY_BUDGET:
        return
    yield LintWarning(
        "tiny-budget",
        "method",
        f"method {cfg.method} with a budget of {budget} trials",
        "model-based samplers spend their first ~10 trials sampling at random and need many "
        "more to beat it; below 20 trials use `method: random` (or raise the budget)",
    )


def _no_budget(cfg: SweepConfig) -> Iterator[LintWarning]:
    if cfg.method == "grid" or cfg.run_cap or cfg.budget.trials or cfg.budget.time:
        return
    yield LintWarning(
        "no-budget",
        "run_cap",
        "no run_cap, budget.trials or budget.time: the sweep runs until it is stopped",
        "a random or model-based sweep never ends by itself; set `run_cap: 50` or "
        "`budget: {time: 4h}` so it stops and reports",
    )


def nested_args(cfg: SweepConfig) -> list[LintWarning]:
    """A warning per nested ``parameters:`` block that the ``command:`` passes with a
    ``str()`` macro (also shown by ``validate``): the program gets ``opt={'lr': 0.1}``.

    A sweep without ``command:`` is not warned about: its default ``${args}`` is W&B's own
    command, and W&B programs with nested blocks read them from ``wandb.config``."""
    template = [str(t) for t in cfg.command or ()]
    macro = next((m for m in template if m in STR_MACROS), None)
    if macro is None:
        return []
    out = []
    for name, spec in cfg.parameters.items():
        if spec.parameters is None:
            continue
        leaves = [f"{name}.{leaf.replace(FLAT_SEP, '.')}" for leaf in flatten(spec.parameters)]
        shown = ", ".join(f"'{k}': ..." for k in spec.parameters)
        sep = " " if macro == "${args_no_equals}" else "="
        more = ", ..." if len(leaves) > 3 else ""
        dotted = ", ".join(f"`{leaf}`" for leaf in leaves[:3]) + more
        syntax = "" if STR_MACROS[macro] == "--" else " (Hydra's override syntax)"
        out.append(
            LintWarning(
                "nested-args",
                f"parameters.{name}",
                f"the nested block '{name}' reaches the program through {macro} as one "
                f"argument {STR_MACROS[macro]}{name}{sep}{{{shown}}}",
                "Hydra and argparse reject a dict-valued argument: name the block's leaves as "
                f"top-level parameters with dotted names ({dotted}), which {macro} passes as "
                f"`{STR_MACROS[macro]}{leaves[0]}{sep}...`{syntax}; or pass "
                "the nested values with ${args_json} or ${args_json_file}",
            )
        )
    return out


def lint_config(cfg: SweepConfig) -> list[LintWarning]:
    """Every warning for ``cfg``, in the order of :data:`RULES`."""
    specs = flatten(cfg.parameters)
    budget = trial_budget(cfg)
    checks: list[Callable[[], Iterator[LintWarning]]] = [
        lambda: _grid_size(cfg, specs),
        lambda: _linear_scale(cfg, specs),
        lambda: _no_early_stopping(cfg, budget),
        lambda: _no_baseline(cfg),
        lambda: _test_set(cfg, specs),
        lambda: _use_bayes(cfg, budget),
        lambda: _tiny_budget(cfg, budget),
        lambda: _no_budget(cfg),
        lambda: iter(nested_args(cfg)),
    ]
    return [w for check in checks for w in check()]


def warnings_json(warnings: list[LintWarning]) -> list[dict[str, Any]]:
    return [w.as_dict() for w in warnings]
