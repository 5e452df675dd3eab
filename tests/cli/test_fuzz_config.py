"""Hostile sweep.yaml files: generated documents (valid and mutated: wrong types, unknown keys,
deep nesting, huge numbers, unicode, aliases) never make ``validate`` raise anything but a
:class:`ConfigError`, and the installed ``sweeprun validate`` always exits 0 or 2 with a
message, never a traceback. Alias bombs ("billion laughs") are refused at once.

Most examples run in-process (``sweeprun.commands.validate.run``: ``load_config`` plus the
search-space summary); a sample goes through the installed command. ``-m chaos`` runs many
more examples.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweeprun.commands import validate
from sweeprun.config.parameters import DISTRIBUTIONS as PARAM_DISTRIBUTIONS
from sweeprun.errors import ConfigError
from tests.helpers.cli import run_cli

DISTRIBUTIONS = list(PARAM_DISTRIBUTIONS)  # the 18 W&B names, as the package defines them
METHODS = ["grid", "random", "bayes", "tpe", "gp", "cmaes", "qmc", "nsga2", "bruteforce", "auto"]
FUZZ_SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck)}

# ---- strategies -------------------------------------------------------------------------------
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
weird_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30
)
numbers = st.one_of(
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 1e-5, 1e308, -1e308, 2**63, 10**400]),
)
junk = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, weird_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(weird_text, inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def param_spec(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    kind = draw(st.sampled_from(["value", "values", "range", "dist", "probs", "nested"]))
    if kind == "nested" and depth < 3:
        return {"parameters": draw(st.dictionaries(names, param_spec(depth + 1), max_size=3))}
    if kind == "value":
        return {"value": draw(st.one_of(numbers, weird_text, st.booleans()))}
    if kind in ("values", "probs"):
        values = draw(st.lists(st.one_of(st.integers(-5, 5), names), min_size=1, max_size=5))
        spec: dict[str, Any] = {"values": values}
        if kind == "probs":
            spec["probabilities"] = [1 / len(values)] * len(values)
        return spec
    lo = draw(st.one_of(st.integers(-100, 100), st.floats(-10, 10)))
    hi = draw(st.one_of(st.integers(-100, 100), st.floats(-10, 10)))
    spec = {"min": lo, "max": hi}
    if kind == "dist":
        spec["distribution"] = draw(st.sampled_from(DISTRIBUTIONS))
        if draw(st.booleans()):
            spec["q"] = draw(st.sampled_from([0.1, 1, 2, 0, -1]))
        if draw(st.booleans()):
            spec.update(mu=draw(st.floats(-3, 3)), sigma=draw(st.floats(-1, 3)))
    return spec


@st.composite
def sweep_doc(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "method": draw(st.sampled_from(METHODS)),
        "parameters": draw(st.dictionaries(names, param_spec(), min_size=1, max_size=4)),
    }
    if draw(st.booleans()):
        doc["metric"] = {
            "name": draw(names),
            "goal": draw(st.sampled_from(["minimize", "maximize"])),
        }
    if draw(st.booleans()):
        doc["run_cap"] = draw(st.integers(-3, 10**12))
    if draw(st.booleans()):
        doc["early_terminate"] = {"type": draw(st.sampled_from(["hyperband", "median", "asha"]))}
    if draw(st.booleans()):
        doc["trial"] = {"timeout": draw(st.sampled_from(["2s", "1h", 5, "-1", "soon"]))}
    if draw(st.booleans()):
        doc["command"] = draw(st.lists(st.sampled_from(["${env}", "${args}", "${nope}", "x"])))
    return doc


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_doc(draw: st.DrawFn) -> Any:
    doc: Any = draw(sweep_doc())
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(["replace", "unknown_key", "deepen", "drop"]))
        if not path:
            if how == "replace":
                doc = draw(junk)
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if how == "replace":
            parent[last] = draw(junk)
        elif how == "unknown_key" and isinstance(parent, dict):
            parent[draw(weird_text)] = draw(junk)
        elif how == "deepen":
            value: Any = parent[last]
            for _ in range(draw(st.integers(1, 40))):
                value = {"parameters": {"p": value}} if draw(st.booleans()) else [value]
            parent[last] = value
        elif how == "drop" and isinstance(parent, dict):
            del parent[last]
    return doc


def _dump(doc: Any, style: int) -> str:
    if style == 0:
        return json.dumps(doc, default=str)  # JSON is YAML; nan/inf as NaN/Infinity
    return yaml.safe_dump(doc, allow_unicode=bool(style == 1), default_flow_style=style == 2)


def _check_in_process(tmp: Path, text: str) -> None:
    path = tmp / "sweep.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    # validate reports a bad file itself (every file of `validate a b c`) and returns 2
    out, err_out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err_out):
            code = validate.run([path])
    except ConfigError as err:
        message = str(err)
        assert message.startswith(str(path)), message
        assert "Traceback" not in message
        assert "sweeprun bug" not in message, message
        return
    assert code in (0, 2)
    text_out = out.getvalue() + err_out.getvalue()
    assert "Traceback" not in text_out and "sweeprun bug" not in text_out, text_out
    if code == 2:
        assert str(path) in text_out, text_out


def _check_cli(tmp: Path, text: str) -> None:
    path = tmp / "cli.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    res = run_cli("validate", str(path), timeout=60)
    assert res.returncode in (0, 2), res.describe()
    assert "Traceback" not in res.stderr + res.stdout, res.describe()
    if res.returncode == 2:
        assert res.stderr.startswith(f"sweeprun: {path}"), res.describe()
    else:
        assert res.stdout.startswith(f"{path}: ok"), res.describe()


def _doc_texts() -> st.SearchStrategy[str]:
    docs = st.one_of(sweep_doc(), mutated_doc())
    return st.builds(_dump, docs, st.integers(0, 2))


# ---- property tests ----------------------------------------------------------------------------
@settings(max_examples=150, **FUZZ_SETTINGS)  # type: ignore[arg-type]
@given(text=_doc_texts())
def test_generated_documents_never_crash_validation(tmp_path: Path, text: str) -> None:
    _check_in_process(tmp_path, text)


@settings(max_examples=60, **FUZZ_SETTINGS)  # type: ignore[arg-type]
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_crashes_validation(tmp_path: Path, text: str) -> None:
    _check_in_process(tmp_path, text)


@settings(max_examples=4, **FUZZ_SETTINGS)  # type: ignore[arg-type]
@given(text=_doc_texts())
def test_installed_validate_exits_0_or_2_on_generated_documents(tmp_path: Path, text: str) -> None:
    _check_cli(tmp_path, text)


@pytest.mark.chaos
@settings(max_examples=3000, **FUZZ_SETTINGS)  # type: ignore[arg-type]
@given(text=st.one_of(_doc_texts(), st.text(max_size=400)))
def test_chaos_many_documents_in_process(tmp_path: Path, text: str) -> None:
    _check_in_process(tmp_path, text)


@pytest.mark.chaos
@settings(max_examples=60, **FUZZ_SETTINGS)  # type: ignore[arg-type]
@given(text=_doc_texts())
def test_chaos_many_documents_through_the_cli(tmp_path: Path, text: str) -> None:
    _check_cli(tmp_path, text)


# ---- hostile files that once hung or crashed (regression tests for yamlload.py) ---------------
def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['l0: &l0 ["lol"' + ', "lol"' * (width - 1) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    lines.append(f"method: grid\nparameters: {{x: {{values: *l{levels - 1}}}}}")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "billion_laughs": (billion_laughs(), "alias bomb"),
    "alias_bomb_in_mapping": (
        "a: &a {x: 1, y: 1, z: 1, w: 1}\n"
        + "".join(
            f"{c}: &{c} {{p: *{p}, q: *{p}, r: *{p}, s: *{p}, t: *{p}, u: *{p}}}\n"
            for p, c in zip("abcdefghi", "bcdefghij", strict=True)
        )
        + "method: random\nparameters: {x: {value: 1}}\n",
        "alias bomb",
    ),
    "recursive_alias": ("a: &a [*a]\nmethod: random\n", "nests too deeply"),
    "deep_flow": ("method: random\nparameters: " + "[" * 3000 + "]" * 3000, "nests too deeply"),
    "deep_block": (
        "".join("  " * i + f"k{i}:\n" for i in range(1500)) + "  " * 1500 + "v\n",
        "nests too deeply",
    ),
    "nul_byte": ("method: random\x00\n", "unacceptable character"),
    "huge_int": ("method: random\nrun_cap: " + "9" * 50_000 + "\n", "cannot read the value"),
    "python_tag": ("method: !!python/object/apply:os.system ['true']\n", "YAML"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_are_refused_quickly_in_process(tmp_path: Path, case: str) -> None:
    text, expected = HOSTILE[case]
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        validate.run([path])
    assert expected in str(err.value)
    assert "sweeprun bug" not in str(err.value)


@pytest.mark.parametrize("case", ["billion_laughs", "deep_flow", "nul_byte"])
def test_hostile_files_through_the_installed_command(tmp_path: Path, case: str) -> None:
    text, expected = HOSTILE[case]
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    res = run_cli("validate", str(path), timeout=30)  # a hang fails here with TimeoutExpired
    res.assert_code(2)
    assert expected in res.stderr


def test_anchors_for_shared_blocks_still_work(tmp_path: Path) -> None:
    """The alias limit leaves ordinary anchors alone (one block reused by many parameters)."""
    text = "method: random\nparameters:\n  a: &r {min: 0.0, max: 1.0}\n" + "".join(
        f"  p{i}: *r\n" for i in range(300)
    )
    path = tmp_path / "ok.yaml"
    path.write_text(text)
    assert validate.run([path]) == 0


def test_numbers_at_the_edges_are_messages_not_crashes(tmp_path: Path) -> None:
    for bad in ("1e999", "-1e999", ".nan", str(10**300), "0x10", "1_000"):
        path = tmp_path / "edge.yaml"
        path.write_text(f"method: random\nparameters:\n  x: {{min: 0, max: {bad}}}\n")
        try:
            validate.run([path])
        except ConfigError as err:
            assert "sweeprun bug" not in str(err)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("parameters: {a: {min: 0, max: 1, distribution: []}}", "parameters.a.distribution"),
        ("parameters: {a: {value: 1}}\nearly_terminate: {type: {x: 1}}", "early_terminate.type"),
    ],
)
def test_unhashable_values_where_a_name_is_expected(tmp_path: Path, text: str, where: str) -> None:
    """Found by the fuzzer: a list or mapping as ``distribution``/``type`` crashed validation."""
    path = tmp_path / "s.yaml"
    path.write_text("method: random\n" + text + "\n")
    with pytest.raises(ConfigError) as err:
        validate.run([path])
    assert f"at {where}" in str(err.value) and "is not allowed" in str(err.value)


def test_json_escaped_surrogate_pairs_are_one_character(tmp_path: Path) -> None:
    """Regression (found by the S1 test): a sweep file written by ``json.dumps`` escapes 🚀 as
    a surrogate pair, which PyYAML kept as two halves; the grid point read back from the
    journal then matched no choice and the agent crashed."""
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"method": "grid", "parameters": {"v": {"values": ["a 🚀"]}}}))
    assert "\\ud83d" in path.read_text()
    from sweeprun.config.load import load_config

    assert load_config(path).parameters["v"].values == ["a 🚀"]
    path.write_text('method: grid\nparameters: {v: {values: ["\\ud83d alone"]}}\n')
    with pytest.raises(ConfigError, match="lone UTF-16 surrogate"):
        load_config(path)
