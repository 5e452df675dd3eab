"""A journal-file lock on ``fcntl`` record locks (``lockf``).

Optuna's own journal locks create and delete a lock file per write; a process killed with -9
while holding one leaves it behind, and every other process then waits out a grace period.
A record lock costs two system calls, is released by the kernel when its holder dies, and
works across processes on one host and on NFSv4 (which implements POSIX locks).
"""

from __future__ import annotations

import fcntl
import os
import threading

from optuna.storages.journal._file import BaseJournalFileLock


class FlockLock(BaseJournalFileLock):
    def __init__(self, filepath: str) -> None:
        self._path = filepath + ".lock"
        self._fd: int | None = None
        self._thread_lock = threading.Lock()  # record locks are per process, not per thread

    def acquire(self) -> bool:
        self._thread_lock.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        return True

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()
