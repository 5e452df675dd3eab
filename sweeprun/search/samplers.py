"""``method`` → Optuna sampler (``early_terminate`` → pruner is :mod:`sweeprun.search.pruners`).

The only place that names Optuna's samplers. ``bayes`` is TPE with multivariate
modelling and the constant liar set explicitly (so parallel slots do not propose the same point
and results do not shift with Optuna's defaults); W&B's ``hyperband`` is
:class:`sweeprun.search.hyperband.WandbHyperbandPruner`, which reproduces W&B's band rule.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from sweeprun.errors import SweepError, did_you_mean
from sweeprun.space.grid import flatten

if TYPE_CHECKING:
    import optuna

    from sweeprun.config.models import SweepConfig

#: method → (sampler class path, one-line reason shown in the summary)
SAMPLERS: dict[str, tuple[str, str]] = {
    "random": ("optuna.samplers.RandomSampler", "uniform random sampling"),
    "grid": ("optuna.samplers.RandomSampler", "grid points are handed out in W&B order"),
    "bayes": ("optuna.samplers.TPESampler", "multivariate TPE with constant liar"),
    "tpe": ("optuna.samplers.TPESampler", "TPE (Optuna's defaults, constant liar on)"),
    "gp": ("optuna.samplers.GPSampler", "Gaussian-process Bayesian optimisation"),
    "cmaes": ("optuna.samplers.CmaEsSampler", "CMA-ES"),
    "qmc": ("optuna.samplers.QMCSampler", "scrambled Sobol quasi-Monte Carlo"),
    "nsga2": ("optuna.samplers.NSGAIISampler", "NSGA-II (multi-objective)"),
    "bruteforce": ("optuna.samplers.BruteForceSampler", "every point once"),
}


def class_at(path: str) -> Any:
    """The class at a dotted path, imported now (samplers and pruners load lazily)."""
    import importlib

    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


#: Python modules each method needs beyond the core dependencies, and the extra that has them
NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "gp": (("torch", "scipy"), "'sweeprun[gp]'"),
    "cmaes": (("cmaes",), "cmaes"),
    "qmc": (("scipy",), "scipy"),
}
GP_SLOW_TRIALS = 300


def check_installed(method: str) -> None:
    """Refuse (exit 2) a method whose optional packages are missing, before anything runs."""
    import importlib.util

    modules, pip_spec = NEEDS.get(method, ((), ""))
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise SweepError(
            f"method '{method}' needs {', '.join(missing)}, which is not installed\n"
            f"    fix: pip install {pip_spec} (or choose another method)"
        )


def choose_auto(cfg: SweepConfig) -> tuple[str, str]:
    """``method: auto`` → (method, why). Decided from the config alone, so that every agent,
    whatever it has installed, makes the same choice.

    Rules (the practitioner's): several objectives → NSGA-II for large or open budgets, TPE for
    small ones; fewer than 20 trials → random (model-based samplers spend ~10 trials on random
    start-up and need many more to win); many trials (≥ 500) over numeric parameters only →
    CMA-ES; otherwise multivariate TPE with the constant liar (categorical and numeric
    parameters alike, safe in parallel).
    """
    cap = cfg.trial_cap()
    if cfg.metrics:
        if cap is None or cap >= 100:
            return "nsga2", "several objectives and a large or open budget: NSGA-II"
        return "tpe", f"several objectives and a budget of {cap} trials: TPE"
    if cap is not None and cap < 20:
        return "random", f"a budget of {cap} trials: too few for a model to beat random search"
    flat = flatten(cfg.parameters)
    searched = [p for p in flat.values() if p.dist != "constant"]
    numeric = all(p.dist not in ("categorical", "categorical_w_probabilities") for p in searched)
    if numeric and cap is not None and cap >= 500 and len(searched) >= 2:
        return "cmaes", f"{cap} trials over {len(searched)} numeric parameters: CMA-ES"
    kinds = "numeric" if numeric else "mixed categorical and numeric"
    return "bayes", f"{kinds} parameters and a budget of {cap or 'open'}: multivariate TPE"


def sampler_kwargs(cfg: SweepConfig, salt: int | None = None) -> dict[str, Any]:
    """The explicit keyword arguments of the sampler for ``cfg`` (user options last)."""
    method = resolved_method(cfg)
    seed = cfg.seed
    if seed is not None and salt is not None:
        seed = (seed + salt * 1_000_003) % 2**32
    kwargs: dict[str, Any] = {"seed": seed}
    if method == "bayes":
        kwargs.update(multivariate=True, constant_liar=True, n_startup_trials=10)
    elif method == "tpe":
        kwargs.update(constant_liar=True)
    kwargs.update(cfg.sampler or {})
    return kwargs


def resolved_method(cfg: SweepConfig) -> str:
    return choose_auto(cfg)[0] if cfg.method == "auto" else cfg.method


def make_sampler(cfg: SweepConfig, salt: int | None = None) -> optuna.samplers.BaseSampler:
    method = resolved_method(cfg)
    check_installed(method)
    path, _ = SAMPLERS[method]
    cls = class_at(path)
    kwargs = sampler_kwargs(cfg, salt)
    accepted = [
        n for n, p in inspect.signature(cls.__init__).parameters.items()
        if n != "self" and p.kind is not p.VAR_KEYWORD
    ]  # fmt: skip
    for key in cfg.sampler or {}:
        if key not in accepted:
            hint = did_you_mean(key, accepted)
            raise SweepError(
                f"sampler.{key}: not an option of {cls.__name__} (method '{method}')\n"
                f"    fix: {hint or 'use one of: ' + ', '.join(sorted(accepted))}"
            )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise SweepError(f"sampler: invalid option for method '{method}': {exc}") from None
