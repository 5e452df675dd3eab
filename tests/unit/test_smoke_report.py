"""JUnit XML and the GitHub step summary of a smoke run (pure rendering)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from sweeprun.smoke.junit import (
    FAILED,
    NOT_RUN,
    PASSED,
    CaseResult,
    append_step_summary,
    case_name,
    junit_xml,
    markdown_summary,
)

CASES = [
    CaseResult(0, "extremes", {"lr": 0.001, "opt": {"name": "sgd"}}, PASSED, trial=0,
               value=[0.5], duration=1.25, tail=["epoch 1", '{"loss": 0.5}']),
    CaseResult(1, "extremes", {"lr": 0.1, "opt": {"name": "a|b"}}, FAILED, trial=1,
               reason="exit code 1", duration=0.5,
               tail=["Traceback (most recent call last):", "ValueError: <bad> & \x1b[31mred"]),
    CaseResult(2, "cover", {"lr": 0.01, "opt": {"name": "x"}}, NOT_RUN, reason="never ran"),
]  # fmt: skip


def write_junit(tmp_path: Path) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(
        junit_xml("demo-smoke", CASES, elapsed=2.0, timestamp="2026-01-02T03:04:05",
                  properties={"sweeprun.needed": "3"}),
        encoding="utf-8",
    )  # fmt: skip
    return path


def test_junit_parses_back_with_junitparser(tmp_path: Path) -> None:
    junitparser = pytest.importorskip("junitparser", reason="pip install junitparser (dev)")
    xml = junitparser.JUnitXml.fromfile(str(write_junit(tmp_path)))
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    assert suite.name == "demo-smoke"
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (3, 2, 0, 0)
    cases = list(suite)
    assert [c.name for c in cases] == [case_name(c) for c in CASES]
    assert cases[0].name == "case 0: lr=0.001 opt.name=sgd"
    assert cases[0].is_passed and cases[0].time == 1.25
    assert cases[0].system_out == 'epoch 1\n{"loss": 0.5}'
    (failure,) = cases[1].result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "exit code 1" and failure.type == "TrialFailed"
    assert "ValueError: <bad> &" in (failure.text or "")
    assert "\x1b" not in (failure.text or "")  # not allowed in XML 1.0: replaced
    (never,) = cases[2].result
    assert never.message == "never ran"


def test_junit_structure(tmp_path: Path) -> None:
    """The shape CI servers read: testsuites > testsuite > testcase, numeric counts."""
    root = ET.parse(write_junit(tmp_path)).getroot()
    assert root.tag == "testsuites"
    (suite,) = root
    assert suite.tag == "testsuite"
    for key in ("name", "tests", "failures", "errors", "skipped", "time", "timestamp"):
        assert suite.get(key) is not None, key
    assert int(suite.get("tests", "")) == len(suite.findall("testcase"))
    assert int(suite.get("failures", "")) == len(suite.findall("testcase/failure"))
    float(suite.get("time", ""))
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props == {"sweeprun.needed": "3"}
    for tc in suite.findall("testcase"):
        assert set(tc.attrib) == {"classname", "name", "time"}
        assert tc.get("classname") == "sweeprun.smoke.plan.demo-smoke"
        float(tc.get("time", ""))
        assert [c.tag for c in tc] in ([], ["system-out"], ["failure"], ["failure", "system-out"])


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the first table, as rendered HTML cell texts."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    rows: list[list[str]] = []
    in_body = False
    for tok in tokens:
        if tok.type == "tbody_open":
            in_body = True
        elif tok.type == "tr_open" and in_body:
            rows.append([])
        elif tok.type == "inline" and in_body and rows:
            rows[-1].append(tok.content)
    return rows


def test_markdown_summary_is_a_table_with_a_row_per_case(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("# earlier step\n\n", encoding="utf-8")
    append_step_summary(path, markdown_summary("demo-smoke", CASES, elapsed=2.0,
                                               notes=["warning: needs 9"]))  # fmt: skip
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# earlier step\n")  # appended, not overwritten
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert html.count("<table>") == 1
    rows = table_rows(text)
    assert len(rows) == 3 and all(len(r) == 6 for r in rows)  # the pipe in a|b is escaped
    assert rows[0][1] == "✅ pass" and rows[1][1] == "❌ fail" and rows[2][1] == "⚠️ not run"
    assert rows[1][2] == "`lr=0.1 opt.name=a|b`"  # a table cell unescapes \\|
    assert rows[1][5] == "exit code 1"
    assert "1 of 3 configurations passed" in text
    assert "> warning: needs 9" in text
    assert "<summary>case 1: exit code 1</summary>" in text
    assert "ValueError: <bad>" in text  # the tail, in a code block
