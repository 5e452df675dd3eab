"""A real journal (written by the installed ``sweeprun start`` running a small sweep) damaged at
random offsets: bytes inserted, deleted or overwritten, and a truncation. The reader
(:class:`SafeJournalFileBackend`) never raises, yields every record whose line the damage
left whole, in order (and of the damaged lines only those that are still records), notes
each bad line at most once, and Optuna's replay of what it yields (opening the storage)
never raises and equals Optuna's own replay of the same records from a clean file. Read
whole, or while the file grows in random pieces (a writer mid-append), in chunks of any size.
``-m chaos`` runs many more examples."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.storages.journal import JournalFileBackend

from sweeprun.storage import journal as journal_module
from sweeprun.storage.journal import FlockLock, SafeJournalFileBackend
from sweeprun.storage.journal_check import parse, salvage
from tests.conftest import MACHINE_ONLY_ENV
from tests.helpers.paths import SWEEPRUN

optuna.logging.set_verbosity(optuna.logging.WARNING)

settings.register_profile("sweeprun-fuzz", deadline=None, suppress_health_check=list(HealthCheck))
FUZZ = settings.get_profile("sweeprun-fuzz")

PROGRAM = """\
import json, os
import sweeprun
p = json.loads(os.environ["SWEEPRUN_PARAMS"])
for step in range(3):
    sweeprun.report(loss=p["x"] * p["n"] / (step + 1), step=step)
"""
SWEEP = """\
name: fuzz
program: {program}
method: random
metric: {{name: loss}}
run_cap: 4
parameters:
  x: {{min: 0.0, max: 1.0}}
  n: {{values: [1, 2, 3]}}
  opt: {{values: [adam, sgd]}}
"""


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a journal a real 4-trial sweep wrote (parameters of three kinds, three
    reports each)."""
    tmp = tmp_path_factory.mktemp("journal")
    (tmp / "train.py").write_text(PROGRAM)
    (tmp / "sweep.yaml").write_text(SWEEP.format(program=tmp / "train.py"))
    env = {k: v for k, v in os.environ.items() if k not in MACHINE_ONLY_ENV}
    path = tmp / "journal.log"
    proc = subprocess.run(
        [SWEEPRUN, "start", "sweep.yaml", "--storage", str(path), "-q"],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return path.read_bytes()


# ---- the damage and what it leaves whole ------------------------------------------------------

garbage = st.one_of(
    st.binary(max_size=30),
    st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"\n",
            b"{",
            b"}\n",
            b'"',
            b",",
            b"\n{",
            b"[]\n",
            b"null\n",
            b'{"op_code": 4}\n',
            b'{"op_code": 6, "worker_id": "w", "trial_id": 1, "state": 9, "values": null}\n',
            b'{"op_code": 99, "worker_id": "w"}\n',
            b"\x00\xff\xfe",
            b"[" * 3000 + b"\n",
        ]
    ),
)
# (where, as a fraction of the size; bytes deleted there; bytes inserted there)
edit = st.tuples(st.floats(0, 1), st.integers(0, 12), garbage)


def _split(data: bytes) -> list[bytes]:
    """``data`` in lines on b"\\n" only, each with its newline (the last maybe without)."""
    return [m.group() for m in re.finditer(rb"[^\n]*\n|[^\n]+$", data)]


