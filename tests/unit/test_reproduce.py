"""The reproduce command and script of ``sweeprun best`` (results/reproduce.py), run by sh."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sweeprun.config.load import parse_config
from sweeprun.results.reproduce import reproduction

SHOW = (
    "import json, os, sys; "
    "print(json.dumps([os.getcwd(), os.environ['SWEEPRUN_PARAMS'], sys.argv[1:]]))"
)


def test_odd_values_and_trial_cwd_survive_the_shell(tmp_path: Path) -> None:
    work = tmp_path / "work dir"
    work.mkdir()
    cfg = parse_config(
        {
            "command": ["${interpreter}", "-c", SHOW, "${args}"],
            "method": "grid",
            "tracking": {"wandb": False},
            "trial": {"cwd": str(work), "env": {"NOTE": "it's $HOME"}},
            "parameters": {"name": {"values": ["o'neil; rm -rf /"]}},
        }
    )
    params = {"name": "o'neil; rm -rf /"}
    argv = [sys.executable, "-c", SHOW, f"--name={params['name']}"]
    again = reproduction(cfg, params, argv, str(tmp_path / "gone"))
    assert again.env == {"SWEEPRUN_PARAMS": json.dumps(params), "NOTE": "it's $HOME"}
    assert again.files == [] and again.missing == []  # wandb off: no W&B file
    for how in (["sh", "-c", again.command()], ["sh", "-c", again.script("t")]):
        out = subprocess.run(how, cwd=tmp_path, capture_output=True, text=True, check=True)
        cwd, env_params, args = json.loads(out.stdout)
        assert cwd == str(work) and json.loads(env_params) == params
        assert args == [f"--name={params['name']}"]
    assert again.command().startswith(f"cd '{work}' && env SWEEPRUN_PARAMS='")
