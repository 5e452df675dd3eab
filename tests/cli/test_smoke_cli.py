"""``sweeprun smoke`` from the installed command, against real child programs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml
from markdown_it import MarkdownIt
from optuna.storages.journal import JournalFileBackend

from tests.helpers.cli import run_cli
from tests.helpers.paths import PROGRAMS

PROGRAM = str(PROGRAMS / "smoke_train.py")


def write_sweep(tmp_path: Path, mode: str, **extra: object) -> Path:
    cfg: dict[str, object] = {
        "name": "demo",
        "program": PROGRAM,
        "method": "bayes",
        # a target, pruning, a tiny run_cap and a failure limit: smoke must ignore them all
        "metric": {"name": "loss", "goal": "minimize", "target": 2.0},
        "early_terminate": {"type": "median", "n_startup_trials": 0},
        "run_cap": 1,
        "failures": {"max_consecutive": 1},
        "parameters": {
            "lr": {"min": 0.001, "max": 0.1},
            "batch_size": {"min": 1, "max": 64},
            "optimizer": {"values": ["sgd", "adam"]},
        },
        "smoke": {"args": ["--max-steps=3"], "env": {"SMOKE_MODE": mode}},
    }
    cfg.update(extra)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@dataclass
class Case:
    name: str
    failure: ET.Element | None
    system_out: str

    @property
    def is_passed(self) -> bool:
        return self.failure is None


def junit_cases(path: Path) -> list[Case]:
    """The testcases of a JUnit file (test_smoke_report checks it with junitparser too)."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    out = []
    for tc in suite.findall("testcase"):
        out.append(Case(tc.get("name", ""), tc.find("failure"), tc.findtext("system-out") or ""))
    assert int(suite.get("tests", "")) == len(out)
    assert int(suite.get("failures", "")) == sum(not c.is_passed for c in out)
    return out


def test_passing_program_runs_every_configuration(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, "ok")
    summary = tmp_path / "summary.md"
    storage = tmp_path / "smoke-journal.log"
    res = run_cli(
        "smoke", str(sweep), "--junit", str(tmp_path / "reports" / "junit.xml"),
        "--storage", str(storage), cwd=tmp_path, env={"GITHUB_STEP_SUMMARY": str(summary)},
    ).assert_code(0)  # fmt: skip
    # 3 parameters with 2 interesting values each: 2 rows cover each value, 5 every pair
    assert "smoke: 5 configurations: every parameter's low and high ends" in res.stdout
    assert "every pair of those across two parameters" in res.stdout
    assert "batch_size: 1, 64 (min and max)" in res.stdout
    assert "per-trial timeout 5m (default; set smoke.timeout to change it)" in res.stdout
    assert "extra args: --max-steps=3" in res.stdout
    assert "smoke passed: 5 of 5 configurations passed" in res.stdout
    assert "PRUNED" not in res.stdout and "5 complete, 0 pruned, 0 failed" in res.stdout
    cases = junit_cases(tmp_path / "reports" / "junit.xml")
    assert len(cases) == 5 and all(c.is_passed for c in cases)
    assert cases[0].name == "case 0: batch_size=1 lr=0.001 optimizer=sgd"
    assert cases[1].name == "case 1: batch_size=64 lr=0.1 optimizer=adam"
    for c in cases:  # SWEEPRUN_SMOKE=1 was set (else exit 3) and the args were appended
        assert "max_steps=3 mode=ok" in c.system_out
    # the step summary: one Markdown table, a row per configuration
    html = MarkdownIt("commonmark").enable("table").render(summary.read_text(encoding="utf-8"))
    assert html.count("<table>") == 1 and html.count("<tr>") == 6
    # --storage keeps the trials, each marked with its case
    (study_summary,) = optuna.get_all_study_summaries(
        optuna.storages.JournalStorage(JournalFileBackend(str(storage)))
    )
    assert study_summary.study_name.startswith("demo-smoke-")
    study = optuna.load_study(study_name=study_summary.study_name, storage=optuna.storages.
                              JournalStorage(JournalFileBackend(
                                  str(storage))))  # fmt: skip
    trials = study.get_trials()
    assert sorted(t.user_attrs["sweeprun.smoke_case"] for t in trials) == [0, 1, 2, 3, 4]
    assert {t.state.name for t in trials} == {"COMPLETE"}


