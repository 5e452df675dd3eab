"""Driving the installed ``sweeprun`` command as a user would, in the foreground or behind."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.paths import ROOT, SWEEPRUN


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def assert_success(self) -> Result:
        assert self.returncode == 0, self.describe()
        return self

    def assert_code(self, code: int) -> Result:
        assert self.returncode == code, self.describe()
        assert "Traceback" not in self.stderr, self.describe()
        return self

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.args)}\nexit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


def run_cli(
    *args: str,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> Result:
    """Run the installed ``sweeprun`` command to its end; ``env`` adds to the environment."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    argv = [SWEEPRUN, *args]
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        check=False,
    )
    return Result(argv, proc.returncode, proc.stdout, proc.stderr)


def spawn(
    procs: list[subprocess.Popen[str]],
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
) -> subprocess.Popen[str]:
    """Start ``sweeprun *args`` in the background (registered in ``procs``, the fixture that
    kills what is left at the end of the test); ``prefix`` goes before the command."""
    p = subprocess.Popen(
        [*(prefix or []), SWEEPRUN, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(p)
    return p


def finish(p: subprocess.Popen[str], timeout: float = 120) -> Result:
    """Wait for a spawned command; fail (after killing it) if it runs past ``timeout``."""
    argv = [str(a) for a in p.args]  # type: ignore[union-attr]
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        res = Result(argv, -9, out, err)
        raise AssertionError(f"still running after {timeout}s:\n{res.describe()}") from None
    return Result(argv, p.returncode, out, err)


def read_until(
    p: subprocess.Popen[str], text: str, timeout: float = 60, stream: str = "stdout"
) -> str:
    """What a spawned command has printed on ``stream`` up to ``text`` (an event to wait on:
    its notes and plain output are flushed line by line); fail if it exits or stays silent
    first. Reads the pipe itself, not through the file object's buffer, so that
    :func:`finish` gets all the rest (prepend what this returned)."""
    pipe = p.stdout if stream == "stdout" else p.stderr
    assert pipe is not None
    fd = pipe.fileno()
    seen = b""
    end = time.monotonic() + timeout
    while text.encode() not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            raise AssertionError(f"{text!r} not printed in {timeout}s; {stream}:\n{seen!r}")
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            raise AssertionError(f"exited ({p.wait()}) before printing {text!r}:\n{seen!r}")
        seen += chunk
    return seen.decode(errors="replace")


HEAVY = ("optuna", "sqlalchemy", "plotly")  # what --help and validate must not import


def assert_imports_nothing_heavy(code: str) -> None:
    """Run ``code`` in a fresh interpreter (in the repository root); it must succeed without
    importing any of :data:`HEAVY`."""
    script = (
        f"import sys\n{code}\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, f'imported: {heavy}'\nprint('clean')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("clean"), proc.stdout


def hiding_env(tmp_path: Path, package: str) -> dict[str, str]:
    """An environment in which ``package`` cannot be imported, as if its extra were not
    installed (a ``sitecustomize`` on ``PYTHONPATH`` that refuses it)."""
    hide = tmp_path / f"hide-{package}"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\nclass _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] == {package!r}:\n"
        "            raise ImportError('hidden', name=name)\n"
        "sys.meta_path.insert(0, _Hide())\n"
    )
    return {"PYTHONPATH": str(hide) + os.pathsep + os.environ.get("PYTHONPATH", "")}
