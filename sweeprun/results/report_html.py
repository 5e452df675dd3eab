"""``sweeprun report``: one self-contained HTML file with Optuna's plots and a summary.

The plots show the parameter values the program received (``sweeprun.params``, nested names
joined with dots as everywhere else), not Optuna's encodings of them (a normal or beta
parameter's hidden quantile, a q_ parameter's unrounded ``x``, a weighted categorical's hidden
``u``, flat names with ``/``): :func:`plotting_study` copies the sweep's trials into an
in-memory study whose params are those values, with one distribution per parameter fitted to
the values seen (integers, reals on a log axis if the parameter is log-distributed, or the
choices of a categorical as text), and Optuna's visualizations draw that study.

plotly.js is inlined once in ``<head>`` (the file works offline, no CDN); each figure is then
embedded with ``include_plotlyjs=False``. A plot that does not apply is left out; a plot that
fails becomes a card with a note, never a failed report.
"""

from __future__ import annotations

import html
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sweeprun import __version__
from sweeprun.config.parameters import ParamSpec
from sweeprun.errors import SweepError
from sweeprun.results.rank import (
    baseline_improvement,
    best_trials,
    describe_improvement,
    state_counts,
)
from sweeprun.results.read import Loaded, Objective, program_values, row_of
from sweeprun.results.reproduce import reproduction
from sweeprun.results.status import cap_of, counted
from sweeprun.results.table import cell
from sweeprun.run.display import fmt_params
from sweeprun.space.grid import FLAT_SEP, flatten
from sweeprun.storage import records

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

FAST_IMPORTANCE_ABOVE = 1000  # complete trials: use PED-ANOVA instead of fANOVA beyond this


@dataclass
class Plot:
    title: str
    html: str | None = None
    note: str | None = None
    wide: bool = False


def require_plotly() -> None:
    try:
        import plotly  # noqa: F401
    except ImportError:
        raise SweepError(
            "the HTML report needs plotly, an optional extra that is not installed\n"
            "    fix: pip install 'sweeprun[plots]'"
        ) from None


def _fig_html(fig: Any) -> str:
    fig.update_layout(
        template="plotly_white",
        title_text="",  # the card has the heading
        margin={"l": 60, "r": 30, "t": 30, "b": 50},
        height=max(int(fig.layout.height or 0), 420),
        font={"family": "Inter, system-ui, sans-serif", "size": 12},
    )
    out: str = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        config={"displaylogo": False, "responsive": True},
    )
    return out


def _try(title: str, make: Callable[[], Any], wide: bool = False) -> Plot:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Plot(title, html=_fig_html(make()), wide=wide)
    except Exception as exc:  # one broken plot must not break the report
        return Plot(title, note=f"not available: {type(exc).__name__}: {exc}", wide=wide)


def _importance_ranking(
    study: optuna.Study, n_complete: int, target: Callable[[Any], float] | None
) -> tuple[list[str], Any]:
    import optuna

    evaluator: Any = None
    if n_complete > FAST_IMPORTANCE_ABOVE:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = optuna.importance.get_param_importances(study, evaluator=evaluator, target=target)
    return list(imp), evaluator


def _history(study: optuna.Study, index: int, name: str) -> Callable[[], Any]:
    import optuna.visualization as vis

    def target(t: Any) -> float:
        return float(t.values[index])

    return lambda: vis.plot_optimization_history(study, target=target, target_name=name)


# ---- the program's values as an Optuna study ----------------------------------------------


def _label(v: Any) -> str:
    """A categorical choice as the axis shows it."""
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)


