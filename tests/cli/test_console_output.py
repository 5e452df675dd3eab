"""What ``sweeprun start`` prints on a terminal is text a user can copy: the ``reproduce:``
command of the summary is one line however narrow the terminal, and a launch says which host
and slot it runs on in words ("on host vm, slot 0", not "on vm slot 0")."""

from __future__ import annotations

import os
import pty
import re
import socket
import subprocess
from pathlib import Path

from tests.helpers.paths import PROGRAMS, SWEEPRUN

RUN_TRIAL = PROGRAMS / "run_trial.py"


def _read_all(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child side is closed
            return out
        if not chunk:
            return out
        out += chunk


def test_on_a_narrow_terminal_the_reproduce_command_is_one_line(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        f"name: narrow\nprogram: {RUN_TRIAL}\nmethod: random\nmetric: {{name: loss}}\n"
        "run_cap: 2\nparameters:\n  x: {min: 0.0, max: 2.0}\n"
        "  a_rather_long_parameter_name: {value: a_rather_long_constant_value}\n"
    )
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "40", "LINES": "20", "TERM": "xterm"}
    proc = subprocess.Popen(
        [SWEEPRUN, "start", str(sweep)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    try:
        raw = _read_all(leader)
        assert proc.wait(timeout=120) == 0, raw[-3000:]
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw.decode(errors="replace")).replace("\r", "")
    lines = [line for line in text.split("\n") if line.startswith("reproduce: ")]
    assert len(lines) == 1, text[-3000:]
    # the whole command on that one line, longer than the terminal is wide
    assert len(lines[0]) > 40, lines[0]
    for part in ("run_trial.py", "--a_rather_long_parameter_name=a_rather_long_constant_value"):
        assert part in lines[0], lines[0]
    assert re.search(r"--x=[0-9.e-]+", lines[0]), lines[0]
    assert f"started on host {socket.gethostname()}, slot 0" in text, text[-3000:]
