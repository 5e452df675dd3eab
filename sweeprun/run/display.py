"""What a running sweep shows: a live view on a terminal, plain lines elsewhere, JSON lines
with ``--json``, only the final summary with ``--quiet``. The only rich import besides cli."""

from __future__ import annotations

import json
import shlex
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from sweeprun.run.process.child import ChildOutcome
    from sweeprun.run.verdict import Verdict


HOST = socket.gethostname()


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def fmt_params(values: dict[str, Any], prefix: str = "") -> str:
    parts = []
    for k, v in values.items():
        if isinstance(v, dict):
            parts.append(fmt_params(v, f"{prefix}{k}."))
        else:
            parts.append(f"{prefix}{k}={fmt_value(v)}")
    return " ".join(parts)


@dataclass
class Final:
    """The end-of-sweep summary."""

    sweep: str
    storage: str
    counts: dict[str, int]
    best: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    exit_code: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Display:
    """Plain, parseable lines (the default when stdout is not a terminal)."""

    def __init__(self, out: TextIO | None = None, cap: int | None = None) -> None:
        self.out = out or sys.stdout
        self.cap = cap
        self.t0 = time.monotonic()

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        self._line(f"note: {text}")

    def launched(
        self, number: int, values: dict[str, Any], argv: list[str], gpus: list[str], slot: int
    ) -> None:
        gpu = f" gpus={','.join(gpus)}" if gpus else ""
        where = f"on host {HOST}, slot {slot}"
        self._line(f"trial {number} started {where}{gpu}: {fmt_params(values)}")

    def metric(self, number: int, name: str, value: float, step: int) -> None:
        pass

    def finished(
        self, number: int, verdict: Verdict, outcome: ChildOutcome, values: dict[str, Any]
    ) -> None:
        if verdict.values is not None:
            shown = ", ".join(fmt_value(v) for v in verdict.values)
            self._line(f"trial {number} {verdict.state} value={shown} ({outcome.duration:.1f}s)")
        else:
            reason = f": {verdict.text}" if verdict.reason else ""
            self._line(f"trial {number} {verdict.state}{reason} ({outcome.duration:.1f}s)")

    def tick(self, running: dict[int, Any], result: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def summary(self, final: Final) -> None:
        c = final.counts
        self._line(
            f"sweep {final.sweep}: {c.get('COMPLETE', 0)} complete, {c.get('PRUNED', 0)} pruned, "
            f"{c.get('FAIL', 0)} failed ({final.storage})"
        )
        if final.note:
            self._line(f"stopped: {final.note}")
        for b in final.best:
            values = ", ".join(fmt_value(v) for v in b["values"])
            self._line(f"best: trial {b['number']} value={values} {fmt_params(b['params'])}")
            if b.get("argv"):
                self._line(f"reproduce: {b.get('command') or shlex.join(b['argv'])}")
        for key, val in final.extra.items():
            self._line(f"{key}: {val}")


class QuietDisplay(Display):
    def note(self, text: str) -> None:
        pass

    def launched(
        self, number: int, values: dict[str, Any], argv: list[str], gpus: list[str], slot: int
    ) -> None:
        pass

    def finished(
        self, number: int, verdict: Verdict, outcome: ChildOutcome, values: dict[str, Any]
    ) -> None:
        pass


class JsonDisplay(Display):
    def _emit(self, event: str, **data: Any) -> None:
        self._line(json.dumps({"event": event, **data}, default=str))

    def note(self, text: str) -> None:
        self._emit("note", text=text)

    def launched(
        self, number: int, values: dict[str, Any], argv: list[str], gpus: list[str], slot: int
    ) -> None:
        self._emit(
            "launched", trial=number, params=values, argv=argv, gpus=gpus, host=HOST, slot=slot
        )

    def finished(
        self, number: int, verdict: Verdict, outcome: ChildOutcome, values: dict[str, Any]
    ) -> None:
        self._emit(
            "finished",
            trial=number,
            state=verdict.state,
            values=verdict.values,
            reason=verdict.reason,
            stderr_line=verdict.stderr_line,
            duration=round(outcome.duration, 3),
            exit_code=outcome.returncode,
        )

    def summary(self, final: Final) -> None:
        self._emit(
            "summary",
            sweep=final.sweep,
            storage=final.storage,
            counts=final.counts,
            best=final.best,
            stopped=final.note,
            exit_code=final.exit_code,
            **final.extra,
        )


class LiveDisplay(Display):
    """A rich live view: progress, best so far, running trials with their latest metric."""

    def __init__(self, out: TextIO | None = None, cap: int | None = None) -> None:
        super().__init__(out, cap)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=self.out)
        self.live = Live(console=self.console, refresh_per_second=4, transient=True)
        self.live.start()
        self.latest: dict[int, tuple[float, int]] = {}
        self.best: tuple[float, int] | None = None
        self.done = 0
        self._last = 0.0

    def _line(self, text: str) -> None:
        # never hard-wrapped at the terminal's width: a `reproduce:` command stays one line to
        # copy (the terminal folds it on screen)
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def metric(self, number: int, name: str, value: float, step: int) -> None:
        self.latest[number] = (value, step)

    def finished(
        self, number: int, verdict: Verdict, outcome: ChildOutcome, values: dict[str, Any]
    ) -> None:
        super().finished(number, verdict, outcome, values)
        self.done += 1
        self.latest.pop(number, None)
        if verdict.values and len(verdict.values) == 1:
            v = verdict.values[0]
            if self.best is None or v < self.best[0]:
                self.best = (v, number)

    def tick(self, running: dict[int, Any], result: Any) -> None:
        now = time.monotonic()
        if now - self._last < 0.25:
            return
        self._last = now
        from rich.table import Table

        elapsed = now - self.t0
        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("trial")
        table.add_column("elapsed")
        table.add_column("step")
        table.add_column("latest")
        for number, run in sorted(running.items()):
            value, step = self.latest.get(number, (float("nan"), -1))
            table.add_row(
                str(number),
                f"{now - run.started:.0f}s",
                "" if step < 0 else str(step),
                "" if step < 0 else fmt_value(value),
            )
        cap = f"/{self.cap}" if self.cap else ""
        eta = ""
        if self.cap and self.done:
            remaining = max(0, self.cap - self.done)
            eta = f"  eta {elapsed / self.done * remaining:.0f}s"
        head = f"{self.done}{cap} trials finished  {elapsed:.0f}s{eta}"
        if self.best:
            head += f"  best {fmt_value(self.best[0])} (trial {self.best[1]})"
        from rich.console import Group
        from rich.text import Text

        self.live.update(Group(Text(head, style="bold"), table))

    def close(self) -> None:
        self.live.stop()


def make_display(json_out: bool, quiet: bool, cap: int | None) -> Display:
    if json_out:
        return JsonDisplay(cap=cap)
    if quiet:
        return QuietDisplay(cap=cap)
    if sys.stdout.isatty():
        return LiveDisplay(cap=cap)
    return Display(cap=cap)
