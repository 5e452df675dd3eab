"""GPU assignment, seen from the trial's side (no GPU needed): every child records the
``CUDA_VISIBLE_DEVICES`` it got and when it ran; the tests check sharing, exclusivity, the
default device list and the errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli

RECORDER = """import json, os, sys, time
start = time.time()
time.sleep(float(os.environ.get("HOLD", "0.4")))
rec = {"dev": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": start, "end": time.time()}
with open(os.path.join(os.environ["OUT_DIR"], f"{os.getpid()}.json"), "w") as fh:
    json.dump(rec, fh)
print(json.dumps({"loss": 1.0}))
"""


def gpu_sweep(tmp: Path, resources: str, cap: int) -> tuple[Path, Path]:
    prog = tmp / "recorder.py"
    prog.write_text(RECORDER)
    out = tmp / "out"
    out.mkdir()
    sweep = tmp / "gpu.yaml"
    sweep.write_text(
        f"program: {prog}\nmethod: random\nmetric: {{name: loss}}\nrun_cap: {cap}\n"
        f"{resources}parameters:\n  x: {{min: 0.0, max: 1.0}}\n"
    )
    return sweep, out


def records(out: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


def max_sharing(recs: list[dict[str, object]]) -> dict[str, int]:
    """Per device: the most trials that held it at the same moment."""
    events: dict[str, list[tuple[float, int]]] = {}
    for r in recs:
        for dev in str(r["dev"]).split(","):
            events.setdefault(dev, []).extend(
                [(float(r["start"]), 1), (float(r["end"]), -1)]  # type: ignore[arg-type]
            )
    peak = {}
    for dev, evs in events.items():
        level = best = 0
        for _, step in sorted(evs, key=lambda e: (e[0], e[1])):  # an end before a start
            level += step
            best = max(best, level)
        peak[dev] = best
    return peak


def test_half_a_gpu_per_trial_shares_each_gpu_by_two(tmp_path: Path) -> None:
    sweep, out = gpu_sweep(tmp_path, "resources: {gpus_per_trial: 0.5}\n", cap=8)
    res = run_cli(
        "start", str(sweep), "--gpus", "0,1", "--jobs", "4", cwd=tmp_path,
        env={"OUT_DIR": str(out)},
    )  # fmt: skip
    res.assert_code(0)
    recs = records(out)
    assert len(recs) == 8
    assert {r["dev"] for r in recs} <= {"0", "1"}
    assert all(n <= 2 for n in max_sharing(recs).values()), max_sharing(recs)
    assert "gpus=" in res.stdout  # the launch line names the devices


def test_two_gpus_per_trial_get_two_distinct_devices(tmp_path: Path) -> None:
    sweep, out = gpu_sweep(tmp_path, "resources: {gpus_per_trial: 2}\n", cap=6)
    res = run_cli(
        "start", str(sweep), "--gpus", "0,1,2,3", "--jobs", "3", cwd=tmp_path,
        env={"OUT_DIR": str(out)},
    )  # fmt: skip
    res.assert_code(0)
    recs = records(out)
    assert len(recs) == 6
    for r in recs:
        devs = str(r["dev"]).split(",")
        assert len(devs) == 2 and len(set(devs)) == 2 and set(devs) <= {"0", "1", "2", "3"}
    assert all(n == 1 for n in max_sharing(recs).values())  # a whole GPU is never shared


def test_cuda_visible_devices_of_the_agent_is_the_default_list(tmp_path: Path) -> None:
    sweep, out = gpu_sweep(tmp_path, "", cap=4)
    res = run_cli(
        "start", str(sweep), "--jobs", "2", cwd=tmp_path,
        env={"OUT_DIR": str(out), "CUDA_VISIBLE_DEVICES": "3,5"},
    )  # fmt: skip
    res.assert_code(0)
    recs = records(out)
    assert len(recs) == 4
    assert {r["dev"] for r in recs} <= {"3", "5"}
    assert all(n == 1 for n in max_sharing(recs).values())


def test_more_gpus_per_trial_than_given_is_a_usage_error(tmp_path: Path) -> None:
    sweep, out = gpu_sweep(tmp_path, "resources: {gpus_per_trial: 4}\n", cap=2)
    res = run_cli("start", str(sweep), "--gpus", "0,1", cwd=tmp_path, env={"OUT_DIR": str(out)})
    res.assert_code(2)
    assert "gpus_per_trial is 4" in res.stderr and "only 2 GPU(s)" in res.stderr
    assert records(out) == []  # nothing ran


def test_a_trial_waiting_for_a_gpu_is_noted(tmp_path: Path) -> None:
    sweep, out = gpu_sweep(tmp_path, "resources: {gpus_per_trial: 1}\n", cap=3)
    env = {"OUT_DIR": str(out), "HOLD": "0.6"}
    res = run_cli("start", str(sweep), "--gpus", "7", "--jobs", "2", cwd=tmp_path, env=env)
    res.assert_code(0)
    assert "a trial is waiting for a free GPU" in res.stdout
    recs = records(out)
    assert len(recs) == 3 and {r["dev"] for r in recs} == {"7"}
    assert max_sharing(recs) == {"7": 1}


def test_no_gpu_means_no_cuda_variable_is_set(tmp_path: Path) -> None:
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        pytest.skip("CUDA_VISIBLE_DEVICES is set for the test run")
    sweep, out = gpu_sweep(tmp_path, "", cap=1)
    env = {"OUT_DIR": str(out), "PATH": "/usr/bin:/bin"}  # no nvidia-smi either
    res = run_cli("start", str(sweep), cwd=tmp_path, env=env)
    res.assert_code(0)
    assert [r["dev"] for r in records(out)] == [None]
