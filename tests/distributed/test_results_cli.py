"""The results commands driven through the installed CLI against real finished sweeps."""

from __future__ import annotations

import csv
import io
import json
import shlex
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.paths import SWEEPRUN
from tests.helpers.sweeps import TRAIN, fake_sweep, make_sweeps
from tests.helpers.wait import wait_until


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("results")
    storage = str(root / "journal.log")
    make_sweeps(root, storage)
    return storage


def cli_json(*args: str) -> Any:
    res = run_cli(*args, "--json").assert_success()
    return json.loads(res.stdout)


# ---- status ----------------------------------------------------------------------------------


def test_status_lists_every_sweep(journal: str) -> None:
    res = run_cli("status", "--storage", journal).assert_success()
    lines = res.stdout.splitlines()
    assert lines[1].split()[:4] == ["sweep", "method", "state", "complete"]
    grid = next(line.split() for line in lines if line.startswith("rgrid"))
    assert grid[:7] == ["rgrid", "grid", "finished", "8", "2", "1", "0"]
    assert grid[7] == "0.433333"
    data = cli_json("status", "--storage", journal)
    assert data["storage"] == journal
    by_name = {s["name"]: s for s in data["sweeps"]}
    g = by_name["rgrid"]
    assert g["method"] == "grid" and g["state"] == "finished" and g["trials"] == 11
    assert g["counts"] == {"COMPLETE": 8, "PRUNED": 2, "FAIL": 1, "RUNNING": 0, "WAITING": 0}
    assert g["best"] == {"loss": pytest.approx(0.433333)}
    assert g["started"] <= g["last_activity"]
    m = by_name["rmulti"]
    assert m["state"] == "finished" and m["counts"]["COMPLETE"] == 6
    assert set(m["best"]) == {"acc", "latency"} and m["best"]["latency"] == 11


def test_status_one_sweep(journal: str) -> None:
    res = run_cli("status", "rgrid", "--storage", journal).assert_success()
    assert "rgrid (finished)" in res.stdout
    assert "budget:        11 trials (no cap), grid of 10 points" in res.stdout
    assert "8 complete, 2 pruned, 1 fail" in res.stdout
    assert "0.433333 (trial 5)" in res.stdout
    assert "1      exit code 3" in res.stdout
    d = cli_json("status", "rgrid", "--storage", journal)
    assert d["config"]["method"] == "grid"
    assert d["config"]["metrics"] == [{"name": "loss", "goal": "minimize"}]
    assert d["config"]["parameters"] == ["x", "y"]
    assert d["config"]["early_terminate"] == "threshold"
    assert d["budget"] == {"counted": 11, "cap": None, "grid": 10}
    oom = "RuntimeError: CUDA out of memory (simulated)"  # the program's own stderr line
    assert d["failures"] == [{"reason": "exit code 3", "stderr_line": oom, "count": 1}]
    assert d["running"] == [] and d["best_trials"] == [5]
    m = cli_json("status", "rmulti", "--storage", journal)
    assert m["budget"] == {"counted": 6, "cap": 6, "grid": None}


# ---- trials ----------------------------------------------------------------------------------


def test_trials_table_and_json(journal: str) -> None:
    res = run_cli("trials", "rgrid", "--storage", journal).assert_success()
    head = res.stdout.splitlines()[1].split()
    assert head == ["trial", "state", "loss", "x", "y", "duration", "steps", "host", "reason"]
    oom = "exit code 3; stderr: RuntimeError: CUDA out of memory (simulated)"
    assert next(r for r in res.stdout.splitlines() if r.startswith("2 ")).endswith(oom)
    assert "0 (baseline)" in res.stdout
    d = cli_json("trials", "rgrid", "--storage", journal)
    assert d["total"] == 11 and [t["number"] for t in d["trials"]] == list(range(11))
    t5 = d["trials"][5]
    assert t5["state"] == "COMPLETE" and t5["params"] == {"x": 0.5, "y": 1}
    assert t5["values"] == {"loss": pytest.approx(0.433333)} and t5["steps"] == 3
    assert t5["exit_code"] == 0 and t5["attempt"] == 1 and t5["baseline"] is False
    assert t5["duration"] > 0 and t5["host"] and t5["start"] <= t5["end"]
    failed = d["trials"][2]
    assert failed["state"] == "FAIL" and failed["reason"] == "exit code 3"
    assert failed["values"] is None and failed["exit_code"] == 3
    assert failed["stderr_line"] == "RuntimeError: CUDA out of memory (simulated)"


