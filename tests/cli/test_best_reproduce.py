"""``sweeprun best`` prints a command that reproduces the trial: run here, as a user would paste
it, with none of the trial's environment, it gives the program the same parameters through
argv, ``SWEEPRUN_PARAMS``, W&B's ``WANDB_SWEEP_PARAM_PATH`` file, ``${args_json_file}`` and
``trial.env``; ``best --script FILE`` writes a script that does so without the trial's files."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli

# reads its parameters every way a trial gets them, as wandb.config and argparse programs do
PROGRAM = """\
import json, os, sys
import yaml  # the file wandb.config reads: WANDB_SWEEP_PARAM_PATH
env = json.loads(os.environ["SWEEPRUN_PARAMS"])
with open(os.environ["WANDB_SWEEP_PARAM_PATH"]) as fh:
    wandb_file = {k: v["value"] for k, v in yaml.safe_load(fh).items() if k != "wandb_version"}
with open(sys.argv[1]) as fh:
    json_file = json.load(fh)
args = sorted(sys.argv[2:])
scale = float(os.environ["DATA_SCALE"])
loss = scale * env["lr"] + env["opt"]["depth"]
print(json.dumps({"loss": loss, "env": env, "wandb": wandb_file, "file": json_file,
                  "args": args, "mode": os.environ.get("WANDB_MODE")}), flush=True)
"""


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user without W&B credentials and without WANDB_MODE: an empty home."""
    home = tmp_path / "home"
    home.mkdir()
    for var in [v for v in os.environ if v.startswith("WANDB_")] + ["NETRC"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))


def _clean_env() -> dict[str, str]:
    """This shell's environment without anything a trial got from sweeprun."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SWEEPRUN_", "WANDB_")) or k == "SWEEPRUN_DIR"
    }


def _seen(stdout: str) -> dict[str, object]:
    seen: dict[str, object] = json.loads(stdout.strip().splitlines()[-1])
    return seen


def test_best_reproduce_command_and_script_give_the_trial_its_parameters(
    tmp_path: Path, _private_sweeprun_dir: Path, no_credentials: None
) -> None:
    (tmp_path / "train.py").write_text(PROGRAM)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "name: again\nprogram: train.py\nmethod: grid\nmetric: {name: loss}\n"
        "command: ['${interpreter}', '${program}', '${args_json_file}', '${args}']\n"
        "trial: {env: {DATA_SCALE: '10'}}\n"
        "parameters:\n  lr: {values: [0.5, 0.1]}\n"
        "  opt:\n    parameters:\n      depth: {values: [2]}\n"
    )
    run_cli("start", str(sweep), cwd=tmp_path).assert_code(0)
    best = {"lr": 0.1, "opt": {"depth": 2}}
    res = run_cli("best", "again", cwd=tmp_path).assert_success()
    line = next(x for x in res.stdout.splitlines() if x.startswith("  reproduce: "))
    argv = shlex.split(line.removeprefix("  reproduce: "))
    assert argv[0] == "env" and "SWEEPRUN_PARAMS=" + json.dumps(best) in argv
    assert "DATA_SCALE=10" in argv and "note:" not in res.stdout
    # no credentials here: wandb would ask for a key, so the trial's offline mode is repeated
    assert "WANDB_MODE=offline" in argv
    ran = subprocess.run(argv, cwd=tmp_path, env=_clean_env(), capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    seen = _seen(ran.stdout)
    assert seen["loss"] == 10 * 0.1 + 2
    assert seen["env"] == seen["wandb"] == seen["file"] == best
    assert seen["args"] == ["--lr=0.1", "--opt={'depth': 2}"] and seen["mode"] == "offline"
    d = json.loads(run_cli("best", "again", "--json", cwd=tmp_path).assert_success().stdout)
    entry = d["best"][0]
    assert entry["command"] == line.removeprefix("  reproduce: ")
    assert entry["env"]["DATA_SCALE"] == "10" and entry["missing_files"] == []

    # on a machine without the trial's directory: the command says so, the script recreates it
    shutil.rmtree(_private_sweeprun_dir / "again")
    res = run_cli("best", "again", cwd=tmp_path).assert_success()
    assert "  note:      not on this machine: " in res.stdout and "--script FILE" in res.stdout
    script = tmp_path / "run best.sh"
    res = run_cli("best", "again", "--script", str(script), cwd=tmp_path).assert_success()
    assert f"wrote {script}: trial 1" in res.stderr
    ran = subprocess.run(
        ["sh", str(script)], cwd=tmp_path, env=_clean_env(), capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr + script.read_text()
    seen = _seen(ran.stdout)
    assert seen["loss"] == 10 * 0.1 + 2
    assert seen["env"] == seen["wandb"] == seen["file"] == best
    assert seen["args"] == ["--lr=0.1", "--opt={'depth': 2}"]


def test_best_script_into_a_missing_directory_is_a_clean_error(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    (tmp_path / "train.py").write_text("print('{\"loss\": 1}')\n")
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        "name: s\nprogram: train.py\nmethod: grid\nmetric: {name: loss}\n"
        "parameters:\n  x: {values: [1]}\n"
    )
    run_cli("start", str(sweep), cwd=tmp_path).assert_code(0)
    res = run_cli("best", "s", cwd=tmp_path).assert_success()
    argv = shlex.split(res.stdout.split("reproduce: ", 1)[1].splitlines()[0])
    # a program that does not use wandb gets none of its variables
    assert [a.split("=")[0] for a in argv[:2]] == ["env", "SWEEPRUN_PARAMS"]
    assert not any(a.startswith("WANDB_") for a in argv)
    res = run_cli("best", "s", "--script", str(tmp_path / "no" / "run.sh"), cwd=tmp_path)
    res.assert_code(2)
    assert "--script: cannot write" in res.stderr and "fix:" in res.stderr
