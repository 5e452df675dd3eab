"""A program written for W&B runs unchanged under ``sweeprun start``, with the real ``wandb``
package, no API key and no network: its ``wandb.log`` values are the trial's curve, its
parameters reach ``wandb.config``, its ``project`` is kept, and wandb runs offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.cli import Result, run_cli
from tests.helpers.paths import PROGRAMS
from tests.helpers.studies import trials_of

pytest.importorskip("wandb")

TRAIN = PROGRAMS / "wandb_train.py"
NOTE = "no W&B credentials found: trials that use wandb run it offline"


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user without W&B credentials and without WANDB_MODE: an empty home."""
    home = tmp_path / "home"
    home.mkdir()
    for var in [v for v in os.environ if v.startswith("WANDB_")] + ["NETRC"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    return home


def _sweep(tmp: Path, body: str = "", *, epochs: int = 4) -> Path:
    path = tmp / "sweep.yaml"
    path.write_text(
        f"name: wb\nprogram: {TRAIN}\nmethod: grid\nmetric: {{name: val_loss, goal: minimize}}\n"
        f"{body}parameters:\n  lr: {{values: [0.1, 0.2]}}\n  epochs: {{value: {epochs}}}\n"
    )
    return path


def _start(tmp: Path, sweep: Path, *extra: str) -> Result:
    return run_cli("start", str(sweep), "--storage", str(tmp / "j.log"), *extra, cwd=tmp,
                   timeout=300)  # fmt: skip


def test_the_wandb_program_completes_with_its_full_curve(
    tmp_path: Path, no_credentials: Path
) -> None:
    res = _start(tmp_path, _sweep(tmp_path)).assert_success()
    assert (res.stdout + res.stderr).count(NOTE) == 1
    trials = trials_of(str(tmp_path / "j.log"), "wb")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        lr = t.user_attrs["sweeprun.params"]["lr"]
        assert t.intermediate_values == pytest.approx({e: lr * (4 - e) for e in range(4)})
        assert t.value == pytest.approx(lr)  # the best of the history
        log = (Path(t.user_attrs["sweeprun.log_dir"]) / "stdout.log").read_text()
        assert f"project=my-project lr={lr}" in log  # config from the sweep, project kept
    assert list((tmp_path / "wandb").glob("offline-run-*")), "wandb ran offline"


@pytest.mark.parametrize("console", ["wrap", "redirect", "off"])
def test_every_console_capture_mode(tmp_path: Path, no_credentials: Path, console: str) -> None:
    sweep = _sweep(tmp_path, f"trial: {{env: {{WANDB_CONSOLE: '{console}'}}}}\n", epochs=3)
    _start(tmp_path, sweep).assert_success()
    trials = trials_of(str(tmp_path / "j.log"), "wb")
    assert [len(t.intermediate_values) for t in trials] == [3, 3]


def test_the_summary_value_counts_as_w_and_b_controller_does(
    tmp_path: Path, no_credentials: Path
) -> None:
    sweep = _sweep(
        tmp_path, "command: ['${interpreter}', '${program}', '${args}', --summary=0.01]\n"
    )
    _start(tmp_path, sweep).assert_success()
    trials = trials_of(str(tmp_path / "j.log"), "wb")
    # the extremum over the history and the summary value
    assert [t.value for t in trials] == pytest.approx([0.01, 0.01])


def test_pruning_stops_a_wandb_program_early(tmp_path: Path, no_credentials: Path) -> None:
    sweep = _sweep(
        tmp_path,
        "early_terminate: {type: threshold, upper: 0.5}\n"
        "command: ['${interpreter}', '${program}', '${args}', --sleep=0.2]\n",
        epochs=200,
    )
    sweep.write_text(sweep.read_text().replace("values: [0.1, 0.2]", "values: [0.001, 0.1]"))
    _start(tmp_path, sweep).assert_success()
    by_lr = {
        t.user_attrs["sweeprun.params"]["lr"]: t for t in trials_of(str(tmp_path / "j.log"), "wb")
    }
    assert by_lr[0.001].state.name == "COMPLETE"
    pruned = by_lr[0.1]
    assert pruned.state.name == "PRUNED" and len(pruned.intermediate_values) < 200


def test_the_users_wandb_mode_and_own_sitecustomize_win(
    tmp_path: Path, no_credentials: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("print('user sitecustomize ran', flush=True)\n")
    sweep = _sweep(tmp_path, f"trial: {{env: {{WANDB_MODE: disabled, PYTHONPATH: '{site}'}}}}\n")
    res = _start(tmp_path, sweep).assert_success()
    assert NOTE not in res.stdout + res.stderr
    for t in trials_of(str(tmp_path / "j.log"), "wb"):
        assert t.state.name == "COMPLETE" and len(t.intermediate_values) == 4
        log = (Path(t.user_attrs["sweeprun.log_dir"]) / "stdout.log").read_text()
        assert log.startswith("user sitecustomize ran")
    assert not (tmp_path / "wandb").exists()  # disabled: nothing written


def test_tracking_wandb_false_turns_the_integration_off(
    tmp_path: Path, no_credentials: Path
) -> None:
    sweep = _sweep(tmp_path, "tracking: {wandb: false}\ntrial: {env: {WANDB_MODE: offline}}\n")
    res = _start(tmp_path, sweep)
    assert res.returncode == 1, res.describe()  # every trial failed
    trials = trials_of(str(tmp_path / "j.log"), "wb")
    assert {t.user_attrs.get("sweeprun.reason") for t in trials} == {
        "metric never reported: val_loss"
    }
