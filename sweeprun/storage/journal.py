"""The journal file: a lock on ``fcntl`` record locks (``lockf``), and all-or-nothing appends.

Optuna's own journal locks create and delete a lock file per write; a process killed with -9
while holding one leaves it behind, and every other process then waits out a grace period.
A record lock costs two system calls, is released by the kernel when its holder dies, and
works across processes on one host and on NFSv4 (which implements POSIX locks).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Generator
from typing import Any

from optuna.storages.journal import JournalFileBackend

from sweeprun.storage.optuna_adapter import (
    JournalFileLock,
    journal_file_offset,
    journal_lock_held,
)


class FlockLock(JournalFileLock):
    def __init__(self, filepath: str) -> None:
        self._path = filepath + ".lock"
        self._fd: int | None = None
        self._mutex = threading.Lock()  # record locks are per process, not per thread

    def __getstate__(self) -> dict[str, str]:  # (a storage is picklable, as Optuna's are)
        return {"path": self._path}

    def __setstate__(self, state: dict[str, str]) -> None:
        self._path = state["path"]
        self._fd = None
        self._mutex = threading.Lock()

    def acquire(self) -> bool:
        self._mutex.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._mutex.release()
            raise
        return True

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()


class SafeJournalFileBackend(JournalFileBackend):
    """Optuna's journal file whose appends are all-or-nothing, with records held back to ride
    on the next append, and reads that cost one ``stat`` when nothing was appended.

    A write that fails half-way (disk full, read-only remount) is cut back to where it began,
    and a torn last line left by a crash is cut before the next append; otherwise the next
    record would be glued onto the torn one and every later read of the journal would fail.

    Held records (:meth:`hold`) are not written until the next append of this process, which
    then writes them first, in the same write and fsync: the batching decorator
    (:mod:`sweeprun.storage.batching`) holds a trial's end attributes here so that they go out
    with the state record ``JournalStorage.set_trial_state_values`` appends. Until then they
    are not recorded at all (a crash loses them, as it would lose a write that had not happened
    yet), and the replay does not show them. Callers hold the storage's thread lock, as
    Optuna's ``JournalStorage`` does for every append.
    """

    def __init__(self, file_path: str, lock_obj: JournalFileLock) -> None:
        super().__init__(file_path, lock_obj)
        self.path = file_path
        self.lock = lock_obj
        self.pending: list[dict[str, Any]] = []
        self._pending_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_pending_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pending_lock = threading.Lock()

    def hold(self, logs: list[dict[str, Any]]) -> None:
        """Write ``logs`` with the next append instead of now."""
        with self._pending_lock:
            self.pending.extend(logs)

    def drop_held(self) -> None:
        """Forget the held records (their write was refused before it reached the file)."""
        with self._pending_lock:
            self.pending = []

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        offset = journal_file_offset(self, log_number_from)
        if offset is not None:
            try:
                if os.stat(self.path).st_size == offset:
                    return  # nothing new: no open, read and close
            except OSError:
                pass
        yield from super().read_logs(log_number_from)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if self.pending:  # held records first; all-or-nothing with the rest (dropped on failure)
            with self._pending_lock:
                logs, self.pending = [*self.pending, *logs], []
        if not logs:
            return
        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode()
        with journal_lock_held(self.lock):
            # unbuffered: a failed write must leave nothing behind to be flushed later
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                start = _cut_torn_tail(fd)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)


def _cut_torn_tail(fd: int) -> int:
    """Truncate an incomplete last line; return the size the file now has."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    chunk = 1 << 20
    end = size
    while end > 0:
        begin = max(0, end - chunk)
        block = os.pread(fd, end - begin, begin)
        cut = block.rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, begin + cut + 1)
            return begin + cut + 1
        end = begin
    os.ftruncate(fd, 0)
    return 0
