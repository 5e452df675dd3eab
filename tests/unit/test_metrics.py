"""metrics.py: stdout lines and report lines → MetricEvents; the per-trial Summary."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeprun.metrics.grammar import MetricEvent
from sweeprun.metrics.parser import MetricParser
from sweeprun.metrics.summary import Summary


def events(lines: list[str], names: tuple[str, ...] = ("val_loss", "acc"), **kw: str) -> list:
    parser = MetricParser(names, **kw)  # type: ignore[arg-type]
    return [(e.name, e.value, e.step) for line in lines for e in parser.feed(line)]


def test_json_line_gives_one_event_per_numeric_value_with_its_step() -> None:
    got = events(['{"val_loss": 0.31, "epoch": 3, "lr": 1, "ok": true, "tag": "x", "n": null}'])
    assert got == [("val_loss", 0.31, 3), ("lr", 1.0, 3)]


@pytest.mark.parametrize("key", ["step", "_step", "epoch", "iteration"])
def test_each_step_key_is_the_step_and_not_an_event(key: str) -> None:
    assert events([f'  {{"{key}": 9, "acc": 0.5}}  \n']) == [("acc", 0.5, 9)]


def test_step_defaults_to_the_index_of_the_report_per_metric() -> None:
    lines = [
        '{"acc": 1}',
        '{"acc": 2, "val_loss": 5}',
        'sweeprun.report: {"acc": 3}',
        '{"acc": 4, "step": 40}',
        '{"acc": 5}',
    ]
    assert events(lines) == [
        ("acc", 1.0, 0), ("acc", 2.0, 1), ("val_loss", 5.0, 0), ("acc", 3.0, 2),
        ("acc", 4.0, 40), ("acc", 5.0, 4),
    ]  # fmt: skip


def test_kv_for_declared_names_anywhere_on_the_line() -> None:
    got = events(["epoch 3 train_val_loss=9 val_loss=0.31 acc: 0.9 other=1"])
    assert got == [("val_loss", 0.31, 3), ("acc", 0.9, 3)]
    assert events(["val_loss = 1e-3, step: 12"]) == [("val_loss", 0.001, 12)]
    assert events(["val_loss=0.5 accuracy=0.7"]) == [("val_loss", 0.5, 0)]


def test_kv_ignores_undeclared_names_and_bad_numbers() -> None:
    assert events(["loss=1 val_loss=1.2.3 val_loss=abc acc:"]) == []


def test_declared_name_with_slash_and_dots() -> None:
    assert events(["val/loss=0.5 x"], names=("val/loss",)) == [("val/loss", 0.5, 0)]


def test_non_finite_values_are_events_flagged_not_finite() -> None:
    parser, text = MetricParser(["val_loss"]), MetricParser(["val_loss"])
    got = (
        parser.feed('{"val_loss": NaN}')
        + text.feed("val_loss=inf")
        + text.feed("val_loss=-Infinity")
    )
    assert [e.finite for e in got] == [False, False, False]
    assert math.isnan(got[0].value) and got[1].value == math.inf and got[2].value == -math.inf


def test_huge_numbers_become_infinite_not_errors() -> None:
    got = events(['{"acc": 1' + "0" * 400 + "}", '{"acc": 1e999}']) + events(["acc=" + "9" * 500])
    assert [v for _, v, _ in got] == [math.inf, math.inf, math.inf]


def test_nested_json_is_flattened_with_dots() -> None:
    assert events(['{"val": {"loss": 0.2, "deep": {"x": 1}}, "step": 2}']) == [
        ("val.loss", 0.2, 2), ("val.deep.x", 1.0, 2),
    ]  # fmt: skip


def test_truncated_json_falls_back_to_the_kv_scan() -> None:
    assert events(['{"val_loss": 0.3, "acc": 0.1, "ep']) == [("val_loss", 0.3, 0), ("acc", 0.1, 0)]


def test_garbage_and_unicode_never_raise() -> None:
    lines = ["", "{", "}", "{{{", "{]", '{"a": [1, 2', "\x00\xff", "é✓ val_loss", "[1, 2]",
             '{"ü": 1.5}', "null", "{" * 5000 + "}" * 5000, "\ud800", "acc:::=="]  # fmt: skip
    assert events(lines) == [("ü", 1.5, 0)]


def test_progress_bar_carriage_returns_and_report_prefix() -> None:
    got = events(
        ["50%|###  |\r100%|#####|\r" + '{"acc": 0.75}', 'sweeprun.report: {"acc": 0.5, "step": 4}']
    )
    assert got == [("acc", 0.75, 0), ("acc", 0.5, 4)]


def test_regex_format_with_named_groups() -> None:
    pattern = r"Epoch (?P<epoch>\d+) .*loss (?P<val_loss>[\d.]+)"
    got = events(["Epoch 4 done, loss 0.25", "nothing", '{"acc": 1}'], fmt="regex", pattern=pattern)
    assert got == [("val_loss", 0.25, 4), ("acc", 1.0, 0)]
    pair = r"(?P<name>\w+) -> (?P<value>\S+)"
    assert events(["acc -> 0.5 ; bad -> x"], fmt="regex", pattern=pair) == [("acc", 0.5, 0)]
    with pytest.raises(ValueError, match="pattern"):
        MetricParser(["a"], fmt="regex")


def test_feed_report_reads_json_objects_only() -> None:
    parser = MetricParser(["val_loss"])
    assert parser.feed_report("val_loss=3") == []
    assert parser.feed_report("[1]") == []
    assert parser.feed_report('{"val_loss": 0.5, "step": 3}\n') == [MetricEvent("val_loss", 0.5, 3)]


def test_feed_many_matches_feed_line_by_line() -> None:
    lines = []
    for i in range(300):
        lines += [f"noise {i} lr: 0.1", f'{{"val_loss": {i}.5, "step": {i}}}', f"acc={i} epoch {i}"]
    lines += ['{"broken', '{"acc": 1}, {"acc": 2}', "{}", '{"acc": "x"}']
    a = MetricParser(["val_loss", "acc"])
    b = MetricParser(["val_loss", "acc"])
    one = [e for line in lines for e in a.feed(line)]
    many = [e for k in range(0, len(lines), 97) for e in b.feed_many(lines[k : k + 97])]
    assert one == many and len(one) == 602  # + acc 1 and 2 from the kv scan of a non-object


def test_feed_many_with_more_than_three_names_and_no_names() -> None:
    names = ("a", "bb", "ccc", "dddd")
    parser = MetricParser(names)
    assert [e.name for e in parser.feed_many(["a=1 bb=2", "ccc=3", "x", "dddd: 4"])] == list(names)
    assert [e.name for e in MetricParser([]).feed_many(["a=1", '{"a": 1}'])] == ["a"]


def test_summary_best_last_count_history_and_non_finite_ignored() -> None:
    s = Summary()
    s.add_many([MetricEvent("l", v, i) for i, v in enumerate([3.0, 1.0, math.nan, 2.0, math.inf])])
    st_ = s.get("l")
    assert st_ is not None
    assert (st_.count, st_.last, st_.last_step, list(st_.history)) == (5, 2.0, 4, [3.0, 1.0, 2.0])
    assert s.objective("l", "minimize", "best") == 1.0
    assert s.objective("l", "maximize", "best") == 3.0
    assert s.objective("l", "minimize", "last") == 2.0
    assert s.objective("missing", "minimize") is None
    assert s.seen("l") and not s.seen("missing")


def test_summary_only_non_finite_has_no_objective() -> None:
    s = Summary()
    s.add(MetricEvent("l", math.nan, 0))
    assert s.objective("l", "minimize") is None and not s.seen("l")


# --- properties ---------------------------------------------------------------------------

garbage = st.text(max_size=40).map(lambda t: t.replace("\n", " "))
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(
    st.lists(garbage, max_size=30), st.lists(garbage, max_size=30), finite, st.integers(0, 10**6)
)
def test_a_json_metric_line_among_garbage_is_never_lost(
    before: list[str], after: list[str], value: float, step: int
) -> None:
    line = json.dumps({"val_loss": value, "step": step})
    for feed_many in (False, True):
        parser = MetricParser(["acc"])  # val_loss is not declared: only the JSON line counts
        lines = [*before, line, *after]
        got = parser.feed_many(lines) if feed_many else [e for x in lines for e in parser.feed(x)]
        assert MetricEvent("val_loss", value, step) in got


@given(st.lists(garbage, max_size=50))
def test_garbage_never_raises_and_feed_many_agrees(lines: list[str]) -> None:
    a, b = MetricParser(["val_loss", "acc"]), MetricParser(["val_loss", "acc"])
    one = [e for line in lines for e in a.feed(line)]
    assert b.feed_many(lines) == one


# --- fold: many lines at once ----------------------------------------------------------------


def test_fold_puts_every_value_in_the_summary_and_returns_what_can_be_reported() -> None:
    lines = [f'{{"loss": {i}.5, "step": {i}}}' for i in range(1000)] + ["noise", '{"loss": NaN}']
    s = Summary()
    got = MetricParser(["loss"]).fold(lines, s, keep="loss", first=3)
    assert got == [MetricEvent("loss", v + 0.5, v) for v in (0, 1, 2, 999)]  # NaN: not reported
    st_ = s.get("loss")
    assert st_ is not None and (st_.count, st_.last, st_.minimum, st_.maximum) == (
        1001, 999.5, 0.5, 999.5,
    )  # fmt: skip
    assert st_.last_step == 1000 and len(st_.history) == 1000  # NaN: counted, no history


def test_fold_of_a_mixed_batch_matches_feed() -> None:
    lines = []
    for i in range(200):
        lines += [f'{{"val_loss": {i}.5, "step": {i}, "tag": "x", "val": {{"acc": {i}}}}}',
                  f"epoch {i} val_loss={i}.25 acc: 0.{i}", "", f"noise {i}"]  # fmt: skip
    lines += ['{"val_loss": 1, "lr": [1, 2]}', '  {"acc": 3}', "val_loss=1.2.3"]
    a, b = MetricParser(["val_loss", "acc"]), MetricParser(["val_loss", "acc"])
    reference, folded = Summary(), Summary()
    reference.add_many(e for line in lines for e in a.feed(line))
    for k in range(0, len(lines), 150):
        b.fold(lines[k : k + 150], folded)
    assert set(folded.metrics) == {"val_loss", "acc", "val.acc"} == set(reference.metrics)
    for name, st_ in reference.metrics.items():
        got = folded.metrics[name]
        assert (got.count, got.last, got.minimum, got.maximum, got.last_step) == (
            st_.count, st_.last, st_.minimum, st_.maximum, st_.last_step,
        )  # fmt: skip
        assert list(got.history) == list(st_.history)
