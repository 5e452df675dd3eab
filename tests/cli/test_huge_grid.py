"""A huge grid (10^8 x 10^3 int_uniform points) never materialises: the installed ``sweeprun
start --dry-run`` and ``start`` with a run_cap stay within bounded memory and give the points
in W&B order; a grid past 2**63 - 1 points is refused (exit 2) naming its size; a grid larger
than the queue kept ahead runs every point exactly once, also across a resume."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import psutil

from tests.helpers.cli import Result, run_cli
from tests.helpers.paths import PROGRAMS, SWEEPRUN
from tests.helpers.studies import load_trials

# today's main built the 10^11-point product: 13 GB in 2 minutes, then MemoryError
RSS_LIMIT = 300 * 2**20
HUGE = """name: huge
program: {program}
method: grid
{extra}parameters:
  a: {{min: 0, max: 100000000}}
  b: {{min: 0, max: 1000}}
"""


def tree_rss(p: psutil.Process) -> int:
    total = 0
    with contextlib.suppress(psutil.Error):  # exited meanwhile
        for proc in [p, *p.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
    return total


def run_bounded(*args: str, cwd: Path, timeout: float = 120) -> tuple[Result, int]:
    """Run the installed command, sampling the resident memory of its process tree; killed
    (and the test failed) as soon as it passes RSS_LIMIT. The result and the peak seen."""
    argv = [SWEEPRUN, *args]
    p = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
    )
    watched = psutil.Process(p.pid)
    peak = 0
    try:
        while True:
            try:
                out, err = p.communicate(timeout=0.05)  # one sample per 50 ms until it exits
                break
            except subprocess.TimeoutExpired:
                pass
            peak = max(peak, tree_rss(watched))
            assert peak < RSS_LIMIT, f"{' '.join(argv)}: {peak >> 20} MB resident, still growing"
            timeout -= 0.05
            assert timeout > 0, f"{' '.join(argv)} still running"
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    return Result(argv, p.returncode, out, err), peak


def test_dry_run_of_a_huge_grid_gives_its_first_points_in_bounded_memory(tmp_path: Path) -> None:
    sweep = tmp_path / "huge.yaml"
    sweep.write_text(HUGE.format(program=PROGRAMS / "print_args.py", extra=""))
    res, peak = run_bounded(
        "start", str(sweep), "--dry-run", "--json", "--max-trials", "4", cwd=tmp_path
    )
    res.assert_code(0)
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    # W&B order: itertools.product over the sorted names, the last one fastest
    assert [r["params"] for r in rows] == [{"a": 0, "b": b} for b in range(4)]
    assert rows[1]["argv"][-2:] == ["--a=0", "--b=1"]
    assert peak < RSS_LIMIT
    assert not (tmp_path / "dot-sweeprun" / "journal.log").exists()  # nothing was recorded


def test_start_with_a_run_cap_on_a_huge_grid_runs_its_first_points(tmp_path: Path) -> None:
    sweep = tmp_path / "huge.yaml"
    sweep.write_text(HUGE.format(program=PROGRAMS / "run_trial.py", extra="run_cap: 3\n"))
    res, peak = run_bounded("start", str(sweep), cwd=tmp_path)
    res.assert_code(0)
    assert "trial budget of 3 reached" in res.stdout + res.stderr
    assert peak < RSS_LIMIT
    trials = load_trials(tmp_path / "dot-sweeprun", "huge")
    done = sorted(
        (t.user_attrs["sweeprun.grid_index"], t.user_attrs["sweeprun.params"])
        for t in trials
        if t.state.name == "COMPLETE"
    )
    assert done == [(i, {"a": 0, "b": i}) for i in range(3)]
    waiting = [t for t in trials if t.state.name == "WAITING"]
    assert 0 < len(waiting) < 1000  # a few chunks queued ahead, not the grid
    status = run_cli("status", "huge", "--json", cwd=tmp_path).assert_code(0)
    assert json.loads(status.stdout)["budget"]["grid"] == 100_000_001 * 1001


def test_a_half_done_huge_grid_resumes_with_its_next_points(tmp_path: Path) -> None:
    sweep = tmp_path / "huge.yaml"
    sweep.write_text(HUGE.format(program=PROGRAMS / "run_trial.py", extra=""))
    for cap in ("3", "4"):  # --max-trials N: N more trials by this command: 3, then 4 more
        res, peak = run_bounded("start", str(sweep), "--max-trials", cap, cwd=tmp_path)
        res.assert_code(0)
        assert peak < RSS_LIMIT
    trials = load_trials(tmp_path / "dot-sweeprun", "huge")
    done = Counter(
        t.user_attrs["sweeprun.grid_index"] for t in trials if t.state.name == "COMPLETE"
    )
    assert done == dict.fromkeys(range(7), 1)


def test_a_grid_past_two_to_the_63_points_is_refused_with_its_size(tmp_path: Path) -> None:
    sweep = tmp_path / "vast.yaml"
    sweep.write_text(
        f"program: {PROGRAMS / 'print_args.py'}\nmethod: grid\nparameters:\n"
        "  a: {min: 1, max: 4294967296}\n  b: {min: 1, max: 4294967296}\n"
    )
    size = str(2**64)
    for args in (["validate"], ["start"], ["start", "--dry-run"]):
        res = run_cli(*args, str(sweep), cwd=tmp_path).assert_code(2)
        assert size in res.stderr and "2**63 - 1" in res.stderr, res.describe()
    assert not (tmp_path / "dot-sweeprun" / "journal.log").exists()  # no sweep was created


GRID = """name: {name}
program: {program}
method: grid
metric: {{name: loss}}
parameters:
  x: {{values: [0.0, 0.5, 1.0, 1.5, 2.0]}}
  epochs: {{min: 1, max: 30}}
"""


def test_a_grid_larger_than_its_queue_runs_every_point_once_across_a_resume(
    tmp_path: Path,
) -> None:
    sweep = tmp_path / "g.yaml"
    sweep.write_text(GRID.format(name="g", program=PROGRAMS / "run_trial.py"))
    run_cli("start", str(sweep), "--max-trials", "41", "--jobs", "2", cwd=tmp_path).assert_code(0)
    first = load_trials(tmp_path / "dot-sweeprun", "g")
    assert Counter(t.state.name for t in first)["COMPLETE"] == 41
    assert len(first) < 150  # the rest was not queued up front
    res = run_cli("start", str(sweep), "--jobs", "2", cwd=tmp_path).assert_code(0)
    assert "grid exhausted" in res.stdout + res.stderr
    trials = load_trials(tmp_path / "dot-sweeprun", "g")
    per_point = Counter(
        t.user_attrs["sweeprun.grid_index"] for t in trials if t.state.name == "COMPLETE"
    )
    assert per_point == dict.fromkeys(range(150), 1)
    assert all(t.state.name == "COMPLETE" for t in trials)
    for t in trials:  # each index holds its own point (W&B order: sorted names, x fastest)
        i = t.user_attrs["sweeprun.grid_index"]
        assert t.user_attrs["sweeprun.params"] == {"epochs": 1 + i // 5, "x": (i % 5) / 2}
