"""Hostile metric streams: valid lines mixed with truncated JSON, binary bytes, huge numbers,
NaN/inf, unicode, nested JSON and very long lines. :class:`MetricParser` never raises and never
loses a well-formed line next to garbage; the launcher, fed such a stream by a real child
program in random-sized chunks (tests/programs/chaos_stream.py), delivers every line intact.
``-m chaos`` runs many more examples.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweeprun.launcher import MAX_LINE, Child, ChildOutcome, TrialRequest
from sweeprun.metrics import MAX_STEP, MetricEvent, MetricParser
from tests.conftest import PROGRAMS

FUZZ = {"deadline": None, "suppress_health_check": list(HealthCheck)}
STREAM = PROGRAMS / "chaos_stream.py"

# ---- strategies -------------------------------------------------------------------------------
no_newline = st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" "))
text_line = st.text(max_size=200).map(lambda t: t.replace("\n", " ").encode("utf-8", "replace"))
nested = st.recursive(
    st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.none()),
    lambda inner: st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
).map(lambda o: json.dumps({"m": o}).encode())
garbage = st.one_of(
    no_newline,
    text_line,
    nested,
    st.sampled_from(
        [
            b'{"loss": 0.5',  # truncated
            b'{"loss": NaN, "step": 1}',
            b'{"loss": Infinity}',
            b"loss=inf step=" + b"9" * 5000,  # a step too long for int()
            b'{"loss": 1, "step": 1e300}',
            b'{"loss": ' + b"9" * 5000 + b"}",
            b"[" * 5000 + b"]" * 5000,
            b'{"a":' * 3000 + b"1" + b"}" * 3000,
            b"\x00\xff\xfe\xc3\x28 binary",
            "\u202e\u0000\ufeff ünïcödé 🚀".encode(),
            b"progress 50%\r" + b'{"acc": 1}',
            b"sweeprun.report: not json",
        ]
    ),
    st.integers(1000, 300_000).map(lambda n: b"x" * n),
)


@st.composite
def stream(draw: st.DrawFn, markers_max: int = 20) -> tuple[list[bytes], list[MetricEvent]]:
    """Lines (without newlines) and the marker events that must come out of them."""
    lines: list[bytes] = []
    markers: list[MetricEvent] = []
    for i in range(draw(st.integers(1, markers_max))):
        lines += draw(st.lists(garbage, max_size=4))
        value = draw(st.floats(allow_nan=False, allow_infinity=False))
        markers.append(MetricEvent("marker", value, i))
        lines.append(json.dumps({"marker": value, "step": i}).encode())
    lines += draw(st.lists(garbage, max_size=3))
    return lines, markers


def _decoded(lines: list[bytes]) -> list[str]:
    return [line.decode("utf-8", errors="replace") for line in lines]


# ---- the parser ---------------------------------------------------------------------------------
def _check_parser(lines: list[bytes], markers: list[MetricEvent]) -> None:
    text = _decoded(lines)
    for names in ([], ["loss"], ["loss", "marker", "acc"]):
        one = [e for line in text for e in MetricParser(names).feed(line)]
        many = MetricParser(names).feed_many(text)
        report = [e for line in text for e in MetricParser(names).feed_report(line)]
        for got in (one, many, report):
            for m in markers:
                assert m in got
            assert all(0 <= e.step <= MAX_STEP for e in got if e.step is not None)


@settings(max_examples=150, **FUZZ)  # type: ignore[arg-type]
@given(stream())
def test_parser_never_raises_and_never_loses_a_well_formed_line(
    case: tuple[list[bytes], list[MetricEvent]],
) -> None:
    _check_parser(*case)


@pytest.mark.chaos
@settings(max_examples=3000, **FUZZ)  # type: ignore[arg-type]
@given(stream())
def test_chaos_parser_many_streams(case: tuple[list[bytes], list[MetricEvent]]) -> None:
    _check_parser(*case)


@pytest.mark.parametrize(
    "line",
    [
        "step=" + "9" * 5000 + " loss=1",
        '{"loss": 1, "step": 1e300}',
        '{"loss": 1, "step": 4294967296}',
        "loss=1 epoch=99999999999",
    ],
)
def test_a_step_out_of_range_is_no_step(line: str) -> None:
    """Regression: a 5000-digit step raised ValueError in the reader thread (and dropped the
    whole batch); a step beyond 32 bits would overflow an RDB storage's step column."""
    assert MetricParser(["loss"]).feed(line) == [MetricEvent("loss", 1.0, 0)]


