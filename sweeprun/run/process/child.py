"""Run one trial's program: own process group, log files, a line stream, kill ladder, timeout.

Knows nothing of optuna or pydantic: a :class:`TrialRequest` goes in, lines come out through
``on_lines(stream, lines)`` (stream is ``"stdout"``, ``"stderr"`` or ``"report"``) and one
:class:`ChildOutcome` comes out through ``on_exit`` — exactly once, from a background thread,
after the process exited and its pipes reached EOF (or were abandoned).

* The child gets stdin from /dev/null, stdout and stderr as pipes, and a third pipe for
  :func:`sweeprun.report` (``SWEEPRUN_REPORT_FD``, checked by ``SWEEPRUN_REPORT_PIPE``).
  ``SWEEPRUN_REPORT_FILE`` names a file the launcher also polls, for programs whose
  inherited fds are closed by a wrapper.
* A reader thread drains all pipes with big ``os.read`` calls as data arrives and appends the
  raw bytes to ``stdout_path``/``stderr_path``/``metrics.jsonl``. Small reads it splits into
  lines and hands to ``on_lines`` itself; from the first read of
  :data:`~sweeprun.run.process.lines.INLINE_MAX` bytes (a fast writer) on, it only queues them
  in a bounded :class:`~sweeprun.run.process.lines.Backlog` that a parser thread empties (one
  stream's chunks joined up to :data:`~sweeprun.run.process.lines.PARSE_BATCH` bytes per
  call), so a flooding child never waits for the parsing of its lines unless the backlog is
  full. ``on_exit`` is called after the backlog is
  drained. A line longer than :data:`MAX_LINE` characters is cut and delivered in pieces.
* ``stop(reason)`` / the timeout / the main process exiting with processes of its tree still
  alive all run the same ladder (:func:`~sweeprun.run.process.tree.stop_tree`): SIGTERM to the
  group and to every process carrying the trial's ``SWEEPRUN_LAUNCH`` marker (helpers that
  called setsid or double-forked), ``kill_grace`` seconds, SIGKILL.
* Pipes held by a process that escaped even that are abandoned :attr:`Child.PIPE_GRACE` seconds
  after the tree is gone, so such a process cannot hang the agent.
"""

from __future__ import annotations

import os
import secrets
import selectors
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sweeprun.run.process.lines import BACKLOG_MAX, INLINE_MAX, MAX_LINE, Backlog, Item, Stream
from sweeprun.run.process.threads import Task, submit
from sweeprun.run.process.tree import LAUNCH_VAR, TrialTree, stop_tree

__all__ = ["MAX_LINE", "Child", "ChildOutcome", "TrialRequest", "TrialTree"]

TAIL_WIDTH = 500
STDERR_TAIL = 50  # stderr lines kept apart: the failure's own line is found in them
READ_SIZE = 1 << 20
PIPE_SIZE = 1 << 20
_POLL_FILE_EVERY = 0.25
_COALESCE = 0.001  # seconds of wait per wakeup, only with 1 MiB pipes (a writer fills them slower)
_COALESCE_MIN = 16 << 10  # ... and only after a wakeup that read this much (a fast writer)

LinesCallback = Callable[[str, list[str]], None]
ExitCallback = Callable[["ChildOutcome"], None]


@dataclass(frozen=True)
class TrialRequest:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str
    stdout_path: Path
    stderr_path: Path
    timeout: float | None = None
    kill_grace: float = 10.0
    tail_lines: int = 20


@dataclass(frozen=True)
class ChildOutcome:
    returncode: int | None  # None when killed by a signal or never started
    signal: int | None
    timed_out: bool
    stopped: str | None  # the reason given to stop(): "pruned", "interrupted", "timeout"
    duration: float
    pid: int | None
    tail: tuple[str, ...]  # last lines of stdout+stderr in arrival order
    error: str | None  # the program could not be started
    stderr_tail: tuple[str, ...] = ()  # the last STDERR_TAIL lines of stderr alone
    log_error: str | None = None  # the trial's log could not be written (the trial was stopped)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.error is None