def _real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _distribution(
    seen: list[Any], spec: ParamSpec | None
) -> tuple[BaseDistribution, Callable[[Any], Any]]:
    """One distribution for the values a parameter took, and how a value becomes its param."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    listed = spec is not None and spec.dist.startswith("categorical")
    if not listed and seen and all(_real(v) for v in seen):
        log = spec is not None and "log" in spec.dist
        lo, hi = min(seen), max(seen)
        if all(isinstance(v, int) for v in seen):
            return IntDistribution(int(lo), int(hi), log=log and lo >= 1), int
        return FloatDistribution(float(lo), float(hi), log=log and lo > 0), float
    order = [_label(v) for v in spec.values or []] if spec is not None else []
    choices = list(dict.fromkeys([*order, *(_label(v) for v in seen)]))
    return CategoricalDistribution(choices), _label


def _searched(loaded: Loaded) -> tuple[dict[str, ParamSpec], tuple[str, ...]]:
    """The sweep's leaf parameters by display name, and the display names of its constants."""
    try:
        specs = flatten(loaded.config.parameters)
    except SweepError:
        return {}, ()
    named = {name.replace(FLAT_SEP, records.DISPLAY_SEP): spec for name, spec in specs.items()}
    return named, tuple(n for n, spec in named.items() if spec.dist == "constant")


def plotting_study(loaded: Loaded) -> optuna.Study:
    """The sweep's trials in an in-memory study whose params are the program's values (display
    names), its constants left out."""
    import optuna
    from optuna.trial import FrozenTrial

    specs, constants = _searched(loaded)
    prefixes = tuple(c + records.DISPLAY_SEP for c in constants)
    space = loaded.space
    per_trial: list[dict[str, Any]] = []
    for t in loaded.trials:
        flat = records.flatten(program_values(t, space))
        per_trial.append(
            {k: v for k, v in flat.items() if k not in constants and not k.startswith(prefixes)}
        )
    seen: dict[str, list[Any]] = {}
    for flat in per_trial:
        for k, v in flat.items():
            seen.setdefault(k, []).append(v)
    dists = {k: _distribution(vs, specs.get(k)) for k, vs in seen.items()}
    copies = []
    for t, flat in zip(loaded.trials, per_trial, strict=True):
        params = {k: dists[k][1](v) for k, v in flat.items()}
        copies.append(
            FrozenTrial(
                number=t.number,
                state=t.state,
                value=None,
                values=t.values,
                datetime_start=t.datetime_start,
                datetime_complete=t.datetime_complete,
                params=params,
                distributions={k: dists[k][0] for k in params},
                user_attrs={},
                system_attrs={},
                intermediate_values=dict(t.intermediate_values),
                trial_id=t.number,
            )
        )
    directions = loaded.sweep.study.directions
    study = optuna.create_study(
        storage=optuna.storages.InMemoryStorage(), study_name=loaded.name, directions=directions
    )
    study.add_trials(copies)
    return study


def build_plots(loaded: Loaded) -> list[Plot]:
    import optuna.visualization as vis

    study = plotting_study(loaded)
    trials = study.get_trials(deepcopy=False)
    objectives = loaded.objectives
    multi = len(objectives) > 1
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    params = sorted({p for t in complete for p in t.params})
    first = objectives[0].name if objectives else "value"
    target: Callable[[Any], float] | None = (lambda t: t.values[0]) if multi else None
    tkw: dict[str, Any] = {"target": target, "target_name": first}
    plots: list[Plot] = []

    if multi:
        names = [o.name for o in objectives]
        plots.append(
            _try(
                "Pareto front", lambda: vis.plot_pareto_front(study, target_names=names), wide=True
            )
        )
        for i, o in enumerate(objectives):
            plots.append(_try(f"Optimization history: {o.name}", _history(study, i, o.name)))
    else:
        plots.append(
            _try(
                "Optimization history",
                lambda: vis.plot_optimization_history(study, target_name=first),
            )
        )
    if any(t.intermediate_values for t in trials):
        plots.append(
            _try(
                "Learning curves (pruned trials included)",
                lambda: vis.plot_intermediate_values(study),
            )
        )
    if params:
        plots.append(
            _try(
                "Parallel coordinates",
                lambda: vis.plot_parallel_coordinate(study, **tkw),
                wide=True,
            )
        )
    ranking: list[str] = params
    if len(complete) >= 2 and params:
        try:
            ranking, evaluator = _importance_ranking(study, len(complete), target)
            plots.append(
                _try(
                    "Parameter importances",
                    lambda: vis.plot_param_importances(study, evaluator=evaluator, **tkw),
                )
            )
        except Exception as exc:
            plots.append(Plot("Parameter importances", note=f"not available: {exc}"))
    else:
        plots.append(
            Plot(
                "Parameter importances",
                note="needs at least 2 complete trials and 1 searched parameter",
            )
        )
    top2 = [p for p in ranking if p in params][:2]
    if len(top2) == 2:
        plots.append(
            _try(
                f"Contour: {top2[0]} × {top2[1]}",
                lambda: vis.plot_contour(study, params=top2, **tkw),
            )
        )
    if params:
        plots.append(_try("Slice", lambda: vis.plot_slice(study, **tkw), wide=True))
    plots.append(_try("Timeline", lambda: vis.plot_timeline(study), wide=True))
    return plots


