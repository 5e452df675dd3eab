"""``tracking:``: finished trials logged to a real local MLflow store, and W&B run grouping.

The sweeps run through the installed ``sweeprun`` command with real child programs; MLflow is
read back with its own client from the store the sweep wrote (SQLite and file stores on disk).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from sweeprun.config.load import parse_config
from sweeprun.config.tracking import Tracking, wandb_env
from sweeprun.integrations.mlflow import flatten, run_record
from tests.helpers.cli import hiding_env, run_cli
from tests.helpers.paths import PROGRAMS

mlflow = pytest.importorskip("mlflow", reason="MLflow (the [mlflow] extra) is not installed")

TRAIN = PROGRAMS / "results_train.py"

GRID = f"""
name: {{name}}
program: {TRAIN}
method: grid
metric: {{{{name: loss, goal: minimize}}}}
parameters:
  x: {{{{values: [-1, 0.5, 3]}}}}
  y: {{{{values: [2]}}}}
  opt:
    parameters:
      lr: {{{{values: [0.01]}}}}
early_terminate: {{{{type: threshold, upper: 4}}}}
tracking:
  mlflow:
    tracking_uri: {{uri}}
    experiment: {{experiment}}
    tags: {{{{team: vision}}}}
"""


def _runs(uri: str, experiment: str) -> dict[int, Any]:
    """The MLflow runs of ``experiment`` by trial number (asserting one run per trial)."""
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r} in {uri}"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    numbers = [int(r.data.tags["sweeprun.trial"]) for r in runs]
    assert len(numbers) == len(set(numbers)), f"a trial was logged twice: {sorted(numbers)}"
    return {int(r.data.tags["sweeprun.trial"]): r for r in runs}


def _history(uri: str, run: Any, name: str) -> list[tuple[int, float]]:
    client = mlflow.tracking.MlflowClient(uri)
    return [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, name)]


def _loss(x: float, y: float, s: int) -> float:
    return round((x - 0.5) ** 2 + 0.1 * y + 1 / s, 6)


def _start(tmp_path: Path, text: str, *extra: str, env: dict[str, str] | None = None) -> Any:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(text)
    return run_cli("start", str(sweep), *extra, cwd=tmp_path, env=env, timeout=180)


def test_finished_trials_logged_to_sqlite_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    res = _start(tmp_path, GRID.format(name="trk", uri=uri, experiment="exp-a"))
    assert res.returncode == 0, res.describe()
    assert "mlflow: logged 3 trial(s) to experiment 'exp-a'" in res.stderr + res.stdout

    runs = _runs(uri, "exp-a")
    study = optuna.load_study(study_name="trk", storage=_journal(tmp_path))
    by_number = {t.number: t for t in study.trials}
    assert sorted(runs) == sorted(by_number) == [0, 1, 2]
    states = {n: t.state.name for n, t in by_number.items()}
    assert sorted(states.values()) == ["COMPLETE", "FAIL", "PRUNED"]
    status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
    for number, run in runs.items():
        trial = by_number[number]
        tags = run.data.tags
        assert run.info.run_name == f"trial-{number}"
        assert run.info.status == status[trial.state.name]
        assert tags["sweeprun.sweep"] == "trk"
        assert tags["sweeprun.state"] == trial.state.name
        assert tags["team"] == "vision"
        assert tags["sweeprun.host"] == trial.user_attrs["sweeprun.host"]
        code = trial.user_attrs.get("sweeprun.exit_code")
        assert tags.get("sweeprun.exit_code") == (None if code is None else json.dumps(code))
        assert str(TRAIN) in tags["sweeprun.command"]
        stored = trial.user_attrs["sweeprun.params"]
        assert run.data.params == {"x": str(stored["x"]), "y": "2", "opt.lr": "0.01"}
        x = float(stored["x"])
        assert trial.datetime_start is not None and trial.datetime_complete is not None
        assert run.info.start_time == int(trial.datetime_start.timestamp() * 1000)
        assert run.info.end_time == int(trial.datetime_complete.timestamp() * 1000)
        curve = _history(uri, run, "loss")
        assert curve == sorted(trial.intermediate_values.items())
        if trial.state == TrialState.COMPLETE:
            assert x == 0.5
            assert curve == [(s, _loss(0.5, 2, s)) for s in (1, 2, 3)]
            assert run.data.metrics == {"loss": trial.values[0]} == {"loss": _loss(0.5, 2, 3)}
        elif trial.state == TrialState.PRUNED:
            assert x == 3 and curve[0] == (1, _loss(3, 2, 1))
            assert tags.get("sweeprun.reason") == trial.user_attrs.get("sweeprun.reason")
        else:
            assert x == -1 and curve == [] and run.data.metrics == {}
            assert tags["sweeprun.reason"] == trial.user_attrs["sweeprun.reason"]


def _journal(root: Path) -> Any:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(root / "dot-sweeprun" / "journal.log")))


def test_file_store_and_defaults(tmp_path: Path) -> None:
    # `mlflow: true` → experiment = the sweep name, tracking URI from $MLFLOW_TRACKING_URI
    store = tmp_path / "mlruns"
    text = (
        f"name: plain\nprogram: {TRAIN}\nmethod: random\nseed: 1\nrun_cap: 2\n"
        "metric: {name: loss}\nparameters:\n  x: {min: 0.0, max: 1.0}\n"
        "tracking: {mlflow: true}\n"
    )
    res = _start(tmp_path, text, "--quiet", env={"MLFLOW_TRACKING_URI": f"file:{store}"})
    assert res.returncode == 0, res.describe()
    assert any(store.rglob("meta.yaml")), "nothing was written to the MLflow file store"
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        runs = _runs(f"file:{store}", "plain")
    finally:
        del os.environ["MLFLOW_ALLOW_FILE_STORE"]
    assert sorted(runs) == [0, 1]
    assert all(r.info.status == "FINISHED" for r in runs.values())


def test_unreachable_store_loses_nothing(tmp_path: Path) -> None:
    # the store's directory is a file: logging fails, the sweep goes on and says so; the next
    # start logs every finished trial that is missing
    missing = tmp_path / "later"
    missing.write_text("in the way")
    uri = f"sqlite:///{missing / 'mlflow.db'}"
    text = GRID.format(name="late", uri=uri, experiment="exp-late")
    res = _start(tmp_path, text)
    assert res.returncode == 0, res.describe()
    out = res.stdout + res.stderr
    assert "mlflow: could not log to experiment 'exp-late'" in out
    assert "the next start logs the missing trials" in out
    missing.unlink()
    res = _start(tmp_path, text)
    assert res.returncode == 0, res.describe()
    assert "mlflow: logged 3 trial(s)" in res.stdout + res.stderr
    assert sorted(_runs(uri, "exp-late")) == [0, 1, 2]
    res = _start(tmp_path, text)  # nothing left to catch up, nothing logged twice
    assert res.returncode == 0, res.describe()
    assert "mlflow: logged" not in res.stdout + res.stderr
    assert sorted(_runs(uri, "exp-late")) == [0, 1, 2]


@pytest.mark.db
def test_agents_on_postgres_log_each_trial_once(tmp_path: Path, postgres_url: str) -> None:
    name = f"trk-{uuid.uuid4().hex[:8]}"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    text = (
        f"name: {name}\nprogram: {TRAIN}\nmethod: random\nseed: 2\nrun_cap: 4\n"
        "metric: {name: loss}\nparameters:\n  x: {min: 0.0, max: 1.0}\n"
        f"tracking:\n  mlflow: {{tracking_uri: '{uri}'}}\n"
    )
    res = _start(tmp_path, text, "--storage", postgres_url, "--max-trials", "2", "--quiet")
    assert res.returncode == 0, res.describe()
    res = run_cli("agent", name, "--storage", postgres_url, "--count", "2", cwd=tmp_path)
    assert res.returncode == 0, res.describe()
    assert "mlflow: logged 2 trial(s)" in res.stdout + res.stderr
    runs = _runs(uri, name)
    assert sorted(runs) == [0, 1, 2, 3]
    study = optuna.load_study(
        study_name=name, storage=postgres_url.replace("postgresql", "postgresql+psycopg")
    )
    for t in study.trials:
        assert runs[t.number].data.metrics["loss"] == t.values[0]


def test_mlflow_missing_is_refused_before_anything_runs(tmp_path: Path) -> None:
    env = hiding_env(tmp_path, "mlflow")
    text = GRID.format(name="nomlflow", uri="sqlite:///x.db", experiment="e")
    res = _start(tmp_path, text, env=env).assert_code(2)
    assert "tracking.mlflow needs MLflow's client, which is not installed" in res.stderr
    assert "pip install 'sweeprun[mlflow]'" in res.stderr
    assert not (tmp_path / "dot-sweeprun" / "journal.log").exists()


def test_bad_tracking_block_names_the_key(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        f"program: {TRAIN}\nmethod: random\nparameters:\n  x: {{min: 0, max: 1}}\n"
        "tracking:\n  mlflow:\n    experimnt: x\n  wandb: {tags: 3}\n"
    )
    res = run_cli("validate", str(sweep)).assert_code(2)
    assert "at tracking.mlflow.experimnt (line 7): unknown key 'experimnt'" in res.stderr
    assert "did you mean 'experiment'?" in res.stderr
    assert "at tracking.wandb.tags (line 8): must be a list, got 3" in res.stderr


# ---- W&B grouping: the environment the child sees ------------------------------------------
ENV_PROGRAM = """
import json, os
keys = ("WANDB_RUN_GROUP", "WANDB_JOB_TYPE", "WANDB_TAGS")
print(json.dumps({"loss": 1.0, "env": {k: os.environ.get(k) for k in keys}}))
"""


def _child_env(tmp_path: Path, tracking: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    (tmp_path / "envprog.py").write_text(ENV_PROGRAM)
    text = (
        "name: wb\nprogram: envprog.py\nmethod: random\nrun_cap: 1\nmetric: {name: loss}\n"
        f"parameters:\n  x: {{min: 0.0, max: 1.0}}\n{tracking}"
    )
    res = _start(tmp_path, text, "--quiet", env=env)
    assert res.returncode == 0, res.describe()
    out = next((tmp_path / "dot-sweeprun").rglob("stdout*")).read_text()
    return json.loads(out)["env"]


@pytest.fixture(autouse=True)
def _no_wandb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("WANDB_RUN_GROUP", "WANDB_JOB_TYPE", "WANDB_TAGS", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)


def test_wandb_grouping_defaults(tmp_path: Path) -> None:
    assert _child_env(tmp_path, "") == {
        "WANDB_RUN_GROUP": "wb",
        "WANDB_JOB_TYPE": "sweep",
        "WANDB_TAGS": "sweeprun",
    }


def test_wandb_grouping_configured_and_user_env(tmp_path: Path) -> None:
    tracking = "tracking:\n  wandb: {group: g1, tags: [a, b]}\n"
    got = _child_env(tmp_path, tracking, env={"WANDB_JOB_TYPE": "mine", "WANDB_RUN_GROUP": "x"})
    # written in sweep.yaml wins; a default gives way to the user's own variable
    assert got == {"WANDB_RUN_GROUP": "g1", "WANDB_JOB_TYPE": "mine", "WANDB_TAGS": "a,b"}


def test_wandb_grouping_off(tmp_path: Path) -> None:
    got = _child_env(tmp_path, "tracking: {wandb: false}\n")
    assert got == {"WANDB_RUN_GROUP": None, "WANDB_JOB_TYPE": None, "WANDB_TAGS": None}


# ---- pure logic ----------------------------------------------------------------------------
def _tracking(block: dict[str, Any]) -> Tracking:
    base = {"program": "t.py", "method": "random", "parameters": {"x": {"min": 0, "max": 1}}}
    return parse_config({**base, "tracking": block}).tracking


def test_wandb_env_precedence() -> None:
    assert wandb_env(_tracking({}), "s", {}) == {
        "WANDB_RUN_GROUP": "s", "WANDB_JOB_TYPE": "sweep", "WANDB_TAGS": "sweeprun",
    }  # fmt: skip
    assert wandb_env(_tracking({}), "s", {"WANDB_TAGS": "t"}) == {
        "WANDB_RUN_GROUP": "s", "WANDB_JOB_TYPE": "sweep",
    }  # fmt: skip
    explicit = _tracking({"wandb": {"group": "g", "job_type": "train", "tags": "a, b"}})
    assert wandb_env(explicit, "s", {"WANDB_RUN_GROUP": "env"}) == {
        "WANDB_RUN_GROUP": "g", "WANDB_JOB_TYPE": "train", "WANDB_TAGS": "a,b",
    }  # fmt: skip
    assert wandb_env(_tracking({"wandb": False}), "s", {}) == {}
    # WANDB_SWEEP_ID is opt-in: with it wandb ignores the project given to wandb.init
    assert "WANDB_SWEEP_ID" not in wandb_env(_tracking({}), "s", {})
    assert wandb_env(_tracking({"wandb": {"sweep_id": True}}), "s", {})["WANDB_SWEEP_ID"] == "s"
    assert _tracking({"mlflow": True}).mlflow is not None
    assert _tracking({"mlflow": False}).mlflow is None


def test_flatten_nested_params() -> None:
    got = dict(flatten({"lr": 0.1, "opt": {"name": "adam", "betas": {"b1": 0.9}}}))
    assert got == {"lr": 0.1, "opt.name": "adam", "opt.betas.b1": 0.9}


def test_run_record_pruned_trial() -> None:
    start = dt.datetime(2026, 1, 2, 3, 4, 5)
    trial = create_trial(
        state=TrialState.PRUNED,
        params={"x": 0.25},
        distributions={"x": FloatDistribution(0, 1)},
        intermediate_values={1: 3.0, 2: 2.5},
        user_attrs={"sweeprun.params": {"x": 0.25, "m": {"k": 1}}, "sweeprun.reason": "pruned"},
    )
    trial.datetime_start = start
    trial.datetime_complete = start + dt.timedelta(seconds=2)
    rec = run_record(trial, "sw", ["val loss!"], {"t": "1"}, curves=True)
    ms = int(start.timestamp() * 1000)
    assert rec["status"] == "KILLED"
    assert rec["start"] == ms and rec["end"] == ms + 2000
    assert rec["params"] == [("x", "0.25"), ("m.k", "1")]
    assert rec["metrics"] == [("val loss_", 3.0, ms, 1), ("val loss_", 2.5, ms, 2)]
    assert rec["tags"]["sweeprun.reason"] == "pruned" and rec["tags"]["t"] == "1"
    no_curves = run_record(trial, "sw", ["loss"], {}, curves=False)
    assert no_curves["metrics"] == []


def test_tracking_server_down_does_not_stop_the_sweep(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    res = _start(tmp_path, GRID.format(name="down", uri=uri, experiment="e"))
    assert res.returncode == 0, res.describe()
    out = res.stdout + res.stderr
    assert f"mlflow: could not log to experiment 'e' at {uri}" in out
    assert "Connection refused" in out
    assert "sweep down: 1 complete, 1 pruned, 1 failed" in out
