"""``sweeprun smoke SWEEP.yaml``: run a small covering set of configurations, for CI.

The configurations come from :func:`sweeprun.smoke.plan.plan_smoke`. They run as an ordinary
sweep (same launcher, same outcome rules) with: method random (only the queued
configurations run), no early stopping, no target, no trial or time budget besides the
number of configurations, no retries and no consecutive-failure stop; each trial gets
``smoke.args`` appended to its argv, ``smoke.env`` plus ``SWEEPRUN_SMOKE=1`` in its
environment and the smoke timeout. The trials are recorded in a throwaway journal in a
temporary directory unless ``--storage`` is given; trial logs go where ``start`` puts them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeprun.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_POLICY, SweepError
from sweeprun.smoke.junit import (
    FAILED,
    NOT_RUN,
    PASSED,
    CaseResult,
    append_step_summary,
    junit_xml,
    markdown_summary,
    params_text,
)

if TYPE_CHECKING:
    import optuna

    from sweeprun.config.models import SweepConfig
    from sweeprun.smoke.plan import SmokePlan

DEFAULT_JOBS = 2
TAIL_LINES = 20


def _fmt_seconds(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def smoke_timeout(cfg: SweepConfig) -> tuple[float, str]:
    """The per-trial timeout of a smoke run and where it came from."""
    from sweeprun.smoke.plan import DEFAULT_TIMEOUT

    if cfg.smoke.timeout is not None:
        return cfg.smoke.timeout, "smoke.timeout"
    if cfg.trial.timeout is not None and cfg.trial.timeout < DEFAULT_TIMEOUT:
        return cfg.trial.timeout, "trial.timeout"
    return DEFAULT_TIMEOUT, "default; set smoke.timeout to change it"


def smoke_config(cfg: SweepConfig) -> SweepConfig:
    """``cfg`` as a smoke run uses it: every queued configuration runs, nothing is pruned."""
    from sweeprun.config.models import Budget, Failures

    metric = cfg.metric.model_copy(update={"target": None}) if cfg.metric else None
    metrics = [m.model_copy(update={"target": None}) for m in cfg.metrics] if cfg.metrics else None
    return cfg.model_copy(
        update={
            "method": "random",
            "sampler": None,
            "early_terminate": None,
            "metric": metric,
            "metrics": metrics,
            "run_cap": None,
            "budget": Budget(),
            "baseline": [],
            "failures": Failures(max_consecutive=None),
            "trial": cfg.trial.model_copy(update={"retries": 0}),
        }
    )


def run(
    sweep: Path,
    storage: str | None = None,
    junit: Path | None = None,
    max_trials: int | None = None,
    jobs: int | None = None,
    json_out: bool = False,
    strict: bool = False,
) -> int:
    from sweeprun.commands.start import any_point, check_name, preview
    from sweeprun.commands.validate import lenient_check
    from sweeprun.config.load import load_config
    from sweeprun.smoke.plan import DEFAULT_MAX_TRIALS, plan_smoke

    if max_trials is not None and max_trials < 1:
        raise SweepError("--max-trials must be at least 1")
    if jobs is not None and jobs < 1:
        raise SweepError("--jobs must be at least 1")
    cfg = load_config(sweep)
    for lenient in lenient_check(sweep, cfg, strict=strict):  # what validate refuses / warns
        print(lenient.render(), file=sys.stderr)
    if not json_out:
        for note in cfg.notes:
            print(note, file=sys.stderr)
    limit = max_trials or cfg.smoke.max_trials or DEFAULT_MAX_TRIALS
    plan = plan_smoke(cfg.parameters, cfg.baseline, limit)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = check_name(f"{cfg.name or Path(sweep).stem}-smoke-{stamp}")
    warnings = plan_warnings(plan, max_trials is not None)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    scfg = smoke_config(cfg)
    preview(scfg, name, [any_point(scfg)])  # a bad command template fails here, not later
    tmp = None if storage else tempfile.mkdtemp(prefix="sweeprun-smoke-")
    try:
        return _run(scfg, cfg, plan, name, storage, tmp, junit, jobs, json_out, warnings)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def plan_warnings(plan: SmokePlan, from_flag: bool) -> list[str]:
    if not plan.truncated:
        return []
    where = "--max-trials" if from_flag else "smoke.max_trials (or --max-trials)"
    return [
        f"covering every parameter's ends and every categorical value needs {plan.needed} "
        f"configurations, more than the limit of {plan.limit}: running the {plan.limit} most "
        f"informative (extremes first); raise {where} to {plan.needed} to cover them all"
    ]


def _run(
    scfg: SweepConfig,
    cfg: SweepConfig,
    plan: SmokePlan,
    name: str,
    storage: str | None,
    tmp: str | None,
    junit: Path | None,
    jobs: int | None,
    json_out: bool,
    warnings: list[str],
) -> int:
    from sweeprun.run.agent import run_agent
    from sweeprun.run.display import make_display
    from sweeprun.smoke.plan import describe_axes
    from sweeprun.space.distributions import SearchSpace
    from sweeprun.storage.urls import classify
    from sweeprun.sweep import create_or_resume

    spec = classify(storage) if storage else classify(str(Path(tmp or ".") / "smoke.log"))
    space = SearchSpace.from_params(cfg.parameters)
    encoded = [space.from_values(case.values) for case in plan.cases]
    sw = create_or_resume(spec, name, scfg)
    for i, (case, params) in enumerate(zip(plan.cases, encoded, strict=True)):
        sw.study.enqueue_trial(
            params,
            user_attrs={"sweeprun.smoke_case": i, "sweeprun.smoke_kind": case.kind},
            skip_if_exists=False,
        )
    timeout, timeout_from = smoke_timeout(cfg)
    display = make_display(json_out, False, len(plan.cases))
    cover = "every parameter's low and high ends and every categorical value"
    if plan.pairwise and len(plan.axes) > 1:
        cover += ", and every pair of those across two parameters"
    elif plan.pairwise_needed is not None and len(plan.axes) > 1:
        cover += f" (every pair would need {plan.pairwise_needed})"
    if plan.truncated:
        cover = f"the first {plan.limit} of {plan.needed} needed to cover {cover}"
    display.note(f"smoke: {len(plan.cases)} configurations: {cover}")
    for line in describe_axes(plan.axes):
        display.note(f"  {line}")
    extra_env = {**cfg.smoke.env, "SWEEPRUN_SMOKE": "1"}
    args = " ".join(cfg.smoke.args)
    display.note(
        f"per-trial timeout {_fmt_seconds(timeout)} ({timeout_from}); env SWEEPRUN_SMOKE=1"
        + (f"; extra args: {args}" if args else "")
    )
    started = time.monotonic()
    code = run_agent(
        sw,
        display,
        jobs=jobs or DEFAULT_JOBS,
        cap=len(plan.cases),
        extra_args=list(cfg.smoke.args),
        extra_env=extra_env,
        trial_timeout=timeout,
        track=False,  # a smoke run is a throwaway check, not results
    )
    elapsed = time.monotonic() - started
    cases = collect_cases(sw.study, plan)
    failed = [c for c in cases if c.failed]
    notes = [f"warning: {w}" for w in warnings]
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        props = {"sweeprun.sweep": name, "sweeprun.needed": str(plan.needed)}
        junit.write_text(
            junit_xml(name, cases, elapsed=elapsed, timestamp=_iso_now(), properties=props),
            encoding="utf-8",
        )
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        append_step_summary(summary_path, markdown_summary(name, cases, elapsed=elapsed,
                                                           notes=notes))  # fmt: skip
    result = EXIT_POLICY if failed else EXIT_OK
    if code == EXIT_INTERRUPTED:
        result = EXIT_INTERRUPTED
    if json_out:
        print(json.dumps(_json_doc(name, plan, cases, warnings, result, junit), default=str))
    else:
        _print_result(cases, failed, warnings)
    return result


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def collect_cases(study: optuna.Study, plan: SmokePlan) -> list[CaseResult]:
    """One result per planned configuration, from the last trial that ran it."""
    from optuna.trial import TrialState

    from sweeprun.run.request import find_trial_dir
    from sweeprun.storage.urls import sweeprun_dir

    latest: dict[int, optuna.trial.FrozenTrial] = {}
    for t in study.get_trials(deepcopy=False):
        idx = t.user_attrs.get("sweeprun.smoke_case")
        if isinstance(idx, int):
            latest[idx] = t
    out = []
    for i, case in enumerate(plan.cases):
        found = latest.get(i)
        if found is None or found.state in (TrialState.WAITING, TrialState.RUNNING):
            out.append(CaseResult(i, case.kind, case.values, NOT_RUN, reason="never ran"))
            continue
        t = found
        attrs = t.user_attrs
        ok = t.state == TrialState.COMPLETE
        reason = None if ok else str(attrs.get("sweeprun.reason") or t.state.name.lower())
        tail = list(attrs.get("sweeprun.tail") or [])
        log_dir = attrs.get("sweeprun.log_dir")
        if not tail:
            tdir = find_trial_dir(log_dir, sweeprun_dir(), study.study_name, t.number)
            tail = _log_tail(tdir) if tdir else []
        out.append(
            CaseResult(
                index=i,
                kind=case.kind,
                params=attrs.get("sweeprun.params") or case.values,
                status=PASSED if ok else FAILED,
                trial=t.number,
                reason=reason,
                value=list(t.values) if ok and t.values else None,
                duration=float(attrs.get("sweeprun.duration") or 0.0),
                tail=tail,
                log_dir=log_dir,
            )
        )
    return out


def _log_tail(trial_dir: Path) -> list[str]:
    lines: list[str] = []
    for stream in ("stdout.log", "stderr.log"):
        try:
            with open(trial_dir / stream, encoding="utf-8", errors="replace") as fh:
                lines.extend(fh.read().splitlines()[-TAIL_LINES:])
        except OSError:
            continue
    return lines[-TAIL_LINES:]


def _print_result(cases: Sequence[CaseResult], failed: Sequence[CaseResult],
                  warnings: Sequence[str]) -> None:  # fmt: skip
    for c in failed:
        print(f"FAILED case {c.index}" + (f" (trial {c.trial})" if c.trial is not None else "")
              + f": {params_text(c.params)}")  # fmt: skip
        print(f"  reason: {c.reason}")
        if c.tail:
            print("  last output:")
            for line in c.tail:
                print(f"    | {line}")
        if c.log_dir:
            print(f"  logs: {c.log_dir}")
    verdict = "FAILED" if failed else "passed"
    print(f"smoke {verdict}: {len(cases) - len(failed)} of {len(cases)} configurations passed"
          + (f", {len(failed)} failed" if failed else ""))  # fmt: skip
    for w in warnings:
        print(f"warning: {w}")


def _json_doc(name: str, plan: SmokePlan, cases: Sequence[CaseResult], warnings: list[str],
              code: int, junit: Path | None) -> dict[str, Any]:  # fmt: skip
    return {
        "event": "smoke",
        "sweep": name,
        "configurations": len(cases),
        "needed": plan.needed,
        "pairwise": plan.pairwise,
        "pairwise_needed": plan.pairwise_needed,
        "passed": sum(1 for c in cases if not c.failed),
        "failed": sum(1 for c in cases if c.failed),
        "warnings": warnings,
        "junit": str(junit) if junit else None,
        "exit_code": code,
        "cases": [
            {
                "case": c.index, "kind": c.kind, "trial": c.trial, "status": c.status,
                "params": c.params, "value": c.value, "reason": c.reason,
                "duration": c.duration, "tail": c.tail if c.failed else [],
            }
            for c in cases
        ],
    }  # fmt: skip
