"""The wandb mirror's rules (sweeprun/integrations/wandb_path): which values of a ``log`` call
are reported and with which step, and the environment a trial gets."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from sweeprun.integrations.wandb import HOOK_DIR, credentials_found, trial_wandb_env

sys.path.insert(0, str(HOOK_DIR))
import sweeprun_wandb_hook as hook


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "report.jsonl"
    monkeypatch.delenv("SWEEPRUN_REPORT_FD", raising=False)
    monkeypatch.setenv("SWEEPRUN_REPORT_FILE", str(out))
    monkeypatch.setitem(hook._state, "steps", 0)
    return out


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Scalar:
    """A numpy/torch-like 0-d scalar."""

    shape = ()

    def __float__(self) -> float:
        return 0.5


class Array:
    shape = (3,)

    def __float__(self) -> float:
        raise TypeError("only 0-d")


def test_numbers_only_nested_flattened_and_the_step(reports: Path) -> None:
    hook.mirror_log({"loss": 1, "ok": True, "name": "x", "img": Array(), "s": Scalar(),
                     "val": {"acc": 0.9}})  # fmt: skip
    hook.mirror_log({"loss": 2}, commit=False)  # same step
    hook.mirror_log({"loss": 3})
    hook.mirror_log({"loss": 4, "epoch": 7})  # the program's own step key wins
    hook.mirror_log({"loss": 5}, step=10)
    hook.mirror_log({"loss": 6})
    assert _lines(reports) == [
        {"loss": 1, "s": 0.5, "val.acc": 0.9, "_step": 0},
        {"loss": 2, "_step": 1},
        {"loss": 3, "_step": 1},
        {"loss": 4, "epoch": 7},
        {"loss": 5, "_step": 10},
        {"loss": 6, "_step": 11},
    ]


def test_summary_values_arrive_under_summary(reports: Path) -> None:
    hook.mirror_summary({"val_loss": 0.25, "note": "text"})
    hook.mirror_summary({"note": "only text"})
    assert _lines(reports) == [{"_summary": {"val_loss": 0.25}}]


def test_the_trial_environment(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path)}
    env = trial_wandb_env({**home, "PYTHONPATH": "/mine"}, {})
    assert env == {"PYTHONPATH": f"{HOOK_DIR}:/mine", "WANDB_MODE": "offline"}
    assert trial_wandb_env(home, {"PYTHONPATH": "/t", "WANDB_MODE": "online"}) == {
        "PYTHONPATH": f"{HOOK_DIR}:/t"
    }
    assert trial_wandb_env({**home, "SWEEPRUN_WANDB_HOOK": "0"}, {}) == {"WANDB_MODE": "offline"}
    assert trial_wandb_env({**home, "WANDB_API_KEY": "k"}, {}) == {"PYTHONPATH": str(HOOK_DIR)}


def test_credentials_from_netrc(tmp_path: Path) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password secret\n")
    netrc.chmod(0o600)
    assert credentials_found({"HOME": str(tmp_path)})
    assert not credentials_found({"HOME": str(tmp_path), "WANDB_BASE_URL": "https://w.example"})
    assert not credentials_found({"HOME": str(tmp_path / "nobody")})


def _python_with_hook(code: str, tmp_path: Path, **env: str) -> str:
    import subprocess

    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "PYTHONPATH": str(HOOK_DIR), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_a_program_without_wandb_never_loads_the_mirror(tmp_path: Path) -> None:
    """Every trial's interpreter runs the sitecustomize: it adds one finder and nothing else
    (the mirror module loads only when wandb is imported)."""
    code = (
        "import sys, json, sqlite3\n"
        "finders = [type(f).__name__ if not isinstance(f, type) else f.__name__"
        " for f in sys.meta_path]\n"
        "print(json.dumps(['sweeprun_wandb_hook' in sys.modules, finders[0]]))\n"
    )
    loaded, first = json.loads(_python_with_hook(code, tmp_path))
    assert loaded is False
    assert first == "_SweeprunWandbFinder"
    off = json.loads(_python_with_hook(code, tmp_path, SWEEPRUN_WANDB_HOOK="0"))
    assert off[1] != "_SweeprunWandbFinder"


def test_a_hidden_bytecode_only_sitecustomize_still_runs(tmp_path: Path) -> None:
    import py_compile

    site = tmp_path / "site"
    site.mkdir()
    src = tmp_path / "sc_src.py"
    src.write_text("import builtins\nbuiltins.SEEN = 'bytecode sitecustomize'\n")
    py_compile.compile(str(src), cfile=str(site / "sitecustomize.pyc"))
    out = _python_with_hook(
        "import builtins; print(getattr(builtins, 'SEEN', 'not run'))",
        tmp_path,
        PYTHONPATH=os.pathsep.join([str(HOOK_DIR), str(site)]),
    )
    assert out == "bytecode sitecustomize"
