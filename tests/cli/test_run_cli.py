"""``sweeprun start`` end to end: the installed command, real child programs, the journal file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from tests.helpers.cli import read_until, run_cli
from tests.helpers.paths import PROGRAMS, SWEEPRUN
from tests.helpers.processes import alive
from tests.helpers.wait import wait_until

RUN_TRIAL = PROGRAMS / "run_trial.py"


def write_sweep(tmp: Path, body: str, name: str = "sweep.yaml") -> Path:
    path = tmp / name
    path.write_text(f"program: {RUN_TRIAL}\n" + body)
    return path


def load_trials(home: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(home / "journal.log")))
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def by_mode(trials: list[optuna.trial.FrozenTrial]) -> dict[str, optuna.trial.FrozenTrial]:
    return {t.user_attrs["sweeprun.params"]["mode"]: t for t in trials}


def recorded_pids(pids_dir: Path) -> list[int]:
    texts = [p.read_text().strip() for p in pids_dir.glob("*.pid")]
    return [int(t) for t in texts if t]  # a file being written may still be empty


def test_every_outcome_gets_its_state_and_reason(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = write_sweep(
        tmp_path,
        """method: grid
metric: {name: loss}
failures: {max_consecutive: 0}
trial: {timeout: 2s, kill_grace: 0.5s}
parameters:
  mode:
    values: [ok, fail, signal, nometric, nan, hang, ignore_term, grandchild, binary, longline,
             client]
