"""``sweeprun lint``: each rule fires on its anti-pattern and stays quiet otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sweeprun.config.lint import RULES, LintWarning, lint_config
from sweeprun.config.load import parse_config
from tests.helpers.cli import run_cli

#: a config that triggers no rule; each test changes one thing
CLEAN: dict[str, Any] = {
    "program": "train.py",
    "method": "bayes",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "run_cap": 30,
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "batch_size": {"values": [32, 64]},
    },
    "baseline": [{"lr": 1e-3, "batch_size": 32}],
}


def cfg(**changes: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(CLEAN))
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def lint(data: dict[str, Any]) -> list[LintWarning]:
    return lint_config(parse_config(data))


def rules(data: dict[str, Any]) -> list[str]:
    return [w.rule for w in lint(data)]


def only(data: dict[str, Any], rule: str) -> LintWarning:
    found = lint(data)
    assert [w.rule for w in found] == [rule], found
    return found[0]


def test_clean_config_has_no_warnings() -> None:
    assert lint(CLEAN) == []


# ---- grid-size --------------------------------------------------------------------------------

GRID5 = {f"p{i}": {"values": [1, 2]} for i in range(5)}


def test_grid_over_many_parameters_warns_with_the_count() -> None:
    w = only(cfg(method="grid", run_cap=None, parameters=GRID5, baseline=None,
                 metric=None) | {"baseline": [{"p0": 1}]}, "grid-size")  # fmt: skip
    assert w.path == "parameters"
    assert w.message == "grid over 5 varying parameters: 32 combinations"
    many = {"a": {"values": list(range(40))}, "b": {"values": list(range(30))}}
    w = only(cfg(method="grid", run_cap=5, parameters=many, baseline=[{"a": 1}]), "grid-size")
    assert w.message == "grid over 2 varying parameters: 1,200 combinations"


def test_small_grid_is_fine() -> None:
    params = {f"p{i}": {"values": [1, 2]} for i in range(4)} | {"c": {"value": 3}}
    assert rules(cfg(method="grid", run_cap=None, parameters=params, baseline=[{"p0": 1}])) == []


# ---- linear-scale -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("lr", {"min": 1e-5, "max": 1e-1}),
        ("learning_rate", {"distribution": "uniform", "min": 0.001, "max": 0.1}),
        ("weight_decay", {"distribution": "q_uniform", "min": 0.0001, "max": 0.01, "q": 0.0001}),
        ("head_lr", {"min": 1e-4, "max": 1e-2}),
        ("eps", {"min": 1e-8, "max": 1e-6}),
    ],
)
def test_learning_rate_on_a_linear_scale_warns(name: str, spec: dict[str, Any]) -> None:
    data = cfg(parameters={name: spec}, baseline=[{name: spec["max"]}])
    w = only(data, "linear-scale")
    assert w.path == f"parameters.{name}"
    assert "linear scale" in w.message and "log_uniform_values" in w.why


def test_linear_scale_message_gives_the_share_in_the_top_decade() -> None:
    w = only(cfg(parameters={"lr": {"min": 1e-5, "max": 1e-1}}, baseline=[{"lr": 0.01}]),
             "linear-scale")  # fmt: skip
    assert w.message == (
        "'lr' is uniform over [1e-05, 0.1], 10000x on a linear scale: 90% of trials fall above 0.01"
    )


def test_nested_learning_rate_path() -> None:
    data = cfg(
        parameters={"opt": {"parameters": {"lr": {"min": 1e-4, "max": 1e-1}}}},
        baseline=[{"opt": {"lr": 0.01}}],
        command=["python", "train.py", "${args_json}"],  # nested values as JSON
    )
    assert only(data, "linear-scale").path == "parameters.opt.parameters.lr"


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("lr", {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1}),
        ("lr", {"min": 0.01, "max": 0.1}),  # one decade: linear is fine
        ("lr", {"min": 0.0, "max": 0.1}),  # includes 0: cannot be log
        ("dropout", {"min": 0.01, "max": 0.5}),  # not learning-rate-like
        ("clr_cycles", {"min": 1, "max": 100}),  # "lr" only as a whole word at the end
        ("lr", {"values": [1e-5, 1e-3, 1e-1]}),
    ],
)
def test_log_scale_or_other_names_do_not_warn(name: str, spec: dict[str, Any]) -> None:
    first = spec.get("min", (spec.get("values") or [None])[0])
    assert rules(cfg(parameters={name: spec}, baseline=[{name: first}])) == []


# ---- no-early-stopping ------------------------------------------------------------------------


def test_large_budget_without_early_stopping_warns() -> None:
    w = only(cfg(run_cap=80), "no-early-stopping")
    assert w.path == "early_terminate" and w.message == "80 trials and no early_terminate"
    assert "if trials report per-epoch metrics" in w.why
    assert rules(cfg(run_cap=None, budget={"trials": 50})) == ["no-early-stopping"]


def test_early_stopping_or_small_budget_is_fine() -> None:
    assert rules(cfg(run_cap=80, early_terminate={"type": "hyperband", "min_iter": 3})) == []
    assert rules(cfg(run_cap=49)) == []


# ---- no-baseline ------------------------------------------------------------------------------


def test_missing_baseline_warns() -> None:
    w = only(cfg(baseline=None), "no-baseline")
    assert w.path == "baseline"


def test_baseline_present_is_fine() -> None:
    assert "no-baseline" not in rules(CLEAN)


# ---- test-set ---------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["test_acc", "accuracy_test", "test/loss", "TEST_F1", "test"])
def test_test_set_metric_warns(metric: str) -> None:
    w = only(cfg(metric={"name": metric, "goal": "maximize"}), "test-set")
    assert w.path == "metric.name" and "leaks" in w.why


def test_test_set_parameter_and_multi_metric_warn() -> None:
    data = cfg(
        metric=None,
        method="nsga2",
        metrics=[{"name": "val_loss"}, {"name": "latency_test"}],
        parameters={**CLEAN["parameters"], "test_split": {"values": [0.1, 0.2]}},
    )
    found = [(w.rule, w.path) for w in lint(data)]
    assert ("test-set", "metrics[1].name") in found
    assert ("test-set", "parameters.test_split") in found


@pytest.mark.parametrize("metric", ["val_loss", "latest_acc", "contest_score", "attestation"])
def test_validation_metrics_are_fine(metric: str) -> None:
    assert rules(cfg(metric={"name": metric})) == []


# ---- use-bayes --------------------------------------------------------------------------------


def test_random_with_large_budget_suggests_bayes() -> None:
    data = cfg(method="random", run_cap=200, early_terminate={"type": "median"})
    w = only(data, "use-bayes")
    assert w.path == "method"
    assert w.message == "random search over 200 trials (if trials are expensive)"
    assert "method: bayes" in w.why
    data["trial"] = {"timeout": "2h"}
    assert only(data, "use-bayes").message == (
        "random search over 200 trials that may each run up to 120 min"
    )


def test_cheap_trials_or_small_budget_keep_random() -> None:
    data = cfg(method="random", run_cap=200, early_terminate={"type": "median"},
               trial={"timeout": "5m"})  # fmt: skip
    assert rules(data) == []
    assert rules(cfg(method="random", run_cap=99, early_terminate={"type": "median"})) == []


# ---- tiny-budget ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["bayes", "tpe", "gp"])
def test_model_based_with_tiny_budget_suggests_random(method: str) -> None:
    w = only(cfg(method=method, run_cap=12), "tiny-budget")
    assert w.message == f"method {method} with a budget of 12 trials"
    assert "method: random" in w.why


def test_random_with_tiny_budget_or_bayes_with_enough_is_fine() -> None:
    assert rules(cfg(method="random", run_cap=12)) == []
    assert rules(cfg(method="bayes", run_cap=20)) == []


# ---- no-budget --------------------------------------------------------------------------------


def test_no_budget_warns() -> None:
    w = only(cfg(run_cap=None), "no-budget")
    assert w.path == "run_cap" and "runs until it is stopped" in w.message


def test_time_budget_or_grid_is_a_budget() -> None:
    assert rules(cfg(run_cap=None, budget={"time": "4h"})) == []
    grid = cfg(method="grid", run_cap=None, parameters={"a": {"values": [1, 2]}},
               baseline=[{"a": 1}])  # fmt: skip
    assert rules(grid) == []


# ---- nested-args -------------------------------------------------------------------------------

NESTED = {
    "opt": {"parameters": {"lr": {"values": [0.1, 0.01]}, "name": {"value": "sgd"}}},
    "depth": {"values": [2, 3]},
}


@pytest.mark.parametrize(
    ("command", "argument"),
    [
        (["python", "train.py", "${args}"], "--opt={'lr': ..., 'name': ...}"),
        (["python", "train.py", "${args_no_hyphens}"], "opt={'lr': ..., 'name': ...}"),
        (["python", "train.py", "${args_override_hydra}"], "++opt={'lr': ..., 'name': ...}"),
        (["python", "train.py", "${args_no_equals}"], "--opt {'lr': ..., 'name': ...}"),
    ],
)
def test_nested_block_through_a_str_macro_warns(command: list[str], argument: str) -> None:
    data = cfg(parameters=NESTED, baseline=None, command=command)
    found = [w for w in lint(data) if w.rule == "nested-args"]
    assert [w.path for w in found] == ["parameters.opt"]
    assert found[0].message.endswith(f"as one argument {argument}")
    assert "dotted names (`opt.lr`, `opt.name`)" in found[0].why
    assert "${args_json}" in found[0].why


@pytest.mark.parametrize("macro", ["${args_json}", "${args_json_file}", None])
def test_nested_block_as_json_and_flat_names_are_fine(macro: str | None) -> None:
    # no command: W&B's default, whose programs read nested blocks from wandb.config
    command = ["python", "train.py", macro] if macro else None
    assert "nested-args" not in rules(cfg(parameters=NESTED, baseline=None, command=command))
    flat = {"opt.lr": {"values": [0.1, 0.01]}, "opt.name": {"value": "sgd"}}
    dotted = cfg(parameters=flat, baseline=None, command=["python", "t.py", "${args_no_hyphens}"])
    assert "nested-args" not in rules(dotted)


def test_every_rule_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "lint.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert f"`{rule}`" in doc, rule


# ---- the command ------------------------------------------------------------------------------


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_cli_warns_exit_0_and_strict_exit_1(tmp_path: Path) -> None:
    path = write(tmp_path, cfg(baseline=None, run_cap=12))
    res = run_cli("lint", str(path)).assert_code(0)
    assert "warning: baseline: no baseline configuration [no-baseline]" in res.stdout
    assert "warning: method: method bayes with a budget of 12 trials [tiny-budget]" in res.stdout
    assert "    why: model-based samplers" in res.stdout
    assert res.stdout.rstrip().endswith("2 lint warnings")
    res = run_cli("lint", "--strict", str(path)).assert_code(1)
    assert "error: baseline: no baseline configuration [no-baseline]" in res.stdout
    assert res.stdout.rstrip().endswith("2 lint errors")


def test_cli_clean_and_json(tmp_path: Path) -> None:
    path = write(tmp_path, CLEAN)
    res = run_cli("lint", "--strict", str(path)).assert_code(0)
    assert res.stdout.strip() == f"{path}: no lint warnings"
    path = write(tmp_path, cfg(baseline=None))
    res = run_cli("lint", "--json", "--strict", str(path)).assert_code(1)
    doc = json.loads(res.stdout)
    assert doc["exit_code"] == 1 and doc["strict"] is True
    assert doc["warnings"] == [
        {
            "rule": "no-baseline",
            "path": "baseline",
            "message": "no baseline configuration",
            "why": lint(cfg(baseline=None))[0].why,
        }
    ]


def test_cli_invalid_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("method: random\nparameters: {lr: {min: 1, max: 0}}\n", encoding="utf-8")
    res = run_cli("lint", str(path)).assert_code(2)
    assert "min (1) must be less than max (0)" in res.stderr


def test_cli_lint_and_validate_warn_about_a_nested_block_for_hydra(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        cfg(parameters=NESTED, command=["python", "train.py", "${args_no_hyphens}"],
            baseline=[{"opt": {"lr": 0.1, "name": "sgd"}, "depth": 2}]),
    )  # fmt: skip
    expected = (
        "warning: parameters.opt: the nested block 'opt' reaches the program through "
        "${args_no_hyphens} as one argument opt={'lr': ..., 'name': ...} [nested-args]"
    )
    res = run_cli("lint", str(path)).assert_code(0)
    assert expected in res.stdout and res.stdout.rstrip().endswith("1 lint warning")
    assert "    why: Hydra and argparse reject a dict-valued argument" in res.stdout
    res = run_cli("validate", str(path)).assert_success()
    assert f"  {expected}\n      why: Hydra and argparse" in res.stdout
    doc = json.loads(run_cli("validate", "--json", str(path)).assert_success().stdout)
    assert [w["rule"] for w in doc["warnings"]] == ["nested-args"]
    clean = json.loads(run_cli("validate", "--json", str(write(tmp_path, CLEAN))).stdout)
    assert clean["warnings"] == []
