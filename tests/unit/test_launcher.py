"""launcher.py with real child processes, several misbehaving on purpose (tests/programs)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from sweeprun.metrics.parser import MetricParser
from sweeprun.run.process.child import (
    MAX_LINE,
    READ_SIZE,
    Child,
    ChildOutcome,
    TrialRequest,
    TrialTree,
)
from sweeprun.run.process.lines import Backlog
from sweeprun.run.process.tree import LAUNCH_VAR
from tests.helpers.paths import PROGRAMS
from tests.helpers.processes import alive
from tests.helpers.wait import wait_until


def _pids(tree: TrialTree | None) -> list[int]:
    assert tree is not None
    return [p.pid for p in tree.members()]


@dataclass
class Run:
    child: Child
    outcome: ChildOutcome
    lines: dict[str, list[str]]
    batches: dict[str, int]
    exits: list[ChildOutcome] = field(default_factory=list)
    exit_threads: list[str] = field(default_factory=list)


def start(tmp_path: Path, *args: str, program: bool = True, **kw: object) -> tuple[Child, Run]:
    argv = (sys.executable, str(PROGRAMS / args[0]), *args[1:]) if program else args
    req = TrialRequest(
        argv=tuple(argv),
        env=kw.pop("env", dict(os.environ)),  # type: ignore[arg-type]
        cwd=str(kw.pop("cwd", tmp_path)),
        stdout_path=tmp_path / "trial" / "stdout.log",
        stderr_path=tmp_path / "trial" / "stderr.log",
        **kw,  # type: ignore[arg-type]
    )
    lock = threading.Lock()
    lines: dict[str, list[str]] = {"stdout": [], "stderr": [], "report": []}
    batches = {"stdout": 0, "stderr": 0, "report": 0}
    exits: list[ChildOutcome] = []
    exit_threads: list[str] = []

    def on_lines(stream: str, got: list[str]) -> None:
        with lock:
            lines[stream] += got
            batches[stream] += 1

    def on_exit(outcome: ChildOutcome) -> None:
        exits.append(outcome)
        exit_threads.append(threading.current_thread().name)

    child = Child.start(req, on_lines, on_exit)
    return child, Run(child, None, lines, batches, exits, exit_threads)  # type: ignore[arg-type]


def finish(child: Child, run: Run, timeout: float = 30) -> Run:
    outcome = child.wait(timeout)
    assert outcome is not None, "on_exit was not called in time"
    run.outcome = outcome
    assert run.exits == [outcome]  # exactly once
    assert run.exit_threads != [threading.main_thread().name]
    return run


def run_program(tmp_path: Path, *args: str, **kw: Any) -> Run:
    return finish(*start(tmp_path, *args, **kw))


@pytest.fixture
def kill_later() -> Iterator[list[int]]:
    """Pids this test started indirectly; killed (one by one, by pid) at the end."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("code", [0, 1, 3])
def test_exit_code_tail_and_log_files(tmp_path: Path, code: int) -> None:
    run = run_program(tmp_path, "exit_code.py", str(code))
    out = run.outcome
    assert (out.returncode, out.signal, out.timed_out, out.stopped, out.error) == (
        code, None, False, None, None,
    )  # fmt: skip
    assert out.ok is (code == 0)
    assert out.pid == run.child.pid == run.child.pgid and out.duration > 0
    assert sorted(out.tail) == ["to stderr", "to stdout"]
    assert out.stderr_tail == ("to stderr",)  # stderr alone, for the failure's own line
    assert run.lines["stdout"] == ["to stdout"] and run.lines["stderr"] == ["to stderr"]
    assert (tmp_path / "trial" / "stdout.log").read_text() == "to stdout\n"
    assert (tmp_path / "trial" / "stderr.log").read_text() == "to stderr\n"


def test_killed_by_a_signal(tmp_path: Path) -> None:
    out = run_program(tmp_path, "self_kill.py").outcome
    assert (out.returncode, out.signal, out.stopped) == (None, signal.SIGKILL, None)
    assert out.tail == ("about to die",)


def test_stop_sends_sigterm_to_the_group(tmp_path: Path) -> None:
    child, run = start(tmp_path, "sleeper.py", "60")
    _wait_for(run, "sleeping")
    child.stop("pruned")
    child.stop("interrupted")  # the first reason is kept
    out = finish(child, run).outcome
    assert (out.returncode, out.signal, out.stopped, out.timed_out) == (
        None, signal.SIGTERM, "pruned", False,
    )  # fmt: skip
    child.stop("again")  # after the end: harmless


def test_ignoring_sigterm_escalates_to_sigkill_after_the_grace(tmp_path: Path) -> None:
    child, run = start(tmp_path, "ignore_term.py", kill_grace=0.5)
    _wait_for(run, "ignoring SIGTERM")
    child.stop("pruned")
    out = finish(child, run).outcome
    assert (out.signal, out.stopped) == (signal.SIGKILL, "pruned")


