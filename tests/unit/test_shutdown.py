"""The agent's signal handler only records; the scheduler loop acts (no I/O in a handler).

A handler runs between two bytecodes of whatever the main thread was doing. When that was a
write to stdout (interrupted by the signal), a note printed from the handler raised
"reentrant call inside <_io.BufferedWriter name='<stdout>'>" and the agent died with exit 3
instead of stopping its trials (seen in CI).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from typing import Any

import pytest

from sweeprun.run.shutdown import Shutdown
from sweeprun.run.trial import RunResult
from tests.helpers.wait import wait_until


@dataclass
class _Display:
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)


@dataclass
class _Child:
    stops: list[str] = field(default_factory=list)

    def stop(self, reason: str) -> None:
        self.stops.append(reason)


@dataclass
class _Running:
    child: _Child = field(default_factory=_Child)
    stop_reason: str | None = None


def _shutdown(display: _Display, running: dict[int, Any]) -> Shutdown:
    return Shutdown(
        running=running,
        result=RunResult(),
        display=display,  # type: ignore[arg-type]
        budget=None,  # type: ignore[arg-type]
        events=None,  # type: ignore[arg-type]
        on_exit=lambda run, outcome: None,
        hard_deadline=None,
        kill_grace=1.0,
    )


@pytest.fixture
def installed() -> Any:
    display = _Display()
    running = {0: _Running(), 1: _Running()}
    sd = _shutdown(display, running)
    old = sd.install_signals()
    try:
        yield sd, display, running
    finally:
        sd.restore_signals(old)


def test_the_handler_prints_nothing_and_stops_nothing(installed: Any) -> None:
    sd, display, running = installed
    os.kill(os.getpid(), signal.SIGINT)
    wait_until(lambda: sd.result.interrupted, 5, "the handler ran")
    assert sd.draining  # launching stops at once
    assert display.notes == []
    assert all(r.child.stops == [] for r in running.values())
    sd.handle_signals()
    assert len(display.notes) == 1 and "Ctrl-C again to stop them" in display.notes[0]
    assert all(r.child.stops == [] for r in running.values())  # the first one drains


def test_a_second_ctrl_c_stops_every_running_trial_from_the_loop(installed: Any) -> None:
    sd, display, running = installed
    os.kill(os.getpid(), signal.SIGINT)
    wait_until(lambda: len(sd._received) == 1, 5, "first signal recorded")
    os.kill(os.getpid(), signal.SIGINT)
    wait_until(lambda: len(sd._received) == 2, 5, "second signal recorded")
    assert all(r.child.stops == [] for r in running.values())
    sd.handle_signals()
    assert [r.child.stops for r in running.values()] == [["interrupted"], ["interrupted"]]
    assert display.notes[-1] == "stopping 2 running trial(s)"
    sd.handle_signals()  # nothing new: nothing more happens
    assert [r.child.stops for r in running.values()] == [["interrupted"], ["interrupted"]]


def test_sigterm_stops_at_once(installed: Any) -> None:
    sd, _display, running = installed
    os.kill(os.getpid(), signal.SIGTERM)
    wait_until(lambda: sd.result.interrupted, 5, "the handler ran")
    sd.handle_signals()
    assert [r.child.stops for r in running.values()] == [["interrupted"], ["interrupted"]]
