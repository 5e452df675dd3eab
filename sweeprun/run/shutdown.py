"""Stopping a sweep's agent: signals, `sweeprun stop`, the hard deadline, and draining.

* First Ctrl-C (SIGINT) with trials running: launching stops, running trials finish. A second
  one, or SIGTERM / SIGHUP: every running trial is stopped (``interrupted``, re-queued).
* ``sweeprun stop NAME`` (a study attribute, read with the budget's refresh): launching stops;
  with ``--now`` the running trials are stopped too.
* ``budget.deadline``: launching stops and running trials are stopped.
* After an error: :meth:`Shutdown.drain_exits` waits until every child is gone, recording what
  can still be recorded.

:class:`Shutdown` is a part of the agent's scheduler (:class:`sweeprun.run.scheduler.Controller`),
not a base class: it holds the stopping state (``draining``, the interrupt count, the deadline)
and sees the scheduler's running trials and result, which the scheduler owns.
"""

from __future__ import annotations

import collections
import queue
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from sweeprun.run.verdict import DEADLINE, INTERRUPTED, STOPPED

if TYPE_CHECKING:
    from sweeprun.run.budget import Budget
    from sweeprun.run.display import Display
    from sweeprun.run.process.child import ChildOutcome
    from sweeprun.run.trial import EventQueue, Running, RunResult

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Shutdown:
    def __init__(
        self,
        *,
        running: dict[int, Running],
        result: RunResult,
        display: Display,
        budget: Budget,
        events: EventQueue,
        on_exit: Callable[[Running, ChildOutcome], None],
        hard_deadline: float | None,
        kill_grace: float,
    ) -> None:
        self.running = running
        self.result = result
        self.display = display
        self.budget = budget
        self.events = events
        self.on_exit = on_exit
        self.hard_deadline = hard_deadline
        self.kill_grace = kill_grace
        #: no new trial is launched; running ones finish (or are being stopped)
        self.draining = False
        self.interrupts = 0
        #: signals received, not yet acted on (appended by the handler, popped by the loop)
        self._received: collections.deque[int] = collections.deque()

    def check_stop(self) -> bool:
        """Honour `sweeprun stop NAME` (graceful) and `sweeprun stop NAME --now`."""
        stop = self.budget.stop_request
        if stop is None:
            return False
        if not self.result.stopped:
            self.result.stopped = True
            self.stop_launching("stopped by `sweeprun stop`")
            self.draining = True
        if stop == "now" and any(r.stop_reason is None for r in self.running.values()):
            self.stop_all(STOPPED)
        return True

    def check_deadline(self) -> None:
        if self.hard_deadline is None or time.monotonic() < self.hard_deadline:
            return
        if not self.draining or any(r.stop_reason is None for r in self.running.values()):
            self.stop_launching("budget.deadline reached")
            self.stop_all(DEADLINE)

    def stop_launching(self, note: str) -> None:
        if self.result.stop_note is None:
            self.result.stop_note = note
            if self.running:
                self.display.note(f"{note}; waiting for {len(self.running)} running trial(s)")

    def install_signals(self) -> dict[int, Any]:
        """Handle SIGINT, SIGTERM and SIGHUP (main thread only); the handlers to restore."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {sig: signal.signal(sig, self.on_signal) for sig in _SIGNALS}

    @staticmethod
    def restore_signals(old: dict[int, Any]) -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Record the signal only. A handler runs between two bytecodes of whatever the main
        thread was doing, a write to stdout included, so printing or stopping children from here
        can fail (a reentrant write) or deadlock; :meth:`handle_signals` acts on it from the
        scheduler's loop, within one event wait (0.2 s)."""
        self.result.interrupted = True
        self.draining = True  # no launch from here on, even before the loop looks
        self._received.append(signum)

    def handle_signals(self) -> None:
        """Act on the signals received since the last call, in order (scheduler loop only)."""
        while self._received:
            signum = self._received.popleft()
            self.interrupts += 1
            if signum == signal.SIGINT and self.interrupts == 1 and self.running:
                self.display.note(
                    f"interrupted: launching stopped; waiting for {len(self.running)} running "
                    "trial(s) to finish (Ctrl-C again to stop them)"
                )
                continue
            if any(r.stop_reason is None for r in self.running.values()):
                self.display.note(f"stopping {len(self.running)} running trial(s)")
            self.stop_all(INTERRUPTED)

    def stop_all(self, reason: str) -> None:
        self.draining = True
        for run in self.running.values():
            if run.stop_reason is None or run.stop_reason == "pruned":
                run.stop_reason = reason if run.stop_reason is None else run.stop_reason
                run.child.stop(reason)

    def drain_exits(self, timeout: float) -> None:
        """After an error: wait until every child is gone (the kill ladder needs this process
        alive), recording what can still be recorded."""
        end = time.monotonic() + timeout + self.kill_grace
        while self.running and time.monotonic() < end:
            try:
                kind, number, payload = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            run = self.running.get(number)
            if run is None or kind != "x":
                continue
            try:
                self.on_exit(run, payload)
            except Exception:  # the storage itself may be what failed
                self.running.pop(number, None)
