"""sweeprun.config.models: models, cross-field rules, durations and error breadcrumbs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sweeprun.config.load import load_config, parse_config
from sweeprun.config.models import EarlyTerminate, SweepConfig
from sweeprun.config.parameters import DISTRIBUTIONS, GRID_DISTRIBUTIONS, as_number
from sweeprun.config.types import (
    EARLY_TERMINATE_OPTIONS,
    METHODS,
    METRIC_METHODS,
    WANDB_ONLY_KEYS,
    parse_duration,
)
from sweeprun.errors import ConfigError, ConfigProblem

BASE: dict[str, Any] = {"method": "random", "parameters": {"x": {"values": [1, 2]}}}
EXAMPLE_PARAM: dict[str, dict[str, Any]] = {
    "constant": {"value": 1},
    "categorical": {"values": [1, 2]},
    "categorical_w_probabilities": {"values": [1, 2], "probabilities": [0.5, 0.5]},
    "int_uniform": {"min": 1, "max": 3},
    "uniform": {"min": 0.0, "max": 1.0},
    "q_uniform": {"min": 0, "max": 1, "q": 0.5},
    "log_uniform": {"min": -3, "max": 0},
    "log_uniform_values": {"min": 0.001, "max": 1},
    "q_log_uniform": {"min": 0, "max": 3},
    "q_log_uniform_values": {"min": 1, "max": 64, "q": 2},
    "inv_log_uniform": {"min": 0, "max": 3},
    "inv_log_uniform_values": {"min": 0.5, "max": 2},
    "normal": {},
    "q_normal": {"mu": 1, "sigma": 2, "q": 0.5},
    "log_normal": {"sigma": 0.5},
    "q_log_normal": {},
    "beta": {"a": 2, "b": 3},
    "q_beta": {"q": 0.1},
}


def config(**extra: Any) -> dict[str, Any]:
    return {**BASE, **extra}


def problems(data: Any) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="s.yaml")
    assert info.value.file == "s.yaml"
    return info.value.problems


def only(data: Any) -> tuple[str, str]:
    found = problems(data)
    assert len(found) == 1, found
    return found[0].path, found[0].message


# ---- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), (1.5, 1.5), ("90", 90.0), ("30s", 30.0), ("5m", 300.0), ("4h", 14400.0),
     ("1h30m", 5400.0), ("2d", 172800.0), (" 1h 30m 5s ", 5405.0), ("0.5h", 1800.0),
     ("1D2H", 93600.0), ("1e3", 1000.0), (0, 0.0)],
)  # fmt: skip
def test_parse_duration(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [("4 hours", "invalid duration '4 hours': write seconds (90) or numbers with units"),
     ("5x", "units s, m, h, d"), ("", "invalid duration ''"), ("30m1h", "largest first"),
     ("1h1h", "largest first"), (-1, "must be a finite number of seconds >= 0"),
     ("-5m", "invalid duration"), (float("inf"), "finite"), (True, "must be a number or text"),
     (None, "must be a number or text")],
)  # fmt: skip
def test_parse_duration_errors(text: Any, message: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        parse_duration(text)
    assert message in str(info.value)


@given(
    st.integers(0, 30), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
    st.lists(st.sampled_from(["", " "]), min_size=4, max_size=4),
)  # fmt: skip
def test_parse_duration_round_trips_units(d: int, h: int, m: int, s: int, gaps: list[str]) -> None:
    parts = [
        f"{n}{gap}{unit}" for n, unit, gap in zip((d, h, m, s), "dhms", gaps, strict=True) if n
    ]
    text = "".join(parts) or "0s"
    assert parse_duration(text) == d * 86400 + h * 3600 + m * 60 + s
    assert parse_duration(text.upper()) == parse_duration(text)


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_parse_duration_of_numbers_and_their_text(x: float) -> None:
    assert parse_duration(x) == x
    assert parse_duration(repr(x)) == x
    assert parse_duration(f"{x}s") == pytest.approx(x)


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_as_number_reads_number_text(x: float) -> None:
    assert as_number(repr(x)) == x
    assert as_number(x) == x


# ---- the models --------------------------------------------------------------------------


def test_minimal_config_and_defaults() -> None:
    cfg = parse_config(BASE)
    assert cfg.method == "random" and cfg.metric is None and cfg.notes == ()
    assert cfg.budget.trials is None and cfg.trial.retries == 0 and cfg.trial.kill_grace == 10.0
    assert cfg.failures.max_consecutive == 5 and cfg.report.format == "json"
    assert cfg.resources.gpus_per_trial == 0 and cfg.baseline == [] and cfg.smoke.args == []
    with pytest.raises(ValidationError):
        cfg.method = "grid"  # type: ignore[misc]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_accepted_with_a_metric(method: str) -> None:
    cfg = parse_config(config(method=method, metric={"name": "loss"}))
    assert cfg.method == method


@pytest.mark.parametrize("method", METHODS)
def test_which_methods_need_a_metric(method: str) -> None:
    if method in METRIC_METHODS:
        path, message = only(config(method=method))
        assert path == "method"
        assert f"method '{method}' needs a `metric: {{name: ..., goal: minimize}}`" in message
    else:
        parse_config(config(method=method))


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_every_distribution_and_grid_rule(dist: str) -> None:
    params = {"p": {"distribution": dist, **EXAMPLE_PARAM[dist]}}
    assert parse_config(config(parameters=params)).parameters["p"].dist == dist
    grid = config(method="grid", parameters={"n": {"parameters": params}})
    if dist in GRID_DISTRIBUTIONS:
        parse_config(grid)
        return
    path, message = only(grid)
    if dist == "categorical_w_probabilities":
        assert path == "parameters.n.parameters.p.probabilities"
    else:
        assert path == "parameters.n.parameters.p"
        assert message.startswith("grid needs discrete values: use `values:` or `q_uniform`")


def test_wandb_only_keys_give_notes_and_are_not_dumped() -> None:
    # with a program: W&B Launch keys without one are a Launch sweep (test_launch_configs)
    data = config(program="train.py", **{k: "x" for k in WANDB_ONLY_KEYS})
    cfg = parse_config(data)
    assert cfg.notes == tuple(
        f"note: '{k}' is a W&B-only key; sweeprun ignores it" for k in WANDB_ONLY_KEYS
    )
    dumped = cfg.model_dump()
    assert "notes" not in dumped and not set(WANDB_ONLY_KEYS) & set(dumped)
    assert "unknown key 'notes'" in only(config(notes=["x"]))[1]


def test_scalar_coercions() -> None:
    cfg = parse_config(
        config(
            command=["${env}", "python", 3, 1.5],
            trial={"env": {"OMP_NUM_THREADS": 1, "RATE": 0.5}, "timeout": "15m"},
            budget={"time": "1h30m", "trials": "10"},
            metric={"name": "l", "target": "1e-3", "impute_while_running": False},
        )
    )
    assert cfg.command == ["${env}", "python", "3", "1.5"]
    assert cfg.trial.env == {"OMP_NUM_THREADS": "1", "RATE": "0.5"}
    assert (cfg.trial.timeout, cfg.budget.time, cfg.budget.trials) == (900.0, 5400.0, 10)
    assert cfg.metric is not None and cfg.metric.target == 1e-3
    assert cfg.metric.impute_while_running == "false"


def test_strings_from_plain_pyyaml_are_numbers() -> None:
    # data read by yaml.safe_load (e.g. stored by other tools) keeps "1e-5" as text
    cfg = parse_config(config(parameters={"lr": {"min": "1e-5", "max": "1e-1"}}))
    assert cfg.parameters["lr"].dist == "uniform" and cfg.parameters["lr"].min == 1e-5


# ---- early_terminate ---------------------------------------------------------------------


def test_options_are_what_the_user_set() -> None:
    def et(**kw: Any) -> EarlyTerminate:
        cfg = parse_config(config(metric={"name": "l"}, early_terminate=kw))
        assert cfg.early_terminate is not None
        return cfg.early_terminate

    assert et(type="hyperband", min_iter=3).options() == {"min_iter": 3, "eta": 3.0, "strict": True}
    assert et(type="hyperband", max_iter=27, s=2, eta=2, strict=False).options() == {
        "max_iter": 27, "s": 2, "eta": 2.0, "strict": False}  # fmt: skip
    assert et(type="median").options() == {}
    patient = et(type="median", n_warmup_steps=2, patience=3, min_delta=0.1)
    assert patient.options() == {"n_warmup_steps": 2, "patience": 3, "min_delta": 0.1}
    assert (patient.patience, patient.min_delta) == (3, 0.1)
    assert et(type="asha", min_resource="auto").options() == {"min_resource": "auto"}
    assert et(type="threshold", lower=0.5).options() == {"lower": 0.5}


@pytest.mark.parametrize("kind", sorted(EARLY_TERMINATE_OPTIONS))
def test_options_of_another_type_are_refused(kind: str) -> None:
    foreign = next(
        o for t, opts in EARLY_TERMINATE_OPTIONS.items() for o in opts
        if o not in EARLY_TERMINATE_OPTIONS[kind]
    )  # fmt: skip
    path, message = only(config(metric={"name": "l"}, early_terminate={"type": kind, foreign: 1}))
    assert path == f"early_terminate.{foreign}"
    assert f"'{foreign}' is not an option of type '{kind}' (it is an option of " in message


@pytest.mark.parametrize(
    ("options", "where", "text"),
    [({"type": "percentile"}, "early_terminate.percentile", "needs `percentile`"),
     ({"type": "threshold"}, "early_terminate", "needs `lower`, `upper` or both"),
     ({"type": "threshold", "lower": 2, "upper": 1}, "early_terminate.lower", "greater than"),
     ({"type": "asha", "bootstrap_count": 2}, "early_terminate.bootstrap_count", "min_resource"),
     ({"type": "optuna_hyperband", "bootstrap_count": 1}, "early_terminate.bootstrap_count",
      "integer `max_resource`"),
     ({"type": "optuna_hyperband", "min_resource": 9, "max_resource": 3},
      "early_terminate.min_resource", "must not exceed max_resource"),
     ({"type": "median", "min_delta": 0.1}, "early_terminate.min_delta", "needs `patience`"),
     ({"type": "wilcoxon", "p_threshold": 2}, "early_terminate.p_threshold", "less than or equal"),
     ({"type": "median", "patience": -1}, "early_terminate.patience", "greater than or equal"),
     ({"type": "asha", "min_resource": 0}, "early_terminate.min_resource", ">= 1 or 'auto'"),
     ({"n_startup_trials": 1}, "early_terminate.type", "missing required key 'type'")],
)  # fmt: skip
def test_early_terminate_rules(options: dict[str, Any], where: str, text: str) -> None:
    path, message = only(config(metric={"name": "l"}, early_terminate=options))
    assert path == where
    assert text in message


# ---- cross-field rules and baseline ------------------------------------------------------


def test_metrics_rules() -> None:
    two = [{"name": "a"}, {"name": "b", "goal": "maximize"}]
    assert parse_config(config(method="nsga2", metrics=two)).metrics is not None
    assert only(config(method="qmc", metrics=two)) == (
        "metrics",
        "method 'qmc' cannot optimize several metrics: use one of auto, bayes, grid, nsga2, "
        "random, tpe, or a single `metric`",
    )
    path, message = only(config(metric={"name": "a"}, metrics=two))
    assert (path, message) == ("metrics", "give either `metric` or `metrics`, not both")


def test_baseline_checks() -> None:
    params = {
        "lr": {"min": 0.001, "max": 0.1},
        "n": {"min": 1, "max": 4},
        "opt": {"parameters": {"name": {"values": ["adam", "sgd"]}, "c": {"value": 3}}},
    }
    ok = config(parameters=params, baseline=[{"lr": 0.01, "opt": {"name": "sgd", "c": 3}}, {}])
    assert parse_config(ok).baseline[0]["opt"] == {"name": "sgd", "c": 3}
    bad = config(
        parameters=params,
        baseline=[{"lrr": 0.01, "n": 2.5, "opt": {"name": "rmsprop", "c": 4}}, {"opt": 1}],
    )
    found = {p.path: p.message for p in problems(bad)}
    assert found == {
        "baseline[0].lrr": (
            "unknown parameter 'lrr': did you mean 'lr'? (parameters here: lr, n, opt)"
        ),
        "baseline[0].n": "must be an integer, got 2.5",
        "baseline[0].opt.name": "'rmsprop' is not one of the parameter's values ['adam', 'sgd']",
        "baseline[0].opt.c": "the parameter is constant 3",
        "baseline[1].opt": "'opt' is a nested block: give a mapping of its parameters",
    }


# ---- error reporting ---------------------------------------------------------------------


def test_all_problems_of_a_file_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "method: random\n"  # 1
        "metric:\n"  # 2
        "  name: loss\n"  # 3
        "  goal: maximise\n"  # 4
        "parameters:\n"  # 5
        "  lr: {min: 1e-3, max: 1e-4}\n"  # 6
        "  bs: {vales: [1, 2]}\n"  # 7
        "run_cap: -1\n"  # 8
        "projct: x\n"  # 9
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    got = [(p.path, p.line) for p in info.value.problems]
    assert got == [("metric.goal", 4), ("parameters.lr.min", 6), ("parameters.bs.vales", 7),
                   ("run_cap", 8), ("projct", 9)]  # fmt: skip
    text = str(info.value)
    assert text.startswith(f"{path}: invalid sweep configuration (5 problems)\n")
    assert "at metric.goal (line 4): 'maximise' is not allowed: did you mean 'maximize'?" in text
    assert "fix: use 'minimize' or 'maximize'" in text
    assert "at parameters.bs.vales (line 7): unknown key 'vales': did you mean 'values'?" in text
    assert "at run_cap (line 8): must be greater than 0, got -1" in text
    assert "at projct (line 9): unknown key 'projct': did you mean 'project'?" in text
    assert "Value error" not in text


def test_unknown_param_key_lists_the_keys_of_its_distribution() -> None:
    found = problems(config(parameters={"x": {"distribution": "normal", "sigmaa": 1}}))
    assert found[0].path == "parameters.x.sigmaa"
    assert found[0].message == "unknown key 'sigmaa': did you mean 'sigma'?"
    assert found[0].fix == "allowed keys here: distribution, mu, sigma"


def test_literal_error_lists_choices() -> None:
    found = problems(config(report={"format": "csv"}))
    assert (found[0].path, found[0].message) == ("report.format", "'csv' is not allowed")
    assert found[0].fix == "use 'json', 'kv' or 'regex'"


@pytest.mark.parametrize(
    ("report", "text"),
    [({"format": "regex"}, "`format: regex` needs a `pattern`"),
     ({"pattern": "(?P<name>a)(?P<value>b)"}, "used only with `format: regex`"),
     ({"format": "regex", "pattern": "(?P<value>x)"}, "needs named groups ['name']")],
)  # fmt: skip
def test_report_pattern_rules(report: dict[str, str], text: str) -> None:
    path, message = only(config(report=report))
    assert path == "report.pattern" and text in message


def test_parse_config_refuses_non_mappings() -> None:
    assert problems(["method", "grid"])[0].message == "the configuration must be a mapping"


def test_model_validate_applies_the_same_rules() -> None:
    with pytest.raises(ValidationError):
        SweepConfig.model_validate(config(method="bayes"))


_VOCAB = ["method", "parameters", "metric", "metrics", "early_terminate", "budget", "trial",
          "baseline", "name", "goal", "type", "min", "max", "values", "value", "distribution",
          "probabilities", "q", "mu", "sigma", "report", "format", "pattern", "time", "env",
          "x", "y", "patience", "min_iter", "project", "command", "parallelism"]  # fmt: skip
_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(), st.sampled_from(
        ["grid", "bayes", "uniform", "normal", "minimize", "1e-5", "5m", "median", "", "(?P<"]
    ),
)  # fmt: skip
_DATA = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_VOCAB), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(_VOCAB), _DATA, max_size=6))
def test_only_config_errors_escape(data: dict[str, Any]) -> None:
    try:
        cfg = parse_config(data)
    except ConfigError as err:
        assert err.problems
        assert all(isinstance(p.message, str) and p.message for p in err.problems)
        assert "Traceback" not in str(err) and "Value error," not in str(err)
    else:
        assert parse_config(cfg.model_dump()).model_dump() == cfg.model_dump()


def test_internal_errors_become_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import sweeprun.config.load as load_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(load_module, "explain", broken)
    found = problems(config(method="nope"))
    assert found[0].message == "could not validate the file (RuntimeError: boom)"
    assert found[0].fix == "this is a sweeprun bug: please report it with the file"


_OPTUNA_PRUNERS = {
    "median": "MedianPruner", "percentile": "PercentilePruner", "asha": "SuccessiveHalvingPruner",
    "successive_halving": "SuccessiveHalvingPruner", "threshold": "ThresholdPruner",
    "wilcoxon": "WilcoxonPruner", "optuna_hyperband": "HyperbandPruner",
}  # fmt: skip


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize(
    "path",
    [p for p in sorted((Path(__file__).parent.parent / "corpus" / "valid").glob("*.yaml"))
     if "early_terminate" in p.read_text()],
    ids=lambda p: p.name,
)  # fmt: skip
def test_options_are_accepted_by_the_optuna_pruner(path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    et = load_config(path).early_terminate
    assert et is not None
    if et.type == "hyperband":
        assert {"eta", "strict"} <= set(et.options())
        return
    options = et.options()
    patience, min_delta = options.pop("patience", None), options.pop("min_delta", 0.0)
    pruner = getattr(optuna.pruners, _OPTUNA_PRUNERS[et.type])(**options)
    if patience is not None:
        optuna.pruners.PatientPruner(pruner, patience=patience, min_delta=min_delta)


def test_every_option_name_is_an_optuna_parameter() -> None:
    import inspect

    optuna = pytest.importorskip("optuna")
    for kind, cls_name in _OPTUNA_PRUNERS.items():
        accepted = set(inspect.signature(getattr(optuna.pruners, cls_name)).parameters)
        assert set(EARLY_TERMINATE_OPTIONS[kind]) <= accepted, kind
    patient = set(inspect.signature(optuna.pruners.PatientPruner).parameters)
    assert {"patience", "min_delta"} <= patient


def test_unhashable_type_and_distribution_next_to_unknown_keys_are_plain_config_errors() -> None:
    """Found by the config fuzzer: a list where a name is expected, beside an unknown key."""
    from sweeprun.config.load import parse_config
    from sweeprun.errors import ConfigError

    docs = [
        {
            "method": "grid",
            "parameters": {"A": {"values": [0]}},
            "metric": {"name": "A"},
            "early_terminate": {"type": [], "": None},
        },
        {"method": "grid", "parameters": {"A": {"distribution": [], "x": 1}}},
    ]
    for doc in docs:
        with pytest.raises(ConfigError) as info:
            parse_config(doc)
        assert "sweeprun bug" not in str(info.value)
        assert "unknown key" in str(info.value)


def test_number_beyond_float_range_is_a_config_error() -> None:
    # fuzzer find: an int too large for a float raised OverflowError inside validation
    found = problems(config(parameters={"a": {"min": 10**400, "max": 0.0}}))
    assert [(p.path, p.message) for p in found] == [
        ("parameters.a.min", "is too large: must be within ±1.8e308")
    ]
    found = problems(config(parameters={"a": {"min": 0.0, "max": float("inf")}}))
    assert [(p.path, p.message) for p in found] == [("parameters.a.max", "must be finite, got inf")]
