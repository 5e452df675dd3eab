"""A journal file with lines that are not records (a torn or interleaved write, disk
corruption, a stray edit) still works: the installed ``sweeprun start``, ``status``,
``trials`` and ``best`` skip each bad line with one note naming the file and the line, keep
every trial recorded before and after it, and the sweep finishes its budget. A partial last
line (a writer killed mid-write) is cut by the next append, with a note, and no line of the
journal is bad afterwards."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.helpers.cli import Result, run_cli
from tests.helpers.studies import unique

PROGRAM = """\
import json, os
import sweeprun
x = json.loads(os.environ["SWEEPRUN_PARAMS"])["x"]
sweeprun.report(loss=(x - 0.3) ** 2)
"""

# lines that are not records, each newline-terminated, as the reader meets them
BAD = [
    '{"op_code": 5, garbage',  # not JSON (a torn write glued to the next record)
    "x",  # not JSON
    "[1, 2]",  # JSON, not an object
    '{"op_code": 77, "worker_id": "w"}',  # an operation Optuna does not know
    '{"op_code": 6, "worker_id": "w", "trial_id": 0}',  # a state record without its state
    '{"op_code": 4, "worker_id": "w", "datetime_start": "2026-01-01T00:00:00"}',  # no study
]


def _sweep(tmp: Path, name: str) -> Path:
    program = tmp / "train.py"
    program.write_text(PROGRAM)
    path = tmp / "sweep.yaml"
    path.write_text(
        f"name: {name}\nprogram: {program}\nmethod: random\nmetric: {{name: loss}}\n"
        "run_cap: 6\nparameters:\n  x: {min: 0.0, max: 1.0}\n"
    )
    return path


def _trials(tmp: Path, name: str) -> list[dict[str, Any]]:
    res = run_cli("trials", name, "--json", cwd=tmp).assert_success()
    return [
        {k: t[k] for k in ("number", "state", "params", "values")}
        for t in json.loads(res.stdout)["trials"]
    ]


def _notes(res: Result, journal: Path) -> list[int]:
    """The line numbers the command's notes name, one entry per note."""
    pattern = rf"^note: {re.escape(str(journal))} line (\d+) is not a journal record \("
    return [int(n) for n in re.findall(pattern, res.stderr, flags=re.MULTILINE)]


def test_bad_lines_are_skipped_with_one_note_each_and_the_sweep_finishes(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    name = unique("damage")
    sweep = _sweep(tmp_path, name)
    journal = _private_sweeprun_dir / "journal.log"  # the default journal
    run_cli("start", str(sweep), "--max-trials", "3", "-q", cwd=tmp_path).assert_success()
    before = _trials(tmp_path, name)
    assert [t["state"] for t in before] == ["COMPLETE"] * 3
    first_bad = len(journal.read_bytes().splitlines()) + 1
    with journal.open("a") as fh:
        fh.write("".join(line + "\n" for line in BAD))
    bad_lines = list(range(first_bad, first_bad + len(BAD)))

    for command in (["status", name], ["trials", name], ["best", name]):
        res = run_cli(*command, cwd=tmp_path).assert_success()
        assert "Traceback" not in res.stderr, res.describe()
        assert _notes(res, journal) == bad_lines, res.describe()  # each once, in order
    assert _trials(tmp_path, name) == before

    # the sweep resumes past the bad lines and finishes its budget; each note once, although
    # the agent reads the journal many times
    res = run_cli("start", str(sweep), cwd=tmp_path).assert_success()
    assert "Traceback" not in res.stderr, res.describe()
    assert _notes(res, journal) == bad_lines, res.describe()
    assert "trial budget of 6 reached" in res.stdout, res.describe()
    after = _trials(tmp_path, name)
    assert after[:3] == before  # nothing recorded before the bad lines is lost
    assert [t["state"] for t in after] == ["COMPLETE"] * 6
    assert [t["number"] for t in after] == list(range(6))
    text = journal.read_text().splitlines()
    assert text[first_bad - 1 : first_bad - 1 + len(BAD)] == BAD  # skipped, not rewritten
    assert len(text) > bad_lines[-1]  # the new trials were recorded after them

    # and what was recorded after the bad lines is read back by every command
    best = run_cli("best", name, "--json", cwd=tmp_path).assert_success()
    best_value = min(t["values"]["loss"] for t in after)
    assert json.loads(best.stdout)["best"][0]["values"]["loss"] == best_value, best.describe()
    res = run_cli("status", name, cwd=tmp_path).assert_success()
    assert "6 complete" in res.stdout, res.describe()


def test_a_torn_last_line_is_cut_by_the_next_start(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    name = unique("torn")
    sweep = _sweep(tmp_path, name)
    journal = _private_sweeprun_dir / "journal.log"
    run_cli("start", str(sweep), "--max-trials", "2", "-q", cwd=tmp_path).assert_success()
    before = _trials(tmp_path, name)
    whole = journal.read_bytes()
    last = whole.splitlines(keepends=True)[-1]
    torn = last[: len(last) // 2]  # the first half of a record, as a writer killed mid-write
    with journal.open("ab") as fh:
        fh.write(torn)

    res = run_cli("status", name, cwd=tmp_path).assert_success()  # readers: no note, no error
    assert "note:" not in res.stderr and "2 complete" in res.stdout, res.describe()
    assert _trials(tmp_path, name) == before

    res = run_cli("start", str(sweep), cwd=tmp_path).assert_success()
    assert res.stderr.count("ended in an incomplete record") == 1, res.describe()
    assert f"({len(torn)} bytes" in res.stderr, res.describe()
    assert "trial budget of 6 reached" in res.stdout, res.describe()
    after = _trials(tmp_path, name)
    assert after[:2] == before and [t["state"] for t in after] == ["COMPLETE"] * 6
    data = journal.read_bytes()
    assert data.startswith(whole) and data.endswith(b"\n")
    for line in data.splitlines():  # the torn half is gone, nothing was glued onto it
        assert isinstance(json.loads(line), dict)


def test_a_corrupted_trial_creation_keeps_every_trial(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    """Disk corruption inside the record that created trial 1 (written long ago): the line
    stands in for that creation, so trial 1 and the trials after it keep their numbers,
    parameters and values (Optuna numbers trials by their creation records)."""
    name = unique("create")
    sweep = _sweep(tmp_path, name)
    journal = _private_sweeprun_dir / "journal.log"
    run_cli("start", str(sweep), "--max-trials", "3", "-q", cwd=tmp_path).assert_success()
    before = _trials(tmp_path, name)
    lines = journal.read_bytes().splitlines(keepends=True)
    creates = [i for i, line in enumerate(lines) if line.startswith(b'{"op_code":4,')]
    line = lines[creates[1]]
    at = line.index(b'"datetime_start":"') + len(b'"datetime_start":"')
    lines[creates[1]] = line[:at] + b"\x00\x00\x00\x00" + line[at + 4 :]  # zeroed bytes
    journal.write_bytes(b"".join(lines))

    res = run_cli("status", name, cwd=tmp_path).assert_success()
    assert _notes(res, journal) == [creates[1] + 1], res.describe()
    assert "read as the creation of a trial" in res.stderr, res.describe()
    assert _trials(tmp_path, name) == before
    res = run_cli("start", str(sweep), cwd=tmp_path).assert_success()
    assert "trial budget of 6 reached" in res.stdout, res.describe()
    after = _trials(tmp_path, name)
    assert after[:3] == before and [t["state"] for t in after] == ["COMPLETE"] * 6