def test_trials_filter_sort_limit(journal: str) -> None:
    d = cli_json(
        "trials",
        "rgrid",
        "--storage",
        journal,
        "--state",
        "complete",
        "--sort",
        "loss",
        "--limit",
        "3",
    )
    assert d["total"] == 8
    assert [t["number"] for t in d["trials"]] == [5, 6, 3]
    d = cli_json("trials", "rgrid", "--storage", journal, "--state", "pruned,failed")
    assert sorted(t["state"] for t in d["trials"]) == ["FAIL", "PRUNED", "PRUNED"]
    d = cli_json("trials", "rgrid", "--storage", journal, "--sort", "-x", "--limit", "2")
    assert [t["params"]["x"] for t in d["trials"]] == [3, 3]
    # maximize: best first means largest first
    d = cli_json("trials", "rmulti", "--storage", journal, "--sort", "acc")
    accs = [t["values"]["acc"] for t in d["trials"]]
    assert accs == sorted(accs, reverse=True)
    d = cli_json("trials", "rmulti", "--storage", journal, "--sort", "opt.lr")
    lrs = [t["params"]["opt"]["lr"] for t in d["trials"]]
    assert lrs == sorted(lrs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--state", "bogus"], "unknown trial state 'bogus'"),
        (["--state", "complet"], "did you mean 'complete'?"),
        (["--sort", "xx"], "cannot sort by 'xx': not a column, metric or parameter"),
        (["--sort", "los"], "did you mean 'loss'?"),
        (["--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_trials_bad_options(journal: str, args: list[str], message: str) -> None:
    res = run_cli("trials", "rgrid", "--storage", journal, *args).assert_code(2)
    assert message in res.stderr


# ---- best ------------------------------------------------------------------------------------


def test_best_with_baseline_improvement(journal: str) -> None:
    res = run_cli("best", "rgrid", "--storage", journal).assert_success()
    assert res.stdout.startswith("trial 5: loss=0.433333")
    cmd = next(line for line in res.stdout.splitlines() if "reproduce:" in line)
    argv = shlex.split(cmd.split("reproduce:", 1)[1])
    assert argv[:2] == ["env", 'SWEEPRUN_PARAMS={"x": 0.5, "y": 1}']  # what the trial got too
    assert argv[3:] == [str(TRAIN), "--x=0.5", "--y=1"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert '"loss": 0.433333' in out  # the command really reproduces the trial
    assert "loss: 0.433333 (trial 5) vs baseline 0.783333 (trial 0): 0.35 lower, 44.7%" in (
        res.stdout
    )
    d = cli_json("best", "rgrid", "--storage", journal, "--top", "3")
    assert [b["number"] for b in d["best"]] == [5, 6, 3]
    assert [b["rank"] for b in d["best"]] == [1, 2, 3]
    assert d["best"][0]["argv"] == argv[2:] and shlex.split(d["best"][0]["command"]) == argv
    imp = d["baseline"]["loss"]
    assert imp["baseline_trial"] == 0 and imp["best_trial"] == 5
    assert imp["absolute"] == pytest.approx(0.35)
    assert imp["relative"] == pytest.approx(0.35 / 0.783333, rel=1e-4)


def test_best_pareto(journal: str) -> None:
    d = cli_json("best", "rmulti", "--storage", journal, "--top", "2")
    assert d["pareto"] is True and d["baseline"] is None
    every = cli_json("trials", "rmulti", "--storage", journal)["trials"]
    pts = {t["number"]: (t["values"]["acc"], t["values"]["latency"]) for t in every}

    def dominated(n: int, among: set[int]) -> bool:
        a, lat = pts[n]
        return any(
            pts[m][0] >= a and pts[m][1] <= lat and pts[m] != pts[n] for m in among if m != n
        )

    front = {b["number"] for b in d["best"] if b["rank"] == 1}
    assert front == {n for n in pts if not dominated(n, set(pts))}
    second = {b["number"] for b in d["best"] if b["rank"] == 2}
    rest = set(pts) - front
    assert second == {n for n in rest if not dominated(n, rest)}
    res = run_cli("best", "rmulti", "--storage", journal).assert_success()
    assert res.stdout.startswith("sweep rmulti: Pareto front of acc, latency")


# ---- logs ------------------------------------------------------------------------------------


def test_logs(journal: str) -> None:
    res = run_cli("logs", "rgrid", "5", "--storage", journal).assert_success()
    assert res.stdout.startswith("starting x=0.5 y=1.0\n") and res.stdout.endswith("done\n")
    res = run_cli("logs", "rgrid", "2", "--storage", journal, "--stderr").assert_success()
    assert "CUDA out of memory (simulated)" in res.stdout
    res = run_cli("logs", "rgrid", "99", "--storage", journal).assert_code(2)
    assert "sweep 'rgrid' has no trial 99; its trials are numbered 0 to 10" in res.stderr
    res = run_cli("logs", "rgrid", "5", "--storage", journal, "--follow").assert_success()
    assert "nothing to follow" in res.stderr and res.stdout.endswith("done\n")


def test_logs_follow_running_trial(tmp_path: Path) -> None:
    cfg = tmp_path / "slow.yaml"
    cfg.write_text(
        f"name: rslow\nprogram: {TRAIN}\nmethod: random\nmetric: {{name: loss}}\n"
        "parameters:\n  x: {value: 0.5}\n  sleep: {value: 0.4}\n  steps: {value: 5}\nrun_cap: 1\n"
    )
    storage = str(tmp_path / "j.log")
    env = {"SWEEPRUN_DIR": str(tmp_path / "dot")}
    agent = subprocess.Popen(
        [SWEEPRUN, "start", str(cfg), "--storage", storage, "--quiet"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def running() -> bool:
        d = run_cli("status", "rslow", "--storage", storage, "--json", env=env)
        return d.returncode == 0 and bool(json.loads(d.stdout)["running"])

    try:
        wait_until(running, 30, "the trial is running", interval=0.2)
        res = run_cli("logs", "rslow", "0", "--storage", storage, "--follow", env=env)
        res.assert_success()
        # followed until the trial ended: the last line is there
        assert res.stdout.count('"step"') == 5 and res.stdout.endswith("done\n")
    finally:
        agent.wait(timeout=60)


def test_logs_of_a_trial_on_another_host(tmp_path: Path) -> None:
    storage = str(tmp_path / "j.log")
    fake_sweep(storage, "remote", host="gpu-node-7", log_dir="/scratch/remote/trial-00000")
    res = run_cli("logs", "remote", "0", "--storage", storage).assert_code(2)
    assert "trial 0 ran on host 'gpu-node-7'" in res.stderr
    assert "/scratch/remote/trial-00000 on that machine" in res.stderr
    assert "last line from the tail" in res.stdout  # the tail kept in the storage


# ---- export ----------------------------------------------------------------------------------


def test_export_csv(journal: str, tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    res = run_cli("export", "rgrid", "--storage", journal, "--format", "csv", "-o", str(out))
    res.assert_success()
    assert f"wrote 11 trials of sweep 'rgrid' to {out}" in res.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == [
        "number",
        "state",
        "value",
        "param.x",
        "param.y",
        "start",
        "end",
        "duration",
        "host",
        "exit_code",
        "reason",
        "stderr_line",
        "attempt",
        "baseline",
    ]
    assert len(rows) == 11
    r5 = rows[5]
    assert (r5["state"], float(r5["value"]), r5["param.x"], r5["param.y"]) == (
        "COMPLETE",
        0.433333,
        "0.5",
        "1",
    )
    assert rows[0]["baseline"] == "True" and rows[2]["reason"] == "exit code 3"
    assert rows[2]["stderr_line"] == "RuntimeError: CUDA out of memory (simulated)"
    assert rows[2]["value"] == "" and rows[2]["exit_code"] == "3"


def test_export_json_jsonl_curves(journal: str) -> None:
    arr = json.loads(
        run_cli("export", "rmulti", "--storage", journal, "--format", "json", "--curves")
        .assert_success()
        .stdout
    )
    assert len(arr) == 6
    rec = arr[0]
    assert {"value.acc", "value.latency", "param.opt.lr", "param.x", "param.y", "curve"} <= set(rec)
    assert "value" not in rec
    assert rec["curve"] == []  # multi-objective trials report no intermediate values
    lines = (
        run_cli("export", "rgrid", "--storage", journal, "--format", "jsonl", "--curves")
        .assert_success()
        .stdout.splitlines()
    )
    recs = [json.loads(line) for line in lines]
    assert len(recs) == 11
    assert recs[5]["curve"] == [[1, 1.1], [2, 0.6], [3, 0.433333]]
    assert recs[9]["state"] == "PRUNED" and recs[9]["curve"] == [[1, 7.35]]
    assert "curve" not in json.loads(
        run_cli("export", "rgrid", "--storage", journal, "--format", "jsonl").stdout.splitlines()[0]
    )


def test_export_bad_format(journal: str) -> None:
    res = run_cli("export", "rgrid", "--storage", journal, "--format", "jsnl").assert_code(2)
    assert "unknown export format 'jsnl'; did you mean 'jsonl'?" in res.stderr


# ---- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("cmd", [["status"], ["trials"], ["best"], ["export"], ["logs", "@", "0"]])
def test_unknown_sweep(journal: str, cmd: list[str]) -> None:
    args = [c.replace("@", "rgird") for c in cmd] if "@" in cmd else [*cmd, "rgird"]
    res = run_cli(*args, "--storage", journal).assert_code(2)
    assert "no sweep named 'rgird'" in res.stderr and "did you mean 'rgrid'?" in res.stderr
    assert "known sweeps: rgrid, rmulti" in res.stderr


def test_empty_sweep(tmp_path: Path) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from sweeprun.config.load import parse_config
    from sweeprun.sweep import CONFIG_ATTR, _config_doc

    storage = str(tmp_path / "j.log")
    study = optuna.create_study(
        study_name="empty", storage=JournalStorage(JournalFileBackend(storage))
    )
    cfg = parse_config(
        {
            "program": "t.py",
            "method": "random",
            "metric": {"name": "loss"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        }
    )
    study.set_user_attr(CONFIG_ATTR, _config_doc(cfg))
    for cmd in (["trials"], ["best"], ["export"], ["logs", "empty", "0"]):
        args = cmd if len(cmd) > 1 else [*cmd, "empty"]
        res = run_cli(*args, "--storage", storage).assert_code(2)
        assert "sweep 'empty' in" in res.stderr and "has no trials yet" in res.stderr
    d = cli_json("status", "empty", "--storage", storage)
    assert d["state"] == "new" and d["trials"] == 0


def test_no_storage_yet(tmp_path: Path) -> None:
    res = run_cli("status").assert_code(2)
    assert "no sweeps yet: the journal file" in res.stderr and "does not exist" in res.stderr
    res = run_cli("best", "x").assert_code(2)
    assert "no sweeps yet" in res.stderr


def test_unreachable_storage_masks_password() -> None:
    url = "postgresql://u:secret@127.0.0.1:1/x"
    for cmd in (
        ["status"],
        ["status", "x"],
        ["trials", "x"],
        ["best", "x"],
        ["export", "x"],
        ["logs", "x", "0"],
    ):
        res = run_cli(*cmd, "--storage", url, timeout=60).assert_code(2)
        text = res.stdout + res.stderr
        assert "secret" not in text
        assert "cannot open storage postgresql://u:***@127.0.0.1:1/x" in res.stderr
        assert "127.0.0.1" in res.stderr and "refused" in res.stderr.lower()


# ---- PostgreSQL ------------------------------------------------------------------------------


def test_results_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    import optuna

    suffix = "-" + uuid.uuid4().hex[:8]
    names = make_sweeps(tmp_path, postgres_url, suffix)
    try:
        d = cli_json("status", "--storage", postgres_url)
        mine = {s["name"]: s for s in d["sweeps"] if s["name"].endswith(suffix)}
        assert mine[names["grid"]]["counts"]["COMPLETE"] == 8
        assert mine[names["grid"]]["state"] == "finished"
        b = cli_json("best", names["grid"], "--storage", postgres_url)
        assert b["best"][0]["params"] == {"x": 0.5, "y": 1}
        assert b["baseline"]["loss"]["absolute"] == pytest.approx(0.35)
        t = cli_json("trials", names["multi"], "--storage", postgres_url)
        assert t["total"] == 6
        out = run_cli("export", names["grid"], "--storage", postgres_url).assert_success()
        assert len(list(csv.DictReader(io.StringIO(out.stdout)))) == 11
        res = run_cli("logs", names["grid"], "5", "--storage", postgres_url).assert_success()
        assert res.stdout.endswith("done\n")
    finally:
        for n in names.values():
            optuna.delete_study(
                study_name=n, storage=postgres_url.replace("postgresql://", "postgresql+psycopg://")
            )