def test_stop_kills_the_grandchild_too(tmp_path: Path, kill_later: list[int]) -> None:
    child, run = start(tmp_path, "grandchild.py", "sleep", "stubborn", kill_grace=0.5)
    grandchild = int(_wait_for(run, "grandchild ").split()[1])
    kill_later.append(grandchild)
    assert alive(grandchild) and grandchild in _pids(child.tree)
    child.stop("pruned")
    out = finish(child, run).outcome
    assert out.stopped == "pruned" and out.signal == signal.SIGTERM
    assert not alive(grandchild)
    assert _pids(child.tree) == []


def test_grandchild_left_after_a_normal_exit_gets_the_ladder(
    tmp_path: Path, kill_later: list[int]
) -> None:
    child, run = start(tmp_path, "grandchild.py", "exit", "stubborn", kill_grace=0.5)
    out = finish(child, run).outcome
    grandchild = int(run.lines["stdout"][0].split()[1])
    kill_later.append(grandchild)
    assert out.returncode == 0 and out.stopped is None
    assert not alive(grandchild)
    assert _pids(child.tree) == []


def test_a_process_that_left_the_group_cannot_hang_us(
    tmp_path: Path, kill_later: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Child, "PIPE_GRACE", 0.3)
    child, run = start(tmp_path, "escape_group.py", "60")
    out = finish(child, run, timeout=20).outcome
    escaped = int(run.lines["stdout"][0].split()[1])
    kill_later.append(escaped)
    # out of the group and without the trial's launch marker: not ours to kill
    assert out.returncode == 0 and alive(escaped)


def test_a_helper_that_called_setsid_is_stopped_by_its_launch_marker(
    tmp_path: Path, kill_later: list[int]
) -> None:
    env = {**os.environ, LAUNCH_VAR: "marker-of-this-test"}
    child, run = start(tmp_path, "escape_group.py", "60", env=env, kill_grace=0.5)
    out = finish(child, run, timeout=20).outcome
    escaped = int(run.lines["stdout"][0].split()[1])
    kill_later.append(escaped)
    assert out.returncode == 0 and not alive(escaped)
    assert child.tree is not None and not child.tree.alive()


def test_timeout_stops_the_trial(tmp_path: Path) -> None:
    out = run_program(tmp_path, "sleeper.py", "60", timeout=0.3).outcome
    assert (out.timed_out, out.stopped, out.signal, out.returncode) == (
        True, "timeout", signal.SIGTERM, None,
    )  # fmt: skip
    assert out.tail == ("sleeping",)


