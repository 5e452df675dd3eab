"""Smoke tests of bench/quality.py's pieces: objective programs, in-process loop vs sweeprun,
the mlp_curve zygote, statistics and the docs update."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.processes import alive
from tests.helpers.wait import wait_until

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import programs.mlp_curve as mlp_curve  # noqa: E402
import quality  # noqa: E402
import quality_report as report  # noqa: E402
from programs.branin import ARGMIN as BRANIN_ARGMIN  # noqa: E402
from programs.branin import MINIMUM as BRANIN_MIN  # noqa: E402
from programs.branin import branin  # noqa: E402
from programs.hartmann6 import ARGMIN as H6_ARGMIN  # noqa: E402
from programs.hartmann6 import hartmann6  # noqa: E402

PROGRAMS = BENCH / "programs"


def run_program(name: str, *args: str, env: dict[str, str] | None = None) -> list[str]:
    proc = subprocess.run(
        [sys.executable, str(PROGRAMS / name), *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_branin_known_minima() -> None:
    for x1, x2 in [BRANIN_ARGMIN, (math.pi, 2.275), (9.42478, 2.475)]:
        assert branin(x1, x2) == pytest.approx(0.397887, abs=1e-6)
    assert abs(BRANIN_MIN - 0.397887) < 1e-6
    assert branin(0.0, 0.0) == pytest.approx(55.602112642270262, rel=1e-12)


def test_hartmann6_known_minimum() -> None:
    assert hartmann6(H6_ARGMIN) == pytest.approx(-3.32237, abs=1e-5)
    assert hartmann6([0.5] * 6) > -3.32237


@given(st.floats(-5, 10), st.floats(0, 15))
def test_branin_never_below_its_minimum(x1: float, x2: float) -> None:
    assert branin(x1, x2) >= 0.397887 - 1e-6


@given(st.lists(st.floats(0, 1), min_size=6, max_size=6))
def test_hartmann6_never_below_its_minimum(x: list[float]) -> None:
    assert hartmann6(x) >= -3.32237 - 1e-5


def test_programs_print_the_same_float_as_in_process() -> None:
    x1, x2 = -3.141592653589793, 12.275
    (line,) = run_program("branin.py", f"--x1={x1}", f"--x2={x2}")
    assert json.loads(line) == {"value": branin(x1, x2)}
    args = [f"--x{i}={v}" for i, v in enumerate(H6_ARGMIN, 1)]
    (line,) = run_program("hartmann6.py", *args)
    assert json.loads(line)["value"] == hartmann6(H6_ARGMIN)


def test_program_rejects_malformed_arguments() -> None:
    proc = subprocess.run(
        [sys.executable, str(PROGRAMS / "branin.py"), "x1=1"], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "expected --name=value, got 'x1=1'" in proc.stderr


def test_sweeprun_and_in_process_optuna_give_identical_trials() -> None:
    """The --quick comparison in miniature: same sampler, same space, same values."""
    doc = quality.search_config("branin", "tpe", seed=3, trials=12)
    ours = quality.run_sweep(doc)
    theirs = quality.run_inprocess(doc, "branin")
    assert [t.state for t in ours.trials] == ["COMPLETE"] * 12
    assert len(ours.values) == 12
    assert ours.values == theirs.values
    assert ours.best == min(theirs.values)


MLP_ARGS = ["--learning_rate_init=0.01", "--hidden=16", "--alpha=0.0001", "--batch_size=64"]


def test_mlp_curve_prints_one_val_loss_per_epoch_and_the_zygote_matches(tmp_path: Path) -> None:
    direct = [json.loads(line) for line in run_program("mlp_curve.py", *MLP_ARGS, "--epochs=3")]
    assert [row["epoch"] for row in direct] == [1, 2, 3]
    assert all(0 < row["val_loss"] < math.log(10) * 2 for row in direct)
    zygote, sock = quality.start_zygote(tmp_path)
    try:
        env = {"MLP_CURVE_SOCKET": sock, "PATH": "/usr/bin:/bin"}
        relayed = run_program("mlp_curve.py", *MLP_ARGS, "--epochs=3", env=env)
        assert [json.loads(line) for line in relayed] == direct
        proc = subprocess.run(
            [sys.executable, str(PROGRAMS / "mlp_curve.py"), *MLP_ARGS, "--epochs=x"],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert proc.returncode == 1
        assert "invalid literal for int() with base 10: 'x'" in proc.stderr
    finally:
        zygote.terminate()
        assert zygote.wait(timeout=10) == 0  # reaped its trainers and exited cleanly


def test_zygote_exits_when_the_benchmark_is_gone(tmp_path: Path) -> None:
    """A benchmark killed with SIGKILL leaves no zygote behind."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import quality; from pathlib import Path\n"
        "z, _ = quality.start_zygote(Path(sys.argv[2])); print(z.pid, flush=True)\n"
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(BENCH), str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    pid = int(proc.stdout.split()[0])
    try:
        wait_until(lambda: not alive(pid), 10, "the zygote exits with its parent")
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_mlp_curve_names_missing_arguments() -> None:
    with pytest.raises(SystemExit, match="missing arguments: alpha, batch_size"):
        mlp_curve.parse_args(["--learning_rate_init=0.1", "--hidden=16"])


