"""Faults with many agents: kill -9 of agents (same host and "another machine"), every agent
killed then one restarted, the database restarted mid-sweep, and a password in the URL.

"Another machine" is an agent started in its own UTS namespace (``unshare -u``) with another
hostname: its trials look foreign, so the others must judge them by heartbeat (RDB) or lease
(journal), not by pid.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

from tests.helpers.agents import check_complete, write_sweep
from tests.helpers.cli import finish, read_until, run_cli, spawn
from tests.helpers.pgprivate import PrivatePostgres, private_pg_fixture  # noqa: F401 (fixture)
from tests.helpers.processes import alive, other_host_prefix
from tests.helpers.studies import study_exists, trials_of, unique
from tests.helpers.wait import wait_until

SECRET = "hunter2-pw"
URL = f"postgresql://u:{SECRET}@db.example:5432/x"


FAST_LIVENESS = "trial: {heartbeat: 1s, lease_grace: 4s, kill_grace: 1s}\n"


def long_sweep(tmp: Path, name: str, cap: int, epochs: int, extra: str = FAST_LIVENESS) -> Path:
    return write_sweep(
        tmp,
        name,
        f"method: random\nmetric: {{name: loss}}\nrun_cap: {cap}\n{extra}parameters:\n"
        f"  x: {{min: 0.0, max: 2.0}}\n  epochs: {{value: {epochs}}}\n  sleep: {{value: 0.1}}\n",
    )


def running_of(url: str, name: str, pid: int) -> list[optuna.trial.FrozenTrial]:
    try:
        trials = trials_of(url, name)
    except (KeyError, FileNotFoundError):
        return []
    return [
        t
        for t in trials
        if t.state.name == "RUNNING"
        and (t.user_attrs.get("sweeprun.owner") or {}).get("pid") == pid
    ]


def has_been_running(
    url: str, name: str, pid: int, seconds: float
) -> optuna.trial.FrozenTrial | None:
    """A trial of agent ``pid`` running for at least ``seconds`` (its heartbeat is recorded)."""
    for t in running_of(url, name, pid):
        start = t.datetime_start
        if start is not None and time.time() - start.timestamp() >= seconds:
            return t
    return None


def assert_rerun(trials: list[optuna.trial.FrozenTrial], victim: int) -> None:
    """The victim trial failed uncounted and its parameters ran again to completion."""
    by_number = {t.number: t for t in trials}
    lost = by_number[victim]
    assert lost.state.name == "FAIL", lost
    assert lost.user_attrs.get("sweeprun.counted", False) is False
    reruns = [t for t in trials if t.user_attrs.get("sweeprun.retry_of") == victim]
    assert len(reruns) == 1, [t.user_attrs for t in trials]
    assert reruns[0].state.name == "COMPLETE"
    assert reruns[0].user_attrs["sweeprun.params"] == lost.user_attrs["sweeprun.params"]


@pytest.mark.parametrize(
    ("kind", "where"),
    [
        ("postgres", "other-host"),  # heartbeat path
        ("journal", "other-host"),  # lease path
        pytest.param("postgres", "same-host", marks=pytest.mark.slow),  # owner pid
        pytest.param("journal", "same-host", marks=pytest.mark.slow),
    ],
)
def test_kill_9_of_one_of_four_agents_reruns_its_trial(
    kind: str,
    where: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    cleanup: Callable[[str, str], None],
    procs: list[subprocess.Popen[str]],
) -> None:
    if kind == "journal":
        url = str(tmp_path / "shared" / "journal.log")
    else:
        url = request.getfixturevalue("postgres_url")
    prefix = other_host_prefix("node-b") if where == "other-host" else None
    name = unique(f"kill1-{kind}-{where}")
    cleanup(url, name)
    # 4 s trials: the victim must be seen running for 1.5 s before it is killed
    sweep = long_sweep(tmp_path, name, cap=8, epochs=40)
    first = spawn(procs, "start", str(sweep), "--storage", url, cwd=tmp_path)
    wait_until(lambda: study_exists(url, name), what="sweep created")
    victim = spawn(procs, "agent", name, "--storage", url, cwd=tmp_path, prefix=prefix)
    # the victim joins before the others, so a slow start cannot leave it without a trial
    wait_until(lambda: running_of(url, name, victim.pid), what="victim running")
    others = [spawn(procs, "agent", name, "--storage", url, cwd=tmp_path) for _ in range(2)]
    trial = wait_until(lambda: has_been_running(url, name, victim.pid, 1.5), what="victim busy")
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    for p in [first, *others]:
        finish(p, timeout=180).assert_code(0)
    trials = check_complete(url, name, 8)
    assert_rerun(trials, trial.number)
    lost = trials[trial.number]
    if where == "other-host":
        assert lost.user_attrs["sweeprun.host"] == "node-b"
    if where == "same-host" or kind == "journal":  # reaped by pid or lease: marked orphaned
        assert lost.user_attrs.get("sweeprun.reason") == "orphaned"


@pytest.mark.slow
def test_kill_9_of_every_agent_then_one_restarted_reclaims_all(
    tmp_path: Path,
    postgres_url: str,
    cleanup: Callable[[str, str], None],
    procs: list[subprocess.Popen[str]],
) -> None:
    url = postgres_url
    name = unique("killall")
    cleanup(url, name)
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {"PIDS_DIR": str(pids)}
    sweep = long_sweep(tmp_path, name, cap=5, epochs=40)
    first = spawn(procs, "start", str(sweep), "--storage", url, cwd=tmp_path, env=env)
    wait_until(lambda: study_exists(url, name), what="sweep created")
    agents = [first] + [
        spawn(procs, "agent", name, "--storage", url, cwd=tmp_path, env=env) for _ in range(2)
    ]
    wait_until(lambda: all(running_of(url, name, p.pid) for p in agents), what="3 trials running")
    for p in agents:  # all at once: a survivor would reap the others' trials by pid
        p.send_signal(signal.SIGKILL)
    for p in agents:
        p.communicate()
    orphans = [t for t in trials_of(url, name) if t.state.name == "RUNNING"]
    assert len(orphans) == 3
    again = spawn(procs, "agent", name, "--storage", url, "--jobs", "3", cwd=tmp_path, env=env)
    res = finish(again, timeout=180)
    res.assert_code(0)
    # all three reclaimed (under load, a reap may report them in more than one note)
    reclaimed = re.findall(r"recovered (\d+) orphaned trial", res.stdout)
    assert sum(int(n) for n in reclaimed) == 3, res.stdout
    trials = check_complete(url, name, 5)
    for t in orphans:
        assert_rerun(trials, t.number)
        assert trials[t.number].user_attrs["sweeprun.reason"] == "orphaned"
    # the orphans' programs were stopped, not left running
    for pid_file in pids.glob("*.pid"):
        pid = int(pid_file.read_text())
        assert not alive(pid)


def test_database_restart_mid_sweep_loses_nothing(
    tmp_path: Path, private_pg: PrivatePostgres, procs: list[subprocess.Popen[str]]
) -> None:
    url = private_pg.url
    name = unique("pgrestart")
    sweep = long_sweep(
        tmp_path, name, cap=10, epochs=6, extra="trial: {heartbeat: 1s, lease_grace: 60s}\n"
    )
    first = spawn(procs, "start", str(sweep), "--storage", url, cwd=tmp_path)
    wait_until(lambda: study_exists(url, name), what="sweep created")
    second = spawn(procs, "agent", name, "--storage", url, cwd=tmp_path)

    def both_at_work() -> bool:
        trials = trials_of(url, name)
        owners = {(t.user_attrs.get("sweeprun.owner") or {}).get("pid") for t in trials}
        done = sum(t.state.name == "COMPLETE" for t in trials)
        return {first.pid, second.pid} <= owners and done >= 2

    wait_until(both_at_work, what="both agents at work")
    running = [int(t.user_attrs["sweeprun.pid"]) for t in trials_of(url, name)
               if t.state.name == "RUNNING" and "sweeprun.pid" in t.user_attrs]  # fmt: skip
    private_pg.stop()
    # the agents hit the outage: running trials end, results wait to be written
    early = read_until(first, "is unreachable", stream="stderr")
    wait_until(lambda: not any(alive(pid) for pid in running), 60, "the running trials end")
    private_pg.start()
    results = [finish(p, timeout=240) for p in (first, second)]
    results[0].stderr = early + results[0].stderr
    for res in results:
        res.assert_code(0)
        assert private_pg.password not in res.stdout + res.stderr
    notes = "".join(r.stderr for r in results)
    assert "is unreachable" in notes and "reachable again after" in notes, notes
    assert "postgres:***@127.0.0.1" in notes
    trials = trials_of(url, name)
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == 10
    for t in trials:  # nothing failed by the outage; only the benign race at the cap
        if t.state.name != "COMPLETE":
            assert t.user_attrs.get("sweeprun.reason") == "trial budget reached", t.user_attrs
    assert {t.user_attrs["sweeprun.owner"]["pid"] for t in done} == {first.pid, second.pid}


def test_an_idle_agent_rides_out_a_database_outage(
    tmp_path: Path, private_pg: PrivatePostgres, procs: list[subprocess.Popen[str]]
) -> None:
    """An agent whose own trials are done waits (reaping) for another agent's trial: the
    database goes away meanwhile, and both still finish."""
    url = private_pg.url
    name = unique("idle-outage")
    sweep = long_sweep(tmp_path, name, cap=2, epochs=60, extra=FAST_LIVENESS.replace("4s", "60s"))
    first = spawn(procs, "start", str(sweep), "--storage", url, cwd=tmp_path)
    # pacing, not synchronisation: the second agent's trial is to end about 2 s after the
    # first one (the storage's curve lags the trial too much to wait on its progress instead)
    time.sleep(2)
    second = spawn(procs, "agent", name, "--storage", url, cwd=tmp_path)
    wait_until(lambda: running_of(url, name, second.pid), what="second trial running")
    wait_until(
        lambda: any(t.state.name == "COMPLETE" for t in trials_of(url, name)),
        timeout=60,
        what="first trial done",
    )
    private_pg.stop()  # the first agent is idle, waiting for the second agent's trial
    early = read_until(first, "is unreachable", stream="stderr")  # its reaping hit the outage
    private_pg.start()
    results = [finish(p, timeout=180) for p in (first, second)]
    results[0].stderr = early + results[0].stderr
    for res in results:
        res.assert_code(0)
    trials = trials_of(url, name)
    assert [t.state.name for t in trials].count("COMPLETE") == 2


@pytest.mark.slow
def test_password_never_appears(
    tmp_path: Path, private_pg: PrivatePostgres, _private_sweeprun_dir: Path
) -> None:
    url = private_pg.url
    secret = private_pg.password
    name = unique("secret")
    sweep = long_sweep(tmp_path, name, cap=2, epochs=2)
    outputs = [run_cli("start", str(sweep), "--storage", url, cwd=tmp_path).assert_code(0)]
    for args in (
        ["status"],
        ["status", name],
        ["trials", name],
        ["best", name],
        ["export", name, "--format", "json"],
        ["export", name, "--format", "csv"],
        ["stop", name],
    ):
        outputs.append(run_cli(*args, "--storage", url, cwd=tmp_path).assert_code(0))
    shown = "postgres:***@127.0.0.1"
    assert shown in outputs[0].stdout
    # errors: an unreachable port, a wrong database
    closed = url.replace(
        str(private_pg.port), str(private_pg.port + 1 if private_pg.port < 65535 else 1)
    )
    for bad in (closed, url.rsplit("/", 1)[0] + "/nosuchdb"):
        res = run_cli("agent", name, "--storage", bad, cwd=tmp_path)
        res.assert_code(2)
        assert "cannot open storage postgresql://postgres:***@127.0.0.1" in res.stderr
        outputs.append(res)
    for res in outputs:
        assert secret not in res.stdout + res.stderr, res.describe()
    storage = optuna.storages.RDBStorage(url.replace("postgresql://", "postgresql+psycopg://"))
    study = optuna.load_study(study_name=name, storage=storage)
    assert secret not in json.dumps(study.user_attrs, default=str)
    for t in study.get_trials():
        assert secret not in json.dumps([t.user_attrs, t.system_attrs, t.params], default=str)
    for path in _private_sweeprun_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    optuna.delete_study(study_name=name, storage=storage)


def _storage_stored_masked() -> bool:
    from sweeprun.config.load import parse_config
    from sweeprun.sweep import _config_doc

    doc = {
        "program": "t.py",
        "method": "grid",
        "storage": URL,
        "parameters": {"x": {"values": [1]}},
    }
    return SECRET not in json.dumps(_config_doc(parse_config(doc)))


@pytest.mark.xfail(
    not _storage_stored_masked(),
    reason="study._config_doc stores `storage:` unmasked (fix proposed)",
    strict=False,
)
def test_a_password_in_the_sweep_file_is_not_stored(
    tmp_path: Path, private_pg: PrivatePostgres, _private_sweeprun_dir: Path
) -> None:
    name = unique("secretfile")
    sweep = long_sweep(tmp_path, name, cap=1, epochs=1)
    sweep.write_text(sweep.read_text() + f"storage: {private_pg.url}\n")
    res = run_cli("start", str(sweep), cwd=tmp_path)
    res.assert_code(0)
    again = run_cli("start", str(sweep), cwd=tmp_path)  # resumes: the config still matches
    again.assert_code(0)
    assert "resuming" in again.stdout
    export = run_cli("export", name, "--format", "json", "--storage", private_pg.url, cwd=tmp_path)
    export.assert_code(0)
    for out in (res, again, export):
        assert private_pg.password not in out.stdout + out.stderr
    storage = optuna.storages.RDBStorage(private_pg.url.replace("://", "+psycopg://", 1))
    study = optuna.load_study(study_name=name, storage=storage)
    assert private_pg.password not in json.dumps(study.user_attrs, default=str)
    optuna.delete_study(study_name=name, storage=storage)


# ---- the retrying wrapper, in process: lost replies and outages --------------------------
class Flaky(optuna.storages.InMemoryStorage):
    """An in-memory storage whose calls fail as planned: "before" (the request never arrived)
    or "after" (the work was done, the reply was lost)."""

    def __init__(self) -> None:
        super().__init__()
        self.plan: dict[str, list[str]] = {}

    def _fault(self, name: str, when: str) -> None:
        import sqlalchemy.exc

        steps = self.plan.get(name)
        if steps and steps[0] == when:
            steps.pop(0)
            raise sqlalchemy.exc.OperationalError(
                "SELECT 1", {}, Exception(f"server closed the connection ({SECRET})")
            )

    def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
        self._fault("create_new_trial", "before")
        out = super().create_new_trial(study_id, template_trial)
        self._fault("create_new_trial", "after")
        return out

    def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
        self._fault("set_trial_state_values", "before")
        out = super().set_trial_state_values(trial_id, state, values)
        self._fault("set_trial_state_values", "after")
        return out


def wrapped(budget: float = 30.0) -> tuple[Flaky, Any, list[str]]:
    from sweeprun.storage.retrying import wrap
    from sweeprun.storage.urls import mask_url, redact

    inner = Flaky()
    notes: list[str] = []
    st = wrap(inner, mask_url(URL), lambda t: redact(t, URL), budget=budget, say=notes.append)
    return inner, st, notes


def test_lost_replies_make_no_duplicate_and_no_error() -> None:
    inner, st, notes = wrapped()
    study = optuna.create_study(storage=st, study_name="s")
    inner.plan = {"create_new_trial": ["after", "before", "after"]}
    study.enqueue_trial({"x": 1.0})  # a queued grid point: created once, not twice
    trial = study.ask()  # pops it
    assert [t.state.name for t in study.get_trials()] == ["RUNNING"]
    inner.plan = {"set_trial_state_values": ["after"]}
    study.tell(trial, 1.0)  # the reply of the final state is lost: still one success
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE"]
    assert len(notes) == 4  # two outages: each noted once when it starts and once when it ends
    assert "unreachable" in notes[0] and "reachable again" in notes[1]
    assert all(SECRET not in n for n in notes) and "u:***@db.example" in notes[0]


def test_the_outage_budget_ends_in_a_clear_error_then_fails_fast() -> None:
    from sweeprun.storage.retrying import StorageUnavailable

    inner, st, notes = wrapped(budget=0.3)
    study = optuna.create_study(storage=st, study_name="s")
    inner.plan = {"create_new_trial": ["before"] * 100}
    with pytest.raises(StorageUnavailable) as err:
        study.ask()
    assert "giving up" in str(err.value) and "SWEEPRUN_STORAGE_RETRY" in str(err.value)
    assert SECRET not in str(err.value)
    calls = len(inner.plan["create_new_trial"])
    with pytest.raises(StorageUnavailable):  # still down: one attempt, no more waiting
        st.create_new_trial(study._study_id)
    assert calls - len(inner.plan["create_new_trial"]) == 1
    inner.plan = {}
    assert st.create_new_trial(study._study_id) >= 0  # back: works again, and says so
    assert len(notes) == 2 and "reachable again" in notes[-1]  # one outage, two notes


def test_other_errors_are_not_retried() -> None:
    _, st, notes = wrapped()
    with pytest.raises(KeyError):
        st.get_study_id_from_name("nope")
    assert notes == []


def test_retry_budget_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from sweeprun.errors import SweepError
    from sweeprun.storage.retrying import DEFAULT_BUDGET, retry_budget, wrap

    monkeypatch.delenv("SWEEPRUN_STORAGE_RETRY", raising=False)
    assert retry_budget() == DEFAULT_BUDGET
    monkeypatch.setenv("SWEEPRUN_STORAGE_RETRY", "90s")
    assert retry_budget() == 90
    monkeypatch.setenv("SWEEPRUN_STORAGE_RETRY", "0")
    inner = Flaky()
    assert wrap(inner, "x", str) is inner  # off: no wrapper at all
    monkeypatch.setenv("SWEEPRUN_STORAGE_RETRY", "soon")
    with pytest.raises(SweepError, match="SWEEPRUN_STORAGE_RETRY"):
        retry_budget()
