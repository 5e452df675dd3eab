"""``method`` → Optuna sampler and ``early_terminate`` → Optuna pruner.

The only place that names Optuna's samplers and pruners. ``bayes`` is TPE with multivariate
modelling and the constant liar set explicitly (so parallel slots do not propose the same point
and results do not shift with Optuna's defaults); W&B's ``hyperband`` is
:class:`sweeprun.hyperband.WandbHyperbandPruner`, which reproduces W&B's band rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweeprun.errors import SweepError

if TYPE_CHECKING:
    import optuna

    from sweeprun.config import EarlyTerminate, SweepConfig

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


def _cls(path: str) -> Any:
    import importlib

    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def sampler_kwargs(cfg: SweepConfig) -> dict[str, Any]:
    """The explicit keyword arguments of the sampler for ``cfg`` (user options last)."""
    method = resolved_method(cfg)
    kwargs: dict[str, Any] = {"seed": cfg.seed}
    if method == "bayes":
        kwargs.update(multivariate=True, constant_liar=True, n_startup_trials=10)
    elif method == "tpe":
        kwargs.update(constant_liar=True)
    kwargs.update(cfg.sampler or {})
    return kwargs


def resolved_method(cfg: SweepConfig) -> str:
    return "bayes" if cfg.method == "auto" else cfg.method


def make_sampler(cfg: SweepConfig) -> optuna.samplers.BaseSampler:
    method = resolved_method(cfg)
    path, _ = SAMPLERS[method]
    try:
        cls = _cls(path)
    except ImportError as exc:
        raise SweepError(
            f"method '{method}' needs a package that is not installed ({exc.name})\n"
            f"    fix: pip install 'sweeprun[{method}]'"
        ) from None
    kwargs = sampler_kwargs(cfg)
    try:
        return cls(**kwargs)
    except ImportError as exc:
        raise SweepError(
            f"method '{method}' needs a package that is not installed ({exc.name})\n"
            f"    fix: pip install 'sweeprun[{method}]'"
        ) from None
    except (TypeError, ValueError) as exc:
        raise SweepError(f"sampler: invalid option for method '{method}': {exc}") from None


_PRUNERS = {
    "median": "optuna.pruners.MedianPruner",
    "percentile": "optuna.pruners.PercentilePruner",
    "asha": "optuna.pruners.SuccessiveHalvingPruner",
    "successive_halving": "optuna.pruners.SuccessiveHalvingPruner",
    "threshold": "optuna.pruners.ThresholdPruner",
    "wilcoxon": "optuna.pruners.WilcoxonPruner",
    "optuna_hyperband": "optuna.pruners.HyperbandPruner",
    "hyperband": "sweeprun.hyperband.WandbHyperbandPruner",
}


def make_pruner(et: EarlyTerminate | None, goal: str = "minimize") -> optuna.pruners.BasePruner:
    import optuna

    if et is None:
        return optuna.pruners.NopPruner()
    options = dict(et.options())
    patience = options.pop("patience", None)
    min_delta = options.pop("min_delta", 0.0)
    cls = _cls(_PRUNERS[et.type])
    if et.type == "hyperband":
        options["goal"] = goal
    try:
        pruner = cls(**options)
    except (TypeError, ValueError) as exc:
        raise SweepError(f"early_terminate: invalid option for '{et.type}': {exc}") from None
    if patience is not None:
        pruner = optuna.pruners.PatientPruner(pruner, patience=patience, min_delta=min_delta)
    return pruner
