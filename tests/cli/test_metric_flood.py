"""A metric flood through the installed ``sweeprun start``: 300k metric lines per trial as fast
as Python prints them reach the trial's summary, its curve and its log whole (moved here from
the unit tier: it runs the command and two floods, seconds each)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.studies import load_trials

FLOOD = """import argparse, sys
ap = argparse.ArgumentParser()
ap.add_argument("--fmt")
fmt = ap.parse_known_args()[0].fmt
n = 300_000
out = []
for i in range(n):
    loss = -7.0 if i == n // 2 else 5.0 - (i % 1000) / 1000
    out.append('{"loss": %r, "step": %d}' % (loss, i) if fmt == "json" else "step=%d loss=%r" % (i, loss))
    if i % 50_000 == 0:
        out.append("noise without a metric")
out.append('{"loss": 0.125, "step": %d}' % n if fmt == "json" else "step=%d loss=0.125" % n)
sys.stdout.write("\\n".join(out) + "\\n")
"""


@pytest.mark.parametrize("mode, value", [("best", -7.0), ("last", 0.125)])
def test_a_metric_flood_through_sweeprun_reaches_the_summary_whole(
    tmp_path: Path, _private_sweeprun_dir: Path, mode: str, value: float
) -> None:
    """300k metric lines per trial as fast as Python prints them (JSON, then name=value): the
    trial's value is the best or last of them all, the newest is the last intermediate value
    and the log holds every byte."""
    (tmp_path / "flood.py").write_text(FLOOD)
    (tmp_path / "sweep.yaml").write_text(
        f"name: flood\nmethod: grid\nprogram: {tmp_path / 'flood.py'}\n"
        f"metric: {{name: loss, goal: minimize, summary: {mode}}}\n"
        "parameters:\n  fmt: {values: [json, kv]}\n"
    )
    run_cli("start", str(tmp_path / "sweep.yaml"), "--quiet", cwd=tmp_path).assert_code(0)
    trials = load_trials(_private_sweeprun_dir, "flood")
    assert len(trials) == 2
    for t in trials:
        assert t.state.name == "COMPLETE" and t.value == value
        steps = sorted(t.intermediate_values)
        assert steps[-1] == 300_000 and t.intermediate_values[300_000] == 0.125
        assert len(steps) < 2000  # rate-limited: the burst, then a few per second
        log = Path(t.user_attrs["sweeprun.log_dir"], "stdout.log").read_text()
        fmt = t.user_attrs["sweeprun.params"]["fmt"]
        expected = subprocess.run(
            [sys.executable, str(tmp_path / "flood.py"), f"--fmt={fmt}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert log == expected
