"""Between a child's pipes and the line callbacks: per-pipe line splitting (:class:`Stream`)
and the bounded :class:`Backlog` of raw chunks that the launcher's reader thread fills and its
parser thread empties.

Once a child writes fast, the reader only drains the pipes and appends to the log files, so a
child printing faster than its lines can be parsed never waits on the parsing; it waits only
once :data:`BACKLOG_MAX` bytes are read and not yet parsed (back-pressure that bounds the
memory).
"""

from __future__ import annotations

import codecs
import contextlib
import threading
from collections import deque
from pathlib import Path
from typing import BinaryIO

MAX_LINE = 1 << 20  # characters
BACKLOG_MAX = 32 << 20  # bytes read but not yet parsed; beyond this the reader waits
# a read this big means a fast writer: from then on a parser thread parses, the reader only
# drains (smaller reads are parsed by the reader itself: no thread for a quiet trial)
INLINE_MAX = 16 << 10
# bytes of one stream parsed (and handed to on_lines) at once. A C call such as json.loads on
# a batch holds the GIL for its whole length: small enough that the reader gets it back long
# before a fast writer fills a 1 MiB pipe, big enough for few callbacks.
PARSE_BATCH = 256 << 10


#: how a trial whose log or files could not be written is recorded (the path follows)
LOG_ERROR = "cannot write the trial's files"


class Stream:
    """One pipe: its log file, incremental UTF-8 decoding and the partial last line."""

    def __init__(self, name: str, fd: int, path: Path) -> None:
        self.name = name
        self.fd = fd
        self.path = path
        self.log: BinaryIO | None = None  # created on the first byte: no empty files to make
        #: why the log could not be written (its disk is full, read-only ...); then the stream
        #: is still read and parsed, its bytes no longer logged
        self.log_error: str | None = None
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.partial: list[str] = []
        self.partial_len = 0

    def keep(self, data: bytes) -> str | None:
        """Append ``data`` to the log; the error text when that fails (the first time only)."""
        if self.log_error is not None:
            return None
        try:
            if self.log is None:
                self.log = open(self.path, "ab")  # noqa: SIM115
            self.log.write(data)
            self.log.flush()
        except OSError as exc:
            self.log_error = f"{LOG_ERROR}: {self.path}: {exc.strerror or exc}"
            self.close_log()
            return self.log_error
        return None

    def close_log(self) -> None:
        log, self.log = self.log, None
        if log is not None:
            with contextlib.suppress(OSError):  # what did not fit is lost with the disk
                log.close()

    def lines(self, data: bytes, final: bool = False) -> list[str]:
        text = self.decoder.decode(data, final)
        if "\n" not in text:
            if text:
                self.partial.append(text)
                self.partial_len += len(text)
            out = self._cut() if self.partial_len >= MAX_LINE else []
        else:
            parts = text.split("\n")
            if self.partial:
                parts[0] = "".join(self.partial) + parts[0]
            last = parts.pop()
            self.partial, self.partial_len = ([last], len(last)) if last else ([], 0)
            out = parts
            if any(len(p) > MAX_LINE for p in out):
                out = [p[i : i + MAX_LINE] for p in out for i in range(0, max(len(p), 1), MAX_LINE)]
            if self.partial_len >= MAX_LINE:
                out += self._cut()
        if final and self.partial:
            out.append("".join(self.partial))
            self.partial, self.partial_len = [], 0
        return out

    def _cut(self) -> list[str]:
        text = "".join(self.partial)
        cut = len(text) - len(text) % MAX_LINE
        rest = text[cut:]
        self.partial, self.partial_len = ([rest], len(rest)) if rest else ([], 0)
        return [text[i : i + MAX_LINE] for i in range(0, cut, MAX_LINE)]


# an item: raw bytes of a stream (b"" is its end), or whole lines under a stream name (the
# report file, split by the reader)
Item = tuple[Stream, bytes] | tuple[str, list[str]]


class Backlog:
    """A FIFO of items bounded in bytes: :meth:`put` waits while more than ``limit`` bytes
    are queued, :meth:`take` hands consecutive chunks of one stream back joined."""

    def __init__(self, limit: int = BACKLOG_MAX, batch: int = PARSE_BATCH) -> None:
        self.limit = limit
        self.batch = batch
        self.peak = 0  # most bytes ever queued (for tests and benchmarks)
        self._items: deque[tuple[Stream | str, bytes | list[str], int]] = deque()
        self._size = 0
        self._cond = threading.Condition()
        self._closed = False  # no more puts
        self._dropping = False  # the consumer is gone: puts are dropped, never wait

    def put(self, target: Stream | str, payload: bytes | list[str], size: int) -> None:
        with self._cond:
            while self._size >= self.limit and not self._dropping:
                self._cond.wait()
            if self._dropping:
                return
            self._items.append((target, payload, size))
            self._size += size
            self.peak = max(self.peak, self._size)
            self._cond.notify_all()

    def close(self) -> None:
        """No more puts: :meth:`take` returns None once the queue is empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def drop(self) -> None:
        """The consumer stopped: forget the queue, never make :meth:`put` wait again."""
        with self._cond:
            self._dropping = True
            self._items.clear()
            self._size = 0
            self._cond.notify_all()

    def take(self) -> Item | None:
        """The next item (waiting for one), or None when closed and empty."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            if not self._items:
                return None
            items = self._items
            target, payload, size = items.popleft()
            if isinstance(payload, bytes) and payload:
                if size > self.batch:  # a big read: parsed in pieces, the rest stays first
                    items.appendleft((target, payload[self.batch :], size - self.batch))
                    payload, size = payload[: self.batch], self.batch
                elif items and items[0][0] is target:
                    parts = [payload]
                    while items and items[0][0] is target and items[0][1]:
                        nxt = items[0][2]
                        if size + nxt > self.batch:
                            break
                        parts.append(items.popleft()[1])  # type: ignore[arg-type]
                        size += nxt
                    payload = b"".join(parts)
            self._size -= size
            self._cond.notify_all()
        return (target, payload)  # type: ignore[return-value]