def test_flood_all_lines_in_order_in_batches_and_log_complete(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    run = run_program(tmp_path, "flood.py", "200000", tail_lines=5, env=env)
    assert run.outcome.returncode == 0
    assert run.lines["stdout"] == [f"line {i}" for i in range(200_000)]
    assert run.batches["stdout"] < 2000  # the child writes 8 KB blocks: one batch per chunk
    log = (tmp_path / "trial" / "stdout.log").read_text()
    assert log == "".join(f"line {i}\n" for i in range(200_000))
    assert run.outcome.tail == tuple(f"line {i}" for i in range(199_995, 200_000))


def _start_blocked(
    tmp_path: Path, n: int, release: threading.Event
) -> tuple[Child, list[str], list[int]]:
    lines: list[str] = []
    at_exit: list[int] = []
    slow_first = [True]
    mark = tmp_path / "48k-flushed"  # flood.py creates it once 48 KiB are in the pipe

    def on_lines(stream: str, got: list[str]) -> None:
        if threading.current_thread().name.startswith("sweeprun-parse-"):
            release.wait(60)  # the parser thread is stuck: only the reader drains the pipes
        elif slow_first[0]:
            # the reader's first parse is slow, as on a busy machine: it lasts until the child
            # has put 48 KiB in the pipe (the reader took less than INLINE_MAX of it), so the
            # next read is a big one and hands parsing to the parser thread (a reader that
            # keeps up with 8 KiB writes would parse everything itself)
            slow_first[0] = False
            wait_until(mark.exists, 30, "flood.py flushed its first 48 KiB")
        if stream == "stdout":
            lines.extend(got)

    req = TrialRequest(
        argv=(sys.executable, str(PROGRAMS / "flood.py"), str(n), str(mark)),
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
        cwd=str(tmp_path),
        stdout_path=tmp_path / "trial" / "stdout.log",
        stderr_path=tmp_path / "trial" / "stderr.log",
    )
    child = Child.start(req, on_lines, lambda o: at_exit.append(len(lines)))
    return child, lines, at_exit


def _reader_waits_for_room(child: Child) -> bool:
    """The child's reader thread is parked in :meth:`Backlog.put`: the backlog is full, and
    with the parser held in ``on_lines`` nothing will take from it, so the reader reads no
    more and the pipe stays full."""
    backlog = child._backlog
    if backlog._size < backlog.limit:  # put() waits while the backlog holds >= limit bytes
        return False
    frames = sys._current_frames()
    for thread in threading.enumerate():
        if thread.name != f"sweeprun-read-{child.pid}" or thread.ident not in frames:
            continue
        frame: FrameType | None = frames[thread.ident]
        while frame is not None:
            if frame.f_code is Backlog.put.__code__:
                return True
            frame = frame.f_back
    return False


def test_the_child_never_waits_for_the_parsing_of_its_lines(tmp_path: Path) -> None:
    # ~2.3 MB: more than the pipe holds, less than the backlog bound. With on_lines blocked,
    # the child can only finish if the reader keeps draining its pipe into the backlog.
    release = threading.Event()
    child, lines, at_exit = _start_blocked(tmp_path, 200_000, release)
    try:
        wait_until(lambda: not child.running, 30, "the child has exited")
        assert child._parser is not None and at_exit == [] and child.wait(0.2) is None
        assert len(lines) < 200_000  # the exit is not told before every line is
    finally:
        release.set()
    out = child.wait(30)
    assert out is not None and out.returncode == 0
    assert at_exit == [200_000]  # every line was delivered before the exit, the last one too
    assert lines == [f"line {i}" for i in range(200_000)]
    log = (tmp_path / "trial" / "stdout.log").read_text()
    assert log == "".join(f"line {i}\n" for i in range(200_000))


def test_a_quiet_child_needs_no_parser_thread(tmp_path: Path) -> None:
    run = run_program(tmp_path, "reporter.py")
    assert run.outcome.returncode == 0 and run.lines["report"] and run.child._parser is None
    assert run.exit_threads == [f"sweeprun-child-{run.child.pid}"]


def test_a_flood_beyond_the_backlog_bound_waits_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Child, "BACKLOG_MAX", 256 << 10)
    release = threading.Event()
    # ~7 MB: more than pipe (1 MiB) + bound (256 KiB + one 1 MiB read) + a parse batch
    child, lines, at_exit = _start_blocked(tmp_path, 600_000, release)
    try:
        wait_until(lambda: _reader_waits_for_room(child), 30, "the reader waits for room")
        # 7 MB cannot fit in what the reader took (<= bound + one read) and the pipe: the
        # full backlog holds the reader back, the full pipe the child
        assert child.running
        assert child._backlog.peak <= (256 << 10) + READ_SIZE
    finally:
        release.set()
    out = child.wait(60)
    assert out is not None and out.returncode == 0
    assert at_exit == [600_000] and lines == [f"line {i}" for i in range(600_000)]
    assert child._backlog.peak <= (256 << 10) + READ_SIZE
    log = (tmp_path / "trial" / "stdout.log").read_text()
    assert log == "".join(f"line {i}\n" for i in range(600_000))


def test_a_10mb_line_without_newline_comes_in_bounded_pieces(tmp_path: Path) -> None:
    run = run_program(tmp_path, "long_line.py", "10000000")
    pieces = run.lines["stdout"]
    assert all(len(p) <= MAX_LINE for p in pieces) and len(pieces) == 10
    assert sum(len(p) for p in pieces) == 10_000_000 and set("".join(pieces)) == {"x"}
    assert (tmp_path / "trial" / "stdout.log").stat().st_size == 10_000_000
    assert run.outcome.tail[-1] == "x" * 500  # tail lines are truncated


def test_binary_garbage_is_decoded_with_replacement(tmp_path: Path) -> None:
    run = run_program(tmp_path, "garbage.py")
    out = run.lines["stdout"]
    assert out[0] == "\ufffd\ufffd\x00\x01garbage\ufffd"
    assert out[1] == "café ok"  # a character split across two writes survives
    assert out[-1] == '{"val_loss": 0.5}'
    raw = (tmp_path / "trial" / "stdout.log").read_bytes()
    assert raw.startswith(b"\xff\xfe\x00\x01garbage\x80\n") and bytes(range(256)) in raw


def test_missing_program_is_an_outcome_not_an_exception(tmp_path: Path) -> None:
    run = run_program(tmp_path, "no-such-program-xyz", "--x", program=False)
    out = run.outcome
    assert out.error == "program not found: 'no-such-program-xyz' (No such file or directory)"
    assert (out.returncode, out.signal, out.pid, out.tail) == (None, None, None, ())
    run.child.stop("pruned")  # nothing to stop: harmless