def damage(
    original: bytes, edits: list[tuple[float, int, bytes]], cut: float | None
) -> tuple[bytes, list[tuple[bytes, bool]]]:
    """The damaged file, and its lines, each marked whether it is an original line left whole.

    The file is kept as pieces: an original line whole (True) or anything else (False: bytes
    inserted, what an edit left of a line)."""
    pieces = [(line, True) for line in _split(original)]
    for where, deleted, inserted in edits:
        at = int(where * sum(len(p) for p, _ in pieces))
        out: list[tuple[bytes, bool]] = []
        pos, done = 0, False
        for data, whole in pieces:
            begin, end = pos, pos + len(data)
            pos = end
            if end <= at:  # before the edit
                out.append((data, whole))
                continue
            if not done and begin >= at:  # the insertion goes before this piece
                out.append((inserted, False))
                done = True
            if begin >= at + deleted:  # after the deleted bytes
                out.append((data, whole))
                continue
            head, tail = data[: max(0, at - begin)], data[max(0, at + deleted - begin) :]
            out.append((head, False))
            if not done:
                out.append((inserted, False))
                done = True
            out.append((tail, False))
        if not done:  # at the very end
            out.append((inserted, False))
        pieces = [(d, w) for d, w in out if d]
    if cut is not None:
        keep = int(cut * sum(len(p) for p, _ in pieces))
        out, pos = [], 0
        for data, whole in pieces:
            if pos + len(data) <= keep:
                out.append((data, whole))
            elif pos < keep:
                out.append((data[: keep - pos], False))
            pos += len(data)
        pieces = out
    lines: list[tuple[bytes, bool]] = []
    current: list[tuple[bytes, bool]] = []
    for data, whole in pieces:
        for part in _split(data):
            current.append((part, whole))
            if part.endswith(b"\n"):
                text = b"".join(p for p, _ in current)
                lines.append((text, len(current) == 1 and current[0][1]))
                current = []
    if current:
        lines.append((b"".join(p for p, _ in current), False))  # no newline: a torn tail
    return b"".join(p for p, _ in pieces), lines


def test_the_damage_model_marks_whole_lines() -> None:
    original = b'{"a":1}\n{"b":2}\n{"c":3}\n'
    data, lines = damage(original, [(0.5, 0, b"X")], None)  # inside line 2
    assert data == b'{"a":1}\n{"b"X:2}\n{"c":3}\n'
    assert [w for _, w in lines] == [True, False, True]
    data, lines = damage(original, [(8 / 24, 0, b"zz\n")], None)  # a line of its own
    assert [w for _, w in lines] == [True, False, True, True]
    data, lines = damage(original, [(8 / 24, 0, b"zz")], 21.5 / 26)  # glued on; cut in line 3
    assert data == b'{"a":1}\nzz{"b":2}\n{"c'
    assert [w for _, w in lines] == [True, False, False]


# ---- reading it -----------------------------------------------------------------------------

_counter = itertools.count()


def _read_all(path: Path, grow: list[float], chunk: int) -> list[dict[str, Any]]:
    """Read ``path`` as Optuna's replay does (from the number of records read so far), while
    the file grows to its full size in pieces ending at the fractions ``grow``."""
    full = path.read_bytes()
    backend = SafeJournalFileBackend(str(path), FlockLock(str(path)))
    records: list[dict[str, Any]] = []
    saved = journal_module._CHUNK
    journal_module._CHUNK = chunk
    try:
        for part in [*sorted(grow), 1.0]:
            path.write_bytes(full[: int(part * len(full))])
            records.extend(backend.read_logs(len(records)))
    finally:
        journal_module._CHUNK = saved
    return records


def _trials(storage: optuna.storages.BaseStorage) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for study in storage.get_all_studies():
        sid = storage.get_study_id_from_name(study.study_name)
        out.append((study.study_name, tuple(study.user_attrs.items())))
        for t in storage.get_all_trials(sid, deepcopy=False):
            values = None if t.values is None else tuple(t.values)
            row = (t.number, t.state, tuple(t.params.items()), values, t.intermediate_values)
            out.append((*row, tuple(sorted(t.user_attrs.items(), key=str))))
    return out


def check(
    original: bytes,
    tmp: Path,
    capfd: pytest.CaptureFixture[str],
    edits: list[tuple[float, int, bytes]],
    cut: float | None,
    grow: list[float],
    chunk: int,
) -> None:
    data, lines = damage(original, edits, cut)
    n = next(_counter)
    path = tmp / f"damaged-{n}.log"
    path.write_bytes(data)
    capfd.readouterr()

    records = _read_all(path, grow, chunk)  # never raises

    expected = []
    bad = []
    for number, (text, whole) in enumerate(lines, 1):
        if not text.endswith(b"\n"):
            continue  # a torn tail: not read, not noted
        if whole:
            expected.append(json.loads(text))  # every record the damage left whole
        else:
            record, _ = parse(text)  # a damaged line that is still a record is read,
            if record is None:
                bad.append(number)
                record = salvage(text)  # or stands in for a trial's creation
            if record is not None:
                expected.append(record)
    assert records == expected

    noted = [
        int(m) for m in re.findall(rf"{re.escape(str(path))} line (\d+) ", capfd.readouterr().err)
    ]
    assert len(noted) == len(set(noted))  # each bad line once, however often it was read
    assert noted == bad[: journal_module._NOTES + 1]  # (past that, one summary note)

    # Optuna's replay of them (opening the storage) never raises, and is Optuna's own replay
    # of the same records from a clean file
    damaged = optuna.storages.JournalStorage(
        SafeJournalFileBackend(str(path), FlockLock(str(path)))
    )
    clean = tmp / f"clean-{n}.log"
    clean.write_text("".join(json.dumps(r) + "\n" for r in expected))
    assert _trials(damaged) == _trials(
        optuna.storages.JournalStorage(JournalFileBackend(str(clean)))
    )


