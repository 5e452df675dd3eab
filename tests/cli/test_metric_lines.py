"""Metric lines users actually print, through the installed ``sweeprun start``: stdlib logging
to stderr, ``print(dict)`` with Python reprs, ``\\r`` progress bars, un-flushed prints that must
still be pruned early, and floods of distinct metric keys (SPEC §3)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import optuna

from tests.helpers.cli import run_cli
from tests.helpers.paths import SWEEPRUN
from tests.helpers.studies import load_trials
from tests.helpers.wait import wait_until

CURVE = [0.9, 0.5, 0.7, 0.25]


def _sweep(tmp: Path, program: str, extra: str = "", metric: str = "val_loss") -> Path:
    (tmp / "train.py").write_text(program)
    path = tmp / "sweep.yaml"
    path.write_text(
        f"name: lines\nmethod: grid\nprogram: {tmp / 'train.py'}\n"
        f"metric: {{name: {metric}, goal: minimize}}\n"
        f"parameters:\n  x: {{values: [1]}}\n{extra}"
    )
    return path


def _only_trial(home: Path) -> optuna.trial.FrozenTrial:
    trials = load_trials(home, "lines")
    assert len(trials) == 1
    return trials[0]


def _assert_curve(trial: optuna.trial.FrozenTrial) -> None:
    assert trial.state.name == "COMPLETE", trial.user_attrs
    assert trial.value == min(CURVE)
    assert trial.intermediate_values == dict(enumerate(CURVE))


def test_stdlib_logging_to_stderr(tmp_path: Path, _private_sweeprun_dir: Path) -> None:
    program = (
        "import logging\nlogging.basicConfig(level=logging.INFO)\n"
        f"for epoch, v in enumerate({CURVE!r}):\n"
        "    logging.info('epoch=%d val_loss=%s', epoch, v)\n"
        "logging.warning('done')\n"
    )
    run_cli("start", str(_sweep(tmp_path, program)), cwd=tmp_path).assert_code(0)
    trial = _only_trial(_private_sweeprun_dir)
    _assert_curve(trial)
    log = Path(trial.user_attrs["sweeprun.log_dir"], "stderr.log").read_text()
    assert "INFO:root:epoch=0 val_loss=0.9" in log


def test_stderr_is_not_read_when_report_streams_says_stdout(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    program = "import sys\nsys.stderr.write('val_loss=0.5\\n')\n"
    sweep = _sweep(tmp_path, program, "report: {streams: [stdout]}\n")
    run_cli("start", str(sweep), cwd=tmp_path).assert_code(1)  # the only trial failed
    trial = _only_trial(_private_sweeprun_dir)
    assert trial.state.name == "FAIL"
    assert trial.user_attrs["sweeprun.reason"] == "metric never reported: val_loss"


def test_print_of_a_dict_with_python_reprs(tmp_path: Path, _private_sweeprun_dir: Path) -> None:
    """``print(logs)`` as Hugging Face's Trainer does, numpy and torch scalar reprs, and prose
    with a better value that must not win over the structured lines."""
    reprs = ["np.float64({v})", "{v}", "tensor({v}, grad_fn=<MeanBackward0>)", "numpy.float32({v})"]
    lines = [
        "{'val_loss': " + r.format(v=v) + f", 'epoch': {e}, 'tag': 'nan inf'}}"
        for e, (v, r) in enumerate(zip(CURVE, reprs, strict=True))
    ]
    program = (
        f"for line in {lines!r}:\n    print(line)\n"
        "print('best so far val_loss: 0.01 (from an old checkpoint)')\n"
    )
    run_cli("start", str(_sweep(tmp_path, program)), cwd=tmp_path).assert_code(0)
    _assert_curve(_only_trial(_private_sweeprun_dir))


def test_a_carriage_return_progress_bar(tmp_path: Path, _private_sweeprun_dir: Path) -> None:
    """Redraws of a tqdm-like bar (with a running val_loss) before each epoch's last segment
    create no steps and no values."""
    program = (
        "import sys\n"
        f"for epoch, v in enumerate({CURVE!r}):\n"
        "    for pct in range(0, 100, 20):\n"
        "        sys.stderr.write(f'\\repoch {epoch} {pct}%|### | val_loss=0.0{pct + 1}')\n"
        "        sys.stderr.flush()\n"
        "    sys.stderr.write(f'\\repoch {epoch} 100%|#####| val_loss={v}\\n')\n"
    )
    run_cli("start", str(_sweep(tmp_path, program)), cwd=tmp_path).assert_code(0)
    _assert_curve(_only_trial(_private_sweeprun_dir))


def test_unflushed_prints_are_pruned_early(tmp_path: Path, _private_sweeprun_dir: Path) -> None:
    """A program that prints per epoch without flushing (and with PYTHONUNBUFFERED unset for
    the agent, as on a user's machine) reaches the pruner while it runs: it is stopped long
    before its 60 epochs of 0.25 s are over."""
    program = (
        "import json, time\nfor epoch in range(60):\n"
        "    print(json.dumps({'loss': 100.0, 'epoch': epoch}))\n    time.sleep(0.25)\n"
    )
    sweep = _sweep(
        tmp_path,
        program,
        "early_terminate: {type: threshold, upper: 50}\ntrial: {kill_grace: 5s}\n",
        metric="loss",
    )
    assert "PYTHONUNBUFFERED" not in os.environ  # the conftest removed this machine's setting
    run_cli("start", str(sweep), cwd=tmp_path).assert_code(0)
    trial = _only_trial(_private_sweeprun_dir)
    assert trial.state.name == "PRUNED"
    assert trial.user_attrs["sweeprun.duration"] < 7.5  # the program alone runs 15 s
    assert max(trial.intermediate_values) < 30


DISTINCT = (
    "import sys\nw = sys.stdout.write\n"
    "for i in range(80_000):\n    w('{\"k%d\": 0.5}\\n' % i)\n"
    "w('{\"val_loss\": 0.25}\\n')\nsys.stdout.flush()\n"
)


def test_80k_distinct_metric_keys_finish_with_a_note(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    res = run_cli("start", str(_sweep(tmp_path, DISTINCT)), cwd=tmp_path, timeout=300)
    res.assert_code(0)
    trial = _only_trial(_private_sweeprun_dir)
    assert trial.state.name == "COMPLETE" and trial.value == 0.25
    out = res.stdout + res.stderr
    assert out.count("were not kept") == 1, out[-2000:]
    assert "79,000 values of undeclared metric names were not kept" in out


def test_sigterm_ends_the_agent_while_distinct_keys_drain(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    program = DISTINCT + "import time\ntime.sleep(120)\n"
    sweep = _sweep(tmp_path, program)
    log = _private_sweeprun_dir / "lines" / "trial-00000" / "stdout.log"
    with open(tmp_path / "agent.err", "wb") as err:
        agent = subprocess.Popen(
            [SWEEPRUN, "start", str(sweep)], cwd=tmp_path, stdout=err, stderr=subprocess.STDOUT
        )
        try:
            wait_until(
                lambda: log.exists() and b"val_loss" in log.read_bytes()[-40:],
                timeout=120,
                what="the trial printed its lines",
            )
            agent.send_signal(signal.SIGTERM)
            code = agent.wait(timeout=120)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
    text = (tmp_path / "agent.err").read_text()
    assert code != 0 and "Traceback" not in text, text[-2000:]
    first = load_trials(_private_sweeprun_dir, "lines")[0]
    assert first.state.name == "FAIL" and first.user_attrs["sweeprun.reason"] == "interrupted"
