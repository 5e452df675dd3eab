"""The cluster recipes in docs/agents.md are valid: the sbatch script passes ``bash -n``, the
Kubernetes manifest is a Job running ``sweeprun agent``, the SSH commands parse with shlex, and
every ``sweeprun`` command they contain uses options the installed command has."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.cli import run_cli
from tests.helpers.paths import ROOT

DOC = ROOT / "docs" / "agents.md"


def recipe(name: str) -> str:
    text = DOC.read_text()
    m = re.search(rf"<!-- recipe: {name} -->\s*```\w*\n(.*?)```", text, re.S)
    assert m, f"docs/agents.md has no `<!-- recipe: {name} -->` code block"
    return m.group(1)


def sweeprun_commands(script: str) -> list[list[str]]:
    """Every ``sweeprun ...`` invocation in a shell script, as argv (up to a redirection)."""
    out = []
    for line in script.splitlines():
        for m in re.finditer(r"(?:^|[\s\"'])(sweeprun\s[^\"&|>;]*)", line):
            argv = shlex.split(m.group(1))
            out.append(argv)
    return out


def check_options(argv: list[str]) -> None:
    """The subcommand exists and each --option of ``argv`` is in its --help."""
    assert argv[0] == "sweeprun" and len(argv) > 1, argv
    res = run_cli(argv[1], "--help")
    res.assert_code(0)
    for opt in (a for a in argv[2:] if a.startswith("--")):
        assert opt.split("=")[0] in res.stdout, f"{opt} is not an option of `sweeprun {argv[1]}`"


def test_sbatch_script_is_valid_bash_with_slurm_directives(tmp_path: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    script = recipe("slurm")
    path = tmp_path / "agents.sbatch"
    path.write_text(script)
    res = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert script.startswith("#!/bin/bash\n")
    assert re.search(r"^#SBATCH --array=\d+-\d+$", script, re.M)
    assert 'SWEEPRUN_STORAGE="postgresql://' in script
    cmds = sweeprun_commands(script)
    assert [c[1] for c in cmds] == ["start", "status", "agent"]
    for argv in cmds:
        check_options(argv)


def test_kubernetes_manifest_is_a_job_running_agents() -> None:
    doc = yaml.safe_load(recipe("kubernetes"))
    assert doc["apiVersion"] == "batch/v1" and doc["kind"] == "Job"
    spec = doc["spec"]["template"]["spec"]
    assert spec["restartPolicy"] in ("OnFailure", "Never")
    (container,) = spec["containers"]
    command = container["command"]
    assert command[:2] == ["sweeprun", "agent"]
    check_options(command)
    env = {e["name"]: e for e in container["env"]}
    assert env["SWEEPRUN_STORAGE"]["value"].startswith("postgresql://")
    assert "@" in env["SWEEPRUN_STORAGE"]["value"] and ":***" not in env["SWEEPRUN_STORAGE"]
    assert "secretKeyRef" in env["PGPASSWORD"]["valueFrom"]  # the password comes from a Secret


def test_ssh_recipe_commands_parse() -> None:
    script = recipe("ssh")
    lines = [ln for ln in script.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for line in lines:
        shlex.split(line)  # raises on unbalanced quotes
    ssh = [shlex.split(ln) for ln in lines if ln.strip().startswith("ssh ")]
    assert ssh, "the recipe starts agents over ssh"
    for argv in ssh:
        remote = shlex.split(argv[-1])  # the command run on the host parses too
        assert "agent" in remote and remote[remote.index("agent") - 1] == "sweeprun"
    cmds = sweeprun_commands(script)
    assert {c[1] for c in cmds} >= {"start", "agent", "status"}
    for argv in cmds:
        check_options(argv)


def test_defaults_in_the_doc_match_the_config() -> None:
    from sweeprun.config.models import TrialSettings

    text = DOC.read_text()
    trial = TrialSettings()
    assert f"| `trial.heartbeat` | `{trial.heartbeat:g}s` |" in text
    assert f"| `trial.lease_grace` | `{trial.lease_grace:g}s` |" in text