def test_not_executable_and_missing_cwd(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    out = run_program(tmp_path, str(script), program=False).outcome
    assert out.error == f"program not executable: '{script}' (Permission denied)"
    missing = tmp_path / "nowhere"
    out = run_program(tmp_path, "exit_code.py", cwd=missing).outcome
    assert out.error is not None and out.error.startswith(
        f"working directory not found: '{missing}'"
    )


def test_report_channel_is_apart_from_stdout(tmp_path: Path) -> None:
    run = run_program(tmp_path, "reporter.py")
    assert run.outcome.returncode == 0
    parser = MetricParser(["val_loss"])
    reported = [
        (e.name, e.value, e.step) for x in run.lines["report"] for e in parser.feed_report(x)
    ]
    assert reported == [
        ("val_loss", 1.0, 0), ("val_loss", 0.5, 1), ("val_loss", 1 / 3, 2), ("acc", 0.5, 0),
    ]  # fmt: skip
    assert '{"val_loss": 999.0, "step": 0}' in run.lines["stdout"]  # the fake stays on stdout
    assert "stderr noise" in run.lines["stderr"]
    assert not any("999" in x for x in run.lines["report"])
    log = (tmp_path / "trial" / "metrics.jsonl").read_text().splitlines()
    assert log == run.lines["report"]


def test_report_file_fallback_when_a_wrapper_closed_the_fd(tmp_path: Path) -> None:
    victim = tmp_path / "reused-fd.txt"
    run = run_program(tmp_path, "closed_fd_reporter.py", str(victim))
    assert run.outcome.returncode == 0, run.outcome.tail
    assert run.lines["report"] == ['{"val_loss": 0.25, "step": 7}']
    assert victim.read_bytes() == b""  # the reused fd number was left alone
    again = run_program(tmp_path, "closed_fd_reporter.py", str(victim))  # a retry, same dir
    assert again.lines["report"] == ['{"val_loss": 0.25, "step": 7}']  # no replay


def test_an_inherited_report_file_is_not_used(tmp_path: Path) -> None:
    outer = tmp_path / "outer.jsonl"
    env = {**os.environ, "SWEEPRUN_REPORT_FILE": str(outer)}
    run = run_program(tmp_path, "closed_fd_reporter.py", str(tmp_path / "v.txt"), env=env)
    assert run.lines["report"] == ['{"val_loss": 0.25, "step": 7}'] and not outer.exists()


def test_a_failing_callback_does_not_stop_the_draining(tmp_path: Path) -> None:
    def boom(stream: str, lines: list[str]) -> None:
        raise RuntimeError("bug in on_lines")

    req = TrialRequest(
        argv=(sys.executable, str(PROGRAMS / "flood.py"), "50000"),
        env=dict(os.environ),
        cwd=str(tmp_path),
        stdout_path=tmp_path / "o.log",
        stderr_path=tmp_path / "e.log",
    )
    child = Child.start(req, boom, lambda o: None)
    out = child.wait(30)
    assert out is not None and out.returncode == 0
    assert isinstance(child.callback_error, RuntimeError)
    assert (tmp_path / "o.log").read_text().count("\n") == 50_000


def _wait_for(run: Run, prefix: str, timeout: float = 10) -> str:
    """The first stdout line starting with ``prefix``, waiting for it to arrive."""

    def first() -> str | None:
        return next((x for x in list(run.lines["stdout"]) if x.startswith(prefix)), None)

    try:
        return wait_until(first, timeout, f"a stdout line starting with {prefix!r}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {run.lines}") from None


def test_worker_threads_are_reused_and_report_what_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    from sweeprun.run.process import threads as workers

    hooked: list[tuple[type[BaseException], str]] = []
    monkeypatch.setattr(
        threading, "excepthook", lambda a: hooked.append((a.exc_type, a.thread.name))
    )
    idents: list[int] = []
    first = workers.submit("w-first", lambda: idents.append(threading.get_ident()))
    assert first.join(10) and not first.is_alive()
    # the worker is idle again: the next task reuses it
    wait_until(lambda: workers._idle, 30, "an idle worker")
    second = workers.submit("w-second", lambda: idents.append(threading.get_ident()))
    assert second.join(10) and idents[0] == idents[1]

    def boom() -> None:
        raise ValueError("boom")

    assert workers.submit("w-bad", boom).join(10)
    assert hooked == [(ValueError, "w-bad")]


def test_many_children_one_after_another_keep_a_few_threads(tmp_path: Path) -> None:
    before = threading.active_count()
    for i in range(8):
        run = run_program(tmp_path / str(i), "reporter.py")
        assert run.outcome.returncode == 0 and run.lines["report"]
    assert threading.active_count() <= before + 4  # reader, watch (+ parser), not 2 per child
