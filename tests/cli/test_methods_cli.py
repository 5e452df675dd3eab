"""Every search method and early-stopping rule through the installed command."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import optuna
import pytest

from tests.helpers.cli import run_cli
from tests.helpers.paths import PROGRAMS
from tests.helpers.studies import load_trials

RUN_TRIAL = PROGRAMS / "run_trial.py"
SPACE = """parameters:
  x: {min: 0.0, max: 2.0}
  epochs: {value: 2}
"""


def sweep_file(tmp: Path, body: str, name: str = "m.yaml", program: Path = RUN_TRIAL) -> Path:
    path = tmp / name
    path.write_text(f"program: {program}\nmetric: {{name: loss}}\n" + body)
    return path


@pytest.mark.parametrize(
    ("method", "sampler"),
    [
        ("random", "RandomSampler"),
        ("bayes", "TPESampler"),
        ("tpe", "TPESampler"),
        ("cmaes", "CmaEsSampler"),
        ("qmc", "QMCSampler"),
        ("auto", "TPESampler"),
    ],
)
def test_method_runs_and_is_recorded(
    method: str, sampler: str, tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = sweep_file(tmp_path, f"method: {method}\nseed: 3\nrun_cap: 24\n" + SPACE)
    res = run_cli("start", str(sweep), "--jobs", "2", cwd=tmp_path)
    res.assert_code(0)
    trials = load_trials(_private_sweeprun_dir, "m")
    assert len(trials) == 24 and all(t.state.name == "COMPLETE" for t in trials)
    info = trials[-1].user_attrs["sweeprun.sampler"]
    assert info["sampler"] == sampler and info["seed"] == 3
    assert info["optuna"] == optuna.__version__ and info["sweeprun"]
    if method == "auto":
        assert "method auto chose 'bayes'" in res.stdout


def test_auto_picks_random_for_a_tiny_budget(tmp_path: Path, _private_sweeprun_dir: Path) -> None:
    sweep = sweep_file(tmp_path, "method: auto\nrun_cap: 5\n" + SPACE)
    res = run_cli("start", str(sweep), cwd=tmp_path)
    res.assert_code(0)
    assert "method auto chose 'random'" in res.stdout
    info = load_trials(_private_sweeprun_dir, "m")[0].user_attrs["sweeprun.sampler"]
    assert info["sampler"] == "RandomSampler"


def test_bruteforce_covers_a_discrete_space_once(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = sweep_file(
        tmp_path,
        "method: bruteforce\nrun_cap: 50\nparameters:\n  x: {values: [0.5, 1.0, 1.5]}\n"
        "  epochs: {min: 1, max: 2}\n",
    )
    run_cli("start", str(sweep), cwd=tmp_path).assert_code(0)
    seen = [
        (t.user_attrs["sweeprun.params"]["x"], t.user_attrs["sweeprun.params"]["epochs"])
        for t in load_trials(_private_sweeprun_dir, "m")
        if t.state.name == "COMPLETE"
    ]
    assert sorted(seen) == sorted({(x, e) for x in (0.5, 1.0, 1.5) for e in (1, 2)})


def test_gp_runs_or_names_its_extra(tmp_path: Path, _private_sweeprun_dir: Path) -> None:
    sweep = sweep_file(tmp_path, "method: gp\nseed: 1\nrun_cap: 12\n" + SPACE)
    res = run_cli("start", str(sweep), cwd=tmp_path, timeout=300)
    if importlib.util.find_spec("torch") is None:
        res.assert_code(2)
        assert "pip install 'sweeprun[gp]'" in res.stderr
        assert not (_private_sweeprun_dir / "journal.log").exists()
    else:
        res.assert_code(0)
        trials = load_trials(_private_sweeprun_dir, "m")
        assert trials[-1].user_attrs["sweeprun.sampler"]["sampler"] == "GPSampler"


def test_same_seed_same_sequence_as_optuna_in_process(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    """With `seed` and --jobs 1, sweeprun asks exactly what Optuna in-process would."""
    from sweeprun.config.load import load_config
    from sweeprun.search.samplers import make_sampler
    from sweeprun.space.distributions import SearchSpace

    sweep = sweep_file(
        tmp_path,
        "method: bayes\nseed: 11\nrun_cap: 16\nparameters:\n  x: {min: 0.0, max: 2.0}\n"
        "  lr: {distribution: log_uniform_values, min: 1e-4, max: 1e-1}\n"
        "  mode: {values: [ok]}\n  epochs: {value: 1}\n",
    )
    run_cli("start", str(sweep), cwd=tmp_path).assert_code(0)
    ours = load_trials(_private_sweeprun_dir, "m")
    cfg = load_config(sweep)
    space = SearchSpace.from_params(cfg.parameters)
    study = optuna.create_study(sampler=make_sampler(cfg))
    for t in ours:
        trial = study.ask(space.distributions())
        assert trial.params == t.params, t.number
        study.tell(trial, t.value)


def test_multi_objective_pareto_front_and_no_pruning(tmp_path: Path) -> None:
    body = (
        "method: nsga2\nseed: 2\nrun_cap: 20\nmetrics:\n  - {name: loss, goal: minimize}\n"
        "  - {name: cost, goal: minimize}\nparameters:\n  x: {min: 0.0, max: 2.0}\n"
        "  y: {min: 0.0, max: 1.0}\n"
    )
    path = tmp_path / "mo.yaml"
    path.write_text(f"program: {PROGRAMS / 'multi.py'}\n" + body)
    res = run_cli("start", str(path), cwd=tmp_path)
    res.assert_code(0)
    best = [line for line in res.stdout.splitlines() if line.startswith("best: trial")]
    assert len(best) >= 2  # a Pareto front, not one trial
    assert all("value=" in line and ", " in line.split("value=")[1] for line in best)
    path.write_text(path.read_text() + "early_terminate: {type: median}\n")
    refused = run_cli("start", str(path), "--name", "mo2", cwd=tmp_path)
    refused.assert_code(2)
    assert "early_terminate" in refused.stderr


PRUNERS = {
    "median": "{type: median, n_startup_trials: 2}",
    "percentile": "{type: percentile, percentile: 50.0, n_startup_trials: 2}",
    "asha": "{type: asha, min_resource: 1, reduction_factor: 2}",
    "successive_halving": "{type: successive_halving, min_resource: 2}",
    "threshold": "{type: threshold, upper: 2.0}",
    "wilcoxon": "{type: wilcoxon, p_threshold: 0.1}",
    "optuna_hyperband": "{type: optuna_hyperband, min_resource: 1, max_resource: 8}",
    "hyperband": "{type: hyperband, min_iter: 2, eta: 2}",
    "patience": "{type: median, n_startup_trials: 2, patience: 1}",
}


@pytest.mark.parametrize("name", sorted(PRUNERS))
def test_every_pruner_runs_and_prunes_bad_curves(
    name: str, tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = sweep_file(
        tmp_path,
        f"method: grid\nearly_terminate: {PRUNERS[name]}\ntrial: {{kill_grace: 1s}}\n"
        "parameters:\n  x: {values: [1.0, 1.1, 0.9, 1.05, 4.0, 3.5, 5.0, 4.5]}\n"
        "  epochs: {value: 8}\n  sleep: {value: 0.05}\n",
    )
    res = run_cli("start", str(sweep), cwd=tmp_path, timeout=300)
    res.assert_code(0)
    trials = load_trials(_private_sweeprun_dir, "m")
    states = {t.user_attrs["sweeprun.params"]["x"]: t.state.name for t in trials}
    assert len(states) == 8 and "FAIL" not in states.values()
    assert states[1.0] == "COMPLETE"  # the first, best curve always runs to the end
    if name in ("threshold", "hyperband", "median", "asha"):
        assert "PRUNED" in states.values(), states
    for t in trials:
        if t.state.name == "PRUNED":
            assert len(t.intermediate_values) < 8


def test_bad_pruner_option_and_sampler_option_are_usage_errors(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = sweep_file(tmp_path, "method: tpe\nsampler: {n_startup: 3}\n" + SPACE)
    res = run_cli("start", str(sweep), cwd=tmp_path)
    res.assert_code(2)
    assert "sampler.n_startup" in res.stderr and "n_startup_trials" in res.stderr
    sweep = sweep_file(
        tmp_path, "method: tpe\nearly_terminate: {type: percentile, percentile: 150}\n" + SPACE
    )
    res = run_cli("start", str(sweep), cwd=tmp_path)
    res.assert_code(2)
    assert "early_terminate.percentile" in res.stderr
    assert not (_private_sweeprun_dir / "journal.log").exists()


def test_baseline_runs_first_and_summary_compares(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = sweep_file(
        tmp_path, "method: random\nseed: 4\nrun_cap: 8\nbaseline:\n  - {x: 0.2}\n" + SPACE
    )
    res = run_cli("start", str(sweep), cwd=tmp_path)
    res.assert_code(0)
    first = load_trials(_private_sweeprun_dir, "m")[0]
    assert first.user_attrs["sweeprun.baseline"] is True
    assert first.user_attrs["sweeprun.params"]["x"] == 0.2
    assert "vs baseline: loss:" in res.stdout and "(trial 0)" in res.stdout


def test_target_and_time_budget_stop_launching(tmp_path: Path, _private_sweeprun_dir: Path) -> None:
    sweep = tmp_path / "t.yaml"
    sweep.write_text(
        f"program: {RUN_TRIAL}\nmethod: grid\nmetric: {{name: loss, target: 1.5}}\n"
        "parameters:\n  x: {values: [3.0, 2.5, 1.0, 0.0, 0.5]}\n  epochs: {value: 1}\n"
    )
    res = run_cli("start", str(sweep), cwd=tmp_path)
    res.assert_code(0)
    assert "metric.target 1.5 reached" in res.stdout
    ran = [t for t in load_trials(_private_sweeprun_dir, "t") if t.state.name != "WAITING"]
    assert len(ran) == 3
    again = run_cli("start", str(sweep), cwd=tmp_path)  # resuming a finished sweep runs nothing
    again.assert_code(0)
    ran = [t for t in load_trials(_private_sweeprun_dir, "t") if t.state.name != "WAITING"]
    assert len(ran) == 3 and "metric.target 1.5 reached" in again.stdout
    slow = sweep_file(
        tmp_path,
        "method: random\nrun_cap: 100\nbudget: {time: 1s}\nparameters:\n"
        "  x: {min: 0.0, max: 2.0}\n  epochs: {value: 1}\n  sleep: {value: 0.4}\n",
        name="slow.yaml",
    )
    res = run_cli("start", str(slow), cwd=tmp_path)
    res.assert_code(0)
    assert "time budget reached" in res.stdout
    assert 1 <= len(load_trials(_private_sweeprun_dir, "slow")) <= 4


def test_hard_deadline_stops_running_trials(tmp_path: Path, _private_sweeprun_dir: Path) -> None:
    sweep = sweep_file(
        tmp_path,
        "method: random\nrun_cap: 4\nbudget: {deadline: 2s}\ntrial: {kill_grace: 0.5s}\n"
        "parameters:\n  mode: {value: hang}\n",
    )
    res = run_cli("start", str(sweep), "--jobs", "2", cwd=tmp_path)
    assert "Traceback" not in res.stderr
    trials = load_trials(_private_sweeprun_dir, "m")
    stopped = [t for t in trials if t.state.name == "FAIL"]
    assert len(stopped) == 2
    assert all(t.user_attrs["sweeprun.reason"] == "budget.deadline reached" for t in stopped)
    assert all(t.user_attrs["sweeprun.counted"] is False for t in stopped)
    assert "budget.deadline reached" in res.stdout
