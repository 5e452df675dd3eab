"""Signals to ``sweeprun start`` and ``sweeprun agent``: SIGINT once (drain), twice (stop),
SIGTERM and SIGHUP (stop). Each ends with exit 130, no process of the sweep left (grandchildren
that ignore SIGTERM included), no trial RUNNING, and a sweep that a following ``start``
completes with exactly its budget.

(``start`` + SIGINT once/twice is also covered by tests/test_run_cli.py; here those two run
under the chaos marker only.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.paths import PROGRAMS, SWEEPRUN
from tests.helpers.processes import sweep_processes
from tests.helpers.studies import counted, trials_of, unique
from tests.helpers.wait import wait_until

RUN_TRIAL = PROGRAMS / "run_trial.py"
CAP = 3

SEQUENCES = {
    "int-once": [signal.SIGINT],
    "int-twice": [signal.SIGINT, signal.SIGINT],
    "term": [signal.SIGTERM],
    "hup": [signal.SIGHUP],
}
# in the normal suite: one case per signal path; all eight under -m chaos (SIGINT to start is
# also in tests/test_run_cli.py; SIGTERM and SIGHUP share one handler)
FAST = {("start", "term"), ("agent", "int-twice"), ("agent", "hup")}
CASES = [
    pytest.param(cmd, seq, marks=[] if (cmd, seq) in FAST else [pytest.mark.chaos])
    for cmd in ("start", "agent")
    for seq in SEQUENCES
]


DRAINING = "note: interrupted: launching stopped"


def _read_lines(proc: subprocess.Popen[str], lines: list[str]) -> None:
    """The agent's stdout, line by line as it comes (its plain display flushes each line)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)


def _sweep(tmp: Path, name: str) -> Path:
    path = tmp / "sweep.yaml"
    path.write_text(
        f"name: {name}\nprogram: {RUN_TRIAL}\nmethod: random\nmetric: {{name: loss}}\n"
        f"run_cap: {CAP}\ntrial: {{kill_grace: 0.5s}}\nparameters:\n"
        "  mode: {value: grandchild}\n  epochs: {value: 5}\n  sleep: {value: 0.1}\n"
        "  x: {min: 0.0, max: 2.0}\n"
    )
    return path


@pytest.mark.parametrize(("command", "sequence"), CASES)
def test_signal_ends_with_130_no_orphans_and_a_resumable_sweep(
    tmp_path: Path, command: str, sequence: str
) -> None:
    name = unique("sig")
    url = str(tmp_path / "journal.log")
    sweep = _sweep(tmp_path, name)
    if command == "start":
        argv = [SWEEPRUN, "start", str(sweep), "--jobs", "2", "--storage", url]
    else:  # create the sweep (one trial), then signal an agent that joins it
        run_cli("start", str(sweep), "--max-trials", "1", "--storage", url, cwd=tmp_path)
        argv = [SWEEPRUN, "agent", name, "--jobs", "2", "--storage", url]
    before = counted(trials_of(url, name)) if command == "agent" else 0
    proc = subprocess.Popen(
        argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=_read_lines, args=(proc, lines), daemon=True)
    reader.start()
    try:
        # two trials running, each with its SIGTERM-ignoring grandchild
        wait_until(lambda: len(sweep_processes(name)) >= 4, 60, "two trials running")
        for i, sig in enumerate(SEQUENCES[sequence]):
            if i:  # the next signal once the agent took the first one (it says so)
                wait_until(lambda: any(DRAINING in line for line in lines), 30, DRAINING)
            proc.send_signal(sig)
        proc.wait(timeout=60)
        reader.join(timeout=30)
        out = "".join(lines)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert "interrupted; run the same command again to resume" in out
    assert sweep_processes(name) == []
    trials = trials_of(url, name)
    assert not [t for t in trials if t.state.name == "RUNNING"]
    if sequence == "int-once":  # drained: the two running trials finished normally
        assert "waiting for 2 running trial(s) to finish" in out
        assert counted(trials) == before + 2
    else:  # stopped: FAIL "interrupted", not counted, parameters queued again
        stopped = [t for t in trials if t.user_attrs.get("sweeprun.reason") == "interrupted"]
        assert len(stopped) == 2, [(t.state, t.user_attrs.get("sweeprun.reason")) for t in trials]
        assert all(t.user_attrs["sweeprun.counted"] is False for t in stopped)
        assert counted(trials) == before
    # a following start completes the budget exactly
    res = run_cli("start", str(sweep), "--jobs", "2", "--storage", url, cwd=tmp_path)
    res.assert_code(0)
    trials = trials_of(url, name)
    assert counted(trials) == CAP
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    assert sweep_processes(name) == []


@pytest.mark.chaos
def test_sigterm_during_startup_leaves_nothing(tmp_path: Path) -> None:
    """A signal before any trial runs: exit 130 (or 0 if it came too late), nothing left."""
    name = unique("sig0")
    url = str(tmp_path / "journal.log")
    sweep = _sweep(tmp_path, name)
    proc = subprocess.Popen(
        [SWEEPRUN, "start", str(sweep), "--storage", url],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    wait_until(lambda: os.path.exists(url), 60, "the journal is created")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, -signal.SIGTERM), out + err
    assert "Traceback" not in err
    wait_until(lambda: sweep_processes(name) == [], 10, "no process of the sweep")
    res = run_cli("start", str(sweep), "--jobs", "2", "--storage", url, cwd=tmp_path)
    res.assert_code(0)
    assert counted(trials_of(url, name)) == CAP
