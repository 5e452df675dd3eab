"""client.py: sweeprun.report() over the fd channel, the file fallback and outside sweeprun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from sweeprun import client
from sweeprun.metrics.grammar import MetricEvent
from sweeprun.metrics.parser import MetricParser


@pytest.fixture(autouse=True)
def _fresh_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "_fd_state", None)
    monkeypatch.setattr(client, "_fd_broken", set())
    for name in ("SWEEPRUN_REPORT_FD", "SWEEPRUN_REPORT_PIPE", "SWEEPRUN_REPORT_FILE"):
        monkeypatch.delenv(name, raising=False)


def _pipe_env(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    r, w = os.pipe()
    st = os.fstat(w)
    monkeypatch.setenv("SWEEPRUN_REPORT_FD", str(w))
    monkeypatch.setenv("SWEEPRUN_REPORT_PIPE", f"{st.st_dev}:{st.st_ino}")
    return r, w


def _drain(fd: int, out: list[bytes]) -> None:
    while chunk := os.read(fd, 65536):
        out.append(chunk)


def test_outside_sweeprun_prints_a_friendly_line_that_sweeprun_can_read() -> None:
    code = "import sweeprun; sweeprun.report(val_loss=0.31, step=3)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPRUN_REPORT")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == 'sweeprun.report: {"val_loss": 0.31, "step": 3}\n'
    assert MetricParser(["val_loss"]).feed(proc.stdout) == [MetricEvent("val_loss", 0.31, 3)]


def test_importing_sweeprun_stays_cheap() -> None:
    code = (
        "import sys, sweeprun; heavy = ('optuna', 'pydantic', 'yaml', 'typer', 'rich', 'json',"
        " 'typing'); print([m for m in heavy if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_fd_channel_gets_one_json_line_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    r, w = _pipe_env(monkeypatch)
    client.report(val_loss=0.5, step=2)
    client.report(acc=float("nan"))
    os.close(w)
    out: list[bytes] = []
    _drain(r, out)
    os.close(r)
    lines = b"".join(out).decode().splitlines()
    assert lines == ['{"val_loss": 0.5, "step": 2}', '{"acc": NaN}']


def test_fd_channel_is_thread_safe_and_writes_whole_big_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r, w = _pipe_env(monkeypatch)
    out: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(r, out))
    reader.start()
    big: dict[str, Any] = {
        f"m{i:05d}": float(i) for i in range(20000)
    }  # ~300 KB: more than a pipe holds

    def work(n: int) -> None:
        for i in range(100):
            client.report(step=i, worker=n)
        client.report(**big)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.close(w)
    reader.join()
    os.close(r)
    lines = b"".join(out).decode().splitlines()
    assert len(lines) == 808
    parsed = [json.loads(line) for line in lines]  # every line intact
    assert sum(1 for p in parsed if p == big) == 8


def test_broken_pipe_is_silent_and_falls_back_to_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r, w = _pipe_env(monkeypatch)
    os.close(r)
    client.report(a=1.0)  # EPIPE: no exception; the next channel (stdout) gets it
    assert capsys.readouterr().out == 'sweeprun.report: {"a": 1.0}\n'
    target = tmp_path / "r.jsonl"
    monkeypatch.setenv("SWEEPRUN_REPORT_FILE", str(target))
    client.report(a=2.0)
    assert target.read_text() == '{"a": 2.0}\n'
    os.close(w)


def test_a_reused_fd_number_is_never_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "unrelated.txt"
    fd = os.open(other, os.O_WRONLY | os.O_CREAT)
    monkeypatch.setenv("SWEEPRUN_REPORT_FD", str(fd))
    monkeypatch.setenv("SWEEPRUN_REPORT_PIPE", "1:2")  # not this file
    monkeypatch.setenv("SWEEPRUN_REPORT_FILE", str(tmp_path / "r.jsonl"))
    client.report(val_loss=0.1, step=1)
    os.close(fd)
    assert other.read_bytes() == b""
    assert (tmp_path / "r.jsonl").read_text() == '{"val_loss": 0.1, "step": 1}\n'


def test_file_channel_appends(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "r.jsonl"
    monkeypatch.setenv("SWEEPRUN_REPORT_FILE", str(target))
    client.report(x=1)
    client.report(x=2, step=5)
    assert target.read_text().splitlines() == ['{"x": 1}', '{"x": 2, "step": 5}']