""",
    )
    pids = tmp_path / "pids"
    pids.mkdir()
    res = run_cli("start", str(sweep), "--jobs", "2", cwd=tmp_path, env={"PIDS_DIR": str(pids)})
    res.assert_code(0)
    trials = by_mode(load_trials(_private_sweeprun_dir, "sweep"))
    assert len(trials) == 11
    expect = {
        "ok": ("COMPLETE", None),
        "fail": ("FAIL", "exit code 3"),
        "signal": ("FAIL", "killed by SIGKILL"),
        "nometric": ("FAIL", "metric never reported: loss"),
        "nan": ("FAIL", "metric never reported: loss"),
        "hang": ("FAIL", "timeout after"),
        "ignore_term": ("FAIL", "timeout after"),
        "grandchild": ("COMPLETE", None),
        "binary": ("COMPLETE", None),
        "longline": ("COMPLETE", None),
        "client": ("COMPLETE", None),
    }
    for mode, (state, reason) in expect.items():
        t = trials[mode]
        assert t.state.name == state, (mode, t.state, t.user_attrs.get("sweeprun.reason"))
        if reason:
            assert reason in t.user_attrs["sweeprun.reason"], mode
    # the last lines of output are stored with a failure
    assert "something broke" in "\n".join(trials["fail"].user_attrs["sweeprun.tail"])
    # the curve's best value (W&B's summary rule) is the objective: (0-1)^2 + 1/3
    assert trials["ok"].value == pytest.approx(1 + 1 / 3)
    # the client channel is not corrupted by the torn JSON and \r noise on stdout
    assert trials["client"].value == pytest.approx(1.0)
    assert trials["client"].intermediate_values == {0: 1.0, 1: 1.1, 2: pytest.approx(1.2)}
    # attributes a user (or optuna-dashboard) reads on any machine
    ok = trials["ok"].user_attrs
    assert ok["sweeprun.argv"][1:] == [str(RUN_TRIAL), "--mode=ok"]
    assert ok["sweeprun.exit_code"] == 0 and ok["sweeprun.duration"] > 0
    assert ok["sweeprun.host"] and ok["sweeprun.pid"] > 0
    assert Path(ok["sweeprun.log_dir"], "stdout.log").read_text().count('"loss"') == 3
    # no process of the sweep survives, grandchildren that ignore SIGTERM included
    assert recorded_pids(pids), "the programs recorded their pids"
    assert [p for p in recorded_pids(pids) if alive(p)] == []
    # summary: best trial and the command that reproduces it
    assert "best: trial" in res.stdout
    again = next(line for line in res.stdout.splitlines() if line.startswith("reproduce: "))
    assert again.startswith("reproduce: env SWEEPRUN_PARAMS=") and f" {sys.executable} " in again


def test_missing_program_is_a_trial_failure_not_a_crash(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        "command: [/nonexistent/train, '${args}']\nmethod: random\nmetric: {name: loss}\n"
        "run_cap: 2\nfailures: {max_consecutive: 0}\nparameters:\n  x: {values: [1]}\n"
    )
    res = run_cli("start", str(sweep), cwd=tmp_path)
    res.assert_code(1)  # every trial failed: the policy fails, no traceback
    assert "every trial failed" in res.stdout
    reasons = {t.user_attrs["sweeprun.reason"] for t in load_trials(_private_sweeprun_dir, "s")}
    assert len(reasons) == 1 and "not found" in reasons.pop()


def test_environment_and_wandb_param_file(tmp_path: Path, _private_sweeprun_dir: Path) -> None:
    prog = tmp_path / "env.py"
    prog.write_text(
        "import json, os\n"
        "keys = ['SWEEPRUN_SWEEP', 'SWEEPRUN_TRIAL', 'SWEEPRUN_TRIAL_DIR', 'SWEEPRUN_PARAMS',\n"
        "        'WANDB_SWEEP_ID', 'WANDB_RUN_ID', 'WANDB_SWEEP_PARAM_PATH', 'MY_VAR']\n"
        "print(json.dumps({'env': {k: os.environ.get(k) for k in keys}}))\n"
        "print(open(os.environ['WANDB_SWEEP_PARAM_PATH']).read().replace('\\n', '|'))\n"
        "print('loss=0.5')\n"
    )
    sweep = tmp_path / "envsweep.yaml"
    sweep.write_text(
        f"program: {prog}\nmethod: grid\nmetric: {{name: loss}}\ntrial: {{env: {{MY_VAR: hi}}}}\n"
        "parameters:\n  lr: {values: [0.1]}\n  opt:\n    parameters:\n      m: {value: 0.9}\n"
    )
    run_cli("start", str(sweep), cwd=tmp_path).assert_code(0)
    (t,) = load_trials(_private_sweeprun_dir, "envsweep")
    out = Path(t.user_attrs["sweeprun.log_dir"], "stdout.log").read_text().splitlines()
    env = json.loads(out[0])["env"]
    assert env["SWEEPRUN_SWEEP"] == "envsweep" and env["SWEEPRUN_TRIAL"] == "0"
    assert json.loads(env["SWEEPRUN_PARAMS"]) == {"lr": 0.1, "opt": {"m": 0.9}}
    assert env["WANDB_SWEEP_ID"] is None  # opt-in (tracking.wandb.sweep_id): it drops project
    assert env["WANDB_RUN_ID"] and env["MY_VAR"] == "hi"
    assert Path(env["SWEEPRUN_TRIAL_DIR"]) == Path(t.user_attrs["sweeprun.log_dir"])
    assert "lr:|  value: 0.1" in out[1]
    assert t.value == 0.5


def test_pruned_trials_are_stopped_and_recorded(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = write_sweep(
        tmp_path,
        """method: grid
metric: {name: loss}
early_terminate: {type: median, n_startup_trials: 2, n_warmup_steps: 0}
trial: {kill_grace: 1s}
parameters:
  x: {values: [1.0, 1.1, 9.0, 8.0]}
  epochs: {value: 30}
  sleep: {value: 0.1}