# ---- the page --------------------------------------------------------------------------------

CSS = """
:root { --bg:#f4f6fb; --card:#fff; --ink:#1d2433; --muted:#667085; --accent:#3b5bdb;
  --ok:#2b8a3e; --warn:#e67700; --bad:#c92a2a; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font: 14px/1.5 Inter, system-ui, -apple-system, "Segoe UI", sans-serif; }
header { background: linear-gradient(120deg,#1f2a4d,#3b5bdb); color:#fff; padding:28px 40px; }
header h1 { margin:0 0 4px; font-size:26px; } header p { margin:0; opacity:.85; }
main { max-width:1400px; margin:0 auto; padding:24px 32px 48px; }
.stats { display:grid; grid-template-columns:repeat(auto-fit,minmax(150px,1fr)); gap:14px; }
.stat { background:var(--card); border-radius:10px; padding:14px 18px;
  box-shadow:0 1px 3px rgba(16,24,40,.08); }
.stat .n { font-size:24px; font-weight:650; } .stat .l { color:var(--muted); font-size:12px;
  text-transform:uppercase; letter-spacing:.04em; }
.n.ok { color:var(--ok); } .n.warn { color:var(--warn); } .n.bad { color:var(--bad); }
.grid { display:grid; grid-template-columns:repeat(2,minmax(0,1fr)); gap:18px; margin-top:18px; }
.card { background:var(--card); border-radius:12px; padding:18px 20px;
  box-shadow:0 1px 3px rgba(16,24,40,.08); min-width:0; }
.card.wide { grid-column:1 / -1; }
.card h2 { margin:0 0 10px; font-size:16px; }
.note { color:var(--muted); font-style:italic; padding:24px 0; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid #eaecf0; }
th { color:var(--muted); font-weight:600; background:#f9fafb; }
td.num { font-variant-numeric: tabular-nums; }
code, pre { font-family: "JetBrains Mono", ui-monospace, Menlo, monospace; font-size:12px; }
pre { background:#0f172a; color:#e2e8f0; padding:12px 14px; border-radius:8px;
  white-space:pre-wrap; word-break:break-all; margin:6px 0 0; }
.kv td:first-child { color:var(--muted); width:160px; }
footer { color:var(--muted); text-align:center; font-size:12px; padding:20px; }
@media (max-width: 900px) { .grid { grid-template-columns:1fr; } }
"""


def _e(v: Any) -> str:
    return html.escape(v if isinstance(v, str) else cell(v))


def _stat(label: str, value: Any, cls: str = "") -> str:
    return (
        f'<div class="stat"><div class="n {cls}">{_e(value)}</div>'
        f'<div class="l">{label}</div></div>'
    )


def _summary(loaded: Loaded) -> str:
    cfg = loaded.sweep.config
    objectives = loaded.objectives
    c = state_counts(loaded.trials)
    cap = cap_of(cfg)
    stats = "".join(
        [
            _stat("trials", len(loaded.trials)),
            _stat("complete", c["COMPLETE"], "ok"),
            _stat("pruned", c["PRUNED"], "warn"),
            _stat("failed", c["FAIL"], "bad" if c["FAIL"] else ""),
            _stat("running", c["RUNNING"]),
            _stat(
                "budget used", f"{counted(loaded.trials)}/{cap}" if cap else counted(loaded.trials)
            ),
        ]
    )
    metrics = ", ".join(f"{o.name} ({o.goal})" for o in objectives) or "-"
    info = [
        ("storage", loaded.sweep.storage.display),
        ("method", cfg.method),
        ("metric", metrics),
        ("parameters", ", ".join(sorted(cfg.parameters))),
    ]
    if cfg.description:
        info.insert(0, ("description", cfg.description))
    kv = "".join(f"<tr><td>{k}</td><td>{_e(v)}</td></tr>" for k, v in info)
    best_html = _best_html(loaded, objectives, fmt_params)
    return (
        f'<div class="stats">{stats}</div><div class="grid">'
        f'<div class="card"><h2>Sweep</h2><table class="kv">{kv}</table></div>'
        f'<div class="card"><h2>Best trial</h2>{best_html}</div>'
        f'<div class="card wide"><h2>Top trials</h2>{_top_table(loaded)}</div></div>'
    )