cases = (
    st.lists(edit, min_size=1, max_size=4),
    st.one_of(st.none(), st.floats(0, 1)),
    st.lists(st.floats(0, 1), max_size=4),
    st.sampled_from([1, 5, 64, 1 << 22]),
)


@settings(FUZZ, max_examples=150)
@given(*cases)
def test_damaged_journal_is_read_past_the_damage(
    journal: bytes,
    tmp_path_factory: pytest.TempPathFactory,
    capfd: pytest.CaptureFixture[str],
    edits: list[tuple[float, int, bytes]],
    cut: float | None,
    grow: list[float],
    chunk: int,
) -> None:
    check(journal, tmp_path_factory.getbasetemp(), capfd, edits, cut, grow, chunk)


@pytest.mark.chaos
@settings(FUZZ, max_examples=3000)
@given(*cases)
def test_chaos_damaged_journal_many(
    journal: bytes,
    tmp_path_factory: pytest.TempPathFactory,
    capfd: pytest.CaptureFixture[str],
    edits: list[tuple[float, int, bytes]],
    cut: float | None,
    grow: list[float],
    chunk: int,
) -> None:
    check(journal, tmp_path_factory.getbasetemp(), capfd, edits, cut, grow, chunk)


def test_the_journal_is_read_whole_when_undamaged(journal: bytes, tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    path.write_bytes(journal)
    lines = journal.splitlines()
    assert len(lines) > 40 and _read_all(path, [0.3, 0.5, 0.7], 64) == [
        json.loads(x) for x in lines
    ]
    mine = optuna.storages.JournalStorage(SafeJournalFileBackend(str(path), FlockLock(str(path))))
    theirs = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    assert _trials(mine) == _trials(theirs) and len(_trials(mine)) == 5  # the sweep, 4 trials


def test_a_damaged_trial_creation_keeps_every_trial_in_its_place(
    journal: bytes, tmp_path: Path
) -> None:
    """Disk corruption in the creation record of trial 1 (its start time overwritten): Optuna
    numbers trials by their creation records, so the line stands in for it and every trial,
    trial 1 included, has its parameters, values and state as before; only trial 1's start
    time is gone (the corrupted one)."""
    path = tmp_path / "journal.log"
    lines = journal.splitlines(keepends=True)
    creates = [i for i, line in enumerate(lines) if line.startswith(b'{"op_code":4,')]
    assert len(creates) == 4
    line = lines[creates[1]]
    at = line.index(b'"datetime_start":"') + len(b'"datetime_start":"')
    lines[creates[1]] = line[:at] + b"\x00garbage\xff" + line[at + 12 :]  # same length
    path.write_bytes(b"".join(lines))
    damaged = optuna.storages.JournalStorage(
        SafeJournalFileBackend(str(path), FlockLock(str(path)))
    )
    whole = tmp_path / "whole.log"
    whole.write_bytes(journal)
    before = _trials(optuna.storages.JournalStorage(JournalFileBackend(str(whole))))
    assert _trials(damaged) == before  # (the rows leave the start times out)
    sid = damaged.get_study_id_from_name("fuzz")
    starts = [t.datetime_start for t in damaged.get_all_trials(sid)]
    assert starts[0] is not None and starts[0].year > 2000
    assert starts[1] is not None and starts[1].year == 1970
