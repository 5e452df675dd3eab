"""Storage faults: the journal file's disk full or read-only (at start and mid-sweep), and a
storage that cannot be reached. Every case ends with a message and a non-zero exit, leaves no
process behind, and loses nothing already recorded.

The journal lives on a small tmpfs mounted for the test (root only; skipped with the reason
otherwise, a failure in CI). A PostgreSQL restart mid-sweep is covered by the agents tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from tests.helpers.cli import run_cli
from tests.helpers.paths import PROGRAMS, SWEEPRUN
from tests.helpers.pgprivate import PrivatePostgres, private_pg_fixture  # noqa: F401 (fixture)
from tests.helpers.processes import sweep_processes
from tests.helpers.services import unavailable
from tests.helpers.studies import trials_of, unique
from tests.helpers.wait import wait_until

RUN_TRIAL = PROGRAMS / "run_trial.py"
FINISHED = re.compile(r"^trial (\d+) COMPLETE value=(\S+)", re.M)


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        unavailable(f"cannot mount a tmpfs here (needs root): {res.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs for the journal."""
    mnt = tmp_path / "disk"
    _mount_tmpfs(mnt, "256k")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 KiB tmpfs for the journal: a 40-point grid's creation (~300 bytes a queued point)
    fills it half-way through queueing its points."""
    mnt = tmp_path / "tiny"
    _mount_tmpfs(mnt, "8k")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs for the journal, to be made read-only by the test."""
    mnt = tmp_path / "disk"
    _mount_tmpfs(mnt, "16m")
    try:
        yield mnt
    finally:
        for _ in range(2):  # the read-only bind mount, then the tmpfs
            subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)


def _remount_ro(mnt: Path) -> None:
    """Make the disk read-only for new opens. ``remount,ro`` is refused while the journal's
    lock file is open, so a read-only bind mount goes over it (EROFS stops root too)."""
    subprocess.run(["mount", "--bind", str(mnt), str(mnt)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(mnt)], check=True)


def _sweep(tmp: Path, name: str, cap: int, epochs: int = 5, sleep: float = 0.0) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nprogram: {RUN_TRIAL}\nmethod: random\nmetric: {{name: loss}}\n"
        f"run_cap: {cap}\ntrial: {{kill_grace: 0.5s}}\nparameters:\n"
        f"  x: {{min: 0.0, max: 2.0}}\n  epochs: {{value: {epochs}}}\n  sleep: {{value: {sleep}}}\n"
    )
    return path


def _check_nothing_lost(journal: Path, name: str, stdout: str) -> int:
    """Every trial the agent printed as COMPLETE is COMPLETE in the journal with that value."""
    trials = {t.number: t for t in trials_of(str(journal), name)}
    finished = FINISHED.findall(stdout)
    assert finished, stdout[-2000:]
    for number, value in finished:
        t = trials[int(number)]
        assert t.state.name == "COMPLETE", (number, t.state)
        assert t.value == pytest.approx(float(value), rel=1e-5)
        assert "sweeprun.params" in t.user_attrs
    return len(finished)


