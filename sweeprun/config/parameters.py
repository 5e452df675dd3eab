"""The ``parameters:`` section of sweep.yaml: one :class:`ParamSpec` per parameter.

W&B semantics (``wandb/sweeps`` ``schema.json`` and ``params.py``):

* ``value`` → constant; ``values`` → categorical; ``values`` + ``probabilities`` →
  categorical_w_probabilities; ``min``/``max`` both ints → int_uniform (inclusive), a float
  on either side → uniform; ``parameters`` → a nested block.
* ``log_uniform`` / ``inv_log_uniform`` / ``q_log_uniform`` take exponents of e as bounds;
  the ``*_values`` forms take raw values (min > 0).
* Quantized forms round to ``q`` (default 1); normal/log_normal take ``mu`` (0) and
  ``sigma`` (1); beta takes ``a`` and ``b`` (1).

Validation raises ``ValueError`` with a message that names the fix; ``config.py`` turns
those into key-path breadcrumbs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Distribution = Literal[
    "constant",
    "categorical",
    "categorical_w_probabilities",
    "int_uniform",
    "uniform",
    "q_uniform",
    "log_uniform",
    "log_uniform_values",
    "q_log_uniform",
    "q_log_uniform_values",
    "inv_log_uniform",
    "inv_log_uniform_values",
    "normal",
    "q_normal",
    "log_normal",
    "q_log_normal",
    "beta",
    "q_beta",
]
DISTRIBUTIONS: tuple[str, ...] = Distribution.__args__  # type: ignore[attr-defined]

#: the keys each distribution accepts besides ``distribution`` itself
ALLOWED_KEYS: dict[str, frozenset[str]] = {
    "constant": frozenset({"value"}),
    "categorical": frozenset({"values"}),
    "categorical_w_probabilities": frozenset({"values", "probabilities"}),
    "int_uniform": frozenset({"min", "max"}),
    "uniform": frozenset({"min", "max"}),
    "q_uniform": frozenset({"min", "max", "q"}),
    "log_uniform": frozenset({"min", "max"}),
    "log_uniform_values": frozenset({"min", "max"}),
    "q_log_uniform": frozenset({"min", "max", "q"}),
    "q_log_uniform_values": frozenset({"min", "max", "q"}),
    "inv_log_uniform": frozenset({"min", "max"}),
    "inv_log_uniform_values": frozenset({"min", "max"}),
    "normal": frozenset({"mu", "sigma"}),
    "q_normal": frozenset({"mu", "sigma", "q"}),
    "log_normal": frozenset({"mu", "sigma"}),
    "q_log_normal": frozenset({"mu", "sigma", "q"}),
    "beta": frozenset({"a", "b"}),
    "q_beta": frozenset({"a", "b", "q"}),
}
NUMERIC_KEYS = ("min", "max", "q", "mu", "sigma", "a", "b")
PARAM_KEYS = ("distribution", "value", "values", "probabilities", *NUMERIC_KEYS, "parameters")
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_FLOAT_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

#: distributions a grid can enumerate (W&B: categorical, constant, int_uniform, q_uniform)
GRID_DISTRIBUTIONS = frozenset({"constant", "categorical", "int_uniform", "q_uniform"})


def at_key(keys: Sequence[str | int] | str, message: str) -> str:
    """A validator message for a sub-key: ``at ["min"]: ...``.

    ``config.py`` moves such a message to the key path of that sub-key (and its line);
    several can be joined with newlines.
    """
    path = [keys] if isinstance(keys, str) else list(keys)
    return f"at {json.dumps(path)}: {message}"


def as_number(value: Any) -> Any:
    """Numbers stay numbers; text such as ``"1e-5"`` (PyYAML's reading) becomes a float."""
    if isinstance(value, str) and _FLOAT_TEXT.match(value.strip()):
        text = value.strip()
        return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class ParamSpec(BaseModel):
    """One parameter of the search space, with its distribution resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    distribution: Distribution | None = Field(
        default=None, description="One of the 18 W&B distributions; inferred when omitted."
    )
    value: Any = Field(default=None, description="A constant value.")
    values: list[Any] | None = Field(default=None, description="Discrete values to choose from.")
    probabilities: list[float] | None = Field(
        default=None, description="Probability of each of `values`; must sum to 1."
    )
    min: int | float | None = Field(default=None, description="Lower bound.")
    max: int | float | None = Field(default=None, description="Upper bound.")
    q: int | float | None = Field(default=None, description="Quantization step (default 1).")
    mu: int | float | None = Field(default=None, description="Mean (default 0).")
    sigma: int | float | None = Field(default=None, description="Standard deviation (default 1).")
    a: int | float | None = Field(default=None, description="Beta distribution a (default 1).")
    b: int | float | None = Field(default=None, description="Beta distribution b (default 1).")
    parameters: dict[str, ParamSpec] | None = Field(
        default=None, description="A nested block of parameters."
    )

    @model_validator(mode="before")
    @classmethod
    def _infer(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(
                "a parameter must be a mapping such as {values: [...]}, {min: .., max: ..} "
                f"or {{value: ..}}, not {type(data).__name__}"
            )
        # a stored model_dump() carries None for every unset key: drop them (but keep
        # `value: null`, a constant None, when it is the only form given)
        data = {k: v for k, v in data.items() if v is not None or k == "value"}
        dropped_value = data.get("distribution") != "constant" and len(data) > 1
        if "value" in data and data["value"] is None and dropped_value:
            del data["value"]
        if any(k not in PARAM_KEYS for k in data):
            return data  # pydantic reports the unknown key (config.py adds "did you mean")
        for key in NUMERIC_KEYS:
            if key in data:
                data[key] = as_number(data[key])
                if not _is_number(data[key]):
                    raise ValueError(at_key(key, f"must be a number, got {data[key]!r}"))
                try:
                    finite = math.isfinite(data[key])
                except OverflowError:  # an int beyond any float
                    raise ValueError(at_key(key, "is too large: must be within ±1.8e308")) from None
                if not finite:
                    raise ValueError(at_key(key, f"must be finite, got {data[key]!r}"))
        if "probabilities" in data and isinstance(data["probabilities"], list):
            data["probabilities"] = [as_number(p) for p in data["probabilities"]]
        if "parameters" in data:
            nested = data["parameters"]
            if isinstance(nested, dict):
                bad = [
                    at_key(("parameters", str(n)), _bad_name(n))
                    for n in nested
                    if not isinstance(n, str) or not NAME_PATTERN.match(n)
                ]
                if bad:
                    raise ValueError("\n".join(bad))
            extra = sorted(set(data) - {"parameters"})
            if extra:
                raise ValueError(
                    f"a nested block takes only 'parameters', found {extra}: move them inside"
                )
            return data
        dist = data.get("distribution")
        if dist is None:
            dist = infer_distribution(data)
            data["distribution"] = dist
        if not isinstance(dist, str) or dist not in ALLOWED_KEYS:
            return data  # let the Literal check report it with the allowed names
        allowed = ALLOWED_KEYS[dist] | {"distribution"}
        unknown = sorted(k for k in data if k not in allowed and k in PARAM_KEYS)
        if unknown:
            raise ValueError(
                f"{unknown} not allowed with distribution '{dist}', "
                f"which takes {sorted(ALLOWED_KEYS[dist])}"
            )
        missing = [k for k in ("min", "max") if k in ALLOWED_KEYS[dist] and k not in data]
        if missing:
            raise ValueError(f"distribution '{dist}' needs {missing}")
        if "values" in ALLOWED_KEYS[dist] and "values" not in data:
            raise ValueError(f"distribution '{dist}' needs 'values'")
        if dist == "categorical_w_probabilities" and "probabilities" not in data:
            raise ValueError("distribution 'categorical_w_probabilities' needs 'probabilities'")
        if dist == "constant" and "value" not in data:
            raise ValueError("distribution 'constant' needs 'value'")
        return data

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.parameters is not None:
            if not self.parameters:
                raise ValueError("a nested 'parameters' block is empty: add a parameter")
            return self
        d = self.distribution
        if self.values is not None and not self.values:
            raise ValueError(at_key("values", "'values' is empty: list at least one value"))
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(at_key("min", f"min ({self.min}) must be less than max ({self.max})"))
        if d == "int_uniform":
            for key in ("min", "max"):
                if not isinstance(getattr(self, key), int):
                    raise ValueError(
                        at_key(
                            key,
                            f"int_uniform needs integer min and max, got {key} "
                            f"{getattr(self, key)!r}: use 'uniform' for a real range",
                        )
                    )
        raw_log = d in {"log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"}
        if raw_log and self.min is not None and self.min <= 0:
            raise ValueError(
                at_key(
                    "min",
                    f"{d} takes raw values and needs min > 0 (got {self.min}); "
                    "use 'log_uniform' for exponents of e",
                )
            )
        if self.q is not None and self.q <= 0:
            raise ValueError(at_key("q", f"q must be > 0, got {self.q}"))
        if self.sigma is not None and self.sigma < 0:
            raise ValueError(at_key("sigma", f"sigma must be >= 0, got {self.sigma}"))
        for key in ("a", "b"):
            v = getattr(self, key)
            if v is not None and v <= 0:
                raise ValueError(at_key(key, f"beta '{key}' must be > 0, got {v}"))
        if self.probabilities is not None:
            self._check_probabilities(self.probabilities, self.values or [])
        return self

    @staticmethod
    def _check_probabilities(probabilities: list[float], values: list[Any]) -> None:
        if len(probabilities) != len(values):
            raise ValueError(
                at_key(
                    "probabilities",
                    f"'probabilities' has {len(probabilities)} entries but 'values' has "
                    f"{len(values)}: give one probability per value",
                )
            )
        if any(p < 0 for p in probabilities):
            raise ValueError(at_key("probabilities", "'probabilities' must not be negative"))
        total = sum(probabilities)
        if not math.isclose(total, 1.0, rel_tol=1e-5, abs_tol=1e-8):
            raise ValueError(
                at_key("probabilities", f"'probabilities' sum to {total:g}, not 1: rescale them")
            )

    # ---- resolved view, defaults applied -------------------------------------------------
    @property
    def is_nested(self) -> bool:
        return self.parameters is not None

    @property
    def dist(self) -> str:
        assert self.distribution is not None, "nested blocks have no distribution"
        return self.distribution

    @property
    def q_(self) -> int | float:
        return 1.0 if self.q is None else self.q

    @property
    def mu_(self) -> int | float:
        return 0.0 if self.mu is None else self.mu

    @property
    def sigma_(self) -> int | float:
        return 1.0 if self.sigma is None else self.sigma

    @property
    def a_(self) -> int | float:
        return 1.0 if self.a is None else self.a

    @property
    def b_(self) -> int | float:
        return 1.0 if self.b is None else self.b


def _bad_name(name: Any) -> str:
    return (
        f"parameter name {name!r} is not valid: start with a letter or '_' and use only "
        "letters, digits, '_', '.' and '-'"
    )


def infer_distribution(data: dict[str, Any]) -> str:
    if "value" in data:
        return "constant"
    if "values" in data:
        return "categorical_w_probabilities" if "probabilities" in data else "categorical"
    if "min" in data and "max" in data:
        lo, hi = data["min"], data["max"]
        both_int = isinstance(lo, int) and isinstance(hi, int)
        return "int_uniform" if both_int else "uniform"
    if "min" in data or "max" in data:
        raise ValueError("give both 'min' and 'max' (or 'values', or 'value')")
    raise ValueError(
        "cannot tell the distribution: give 'value', 'values', 'min' and 'max', "
        "'parameters', or a 'distribution'"
    )
