"""Python-literal dict lines: ``print(metrics)`` of a dict, as Hugging Face's Trainer and many
training loops do (``{'loss': 0.25, 'grad_norm': tensor(1.5), 'epoch': 0.5}``).

The scalar reprs of numpy (``np.float64(0.25)``, ``numpy.int64(3)``, ``float32(...)``) and torch
(``tensor(0.25)``, ``tensor(0.25, device='cuda:0', grad_fn=<MeanBackward0>)``) and the bare
names ``nan``/``inf`` are rewritten to plain literals outside string literals, then the text is
read with :func:`ast.literal_eval` — never ``eval``: nothing in a line can run code. Anything
else (arrays, other calls) makes the line no object (it then gets the ``name=value`` scan).
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

__all__ = ["MAX_LITERAL", "python_dict"]

#: longer object texts are not tried as Python literals (parsing cost; metric dicts are short)
MAX_LITERAL = 64 << 10
_NAN = "\x00nan"  # stands for NaN in the rewritten text (a repr never holds a raw NUL)
_SCALAR = (
    r"(?:(?:np|numpy|torch|jnp)\.)?(?:float|int|uint)(?:8|16|32|64|128)?"  # numpy scalar types
)
_TOKEN = re.compile(
    r"""('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")"""  # 1: a string literal: kept as it is
    rf"|(?<![\w.]){_SCALAR}\(\s*([^()'\"]*?)\s*\)"  # 2: np.float64(x)
    r"|(?<![\w.])tensor\(\s*([^(),\[\]]*?)\s*(?:,[^()]*)?\)"  # 3: tensor(x, device=..., ...)
    r"|(?<![\w.'\"])([-+]?(?:nan|inf))(?![\w.'\"])"  # 4: a bare nan / inf
)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)")


def python_dict(text: str) -> dict[str, Any] | None:
    """The dict a Python-literal line holds (numbers as ``float``/``int``), or None."""
    if len(text) > MAX_LITERAL or not text.endswith("}"):
        return None
    try:
        obj = ast.literal_eval(_TOKEN.sub(_rewrite, text))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if type(obj) is not dict:
        return None
    return _plain(obj)


def _rewrite(m: re.Match[str]) -> str:
    string, scalar, tensor, bare = m.groups()
    if string is not None:
        return string
    inner = scalar if scalar is not None else tensor if tensor is not None else bare
    assert inner is not None
    if _NUMBER.fullmatch(inner) is None:
        return m.group(0)  # not a scalar: left as it is (literal_eval refuses it)
    word = inner.lstrip("+-")
    if word == "nan":
        return repr(_NAN)
    if word == "inf":
        return "-1e999" if inner.startswith("-") else "1e999"
    return inner


def _plain(obj: dict[Any, Any]) -> dict[str, Any]:
    """String keys only; the NaN stand-in back to NaN; nested dicts likewise."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if type(key) is not str:
            continue
        if value == _NAN:
            value = math.nan
        elif type(value) is dict:
            value = _plain(value)
        out[key] = value
    return out
