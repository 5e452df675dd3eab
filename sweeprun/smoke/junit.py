"""A smoke run's results as JUnit XML (for CI test reports) and a GitHub step summary.

Pure rendering apart from :func:`append_step_summary`. JUnit layout (what Jenkins, GitLab,
GitHub test-report actions and ``junitparser`` read)::

    <testsuites name="sweeprun smoke" tests= failures= errors="0" skipped="0" time=>
      <testsuite name="<sweep>" tests= failures= errors="0" skipped="0" time= timestamp= hostname=>
        <properties><property name="sweeprun.sweep" value=".."/>...</properties>
        <testcase classname="sweeprun.smoke.plan.<sweep>" name="case 3: lr=0.1 batch_size=32" time=>
          <failure message="<reason>" type="TrialFailed">last output lines</failure>
          <system-out>last output lines</system-out>
        </testcase>
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASSED = "passed"
FAILED = "failed"
NOT_RUN = "not run"

# characters XML 1.0 cannot carry, even escaped
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class CaseResult:
    """One configuration of a smoke run and how its trial ended."""

    index: int
    kind: str  # extremes, baseline, cover, pairwise
    params: dict[str, Any]  # nested values the program received
    status: str  # PASSED, FAILED or NOT_RUN
    trial: int | None = None
    reason: str | None = None
    value: list[float] | None = None
    duration: float = 0.0
    tail: list[str] = field(default_factory=list)  # last lines of output
    log_dir: str | None = None

    @property
    def failed(self) -> bool:
        return self.status != PASSED


def flat_params(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"opt": {"lr": 1}}`` → ``[("opt.lr", 1)]``."""
    out: list[tuple[str, Any]] = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.extend(flat_params(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def fmt_value(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def params_text(values: Mapping[str, Any]) -> str:
    """``lr=0.1 batch_size=32`` (floats to 6 significant digits)."""
    return " ".join(f"{k}={fmt_value(v)}" for k, v in flat_params(values)) or "(no parameters)"


def case_name(case: CaseResult) -> str:
    return f"case {case.index}: {params_text(case.params)}"


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def junit_xml(
    sweep: str,
    cases: Sequence[CaseResult],
    *,
    elapsed: float,
    timestamp: str,
    properties: Mapping[str, str] | None = None,
) -> str:
    """The JUnit XML document of a smoke run (one testcase per configuration)."""
    failures = sum(1 for c in cases if c.failed)
    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": "0",
        "time": f"{elapsed:.3f}",
    }
    root = ET.Element("testsuites", {"name": "sweeprun smoke", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {"name": _xml_text(sweep), **counts, "timestamp": timestamp,
         "hostname": socket.gethostname()},
    )  # fmt: skip
    if properties:
        props = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", {"name": key, "value": _xml_text(value)})
    for case in cases:
        tc = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": _xml_text(f"sweeprun.smoke.plan.{sweep}"),
                "name": _xml_text(case_name(case)),
                "time": f"{case.duration:.3f}",
            },
        )
        tail = _xml_text("\n".join(case.tail))
        if case.failed:
            reason = case.reason or ("never ran" if case.status == NOT_RUN else "failed")
            failure = ET.SubElement(
                tc, "failure", {"message": _xml_text(reason), "type": "TrialFailed"}
            )
            failure.text = tail or reason
        if tail:
            ET.SubElement(tc, "system-out").text = tail
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_cell(text).replace('`', chr(39))}`"


def markdown_summary(
    sweep: str, cases: Sequence[CaseResult], *, elapsed: float, notes: Sequence[str] = ()
) -> str:
    """A GitHub-flavoured Markdown summary: a heading, notes, one table row per case, and the
    last output lines of each failure."""
    failed = [c for c in cases if c.failed]
    verdict = "❌ failed" if failed else "✅ passed"
    lines = [
        f"### sweeprun smoke `{_cell(sweep)}`: {verdict}",
        "",
        f"{len(cases) - len(failed)} of {len(cases)} configurations passed in {elapsed:.1f}s.",
        "",
    ]
    for note in notes:
        lines.append(f"> {_cell(note)}")
    if notes:
        lines.append("")
    lines += [
        "| case | result | parameters | value | time | reason |",
        "| ---: | :--- | :--- | ---: | ---: | :--- |",
    ]
    for c in cases:
        result = "✅ pass" if not c.failed else ("⚠️ not run" if c.status == NOT_RUN else "❌ fail")
        value = ", ".join(fmt_value(v) for v in c.value) if c.value else ""
        lines.append(
            f"| {c.index} | {result} | {_code(params_text(c.params))} | {_cell(value)} "
            f"| {c.duration:.1f}s | {_cell(c.reason or '')} |"
        )
    for c in failed:
        if not c.tail:
            continue
        lines += [
            "",
            f"<details><summary>case {c.index}: {_html(c.reason or 'failed')}</summary>",
            "",
            "```",
            *[line.replace("```", "'''") for line in c.tail],
            "```",
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n\n"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def append_step_summary(path: str | Path, text: str) -> None:
    """Append to the file GitHub names in ``GITHUB_STEP_SUMMARY`` (other steps write it too)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
