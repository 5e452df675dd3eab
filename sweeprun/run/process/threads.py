"""Background threads for the launcher that do not make the caller wait for them to run.

``threading.Thread.start`` blocks until the new thread has been scheduled and said it is
alive; right after a fork/exec the new child competes for the CPU, and each start cost the
agent 1-2.5 ms per trial on a loaded machine. :func:`submit` hands the function to an idle
worker thread instead (a lock release) and only creates a thread when none is idle, so an
agent running ``--jobs N`` keeps about as many workers as it has concurrent tasks. A worker
idle for :data:`IDLE_EXIT` seconds ends.

While a task runs, its worker thread carries the task's name; an exception escaping the task
goes to :func:`threading.excepthook`, as it would from a thread of its own.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["IDLE_EXIT", "Task", "submit"]

IDLE_EXIT = 30.0  # seconds a worker waits for work before ending
_IDLE_NAME = "sweeprun-worker"


class Task:
    """A function running on a worker; :meth:`join` waits for its end."""

    __slots__ = ("args", "done", "fn", "name")

    def __init__(self, name: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.name = name
        self.fn = fn
        self.args = args
        self.done = threading.Event()

    def join(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def is_alive(self) -> bool:
        return not self.done.is_set()


class _Worker:
    __slots__ = ("go", "task")

    def __init__(self, task: Task) -> None:
        self.task: Task | None = task
        self.go = threading.Lock()  # held while idle; released to hand over self.task
        self.go.acquire()

    def loop(self) -> None:
        me = threading.current_thread()
        while True:
            task = self.task
            assert task is not None
            self.task = None
            me.name = task.name
            try:
                task.fn(*task.args)
            except BaseException:
                _report(me)
            me.name = _IDLE_NAME
            with _lock:
                _idle.append(self)  # idle before done: whoever joins may reuse this thread
            task.done.set()
            if not self.go.acquire(timeout=IDLE_EXIT):
                with _lock:
                    if self in _idle:
                        _idle.remove(self)
                        return
                self.go.acquire()  # taken by submit() just now: its task is on the way


_lock = threading.Lock()
_idle: list[_Worker] = []


def submit(name: str, fn: Callable[..., Any], *args: Any) -> Task:
    """Run ``fn(*args)`` on a daemon worker thread named ``name``; returns at once."""
    task = Task(name, fn, args)
    with _lock:
        worker = _idle.pop() if _idle else None
    if worker is not None:
        worker.task = task
        worker.go.release()
    else:
        worker = _Worker(task)
        threading.Thread(target=worker.loop, name=name, daemon=True).start()
    return task


def _report(thread: threading.Thread) -> None:
    exc_type, exc, tb = sys.exc_info()
    if exc_type is None or issubclass(exc_type, SystemExit):
        return  # as threading does: a SystemExit ends the thread quietly
    with contextlib.suppress(BaseException):  # a failing hook must not cost the pool a worker
        threading.excepthook(threading.ExceptHookArgs((exc_type, exc, tb, thread)))