def _fill_disk(tmp_path: Path, small_disk: Path) -> tuple[str, subprocess.CompletedProcess[str]]:
    name = unique("full")
    sweep = _sweep(tmp_path, name, cap=2000, epochs=40)  # ~6 KiB of journal per trial
    journal = small_disk / "journal.log"
    proc = subprocess.run(
        [SWEEPRUN, "start", str(sweep), "--jobs", "2", "--storage", str(journal)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return name, proc


def test_disk_full_mid_sweep_stops_with_an_error_and_keeps_what_was_recorded(
    tmp_path: Path, small_disk: Path
) -> None:
    name, proc = _fill_disk(tmp_path, small_disk)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "No space left on device" in proc.stderr
    assert sweep_processes(name) == []
    n = _check_nothing_lost(small_disk / "journal.log", name, proc.stdout)
    assert n > 5
    # a storage problem, not a crash: exit 1 and a message naming the journal
    assert proc.returncode == 1, proc.stderr
    assert "internal error" not in proc.stderr
    assert str(small_disk / "journal.log") in proc.stderr


def test_after_disk_full_the_sweep_resumes_once_space_is_back(
    tmp_path: Path, small_disk: Path
) -> None:
    name, proc = _fill_disk(tmp_path, small_disk)
    journal = tmp_path / "journal-copy.log"  # "space is back": the journal on a roomy disk
    shutil.copyfile(small_disk / "journal.log", journal)
    before = _check_nothing_lost(journal, name, proc.stdout)
    sweep = tmp_path / f"{name}.yaml"
    res = run_cli("start", str(sweep), "--storage", str(journal), "--max-trials", "3", cwd=tmp_path)
    res.assert_code(0)
    _check_nothing_lost(journal, name, proc.stdout)
    assert before > 0


def test_journal_read_only_mid_sweep(tmp_path: Path, disk: Path) -> None:
    name = unique("ro")
    sweep = _sweep(tmp_path, name, cap=500, epochs=3, sleep=0.05)
    journal = disk / "journal.log"
    proc = subprocess.Popen(
        [SWEEPRUN, "start", str(sweep), "--jobs", "2", "--storage", str(journal)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: sum(t.state.name == "COMPLETE" for t in _safe_trials(journal, name)) >= 4,
            60,
            "four trials complete",
        )
        _remount_ro(disk)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode not in (0, None), out[-2000:]
    assert "Read-only file system" in err and "internal error" not in err
    assert sweep_processes(name) == []
    _check_nothing_lost(journal, name, out)


def _safe_trials(journal: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return trials_of(str(journal), name)
    except (KeyError, OSError, ValueError):
        return []


def test_journal_on_a_read_only_disk_at_start_is_a_usage_error(tmp_path: Path, disk: Path) -> None:
    _remount_ro(disk)
    sweep = _sweep(tmp_path, unique("rostart"), cap=2)
    res = run_cli("start", str(sweep), "--storage", str(disk / "journal.log"), cwd=tmp_path)
    res.assert_code(2)
    assert "cannot open storage" in res.stderr and "Read-only file system" in res.stderr
    assert not (disk / "journal.log").exists()


URLS = {
    "postgresql": "postgresql://postgres:s3cretpw@127.0.0.1:1/x",
    "mysql": "mysql://root:s3cretpw@127.0.0.1:1/x",
    "redis": "redis://:s3cretpw@127.0.0.1:1/0",
}


@pytest.mark.parametrize("kind", sorted(URLS))
def test_unreachable_storage_at_start_is_a_clear_error_with_the_password_masked(
    tmp_path: Path, kind: str
) -> None:
    url = URLS[kind]
    sweep = _sweep(tmp_path, unique("down"), cap=2)
    for args in (
        ["start", str(sweep), "--storage", url],
        ["agent", "nope", "--storage", url],
        ["status", "--storage", url],
    ):
        res = run_cli(*args, cwd=tmp_path, env={"SWEEPRUN_STORAGE_RETRY": "2s"}, timeout=120)
        res.assert_code(2)
        assert "s3cretpw" not in res.stdout + res.stderr, res.describe()
        assert ":***@127.0.0.1:1" in res.stderr, res.describe()
        assert "cannot open storage" in res.stderr or "cannot reach" in res.stderr, res.describe()


def test_a_dead_pooled_connection_is_replaced_quietly(private_pg: PrivatePostgres) -> None:
    """The server restarts while the storage is idle: its pooled connection is dead. The next
    call is retried at once on a fresh connection, with no outage note (no pre-ping needed)."""
    from optuna.storages import RDBStorage, _CachedStorage

    from sweeprun.storage.open import open_storage
    from sweeprun.storage.retrying import wrap
    from sweeprun.storage.urls import classify

    notes: list[str] = []
    inner = open_storage(classify(private_pg.url), retry=False)
    assert isinstance(inner, RDBStorage)
    assert not inner.engine.pool._pre_ping
    storage = wrap(_CachedStorage(inner), "pg", lambda text: text, budget=30, say=notes.append)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "idle")
    trial_id = storage.create_new_trial(study_id)
    private_pg.restart()
    storage.set_trial_user_attr(trial_id, "after", "restart")
    assert storage.get_trial(trial_id).user_attrs == {"after": "restart"}
    assert notes == []
    private_pg.stop()  # a real outage still says so, and ends when the server is back
    with pytest.raises(Exception, match="unreachable"):
        wrap(inner, "pg", lambda text: text, budget=1, say=notes.append).get_all_studies()
    assert notes and "is unreachable" in notes[0]


CHATTY = (
    "import json, sys\n"
    "x = float(sys.argv[1].split('=')[1])\n"
    "for epoch in range(20):\n"
    "    print('noise ' * 700)\n"
    "    print(json.dumps({'loss': x, 'epoch': epoch}), flush=True)\n"
)


def test_log_disk_full_fails_the_trial_stops_launching_and_blames_the_log_disk(
    tmp_path: Path, small_disk: Path
) -> None:
    """The trial logs' disk fills while the storage's has room: the trial whose log (or files)
    could not be written is FAIL with the path, not counted, its parameters queued again; no
    more launches; exit 1 naming the log disk, not the storage; nothing recorded lost; once
    there is room, the same command finishes the budget."""
    name = unique("logfull")
    (tmp_path / "chatty.py").write_text(CHATTY)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        f"name: {name}\nprogram: chatty.py\nmethod: random\nmetric: {{name: loss}}\n"
        "run_cap: 12\nparameters:\n  x: {min: 0.0, max: 1.0}\n"
    )  # each trial logs ~84 KiB: the 256 KiB disk fills during the third or fourth trial
    journal = tmp_path / "journal.log"
    argv = ["start", str(sweep), "--storage", str(journal)]
    env = {"SWEEPRUN_DIR": str(small_disk)}
    res = run_cli(*argv, cwd=tmp_path, env=env, timeout=120)
    res.assert_code(1)
    out = res.stdout + res.stderr
    assert "Traceback" not in out and "cannot write to the storage" not in out, out[-3000:]
    assert "cannot write the trial's files: " in out and "No space left on device" in out
    assert f"{small_disk}" in out and "stopped launching" in out, out[-3000:]
    trials = trials_of(str(journal), name)
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(failed) == 1, [(t.number, t.state.name, t.user_attrs) for t in trials]
    reason = failed[0].user_attrs["sweeprun.reason"]
    assert reason.startswith(f"cannot write the trial's files: {small_disk}"), reason
    assert failed[0].user_attrs["sweeprun.counted"] is False
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert 1 <= len(complete) < 12 and len(trials) <= len(complete) + 2  # nothing launched after
    assert any(t.state.name == "WAITING" for t in trials)  # the parameters run again
    assert sweep_processes(name) == []
    # room again (the logs of finished trials removed): the same command finishes the budget
    for entry in small_disk.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    (tmp_path / "chatty.py").write_text(CHATTY.replace("'noise ' * 700", "'quiet'"))
    run_cli(*argv, cwd=tmp_path, env=env, timeout=120).assert_code(0)
    trials = trials_of(str(journal), name)
    counted = [t for t in trials if t.user_attrs.get("sweeprun.counted", True)]
    assert sum(t.state.name == "COMPLETE" for t in counted) == 12
    assert {t.number for t in complete} <= {t.number for t in trials if t.state.name == "COMPLETE"}


def test_a_grid_whose_creation_filled_the_disk_runs_every_point_once_space_is_back(
    tmp_path: Path, tiny_disk: Path
) -> None:
    """The disk fills while a grid's points are being queued at creation: ``start`` fails with
    the disk's message, and the sweep it leaves is not a finished one with points missing: the
    next ``start`` (the journal on a roomy disk) finishes creating it and runs every point
    exactly once (issue 19 item 3)."""
    name = unique("half")
    sweep = tmp_path / f"{name}.yaml"
    sweep.write_text(
        f"name: {name}\nprogram: {RUN_TRIAL}\nmethod: grid\nmetric: {{name: loss}}\n"
        "parameters:\n  x: {values: [0, 1, 2, 3, 4, 5, 6, 7]}\n  y: {values: [0, 1, 2, 3, 4]}\n"
        "  epochs: {value: 1}\n"
    )
    first = run_cli("start", str(sweep), "--storage", str(tiny_disk / "journal.log"), cwd=tmp_path)
    assert first.returncode != 0 and "No space left on device" in first.stderr, first.describe()
    assert "Traceback" not in first.stderr
    journal = tmp_path / "journal-copy.log"  # "space is back": the journal on a roomy disk
    shutil.copyfile(tiny_disk / "journal.log", journal)
    queued = [t for t in trials_of(str(journal), name) if t.state.name == "WAITING"]
    assert 0 < len(queued) < 40  # the disk filled half-way through the queue
    res = run_cli("start", str(sweep), "--storage", str(journal), cwd=tmp_path)
    res.assert_code(0)
    trials = trials_of(str(journal), name)
    points = Counter((t.params["x"], t.params["y"]) for t in trials if t.state.name == "COMPLETE")
    assert points == Counter({(x, y): 1 for x in range(8) for y in range(5)}), res.describe()
    assert "half-created" in res.stdout + res.stderr, res.describe()