def test_steps_saved_and_goal() -> None:
    trials = [report.Trial(i, "PRUNED", None, 5) for i in range(3)]
    trials.append(report.Trial(3, "COMPLETE", 0.1, 20))
    assert report.steps_saved(trials, cap=4, epochs=20) == pytest.approx(1 - 35 / 80)
    assert report.meets_goal([0.5, 0.4, 0.3], gap=0.01)
    assert not report.meets_goal([0.5, 0.39, 0.3], gap=0.0)
    assert not report.meets_goal([0.9], gap=0.011)
    assert report.never_worse([1.0, 2.0, 3.0], [2.0, 1.0, 5.0])
    assert not report.never_worse([1.0, 2.1], [1.0, 2.0])


def test_render_reports_identity_gaps_and_failures() -> None:
    def run(values: list[float], steps: int = 20, wall: float = 1.0) -> dict[str, object]:
        rows = [[i, "COMPLETE", v, steps] for i, v in enumerate(values)]
        return {"wall": wall, "trials": [*rows, [len(values), "PRUNED", None, 2]]}

    raw = {
        "meta": {
            "date": "2026-01-01", "command": "bench/quality.py", "machine": "m", "trials": 3,
            "seeds": 2, "skipped": {"gp": "No module named 'torch'"}, "prune_cap": 4,
            "prune_seeds": 2, "epochs": 20, "workers": 2, "elapsed": 10.0, "cpu": 18.0,
        },
        "search": [
            {"function": "branin", "method": "tpe", "seed": 0, "ours": run([3.0, 1.0]), "theirs": run([3.0, 1.0])},
            {"function": "branin", "method": "tpe", "seed": 1, "ours": run([2.0]), "theirs": run([2.5])},
        ],
        "pruning": [
            {"pruner": "none", "rule": "none", "seed": 0, "run": run([0.10, 0.2], steps=20)},
            {"pruner": "none", "rule": "none", "seed": 1, "run": run([0.20], steps=20)},
            {"pruner": "median", "rule": "{type: median}", "seed": 0, "run": run([0.1], steps=1)},
            {"pruner": "median", "rule": "{type: median}", "seed": 1, "run": None, "error": "run: boom"},
        ],
    }  # fmt: skip
    header, body = report.render(raw)
    text = "\n".join(header + body)
    assert "Run on 2026-01-01: `bench/quality.py`" in text
    # medians 1.5 vs 1.75: never worse; one of two seeds identical
    assert "| branin (min 0.397887) | tpe | 1.5 [1, 2] | 1.75 [1, 2.5] | 1/2 | 1/2 | yes |" in text
    assert "| all | gp | skipped: No module named 'torch' |" in text
    # of 4 × 20 steps, none used 42 and 22 (saved 47.5 %, 72.5 %), median 3 (saved 96.25 %)
    assert "| `none` | 60.0 [47.5, 72.5] % | 0.1500 [0.1000, 0.2000] | +0.00 % |" in text
    assert (
        "| `{type: median}` | 96.2 [96.2, 96.2] % | 0.1000 [0.1000, 0.1000] | -33.33 % | +0.0 % | 1 / 0 |"
        in text
    )
    assert text.count("| yes |") == 2  # never worse, and median meets the goal
    assert "1 run(s) failed and are left out:\n- mlp median seed 1: run: boom" in text
    assert "Whole run: 10 s wall with 2 sweeps at a time; 18 CPU-s" in text


def test_pruning_config_is_a_valid_sweep(tmp_path: Path) -> None:
    from sweeprun.config.load import parse_config

    for pruner in quality.PRUNERS:
        cfg = parse_config(quality.pruning_config(pruner, 0, 40, str(tmp_path / "s")))
        assert cfg.run_cap == 40
        assert (cfg.early_terminate is None) == (pruner == "none")


def test_update_doc_keeps_text_outside_the_markers(tmp_path: Path) -> None:
    doc = tmp_path / "b.md"
    report.update_doc(doc, "first")
    assert report.BEGIN in doc.read_text() and "first" in doc.read_text()
    doc.write_text("# Title\n\nnotes before\n\n" + doc.read_text().split("\n\n", 1)[1] + "after\n")
    report.update_doc(doc, "second")
    text = doc.read_text()
    assert "notes before" in text and text.endswith("after\n")
    assert "second" in text and "first" not in text