def _best_html(loaded: Loaded, objectives: list[Objective], fmt_params: Any) -> str:
    ranks = best_trials(loaded.trials, objectives, 1)
    if not ranks:
        return '<p class="note">no complete trial yet</p>'
    parts = []
    for t in ranks[0][:5]:
        r = row_of(t, space=loaded.space)
        vals = ", ".join(f"{o.name} = {_e(r.value(i))}" for i, o in enumerate(objectives))
        again = reproduction(loaded.config, r.params, r.argv, r.log_dir) if r.argv else None
        cmd = again.command() if again else ""
        parts.append(
            f"<p><b>trial {r.number}</b>: {vals}<br><code>{_e(fmt_params(r.params))}</code></p>"
            + (f"<pre>{_e(cmd)}</pre>" if cmd else "")
        )
    if len(ranks[0]) > 5:
        parts.append(f'<p class="note">… {len(ranks[0]) - 5} more on the Pareto front</p>')
    imp = baseline_improvement(loaded.trials, objectives)
    if imp:
        goals = {o.name: o.goal for o in objectives}
        items = "".join(
            f"<li>{_e(describe_improvement(m, d, goals[m]))}</li>" for m, d in imp.items()
        )
        parts.append(f"<p><b>Improvement over the baseline</b></p><ul>{items}</ul>")
    return "".join(parts)


def _top_table(loaded: Loaded, n: int = 10) -> str:
    objectives = loaded.objectives
    ranked = [t for rank in best_trials(loaded.trials, objectives, n) for t in rank][:n]
    if not ranked:
        return '<p class="note">no complete trial yet</p>'
    rows = [row_of(t, space=loaded.space) for t in ranked]
    params = sorted({k for r in rows for k in r.flat})
    head = "".join(
        f"<th>{_e(h)}</th>"
        for h in ["trial", *(o.name for o in objectives), *params, "duration", "steps"]
    )
    body = "".join(
        "<tr>"
        + f"<td>{r.number}</td>"
        + "".join(f'<td class="num">{_e(r.value(i))}</td>' for i in range(len(objectives)))
        + "".join(f'<td class="num">{_e(r.flat.get(p))}</td>' for p in params)
        + f'<td class="num">{_e(r.duration)}s</td><td class="num">{_e(r.steps)}</td></tr>'
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render(loaded: Loaded, plots: list[Plot], plotly_js: str) -> str:
    cards = []
    for p in plots:
        inner = p.html if p.html else f'<p class="note">{_e(p.note or "")}</p>'
        cls = "card wide" if p.wide else "card"
        cards.append(f'<section class="{cls}"><h2>{_e(p.title)}</h2>{inner}</section>')
    when = datetime.now().strftime("%Y-%m-%d %H:%M")
    title = f"sweeprun report: {loaded.name}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style>"
        f'<script type="text/javascript">{plotly_js}</script></head><body>'
        f"<header><h1>{_e(loaded.name)}</h1><p>sweeprun report · {when}</p></header><main>"
        f'{_summary(loaded)}<div class="grid">{"".join(cards)}</div></main>'
        f"<footer>generated by sweeprun {__version__} with Optuna's visualizations</footer>"
        "</body></html>\n"
    )


def report_html(loaded: Loaded) -> tuple[str, list[Plot]]:
    """The whole page and the plots in it."""
    require_plotly()
    from plotly.offline import get_plotlyjs

    plots = build_plots(loaded)
    return render(loaded, plots, get_plotlyjs()), plots
