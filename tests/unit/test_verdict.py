"""The line of a failed program's stderr that says why (run/verdict.py ``stderr_line``), and
the verdicts that carry it."""

from __future__ import annotations

import pytest

from sweeprun.metrics.summary import Summary
from sweeprun.run.process.child import ChildOutcome
from sweeprun.run.verdict import FAIL, INTERRUPTED, LINE_WIDTH, classify, stderr_line

TRACEBACK = [
    "wandb: Tracking run with wandb version 0.31.0",
    "Traceback (most recent call last):",
    '  File "/w/train.py", line 9, in <module>',
    "    main()",
    '  File "/w/train.py", line 5, in main',
    '    raise UsageError("No API key configured")',
    "    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    "wandb.errors.UsageError: No API key configured",
    "wandb: You can sync this run to the cloud by running:",
    "wandb: wandb sync /w/wandb/offline-run-1",
]


def test_a_traceback_gives_its_exception_line_even_with_lines_after_it() -> None:
    assert stderr_line(TRACEBACK) == "wandb.errors.UsageError: No API key configured"


def test_the_last_of_chained_tracebacks_and_one_whose_header_scrolled_away() -> None:
    chained = [
        *TRACEBACK[1:8],
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "/w/train.py", line 11, in <module>',
        "    sys.exit(fail())",
        "RuntimeError: giving up",
    ]
    assert stderr_line(chained) == "RuntimeError: giving up"
    assert stderr_line(TRACEBACK[3:]) == "wandb.errors.UsageError: No API key configured"
    hydra = [
        "Error executing job with overrides: ['lr=0.1']",
        *TRACEBACK[1:8],
        "",
        "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.",
    ]
    assert stderr_line(hydra) == "wandb.errors.UsageError: No API key configured"


def test_without_a_traceback_the_last_non_empty_line_cleaned() -> None:
    argparse_error = ["usage: train.py [-h] [--lr LR]", "train.py: error: unrecognized: --x=1"]
    assert stderr_line(argparse_error) == "train.py: error: unrecognized: --x=1"
    assert stderr_line(["CUDA error: out of memory", "", "   "]) == "CUDA error: out of memory"
    assert stderr_line(["\x1b[31mERROR\x1b[0m disk full "]) == "ERROR disk full"
    assert stderr_line([" 10%|#    |\r 20%|##   |\r 30%|###  |"]) == "30%|###  |"
    assert stderr_line([]) is None and stderr_line(["", " "]) is None


def test_a_long_line_is_cut_to_the_bound() -> None:
    line = stderr_line(["ValueError: " + "x" * 1000])
    assert line is not None and len(line) == LINE_WIDTH and line.endswith("…")
    assert line.startswith("ValueError: xxx")


def outcome(**kw: object) -> ChildOutcome:
    base: dict[str, object] = dict(
        returncode=1, signal=None, timed_out=False, stopped=None, duration=1.0, pid=10,
        tail=("x",), error=None, stderr_tail=("boom", "ValueError: bad lr"),
    )  # fmt: skip
    base.update(kw)
    return ChildOutcome(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({}, "exit code 1"),
        ({"returncode": None, "signal": 9}, "killed by SIGKILL"),
        ({"timed_out": True, "stopped": "timeout"}, "timeout after 1.0s"),
    ],
)
def test_a_failure_of_the_program_carries_its_stderr_line(
    kw: dict[str, object], reason: str
) -> None:
    v = classify(outcome(**kw), Summary(), [])
    assert (v.state, v.reason, v.stderr_line) == (FAIL, reason, "ValueError: bad lr")
    assert v.text == f"{reason}; stderr: ValueError: bad lr"


def test_interrupted_unstarted_and_quiet_trials_carry_none() -> None:
    v = classify(outcome(stopped=INTERRUPTED), Summary(), [])
    assert (v.reason, v.stderr_line, v.text) == (INTERRUPTED, None, INTERRUPTED)
    v = classify(outcome(error="program not found: 'x'", returncode=None), Summary(), [])
    assert v.stderr_line is None and v.text == "program not found: 'x'"
    v = classify(outcome(stderr_tail=()), Summary(), [])
    assert (v.reason, v.stderr_line, v.text) == ("exit code 1", None, "exit code 1")
    ok = classify(outcome(returncode=0), Summary(), [])
    assert (ok.state, ok.stderr_line) == ("COMPLETE", None)