def test_crash_at_an_extreme_is_caught_with_params_reason_and_output(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, "edge")
    junit = tmp_path / "junit.xml"
    res = run_cli("smoke", str(sweep), "--junit", str(junit), cwd=tmp_path).assert_code(1)
    assert "FAILED case 1 (trial " in res.stdout
    assert "batch_size=64 lr=0.1 optimizer=adam" in res.stdout
    assert "  reason: exit code 1" in res.stdout
    assert "    | ValueError: batch_size=64 overflows the activation buffer" in res.stdout
    assert "smoke FAILED: 3 of 5 configurations passed, 2 failed" in res.stdout
    cases = junit_cases(junit)
    failed = [c for c in cases if not c.is_passed]
    assert len(failed) == 2 and all("batch_size=64" in c.name for c in failed)
    for c in failed:
        assert c.failure is not None and c.failure.get("message") == "exit code 1"
        assert "overflows the activation buffer" in (c.failure.text or "")
    assert all("batch_size=1 " in c.name for c in cases if c.is_passed)


def test_hanging_trial_times_out_and_fails(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, "hang")
    text = sweep.read_text(encoding="utf-8").replace("smoke:\n", "smoke:\n  timeout: 1s\n")
    sweep.write_text(text, encoding="utf-8")
    res = run_cli("smoke", str(sweep), "--jobs", "3", cwd=tmp_path).assert_code(1)
    assert "per-trial timeout 1s (smoke.timeout)" in res.stdout
    failures = [line for line in res.stdout.splitlines() if line.startswith("FAILED case")]
    assert len(failures) == 2 and all("optimizer=adam" in f for f in failures)
    assert res.stdout.count("  reason: timeout after ") == 2


def test_metric_never_reported_fails(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, "silent")
    res = run_cli("smoke", str(sweep), "--json", cwd=tmp_path).assert_code(1)
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    assert doc["event"] == "smoke" and doc["failed"] == 5 and doc["exit_code"] == 1
    assert {c["reason"] for c in doc["cases"]} == {"metric never reported: loss"}
    assert doc["cases"][0]["tail"] == ["max_steps=3 mode=silent", "training done (but no metric)"]


def test_space_too_large_for_the_limit_runs_extremes_first_and_warns(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, "ok", parameters={
        "lr": {"min": 0.001, "max": 0.1},
        "batch_size": {"values": [1, 2, 4, 8, 16, 32]},
        "optimizer": {"values": ["sgd", "adam"]},
    })  # fmt: skip
    res = run_cli("smoke", str(sweep), "--max-trials", "3", "--json", cwd=tmp_path)
    res.assert_code(0)
    assert (
        "warning: covering every parameter's ends and every categorical value needs 6 "
        "configurations, more than the limit of 3: running the 3 most informative (extremes "
        "first); raise --max-trials to 6 to cover them all"
    ) in res.stderr
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    assert doc["needed"] == 6 and doc["passed"] == 3 and doc["configurations"] == 3
    assert [c["params"]["batch_size"] for c in doc["cases"]] == [1, 32, 2]


def test_bad_input_exits_2_and_runs_nothing(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, "ok")
    res = run_cli("smoke", str(sweep), "--max-trials", "0", cwd=tmp_path).assert_code(2)
    assert "--max-trials must be at least 1" in res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: random\nparameters: {lr: {min: 1, max: 0}}\n", encoding="utf-8")
    res = run_cli("smoke", str(bad), cwd=tmp_path).assert_code(2)
    assert "min (1) must be less than max (0)" in res.stderr
    assert not (tmp_path / "dot-sweeprun").exists()
