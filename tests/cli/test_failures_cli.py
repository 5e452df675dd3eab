"""Failures a user can act on, through the installed command: the console FAIL line,
``status NAME`` and ``trials NAME`` show the program's own stderr line (a traceback's exception
line), read back from the storage alone, as on another machine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.studies import load_trials

PROGRAM = """\
import argparse, atexit, sys
ap = argparse.ArgumentParser()
ap.add_argument("--mode")
mode = ap.parse_args().mode
print('{"loss": 1.0}', flush=True)
if mode == "ok":
    sys.exit(0)
if mode == "noisy":  # lines after the traceback, as wandb prints them at exit
    atexit.register(lambda: print("wandb: Find logs at: ./wandb/run-1/logs", file=sys.stderr))
    class UsageError(Exception):
        pass
    def init():
        raise UsageError("No API key configured")
    init()
if mode == "usage":
    ap.error("argument --lr: invalid float value: 'fast'")
print("x" * 1000, file=sys.stderr)
sys.exit(4)
"""


def test_failures_show_the_programs_stderr_line(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    (tmp_path / "train.py").write_text(PROGRAM)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        f"name: why\nprogram: {tmp_path / 'train.py'}\nmethod: grid\n"
        "metric: {name: loss}\nfailures: {max_consecutive: 0}\n"
        "parameters:\n  mode: {values: [ok, noisy, usage, long]}\n"
    )
    res = run_cli("start", str(sweep), cwd=tmp_path).assert_code(0)
    noisy = "UsageError: No API key configured"
    usage = "train.py: error: argument --lr: invalid float value: 'fast'"
    assert f"trial 1 FAIL: exit code 1; stderr: {noisy} (" in res.stdout, res.stdout
    assert f"trial 2 FAIL: exit code 2; stderr: {usage} (" in res.stdout
    assert "trial 3 FAIL: exit code 4; stderr: " + "x" * 199 + "…" in res.stdout

    trials = {t.number: t for t in load_trials(_private_sweeprun_dir, "why")}
    assert trials[1].user_attrs["sweeprun.reason"] == "exit code 1"  # the reason stays a kind
    assert trials[1].user_attrs["sweeprun.stderr_line"] == f"{noisy}"
    assert "sweeprun.stderr_line" not in trials[0].user_attrs
    for t in trials.values():  # what follows is read from the storage alone
        shutil.rmtree(t.user_attrs["sweeprun.log_dir"])

    status = run_cli("status", "why", cwd=tmp_path).assert_success().stdout
    failures = status.split("failures", 1)[1]
    assert "count  reason       stderr" in failures
    assert f"1      exit code 1  {noisy}" in failures
    assert f"1      exit code 2  {usage}" in failures
    d = json.loads(run_cli("status", "why", "--json", cwd=tmp_path).assert_success().stdout)
    assert {"reason": "exit code 2", "stderr_line": usage, "count": 1} in d["failures"]
    assert len(d["failures"]) == 3

    table = run_cli("trials", "why", cwd=tmp_path).assert_success().stdout.splitlines()
    assert table[1].split()[-1] == "reason"
    row1 = next(line for line in table if line.startswith("1 "))
    assert row1.endswith(f"exit code 1; stderr: {noisy}")
    assert next(line for line in table if line.startswith("0 ")).endswith("-")
    d = json.loads(run_cli("trials", "why", "--json", cwd=tmp_path).assert_success().stdout)
    rows = {t["number"]: t for t in d["trials"]}
    assert rows[2]["reason"] == "exit code 2" and rows[2]["stderr_line"] == usage
    assert rows[0]["stderr_line"] is None