class Child:
    """A running trial program. Create with :meth:`Child.start`."""

    PIPE_GRACE = 2.0  # seconds to wait for EOF once the process group is gone
    BACKLOG_MAX = BACKLOG_MAX  # bytes read and not yet parsed before the reader waits

    def __init__(self, request: TrialRequest, on_lines: LinesCallback, on_exit: ExitCallback):
        self.request = request
        self._on_lines = on_lines
        self._on_exit = on_exit
        self.pid: int | None = None
        self.pgid: int | None = None
        self.tree: TrialTree | None = None
        self.started_at = time.time()
        self._t0 = time.monotonic()
        self._proc: subprocess.Popen[bytes] | None = None
        self._tail: deque[str] = deque(maxlen=max(request.tail_lines, 0))
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._stop_reason: str | None = None
        self._log_error: str | None = None
        self._timed_out = False
        self._exited = threading.Event()
        self._done = threading.Event()
        self._ladder_lock = threading.Lock()
        self._ladder: Task | None = None
        self._abandon_at: float | None = None
        self._parser: Task | None = None  # started at the first big read
        self.outcome: ChildOutcome | None = None
        self.callback_error: BaseException | None = None

    # -- public API ------------------------------------------------------------------------

    @classmethod
    def start(cls, request: TrialRequest, on_lines: LinesCallback, on_exit: ExitCallback) -> Child:
        child = cls(request, on_lines, on_exit)
        child._spawn()
        return child

    def stop(self, reason: str) -> None:
        """Stop the trial's whole process tree (SIGTERM, grace, SIGKILL) without blocking."""
        if self._stop_reason is None:
            self._stop_reason = reason
        if self._proc is not None and not self._done.is_set():
            self._start_ladder()

    def wait(self, timeout: float | None = None) -> ChildOutcome | None:
        """Block until ``on_exit`` has been called; the outcome, or None on timeout."""
        self._done.wait(timeout)
        return self.outcome

    @property
    def running(self) -> bool:
        return not self._exited.is_set() and self._proc is not None

    # -- start -----------------------------------------------------------------------------

    def _spawn(self) -> None:
        req = self.request
        req.stdout_path.parent.mkdir(parents=True, exist_ok=True)
        req.stderr_path.parent.mkdir(parents=True, exist_ok=True)
        report_log = req.stdout_path.with_name("metrics.jsonl")
        # an unguessable name per attempt: another trial cannot find it by swapping numbers,
        # and a retry in the same directory never replays the last attempt's reports
        self._report_file = req.stdout_path.with_name(f"report-{secrets.token_hex(8)}.jsonl")
        pipes = [os.pipe() for _ in range(3)]
        self._coalesce = _COALESCE if all(_enlarge(r) for r, _ in pipes) else 0.0
        (out_r, out_w), (err_r, err_w), (rep_r, rep_w) = pipes
        st = os.fstat(rep_w)
        env = dict(req.env)
        env["SWEEPRUN_REPORT_FD"] = str(rep_w)
        env["SWEEPRUN_REPORT_PIPE"] = f"{st.st_dev}:{st.st_ino}"
        env["SWEEPRUN_REPORT_FILE"] = str(self._report_file)  # never an inherited one
        try:  # a retry in the same directory must not replay the reports of the last attempt
            self._report_offset = self._report_file.stat().st_size
        except OSError:
            self._report_offset = 0
        started = time.time()
        try:
            self._proc = subprocess.Popen(
                list(req.argv),
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                pass_fds=(rep_w,),
                start_new_session=True,
                env=env,
                cwd=req.cwd,
            )
        except (OSError, ValueError) as exc:
            for fd in (out_r, out_w, err_r, err_w, rep_r, rep_w):
                os.close(fd)
            self._fail_to_start(_describe_start_error(exc, req))
            return
        finally:
            if self._proc is not None:
                for fd in (out_w, err_w, rep_w):
                    os.close(fd)
        self.pid = self.pgid = self._proc.pid
        launch = req.env.get(LAUNCH_VAR)
        self.tree = TrialTree(self.pid, {LAUNCH_VAR: launch} if launch else {}, since=started)
        streams = [
            Stream("stdout", out_r, req.stdout_path),
            Stream("stderr", err_r, req.stderr_path),
            Stream("report", rep_r, report_log),
        ]
        self._backlog = Backlog(self.BACKLOG_MAX)
        # worker threads: neither start waits for the thread to be scheduled (see workers.py)
        reader = submit(f"sweeprun-read-{self.pid}", self._read, streams)
        submit(f"sweeprun-child-{self.pid}", self._watch, reader)

    def _fail_to_start(self, error: str) -> None:
        self.outcome = ChildOutcome(
            returncode=None, signal=None, timed_out=False, stopped=self._stop_reason,
            duration=0.0, pid=None, tail=(), error=error,
        )  # fmt: skip
        submit("sweeprun-child-unstarted", self._finish)

    # -- background threads ----------------------------------------------------------------

    def _watch(self, reader: Task) -> None:
        proc = self._proc
        assert proc is not None
        timeout = self.request.timeout
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._timed_out = True
            self.stop("timeout")
            proc.wait()
        duration = time.monotonic() - self._t0
        self._exited.set()
        self._finish_ladder()  # grandchildren left in the group get the ladder too
        self._abandon_at = time.monotonic() + self.PIPE_GRACE
        reader.join()
        if self._parser is not None:  # started by the reader, which has ended
            self._parser.join()  # it has drained the backlog
        code = proc.returncode
        self.outcome = ChildOutcome(
            returncode=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            timed_out=self._timed_out,
            stopped=self._stop_reason,
            duration=duration,
            pid=self.pid,
            tail=tuple(self._tail),
            error=None,
            stderr_tail=tuple(self._stderr_tail),
            log_error=self._log_error,
        )
        self._finish()

    def _finish(self) -> None:
        assert self.outcome is not None
        try:
            self._on_exit(self.outcome)
        finally:
            self._done.set()

    def _start_ladder(self) -> None:
        with self._ladder_lock:
            if self._ladder is None and self.tree is not None:  # it returns if nothing lives
                self._ladder = submit(f"sweeprun-ladder-{self.pgid}", self._run_ladder)

    def _finish_ladder(self) -> None:
        """After the exit: the ladder for whatever of the tree is left, run on this thread
        (no second thread to hand it to and wait for), or awaited if stop() started it."""
        with self._ladder_lock:
            ladder, inline = self._ladder, self._ladder is None
            if inline:
                if self.tree is None:
                    return
                self._ladder = ladder = Task(f"sweeprun-ladder-{self.pgid}", self._run_ladder, ())
        assert ladder is not None
        if not inline:
            ladder.join()
            return
        try:
            self._run_ladder()
        finally:
            ladder.done.set()

    def _run_ladder(self) -> None:
        assert self.tree is not None
        stop_tree(self.tree, self.request.kill_grace)

    def _read(self, streams: list[Stream]) -> None:
        sel = selectors.DefaultSelector()
        for s in streams:
            sel.register(s.fd, selectors.EVENT_READ, s)
        file_offset = self._report_offset
        file_partial = b""
        next_poll = 0.0
        try:
            last = 0  # bytes read at the last wakeup: no wait for a few lines, nor at EOF
            while sel.get_map():
                ready = sel.select(timeout=0.1)
                if ready and self._coalesce and last >= _COALESCE_MIN and self._abandon_at is None:
                    time.sleep(self._coalesce)  # let a fast writer fill the pipe: fewer wakeups
                last = 0
                for key, _ in ready:
                    stream: Stream = key.data
                    try:
                        data = os.read(stream.fd, READ_SIZE)
                    except OSError:
                        data = b""
                    last += len(data)
                    if not data:
                        sel.unregister(stream.fd)
                    elif (failed := stream.keep(data)) and self._log_error is None:
                        self._log_error = failed
                        self.stop(failed)  # the trial ends; the pipes are still drained
                    self._emit(stream, data, len(data))  # b"": the end of the stream
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + _POLL_FILE_EVERY
                    file_offset, file_partial = self._poll_report_file(file_offset, file_partial)
                if self._abandon_at is not None and now > self._abandon_at:
                    for key in list(sel.get_map().values()):
                        sel.unregister(key.fd)
                        self._emit(key.data, b"", 0)
            self._poll_report_file(file_offset, file_partial, final=True)
        finally:
            self._backlog.close()
            sel.close()
            for s in streams:
                os.close(s.fd)
                s.close_log()

    def _emit(self, target: Stream | str, payload: bytes | list[str], size: int) -> None:
        """From the reader: parse here while reads are small, else queue for the parser."""
        if self._parser is None:
            if size < INLINE_MAX:
                self._handle((target, payload))  # type: ignore[arg-type]
                return
            self._parser = submit(f"sweeprun-parse-{self.pid}", self._parse)
        self._backlog.put(target, payload, size)

    def _parse(self) -> None:
        """Lines from the backlog to ``on_lines``, in arrival order, until it is closed."""
        try:
            while (item := self._backlog.take()) is not None:
                self._handle(item)
        finally:
            self._backlog.drop()  # even after a bug here, the reader must never wait for us

    def _handle(self, item: Item) -> None:
        target, payload = item
        if isinstance(target, Stream):
            assert isinstance(payload, bytes)
            self._deliver(target.name, target.lines(payload, final=not payload))
        else:
            assert isinstance(payload, list)
            self._deliver(target, payload)

    def _poll_report_file(
        self, offset: int, partial: bytes, final: bool = False
    ) -> tuple[int, bytes]:
        try:
            with open(self._report_file, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return offset, partial
        if not data:
            return offset, partial
        offset += len(data)
        data = partial + data
        body, _, partial = data.rpartition(b"\n")
        if final and partial:
            body, partial = data, b""
        if body:
            text = body.decode("utf-8", errors="replace")
            self._emit("report", [line for line in text.split("\n") if line], len(body))
        return offset, partial

    def _deliver(self, stream: str, lines: list[str]) -> None:
        if not lines:
            return
        if stream != "report" and self._tail.maxlen:
            self._tail.extend(line[:TAIL_WIDTH] for line in lines[-self._tail.maxlen :])
        if stream == "stderr":
            self._stderr_tail.extend(line[:TAIL_WIDTH] for line in lines[-STDERR_TAIL:])
        try:
            self._on_lines(stream, lines)
        except Exception as exc:  # a callback bug must not stop the draining of the pipes
            if self.callback_error is None:
                self.callback_error = exc


def _enlarge(fd: int) -> bool:
    """Grow a pipe to PIPE_SIZE (Linux) so that a fast writer rarely waits for the reader."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        return True
    except (OSError, AttributeError):
        return False


def _describe_start_error(exc: BaseException, req: TrialRequest) -> str:
    program = req.argv[0] if req.argv else ""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, OSError) and not os.path.isdir(req.cwd):
        return f"working directory not found: {req.cwd!r} ({reason})"
    if isinstance(exc, FileNotFoundError):
        return f"program not found: {program!r} ({reason})"
    if isinstance(exc, PermissionError):
        return f"program not executable: {program!r} ({reason})"
    return f"cannot start {program!r}: {reason}"
