"""The journal file: a lock on ``fcntl`` record locks (``lockf``), all-or-nothing appends, and
reads that skip a line that is not a record (with one note) instead of failing on it.

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
import sys
import threading
from collections.abc import Generator
from typing import Any

from optuna.storages.journal import JournalFileBackend

from sweeprun.storage.journal_check import parse, salvage
from sweeprun.storage.optuna_adapter import JournalFileLock, journal_lock_held

_CHUNK = 1 << 22  # bytes read at a time
_NOTES = 20  # bad lines of one file noted one by one; past that, one summary note
_noted: dict[str, set[int]] = {}  # journal file -> the bad lines this process has noted
_noted_lock = threading.Lock()


def note_bad_line(path: str, line_no: int, why: str, *, salvaged: bool = False) -> None:
    """One note on stderr per bad line of a journal file and process (not per read); past
    :data:`_NOTES` lines of one file, one note that the rest are skipped without a note."""
    with _noted_lock:
        seen = _noted.setdefault(os.path.abspath(path), set())
        if line_no in seen or len(seen) > _NOTES:
            return
        seen.add(line_no)
        more = len(seen) > _NOTES
    text = (
        f"note: {path}: more lines that are not journal records (from line {line_no}) are "
        "skipped without a note"
        if more
        else f"note: {path} line {line_no} is not a journal record ({why}): "
        + (
            "read as the creation of a trial (without its parameters), so that the trials "
            "after it keep their numbers"
            if salvaged
            else "skipped; the records before and after it are read as usual"
        )
    )
    print(text, file=sys.stderr, flush=True)


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
        # where the next read starts: (records before it, its byte offset, lines before it)
        self._cursor = (0, 0, 0)

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
        """The records from number ``log_number_from`` on, as Optuna's reader yields them, but
        a newline-terminated line that is not a record (:func:`journal_check.parse`) is
        skipped with one note (:func:`note_bad_line`) instead of failing this read and every
        later one; a bad line that still reads as a trial's creation is replaced by one
        (:func:`journal_check.salvage`: the trials after it keep their ids). Record numbers
        count records, not lines: each process skips the same lines, so every reader numbers
        the records alike. An incomplete last line (no newline yet: a writer mid-append, or
        one killed mid-write, whose tail the next append cuts) ends the read and is read
        again next time."""
        number, offset, line_no = self._cursor
        if number != log_number_from:
            number, offset, line_no = 0, 0, 0  # (Optuna's replay always resumes at the cursor)
        try:
            if os.stat(self.path).st_size == offset:
                return  # nothing new: no open, read and close
        except OSError:
            pass
        with open(self.path, "rb") as f:
            end = os.fstat(f.fileno()).st_size  # what was there now; later appends: next time
            f.seek(offset)
            rest = b""
            while offset + len(rest) < end:
                chunk = f.read(min(_CHUNK, end - offset - len(rest)))
                if not chunk:
                    break
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()  # after the last newline: an incomplete line, or nothing
                for line in lines:
                    offset += len(line) + 1
                    line_no += 1
                    record, why = parse(line)
                    if record is None:
                        record = salvage(line)
                        note_bad_line(self.path, line_no, why, salvaged=record is not None)
                        if record is None:
                            continue
                    number += 1
                    if number > log_number_from:
                        # where the next read starts, should the replay stop at this record
                        self._cursor = (number, offset, line_no)
                        yield record
                if number >= log_number_from:
                    self._cursor = (number, offset, line_no)  # (past any bad lines read)

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
                start, cut = _cut_torn_tail(fd)
                if cut:
                    _note_cut(self.path, cut)
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


def _cut_torn_tail(fd: int) -> tuple[int, int]:
    """Truncate an incomplete last line; the size the file now has, and the bytes cut.

    Called under the journal lock: a writer that holds it writes whole lines, so an incomplete
    last line is a dead writer's (killed mid-write, or its disk filled up). No reader has
    applied it (readers stop at a line without its newline), so cutting it loses nothing that
    was recorded; ending it with a newline instead would leave a bad line in the journal for
    every later reader to note."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size, 0
    chunk = 1 << 20
    end = size
    while end > 0:
        begin = max(0, end - chunk)
        block = os.pread(fd, end - begin, begin)
        cut = block.rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, begin + cut + 1)
            return begin + cut + 1, size - (begin + cut + 1)
        end = begin
    os.ftruncate(fd, 0)
    return 0, size


def _note_cut(path: str, cut: int) -> None:
    print(
        f"note: {path} ended in an incomplete record ({cut} bytes, a writer killed mid-write): "
        "cut before this append",
        file=sys.stderr,
        flush=True,
    )