""",
    )
    res = run_cli("start", str(sweep), cwd=tmp_path)
    res.assert_code(0)
    trials = {
        t.user_attrs["sweeprun.params"]["x"]: t for t in load_trials(_private_sweeprun_dir, "sweep")
    }
    assert trials[1.0].state.name == "COMPLETE" and trials[1.1].state.name == "COMPLETE"
    for x in (9.0, 8.0):
        t = trials[x]
        assert t.state.name == "PRUNED"
        assert len(t.intermediate_values) < 30  # stopped early, not run to the end
        assert t.user_attrs["sweeprun.duration"] < 3.0


def test_config_change_is_refused_and_resume_runs_remaining_budget(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = write_sweep(
        tmp_path,
        "method: random\nmetric: {name: loss}\nrun_cap: 3\nparameters:\n  x: {min: 0.0, max: 2.0}\n",
    )
    run_cli("start", str(sweep), cwd=tmp_path).assert_code(0)
    again = run_cli("start", str(sweep), cwd=tmp_path)
    again.assert_code(0)
    assert "resuming" in again.stdout
    assert len(load_trials(_private_sweeprun_dir, "sweep")) == 3  # nothing more to run
    sweep.write_text(sweep.read_text().replace("max: 2.0", "max: 3.0"))
    changed = run_cli("start", str(sweep), cwd=tmp_path)
    changed.assert_code(2)
    assert "different config (changed: parameters)" in changed.stderr
    assert "--name sweep-2" in changed.stderr
    assert len(load_trials(_private_sweeprun_dir, "sweep")) == 3  # nothing lost or added


def test_consecutive_failures_stop_the_sweep_with_exit_1(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = write_sweep(
        tmp_path,
        "method: random\nmetric: {name: loss}\nrun_cap: 20\nfailures: {max_consecutive: 3}\n"
        "parameters:\n  mode: {value: fail}\n",
    )
    res = run_cli("start", str(sweep), cwd=tmp_path)
    res.assert_code(1)
    assert "3 consecutive trials failed" in res.stdout
    assert len(load_trials(_private_sweeprun_dir, "sweep")) == 3


def test_json_events_and_quiet(tmp_path: Path) -> None:
    sweep = write_sweep(
        tmp_path,
        "method: random\nmetric: {name: loss}\nrun_cap: 2\nparameters:\n  x: {min: 0.0, max: 2.0}\n",
    )
    res = run_cli("start", str(sweep), "--json", cwd=tmp_path)
    res.assert_code(0)
    events = [json.loads(line) for line in res.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("launched") == 2 and kinds.count("finished") == 2
    assert kinds[-1] == "summary" and events[-1]["counts"] == {"COMPLETE": 2}
    assert events[-1]["best"][0]["argv"][1] == str(RUN_TRIAL)
    quiet = run_cli("start", str(sweep), "--quiet", "--name", "q", cwd=tmp_path)
    quiet.assert_code(0)
    assert "started" not in quiet.stdout and quiet.stdout.startswith("sweep q:")


def test_dry_run_launches_nothing(tmp_path: Path, _private_sweeprun_dir: Path) -> None:
    sweep = write_sweep(
        tmp_path,
        "method: grid\nmetric: {name: loss}\nparameters:\n  x: {values: [1, 2, 3]}\n"
        "  mode: {values: [a, 'b c']}\n",
    )
    res = run_cli("start", str(sweep), "--dry-run", "--max-trials", "3", cwd=tmp_path)
    res.assert_code(0)
    lines = res.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("--mode=a --x=1") and lines[1].endswith("--mode=a --x=2")
    assert "'--mode=b c'" in res.stdout.splitlines()[2] or lines[2].endswith("--mode=a --x=3")
    assert not _private_sweeprun_dir.exists()


def test_unset_envvar_macro_is_a_usage_error_with_strict_before_anything_runs(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        f"command: ['${{interpreter}}', {RUN_TRIAL}, '--data=${{envvar:SWEEPRUN_TEST_UNSET}}']\n"
        "method: random\nmetric: {name: loss}\nparameters:\n  x: {values: [1]}\n"
    )
    # W&B substitutes the bare name (sweeprun follows, with a warning); --strict refuses
    res = run_cli("start", str(sweep), "--strict", cwd=tmp_path)
    res.assert_code(2)
    assert "SWEEPRUN_TEST_UNSET" in res.stderr
    assert not (_private_sweeprun_dir / "journal.log").exists()


# ---- interrupts and crashes ---------------------------------------------------------------


def _start_bg(
    sweep: Path, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SWEEPRUN, "start", str(sweep), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _running_count(home: Path, name: str) -> int:
    try:
        return sum(t.state.name == "RUNNING" for t in load_trials(home, name))
    except (KeyError, FileNotFoundError):
        return 0


def _counted(home: Path, name: str) -> int:
    return sum(
        t.state.name in ("COMPLETE", "PRUNED")
        or (t.state.name == "FAIL" and t.user_attrs.get("sweeprun.counted", True))
        for t in load_trials(home, name)
    )


def test_first_ctrl_c_drains_second_stops_then_resume_finishes_budget(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = write_sweep(
        tmp_path,
        "method: random\nmetric: {name: loss}\nrun_cap: 6\ntrial: {kill_grace: 1s}\nparameters:\n"
        "  mode: {value: grandchild}\n  epochs: {value: 40}\n  sleep: {value: 0.1}\n"
        "  x: {min: 0.0, max: 2.0}\n",
    )
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {"PIDS_DIR": str(pids)}
    # once: launching stops, running trials finish, exit 130
    proc = _start_bg(sweep, tmp_path, "--jobs", "2", env=env)
    wait_until(lambda: len(recorded_pids(pids)) == 4, 30, "2 children + 2 grandchildren")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "waiting for 2 running trial(s) to finish" in out
    trials = load_trials(_private_sweeprun_dir, "sweep")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    # twice: running trials are stopped through the kill ladder, recorded FAIL "interrupted"
    proc = _start_bg(sweep, tmp_path, "--jobs", "2", env=env)
    wait_until(lambda: len(recorded_pids(pids)) == 8, 30, "4 more processes")
    proc.send_signal(signal.SIGINT)
    # the second Ctrl-C once the first has been handled (two before the handler runs are one)
    early = read_until(proc, "(Ctrl-C again to stop them)")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    out = early + out
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    trials = load_trials(_private_sweeprun_dir, "sweep")
    interrupted = [t for t in trials if t.state.name == "FAIL"]
    assert len(interrupted) == 2
    assert all(t.user_attrs["sweeprun.reason"] == "interrupted" for t in interrupted)
    assert all(t.user_attrs["sweeprun.counted"] is False for t in interrupted)
    assert [p for p in recorded_pids(pids) if alive(p)] == []  # grandchildren included
    # resume: exactly the remaining budget; interrupted parameters run again first
    res = run_cli("start", str(sweep), "--jobs", "2", cwd=tmp_path, env=env, timeout=120)
    res.assert_code(0)
    trials = load_trials(_private_sweeprun_dir, "sweep")
    assert _counted(_private_sweeprun_dir, "sweep") == 6
    assert not any(t.state.name in ("RUNNING", "WAITING") for t in trials)
    rerun = [t for t in trials if "sweeprun.retry_of" in t.user_attrs]
    assert {t.user_attrs["sweeprun.retry_of"] for t in rerun} == {t.number for t in interrupted}
    for t in rerun:
        original = trials[t.user_attrs["sweeprun.retry_of"]]
        assert t.user_attrs["sweeprun.params"] == original.user_attrs["sweeprun.params"]


def test_kill_9_of_the_controller_then_resume_reclaims_orphans(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = write_sweep(
        tmp_path,
        "method: random\nmetric: {name: loss}\nrun_cap: 4\ntrial: {kill_grace: 1s}\nparameters:\n"
        "  epochs: {value: 300}\n  sleep: {value: 0.02}\n  x: {min: 0.0, max: 2.0}\n",
    )
    pids = tmp_path / "pids"
    pids.mkdir()
    proc = _start_bg(sweep, tmp_path, "--jobs", "2", env={"PIDS_DIR": str(pids)})
    wait_until(lambda: _running_count(_private_sweeprun_dir, "sweep") == 2, 30, "2 running")
    wait_until(lambda: len(recorded_pids(pids)) == 2, 30, "2 children")
    proc.kill()
    proc.communicate()
    assert _running_count(_private_sweeprun_dir, "sweep") == 2  # left behind
    # resume with a short curve: the orphans are failed, their leftover children stopped
    sweep.write_text(sweep.read_text())
    res = run_cli(
        "start", str(sweep), "--jobs", "2", cwd=tmp_path, env={"PIDS_DIR": str(pids)}, timeout=180
    )
    res.assert_code(0)
    assert "recovered 2 orphaned trial(s)" in res.stdout
    trials = load_trials(_private_sweeprun_dir, "sweep")
    orphans = [t for t in trials if t.user_attrs.get("sweeprun.reason") == "orphaned"]
    assert len(orphans) == 2 and all(t.state.name == "FAIL" for t in orphans)
    assert not any(t.state.name in ("RUNNING", "WAITING") for t in trials)
    assert _counted(_private_sweeprun_dir, "sweep") == 4
    assert [p for p in recorded_pids(pids) if alive(p)] == []
