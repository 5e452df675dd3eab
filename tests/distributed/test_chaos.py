"""Chaos soaks: several ``sweeprun start``/``agent`` processes on one sweep, trial programs that
misbehave at random (tests/programs/chaos_trial.py), and a driver that kill -9s, or freezes
(SIGSTOP past ``trial.lease_grace``, then SIGCONT), random agents; and one ``start --jobs 4``
controller kill -9ed again and again, resumed each time by the same command. At the end nothing
is lost, nothing is left running (escaped helpers included), nothing leaks.

The short versions run in the normal suite; ``make chaos`` (``-m chaos``) runs the long ones.
The soak machinery lives in tests/helpers/chaos.py.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

from sweeprun.run.liveness import enable_rdb_heartbeat
from sweeprun.run.recovery import is_orphan
from sweeprun.storage.optuna_adapter import stale_trial_ids, study_id_of
from tests.helpers.chaos import (
    TRIAL_SETTINGS,
    Fleet,
    SoakStats,
    chaos_sweep,
    check_invariants,
    report,
    run_controller_soak,
    run_soak,
)
from tests.helpers.cli import run_cli
from tests.helpers.paths import PROGRAMS, SWEEPRUN
from tests.helpers.processes import describe_process, kill_sweep_processes, sweep_processes
from tests.helpers.studies import (
    counted,
    delete_study,
    open_study,
    study_exists,
    trials_of,
    unique,
)
from tests.helpers.wait import wait_until

# ---- tests ----------------------------------------------------------------------------------


def _soak(tmp: Path, url: str, label: str, **kw: Any) -> SoakStats:
    name = unique(f"chaos-{label}")
    stats = run_soak(tmp, url, name, **kw)
    report(stats, label)
    if not url.endswith(".log") and not stats.problems:  # kept for a look when one failed
        delete_study(url, name)
    assert stats.kills >= kw["min_kills"]
    assert stats.freezes >= kw.get("min_freezes", 0)
    if kw.get("min_freezes"):  # at least one freeze outlasted the lease: a trial was reaped
        assert stats.reaped_while_frozen >= 1
    assert sum(stats.modes.values()) >= kw["cap"]  # every trial ran the chaos program
    assert stats.problems == []
    return stats


def test_chaos_short_journal(tmp_path: Path) -> None:
    _soak(tmp_path, str(tmp_path / "journal.log"), "j", cap=40, agents=2, seed=1, min_kills=2)


@pytest.mark.chaos
def test_chaos_soak_journal(tmp_path: Path) -> None:
    _soak(tmp_path, str(tmp_path / "journal.log"), "j", cap=300, agents=3, seed=7, min_kills=10)


@pytest.mark.chaos  # PostgreSQL agents are in the normal suite through tests/test_agents*.py
def test_chaos_short_postgres(tmp_path: Path, postgres_url: str) -> None:
    _soak(tmp_path, postgres_url, "pg", cap=16, agents=2, seed=3, min_kills=2)


@pytest.mark.chaos
def test_chaos_soak_postgres(tmp_path: Path, postgres_url: str) -> None:
    _soak(tmp_path, postgres_url, "pg", cap=300, agents=4, seed=11, min_kills=10)


@pytest.mark.chaos
def test_chaos_soak_journal_frozen_agents(tmp_path: Path) -> None:
    _soak(
        tmp_path,
        str(tmp_path / "journal.log"),
        "jf",
        cap=260,
        agents=3,
        seed=21,
        min_kills=4,
        min_freezes=6,
        pace=0.4,
    )


@pytest.mark.chaos  # timing-bound under a loaded suite; the normal suite has test_frozen_agent
def test_chaos_short_postgres_frozen_agents(tmp_path: Path, postgres_url: str) -> None:
    _soak(
        tmp_path,
        postgres_url,
        "pgf",
        cap=60,
        agents=2,
        seed=23,
        min_kills=1,
        min_freezes=2,
        pace=0.4,
    )


@pytest.mark.chaos
def test_chaos_soak_postgres_frozen_agents(tmp_path: Path, postgres_url: str) -> None:
    _soak(
        tmp_path,
        postgres_url,
        "pgf",
        cap=260,
        agents=3,
        seed=25,
        min_kills=4,
        min_freezes=6,
        pace=0.4,
    )


@pytest.mark.chaos
def test_chaos_soak_redis_frozen_agents(tmp_path: Path, redis_url: str) -> None:
    _soak(
        tmp_path, redis_url, "rf", cap=260, agents=3, seed=27, min_kills=4, min_freezes=6, pace=0.4
    )


@pytest.mark.chaos  # timing-bound under a loaded suite; the normal suite has test_frozen_agent
def test_chaos_short_redis_frozen_agents(tmp_path: Path, redis_url: str) -> None:
    _soak(
        tmp_path, redis_url, "rf", cap=60, agents=2, seed=29, min_kills=1, min_freezes=2, pace=0.4
    )


def _controller_soak(tmp: Path, url: str, label: str, **kw: Any) -> SoakStats:
    name = unique(f"chaos-{label}")
    stats = run_controller_soak(tmp, url, name, **kw)
    report(stats, label)
    if not url.endswith(".log") and not stats.problems:  # kept for a look when one failed
        delete_study(url, name)
    assert stats.kills == kw["kills"] and stats.stops
    assert stats.problems == []
    return stats


def test_controller_killed_again_and_again_short(tmp_path: Path) -> None:
    _controller_soak(
        tmp_path, str(tmp_path / "journal.log"), "ctl", cap=30, jobs=4, seed=31, kills=5
    )


@pytest.mark.chaos
def test_controller_killed_again_and_again_journal(tmp_path: Path) -> None:
    _controller_soak(
        tmp_path, str(tmp_path / "journal.log"), "ctl", cap=250, jobs=4, seed=33, kills=25
    )


@pytest.mark.chaos
def test_controller_killed_again_and_again_postgres(tmp_path: Path, postgres_url: str) -> None:
    _controller_soak(tmp_path, postgres_url, "ctlpg", cap=350, jobs=4, seed=35, kills=25)


# ---- deterministic reproductions of what the soak found (fixed in 350a1b5 unless xfail) ------
RUN_TRIAL = PROGRAMS / "run_trial.py"


def _simple_sweep(
    tmp: Path, name: str, params: str, cap: int = 2, trial: str = TRIAL_SETTINGS
) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nprogram: {RUN_TRIAL}\nmethod: random\nmetric: {{name: loss}}\n"
        f"run_cap: {cap}\n{trial}parameters:\n{params}"
    )
    return path


def test_reaping_a_dead_agents_trial_stops_its_grandchildren(tmp_path: Path) -> None:
    name = unique("gc")
    url = str(tmp_path / "journal.log")
    sweep = _simple_sweep(
        tmp_path,
        name,
        "  mode: {value: grandchild}\n  epochs: {value: 8}\n"
        "  sleep: {value: 0.1}\n  x: {min: 0.0, max: 2.0}\n",
        cap=1,
    )
    proc = subprocess.Popen(
        [SWEEPRUN, "start", str(sweep), "--storage", url],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: len(sweep_processes(name)) >= 2, 60, "child and grandchild")
        proc.kill()
        proc.wait()
        # the child dies (its stdout pipe is gone, or its curve ends); the grandchild stays
        wait_until(lambda: len(sweep_processes(name)) == 1, 30, "only the grandchild left")
        run_cli("start", str(sweep), "--storage", url, cwd=tmp_path).assert_code(0)
        leaked = sweep_processes(name)
        assert leaked == [], [describe_process(p) for p in leaked]
    finally:
        kill_sweep_processes(name)


def test_rdb_trial_of_an_agent_killed_before_its_first_heartbeat_is_reclaimed(
    tmp_path: Path, postgres_url: str
) -> None:
    name = unique("noowner")
    sweep = _simple_sweep(tmp_path, name, "  x: {min: 0.0, max: 2.0}\n", cap=2)
    try:
        run_cli(
            "start", str(sweep), "--storage", postgres_url, "--max-trials", "1", cwd=tmp_path
        ).assert_code(0)
        study = open_study(postgres_url, name)
        # what an agent killed right after ask() leaves behind: RUNNING, no owner
        asked = study.ask()
        (orphan,) = [t for t in trials_of(postgres_url, name) if t.number == asked.number]
        wait_until(lambda: is_orphan(orphan, 4.0, time.time()), 30, "lease_grace (4s) over")
        res = run_cli("agent", name, "--storage", postgres_url, cwd=tmp_path)
        res.assert_code(0)
        trials = trials_of(postgres_url, name)
        assert [t.state.name for t in trials if t.state.name == "RUNNING"] == []
        assert counted(trials) == 2
    finally:
        delete_study(postgres_url, name)


def test_rdb_stale_heartbeat_failures_carry_a_reason(tmp_path: Path, postgres_url: str) -> None:
    name = unique("stale")
    sweep = _simple_sweep(
        tmp_path,
        name,
        "  epochs: {value: 30}\n  sleep: {value: 0.1}\n  x: {min: 0.0, max: 2.0}\n",
        cap=1,
        trial="trial: {timeout: 60s, kill_grace: 0.5s, heartbeat: 1s, lease_grace: 4s}\n",
    )
    proc = subprocess.Popen(
        [SWEEPRUN, "start", str(sweep), "--storage", postgres_url],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # launched: its first heartbeat went out with the launch attributes (one transaction)
        wait_until(lambda: _launched(postgres_url, name), 60, "a trial launched")
        proc.kill()
        proc.wait()
        kill_sweep_processes(name)
        study = open_study(postgres_url, name)
        rdb = enable_rdb_heartbeat(study, 1.0, 4.0)  # as the sweep's trial settings say
        assert rdb is not None
        # until the trial is stale: Optuna's fail_stale_trials would fail it now
        wait_until(lambda: stale_trial_ids(rdb, study_id_of(study)), 30, "stale heartbeat", 0.2)
        run_cli("start", str(sweep), "--storage", postgres_url, cwd=tmp_path).assert_code(0)
        failed = [t for t in trials_of(postgres_url, name) if t.state.name == "FAIL"]
        assert len(failed) == 1
        assert failed[0].user_attrs.get("sweeprun.reason") == "orphaned"
    finally:
        kill_sweep_processes(name)
        delete_study(postgres_url, name)


def _launched(url: str, name: str) -> bool:
    """A trial is RUNNING with its launch attributes (its child's pid) recorded."""
    try:
        trials = trials_of(url, name)
    except Exception:  # not created yet
        return False
    return any(t.state.name == "RUNNING" and "sweeprun.pid" in t.user_attrs for t in trials)


def test_two_agents_never_exceed_the_trial_budget(tmp_path: Path) -> None:
    from sweeprun.config.load import load_config
    from sweeprun.run.budget import Budget
    from sweeprun.space.distributions import SearchSpace
    from sweeprun.storage.urls import classify
    from sweeprun.sweep import create_or_resume, load_sweep

    name = unique("cap")
    sweep = _simple_sweep(tmp_path, name, "  x: {min: 0.0, max: 2.0}\n", cap=1)
    cfg = load_config(sweep)
    spec = classify(str(tmp_path / "journal.log"))
    agent_a = create_or_resume(spec, name, cfg)
    agent_b = load_sweep(spec, name)
    space = SearchSpace.from_params(cfg.parameters)
    budget_a = Budget(agent_a.study, cfg, cap=None, space=space)
    budget_b = Budget(agent_b.study, agent_b.config, cap=None, space=space)
    assert budget_a.exhausted(0) is None
    agent_a.study.ask()  # agent A launches the one trial the budget allows
    budget_a.launched(None)
    assert budget_a.exhausted(1) is not None
    assert budget_b.exhausted(0) is not None  # agent B must not launch a second one


def test_agents_of_a_seeded_sweep_draw_different_parameters(tmp_path: Path) -> None:
    name = unique("seed")
    url = str(tmp_path / "journal.log")
    sweep = _simple_sweep(tmp_path, name, "  x: {min: 0.0, max: 2.0}\n", cap=4)
    sweep.write_text(sweep.read_text() + "seed: 5\n")
    run_cli("start", str(sweep), "--storage", url, "--max-trials", "2", cwd=tmp_path).assert_code(0)
    run_cli("agent", name, "--storage", url, "--count", "2", cwd=tmp_path).assert_code(0)
    xs = [t.params["x"] for t in trials_of(url, name)]
    assert len(xs) == 4
    assert len(set(xs)) == 4, xs


def test_a_late_attribute_write_on_a_finished_trial_does_not_break_the_agent(
    tmp_path: Path,
) -> None:
    from optuna.storages.journal import JournalFileBackend

    from sweeprun.storage.batching import BatchingStorage
    from sweeprun.storage.optuna_adapter import trial_id_of

    def agent() -> BatchingStorage:
        return BatchingStorage(
            optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "j.log")))
        )

    study_a_storage = agent()
    study_a = optuna.create_study(storage=study_a_storage, study_name="s")
    trial = study_a.ask()
    study_b = optuna.load_study(storage=agent(), study_name="s")
    study_b.tell(study_b.trials[0].number, state=optuna.trial.TrialState.FAIL)  # a reaper
    attrs = {"sweeprun.exit_code": 0, "sweeprun.duration": 1.0, "sweeprun.counted": True}
    # agent A still sees the trial RUNNING and writes its end records; refusing the write is
    # fine, breaking every later read is not
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
        study_a_storage.write_records(trial_id_of(trial), attrs)
    assert [t.state.name for t in study_a.get_trials()] == ["FAIL"]


