"""Chaos soak: several ``sweeprun start``/``agent`` processes on one sweep, trial programs that
misbehave at random (tests/programs/chaos_trial.py), and a driver that kill -9s random agents
and restarts them. At the end nothing is lost, nothing is left running, nothing leaks.

The short versions run in the normal suite; ``make chaos`` (``-m chaos``) runs the long ones.
Shared helpers (``trials_of``, ``sweep_processes``, ``wait_until`` …) live in tests/helpers/.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pytest

from sweeprun.run.liveness import enable_rdb_heartbeat
from sweeprun.run.recovery import is_orphan
from sweeprun.storage.optuna_adapter import stale_trial_ids, study_id_of
from tests.helpers.cli import run_cli
from tests.helpers.paths import PROGRAMS, SWEEPRUN
from tests.helpers.processes import describe_process, kill_sweep_processes, sweep_processes
from tests.helpers.studies import counted, delete_study, open_study, trials_of, unique
from tests.helpers.wait import wait_until

CHAOS_TRIAL = PROGRAMS / "chaos_trial.py"
TRIAL_SETTINGS = "trial: {timeout: 2s, kill_grace: 0.5s, heartbeat: 1s, lease_grace: 4s}\n"
optuna.logging.set_verbosity(optuna.logging.WARNING)


# ---- the soak ------------------------------------------------------------------------------
def chaos_sweep(tmp: Path, name: str, cap: int, seed: int, extra: str = "") -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nprogram: {CHAOS_TRIAL}\nmethod: random\nmetric: {{name: loss}}\n"
        f"run_cap: {cap}\nseed: {seed}\nfailures: {{max_consecutive: 0}}\n{TRIAL_SETTINGS}"
        f"parameters:\n  x: {{min: 0.0, max: 1.0}}\n  seed: {{value: {seed}}}\n{extra}"
    )
    return path


@dataclass
class SoakStats:
    trials: int = 0
    counted: int = 0
    kills: int = 0
    agents_started: int = 0
    over: int = 0
    problems: list[str] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)


class Fleet:
    """The agent processes of one sweep, their output in files."""

    def __init__(self, tmp: Path, url: str, name: str) -> None:
        self.tmp, self.url, self.name = tmp, url, name
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        out = self.tmp / f"agent-{n}.out"
        err = self.tmp / f"agent-{n}.err"
        with open(out, "wb") as o, open(err, "wb") as e:
            p = subprocess.Popen(
                [SWEEPRUN, *args, "--storage", self.url], cwd=self.tmp, stdout=o, stderr=e
            )
        self.procs.append(p)
        self.logs += [out, err]
        return p

    def agent(self, jobs: int = 2) -> subprocess.Popen[bytes]:
        return self.spawn("agent", self.name, "--jobs", str(jobs))

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill_all(self) -> None:
        for p in self.alive():
            p.kill()
            p.wait()

    def tracebacks(self) -> list[str]:
        bad = []
        for log in self.logs:
            text = log.read_text(errors="replace")
            if "Traceback" in text or "internal error" in text:
                bad.append(f"{log.name}:\n{text[-3000:]}")
        return bad


def run_soak(
    tmp: Path, url: str, name: str, *, cap: int, agents: int, seed: int, min_kills: int
) -> SoakStats:
    """Run a chaos sweep to its end while kill -9ing random agents; check every invariant.

    Every violated invariant is collected in ``stats.problems`` (and the figures printed) before
    the test asserts that there are none."""
    rng = random.Random(seed)
    stats = SoakStats()
    sweep = chaos_sweep(tmp, name, cap, seed)
    fleet = Fleet(tmp, url, name)
    try:
        fleet.spawn("start", str(sweep), "--jobs", "2")
        wait_until(lambda: _exists(url, name), 60, "the sweep is created")
        for _ in range(agents - 1):
            fleet.agent()
        stats.agents_started = agents
        study = open_study(url, name)
        # kill -9 a random agent at random points of the sweep, restart one at once: the
        # points are trial counts spread over the first 70% of the budget (so the minimum
        # number of kills happens however fast the machine is), reached by waiting on the
        # storage, then a random moment within the running trials
        spread = max(2, int(cap * 0.7 / min_kills))
        next_at = rng.randint(1, spread)
        while True:
            target = next_at

            def reached(at: int = target) -> bool:
                return counted(study.get_trials(deepcopy=False)) >= at or not fleet.alive()

            wait_until(reached, 300, f"{target} trials counted", interval=0.1)
            live = fleet.alive()
            if not live:
                break
            time.sleep(rng.uniform(0.0, 0.5))  # pacing: a random moment, not synchronisation
            victim = rng.choice(live)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            stats.kills += 1
            fleet.agent()
            stats.agents_started += 1
            done = counted(study.get_trials(deepcopy=False))
            if done >= cap * 0.8 and stats.kills >= min_kills:
                break
            next_at = done + rng.randint(2, spread)
        for p in fleet.procs:
            p.wait(timeout=300)
        # an agent that quits while a dead agent's trials are still RUNNING leaves them to the
        # next agent: one more reaps them and finishes the budget exactly
        final = run_cli("agent", name, "--storage", url, "--jobs", "2", cwd=tmp, timeout=300)
        stats.agents_started += 1
        if final.returncode != 0 or "Traceback" in final.stderr:
            stats.problems.append(f"final agent: {final.describe()}")
        stats.problems += fleet.tracebacks()
        check_invariants(url, name, cap, stats)
        stats.modes = _modes(name)
        status = run_cli("status", name, "--storage", url, "--json", cwd=tmp)
        if status.returncode != 0:
            stats.problems.append(f"status --json: {status.describe()}")
        else:
            json.loads(status.stdout)
    finally:
        fleet.kill_all()
        stats.problems += [f"left running: {d}" for d in kill_sweep_processes(name)]
    return stats


def _exists(url: str, name: str) -> bool:
    try:
        return "sweeprun.config" in open_study(url, name).user_attrs
    except Exception:
        return False


def check_invariants(url: str, name: str, cap: int, stats: SoakStats) -> None:
    trials = trials_of(url, name)  # the storage opens in plain Optuna
    stats.trials = len(trials)
    stats.counted = counted(trials)
    stats.states = Counter(t.state.name for t in trials)
    stats.reasons = Counter(
        str(t.user_attrs.get("sweeprun.reason", "-")).split(" after")[0]
        for t in trials
        if t.state.name == "FAIL"
    )
    problems = stats.problems
    stats.over = stats.counted - cap
    if stats.counted != cap:
        problems.append(f"{stats.counted} trials counted, run_cap is {cap}")
    if stats.states["RUNNING"]:
        problems.append(f"{stats.states['RUNNING']} trial(s) left RUNNING")
    if stats.states["WAITING"] and stats.counted < cap:
        problems.append(f"{stats.states['WAITING']} trial(s) WAITING with budget left")
    no_reason = [t for t in trials if t.state.name == "FAIL" and not _reason(t)]
    if no_reason:
        problems.append(
            "FAIL trials without sweeprun.reason: "
            + "; ".join(f"{t.number} {t.user_attrs} {t.system_attrs}" for t in no_reason)
        )
    # nothing lost: every complete trial has its params and its value
    for t in trials:
        if t.state.name == "COMPLETE" and (
            t.value is None or "sweeprun.params" not in t.user_attrs
        ):
            problems.append(f"trial {t.number} COMPLETE without value or params")
    # re-queued parameters keep their values
    by_number = {t.number: t for t in trials}
    for t in trials:
        src = t.user_attrs.get("sweeprun.retry_of")
        original = by_number[src].user_attrs.get("sweeprun.params") if src is not None else None
        if original is not None and t.user_attrs.get("sweeprun.params", original) != original:
            problems.append(f"trial {t.number} re-ran {src} with other parameters")


def _reason(t: optuna.trial.FrozenTrial) -> str:
    return str(t.user_attrs.get("sweeprun.reason") or "")


def _modes(name: str) -> Counter[str]:
    """Which misbehaviours the trial programs chose (first line of each stdout.log)."""
    from sweeprun.run.request import safe_name

    modes: Counter[str] = Counter()
    home = Path(os.environ["SWEEPRUN_DIR"]) / safe_name(name)
    for log in home.glob("trial-*/stdout.log"):
        with open(log, "rb") as fh:
            first = fh.readline().decode(errors="replace").split()
        if first[:2] == ["chaos", "mode"]:
            modes[first[2]] += 1
    return modes


def report(stats: SoakStats, label: str) -> None:
    print(
        f"\n[chaos {label}] trials={stats.trials} counted={stats.counted} kills={stats.kills} "
        f"over_budget={stats.over} agents={stats.agents_started} states={dict(stats.states)} "
        f"fail_reasons={dict(stats.reasons)} modes={dict(stats.modes)} "
        f"problems={len(stats.problems)}"
    )
    for problem in stats.problems:
        print(f"  problem: {problem[:2000]}")


# ---- tests ----------------------------------------------------------------------------------


def _soak(tmp: Path, url: str, label: str, **kw: Any) -> SoakStats:
    name = unique(f"chaos-{label}")
    try:
        stats = run_soak(tmp, url, name, **kw)
    finally:
        if not url.endswith(".log"):
            delete_study(url, name)
    report(stats, label)
    assert stats.kills >= kw["min_kills"]
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
        wait_until(lambda: _exists(url, name), 60, "the sweep is created")
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
