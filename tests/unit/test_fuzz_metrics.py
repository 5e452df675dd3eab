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
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweeprun.metrics.grammar import MAX_STEP, MetricEvent
from sweeprun.metrics.parser import MetricParser
from sweeprun.metrics.summary import Summary
from sweeprun.run.process.child import MAX_LINE, Child, ChildOutcome, TrialRequest
from tests.helpers.paths import PROGRAMS

# the fuzz profile: no deadline (a child program per example), no health checks; each test
# sets its count (few in the unit tier, the same coverage: see the parser test; -m chaos: many)
settings.register_profile("sweeprun-fuzz", deadline=None, suppress_health_check=list(HealthCheck))
FUZZ = settings.get_profile("sweeprun-fuzz")
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


# 60 examples reach every line of sweeprun/metrics that 150 always reach (traced over seeds)
@settings(FUZZ, max_examples=60)
@given(stream())
def test_parser_never_raises_and_never_loses_a_well_formed_line(
    case: tuple[list[bytes], list[MetricEvent]],
) -> None:
    _check_parser(*case)


@pytest.mark.chaos
@settings(FUZZ, max_examples=3000)
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


@settings(FUZZ, max_examples=4)
@given(case=stream(markers_max=8), seed=st.integers(0, 1000))
def test_launcher_delivers_hostile_streams_intact(
    tmp_path: Path, case: tuple[list[bytes], list[MetricEvent]], seed: int
) -> None:
    _check_launcher(tmp_path, *case, seed)


@pytest.mark.chaos
@settings(FUZZ, max_examples=60)
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


# ---- fold: the same values as feed, by the batch ----------------------------------------------
number_text = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0", "-0", "1e400", "9" * 400, "NaN", "Infinity", "-Infinity", "1.2.3",
                     "true", "null", '"3"', "[1, 2]", "{\"x\": 1}", ".", "nan", "inf", "1e5"]),
)  # fmt: skip
step_text = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["-3", "4294967296", "9" * 11, "2.5", '"7"', "null", "true"]),
)
json_key = st.sampled_from(
    ["loss", "acc", "step", "epoch", "_step", "iteration", "val", "val.loss", "a.b", "lo\\u0073s"]
)
kv_sep = st.sampled_from(["=", ": ", " = ", "\t:", '": ', "=="])


@st.composite
def json_template(draw: st.DrawFn) -> Callable[[st.DrawFn], str]:
    keys = draw(st.lists(json_key, min_size=1, max_size=4))
    spaces = draw(st.sampled_from(["", " ", "  "]))

    def line(draw: st.DrawFn) -> str:
        items = []
        for key in keys:
            if key == "val":
                value = '{"loss": ' + draw(number_text) + ', "step": 1}'
            elif key in ("step", "epoch", "_step"):
                value = draw(step_text)
            else:
                value = draw(number_text)
            items.append(f'"{key}":{spaces}{value}')
        return "{" + ", ".join(items) + "}"

    return line


@st.composite
def kv_template(draw: st.DrawFn) -> Callable[[st.DrawFn], str]:
    parts = draw(
        st.lists(
            st.sampled_from(["loss", "acc", "step", "epoch", "xloss", "val/loss", "note"]),
            min_size=1,
            max_size=4,
        )
    )
    seps = [draw(kv_sep) for _ in parts]
    glue = draw(st.sampled_from([" ", ", ", "\t", " | "]))

    def line(draw: st.DrawFn) -> str:
        out = []
        for part, sep in zip(parts, seps, strict=True):
            value = draw(step_text if part in ("step", "epoch") else number_text)
            out.append(f"{part}{sep}{value}" if part != "note" else "note")
        return glue.join(out)

    return line


noise_line = st.one_of(
    garbage.map(lambda b: b.decode("utf-8", "replace")),
    st.sampled_from(["", "loss decreasing", "{not json}", "  {\"loss\": 1}", "\r{\"loss\": 2}",
                     'sweeprun.report: {"loss": 3}', '{"loss": [1', '2]}', '{"a": 1}, {"b": 2}',
                     '{"loss": 1}\r', "epoch 3 loss=0.5", '{"loss": 5, "loss": 6}']),
)  # fmt: skip


@st.composite
def flood(draw: st.DrawFn) -> tuple[list[str], list[int]]:
    """Lines mostly of one or two templates (the bulk routes), with noise; batch sizes."""
    templates = [
        draw(st.one_of(json_template(), kv_template())) for _ in range(draw(st.integers(1, 2)))
    ]
    lines = []
    for _ in range(draw(st.integers(1, 80))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(noise_line))
        else:
            lines.append(draw(st.sampled_from(templates))(draw))
    cuts = sorted(draw(st.lists(st.integers(0, len(lines)), max_size=4)))
    return lines, cuts


def _batches(lines: list[str], cuts: list[int]) -> list[list[str]]:
    bounds = [0, *cuts, len(lines)]
    return [lines[a:b] for a, b in pairwise(bounds) if b > a]


def _stats(summary: Summary) -> dict[str, tuple[object, ...]]:
    return {
        name: (s.count, s.last, s.minimum, s.maximum, s.last_step, list(s.history))
        for name, s in summary.metrics.items()
    }


def _chosen(events: list[MetricEvent], keep: str, first: int) -> list[MetricEvent]:
    finite = [e for e in events if e.name == keep and e.finite]
    return finite[:first] + finite[-1:] if len(finite) > first else finite


def _check_fold(lines: list[str], cuts: list[int], first: int, report: bool) -> None:
    for names in ([], ["loss"], ["loss", "acc", "val/loss"]):
        line_parser, batch_parser = MetricParser(names), MetricParser(names)
        feed = line_parser.feed_report if report else line_parser.feed
        reference, folded = Summary(), Summary()
        for batch in _batches(lines, cuts):
            events = [e for line in batch for e in feed(line)]
            reference.add_many(events)
            fold = batch_parser.fold_reports if report else batch_parser.fold
            assert fold(batch, folded, "loss", first) == _chosen(events, "loss", first)
        assert _stats(folded) == _stats(reference)
        assert batch_parser._counts == line_parser._counts


@settings(FUZZ, max_examples=300)
@given(flood(), st.integers(0, 3))
def test_fold_gives_the_values_and_steps_of_feed(
    case: tuple[list[str], list[int]], first: int
) -> None:
    _check_fold(*case, first, report=False)
    _check_fold(*case, first, report=True)


@pytest.mark.chaos
@settings(FUZZ, max_examples=5000)
@given(flood(), st.integers(0, 3))
def test_chaos_fold_many_floods(case: tuple[list[str], list[int]], first: int) -> None:
    _check_fold(*case, first, report=False)
    _check_fold(*case, first, report=True)
