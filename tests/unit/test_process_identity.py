"""A process is known by its pid and its create time (psutil), so a reused pid is not taken
for the agent that recorded a trial."""

from __future__ import annotations

import os
import subprocess
import sys

from sweeprun.run.process.tree import LAUNCH_VAR, TrialTree
from sweeprun.run.recovery import owner_alive, owner_tag, trial_tree


def test_this_process_is_its_own_live_owner() -> None:
    tag = owner_tag()
    assert tag["pid"] == os.getpid() and isinstance(tag["start"], float)
    assert owner_alive(tag)


def test_a_reused_pid_is_another_process() -> None:
    tag = owner_tag()
    assert not owner_alive({**tag, "start": tag["start"] - 30.0})
    assert owner_alive({**tag, "start": None})  # no create time recorded: the pid alone


def test_a_finished_process_is_not_alive() -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert not owner_alive({"host": "h", "pid": int(proc.stdout), "start": None})
    assert not owner_alive({"host": "h", "pid": 0})


def test_a_marked_process_outside_the_group_is_found_and_an_unmarked_one_is_not() -> None:
    marked = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, LAUNCH_VAR: "identity-test"}, start_new_session=True,
    )  # fmt: skip
    plain = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             start_new_session=True)  # fmt: skip
    try:
        tree = trial_tree(plain.pid, "identity-test", "s", 0)  # strict: plain's group is foreign
        assert [p.pid for p in tree.members()] == [marked.pid]
        assert [p.pid for p in TrialTree(plain.pid).members()] == [plain.pid]
    finally:
        for p in (marked, plain):
            p.kill()
            p.wait()