def test_chaos_bad_journal_lines_written_during_a_sweep(tmp_path: Path) -> None:
    """A rogue writer appends lines that are not records (bad JSON, a list, an unknown
    operation, a state record without its state, a torn half-record left for the next append
    to cut) to the journal, under its lock, all through a two-agent chaos sweep: the agents
    skip them, the budget is met exactly, nothing is lost, no traceback."""
    import threading

    from sweeprun.storage.journal import FlockLock

    name = unique("chaos-lines")
    url = str(tmp_path / "journal.log")
    sweep = chaos_sweep(tmp_path, name, 16, 5)
    fleet = Fleet(tmp_path, url, name)
    rng = random.Random(5)
    bad = [
        b'{"op_code": 5, garbage\n',
        b"\x00\xff\xfe\n",
        b"[1, 2]\n",
        b'{"op_code": 77, "worker_id": "w"}\n',
        b'{"op_code": 6, "worker_id": "w", "trial_id": 0}\n',
        b'{"op_code":8,"worker_id":"w","trial_id":1,"user_at',  # torn: cut by the next append
    ]
    written = [0]
    stop = threading.Event()

    def rogue() -> None:
        lock = FlockLock(url)
        while not stop.wait(rng.uniform(0.02, 0.2)):  # pacing of the rogue writer
            lock.acquire()
            try:
                with open(url, "ab") as fh:
                    fh.write(rng.choice(bad))
                written[0] += 1
            finally:
                lock.release()

    stats = SoakStats()
    thread = threading.Thread(target=rogue, daemon=True)
    try:
        fleet.spawn("start", str(sweep), "--jobs", "2")
        wait_until(lambda: study_exists(url, name), 60, "the sweep is created")
        thread.start()
        fleet.agent()
        for p in fleet.procs:
            p.wait(timeout=300)
        stop.set()
        thread.join()
        final = run_cli("agent", name, "--storage", url, "--jobs", "2", cwd=tmp_path, timeout=300)
        if final.returncode != 0 or "Traceback" in final.stderr:
            stats.problems.append(f"final agent: {final.describe()}")
        stats.problems += fleet.tracebacks()
        check_invariants(url, name, 16, stats)
    finally:
        stop.set()
        fleet.kill_all()
        stats.problems += [f"left running: {d}" for d in kill_sweep_processes(name)]
    report(stats, f"bad lines ({written[0]} written)")
    notes = "".join(log.read_text(errors="replace") for log in fleet.logs)
    assert written[0] >= 5 and "is not a journal record" in notes
    assert [p.returncode for p in fleet.procs] == [0, 0], notes[-3000:]
    assert stats.problems == []