# ---- the launcher -------------------------------------------------------------------------------
def _expected_lines(data: bytes) -> list[str]:
    parts = data.decode("utf-8", errors="replace").split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    out: list[str] = []
    for p in parts:
        out += [p[i : i + MAX_LINE] for i in range(0, max(len(p), 1), MAX_LINE)]
    return out


def _run_stream(
    tmp: Path, data: bytes, seed: int, report: bool
) -> tuple[dict[str, list[str]], Path]:
    src = tmp / "stream.bin"
    src.write_bytes(data)
    out_dir = tmp / f"trial-{uuid.uuid4().hex}"  # hypothesis reuses tmp across examples
    lines: dict[str, list[str]] = {"stdout": [], "stderr": [], "report": []}
    lock = threading.Lock()

    def on_lines(name: str, batch: list[str]) -> None:
        with lock:
            lines[name] += batch

    exits: list[ChildOutcome] = []
    argv = [sys.executable, str(STREAM), str(src), str(seed), *(["--report"] if report else [])]
    req = TrialRequest(
        argv=tuple(argv),
        env=dict(os.environ),
        cwd=str(tmp),
        stdout_path=out_dir / "stdout.log",
        stderr_path=out_dir / "stderr.log",
        timeout=60,
    )
    child = Child.start(req, on_lines, exits.append)
    outcome = child.wait(90)
    assert outcome is not None and outcome.returncode == 0, (outcome, lines["stderr"])
    assert child.callback_error is None
    return lines, out_dir


def _check_launcher(tmp: Path, lines: list[bytes], markers: list[MetricEvent], seed: int) -> None:
    data = b"\n".join(lines) + (b"\n" if seed % 2 else b"")  # with and without a last newline
    got, out_dir = _run_stream(tmp, data, seed, report=False)
    assert got["stdout"] == _expected_lines(data)
    assert (out_dir / "stdout.log").read_bytes() == data  # the log keeps the raw bytes
    events = MetricParser(["loss"]).feed_many(got["stdout"])
    for m in markers:
        assert m in events
    # the same stream through the report channel: every marker arrives
    got, _ = _run_stream(tmp, data, seed, report=True)
    parser = MetricParser(["loss"])
    events = [e for line in got["report"] for e in parser.feed_report(line)]
    for m in markers:
        assert m in events


@settings(max_examples=4, **FUZZ)  # type: ignore[arg-type]
@given(case=stream(markers_max=8), seed=st.integers(0, 1000))
def test_launcher_delivers_hostile_streams_intact(
    tmp_path: Path, case: tuple[list[bytes], list[MetricEvent]], seed: int
) -> None:
    _check_launcher(tmp_path, *case, seed)


@pytest.mark.chaos
@settings(max_examples=60, **FUZZ)  # type: ignore[arg-type]
@given(case=stream(), seed=st.integers(0, 1000))
def test_chaos_launcher_many_streams(
    tmp_path: Path, case: tuple[list[bytes], list[MetricEvent]], seed: int
) -> None:
    _check_launcher(tmp_path, *case, seed)


def test_launcher_cuts_a_line_longer_than_max_line_without_losing_the_next(tmp_path: Path) -> None:
    data = b"y" * (MAX_LINE * 2 + 17) + b"\n" + b'{"loss": 0.25, "step": 3}\n'
    got, _ = _run_stream(tmp_path, data, 5, report=False)
    assert [len(x) for x in got["stdout"][:3]] == [MAX_LINE, MAX_LINE, 17]
    assert MetricParser(["loss"]).feed_many(got["stdout"]) == [MetricEvent("loss", 0.25, 3)]
