"""sweeprun.config.yamlread: YAML → plain data + key lines, with the sweep-file quirks."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from sweeprun.config.yamlread import (
    EMPTY_MESSAGE,
    DuplicateKey,
    load_yaml,
    parse_yaml,
    render_path,
)
from sweeprun.errors import ConfigError


def problem(text: str) -> tuple[str, str, int | None]:
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "sweep.yaml")
    assert info.value.file == "sweep.yaml"
    assert len(info.value.problems) == 1
    p = info.value.problems[0]
    return p.path, p.message, p.line


def test_exponent_floats_are_floats_everywhere() -> None:
    data = parse_yaml("a: 1e-5\nb: [3e6, -1.5E+3, +2e0]\nc: {d: 1.0e-3, e: .5e1}\nf: '1e-5'\n").data
    assert data == {"a": 1e-5, "b": [3e6, -1500.0, 2.0], "c": {"d": 1e-3, "e": 5.0}, "f": "1e-5"}
    assert isinstance(data["b"][0], float)


def test_yaml11_words_stay_strings_as_keys_but_not_as_values() -> None:
    data = parse_yaml("on: yes\nyes: no\nno: on\noff: off\ny: 1\nn: [true, false, y]\n").data
    assert data == {"on": True, "yes": False, "no": True, "off": False, "y": 1,
                    "n": [True, False, "y"]}  # fmt: skip
    assert all(isinstance(k, str) for k in data)


def test_numbers_as_keys_stay_text() -> None:
    assert parse_yaml("1: a\n2.5: b\nnull: c\n").data == {"1": "a", "2.5": "b", "null": "c"}


def test_lines_of_keys_and_items() -> None:
    loaded = parse_yaml("method: grid\nparameters:\n  lr:\n    values:\n      - 1\n      - 2\n")
    assert loaded.lines[("method",)] == 1
    assert loaded.lines[("parameters", "lr")] == 3
    assert loaded.lines[("parameters", "lr", "values", 1)] == 6
    assert loaded.line_of(("parameters", "lr", "missing", "deeper")) == 3


def test_duplicate_key_keeps_the_last_value_like_pyyaml_and_names_both_lines() -> None:
    text = "method: grid\nparameters:\n  lr: {min: 1}\n  bs: 2\n  lr: {values: [3]}\n"
    loaded = parse_yaml(text)
    assert loaded.data == yaml.safe_load(text)  # W&B's loader
    assert list(loaded.data["parameters"]) == list(yaml.safe_load(text)["parameters"])
    assert loaded.duplicates == (DuplicateKey(("parameters", "lr"), 3, 5),)
    assert loaded.lines[("parameters", "lr")] == 5
    assert ("parameters", "lr", "min") not in loaded.lines  # the replaced value's lines


def test_merge_keys_override_without_duplicate_error() -> None:
    data = parse_yaml("a: &r {min: 1, max: 2}\nb:\n  <<: *r\n  max: 5\n").data
    assert data["b"] == {"min": 1, "max": 5}


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [("a: [1, 2\nb: 3\n", 2, 2), ("a: b: c\n", 1, 5), ("a:\n  - x\n y: 2\n", 3, 2)],
)
def test_syntax_error_has_line_and_column(text: str, line: int, column: int) -> None:
    path, message, at = problem(text)
    assert path == ""
    assert message.startswith(f"YAML syntax error at line {line}, column {column}: ")
    assert at == line


def test_top_level_must_be_a_mapping() -> None:
    assert "not a list" in problem("- a\n- b\n")[1]
    assert "not a single value ('hello')" in problem("hello\n")[1]


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "---\n", "null\n"])
def test_empty_documents(text: str) -> None:
    assert problem(text)[1] == EMPTY_MESSAGE


def test_several_documents_are_refused() -> None:
    assert "single document" in problem("a: 1\n---\nb: 2\n")[1]


def test_unsafe_tags_are_refused() -> None:
    path, message, line = problem("a: !!python/object/apply:os.system ['true']\n")
    assert (path, line) == ("a", 1)
    assert message.startswith("unsupported YAML tag 'tag:yaml.org,2002:python/object/apply")
    path, message, line = problem("a: 1\nb: !!python/name:os.system\n")
    assert message.startswith("YAML error at line 2, column 4: ")
    assert "could not determine a constructor" in message
    assert "unsupported YAML tag" in problem("a: !!set {x, y}\n")[1]


def test_recursive_alias_is_an_error() -> None:
    assert "nests too deeply" in problem("a: &x [*x]\n")[1]


def test_files(tmp_path: Path) -> None:
    good = tmp_path / "ok.yaml"
    good.write_text("\ufeffmethod: grid\n")  # a BOM is fine
    assert load_yaml(good).data == {"method": "grid"}
    assert load_yaml(str(good)).source == str(good)

    cases = {
        tmp_path / "missing.yaml": "no such file",
        tmp_path: "this is a directory, not a sweep file",
        tmp_path / "empty.yaml": EMPTY_MESSAGE,
        tmp_path / "latin1.yaml": "it is not UTF-8 text",
    }
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    for path, text in cases.items():
        with pytest.raises(ConfigError) as info:
            load_yaml(path)
        assert info.value.file == str(path)
        assert text in str(info.value)
        assert str(info.value).startswith(f"{path}: invalid sweep configuration")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("method: grid\n")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ConfigError, match="cannot read the file: permission denied"):
        load_yaml(path)


def test_render_path() -> None:
    assert render_path(("metrics", 1, "goal")) == "metrics[1].goal"
    assert render_path(("parameters", "a.b", "min")) == "parameters.a.b.min"
    assert render_path(()) == ""


_EXP = re.compile(r"^[-+]?(\d[\d_]*)?(\.[\d_]*)?[eE][-+]?\d+$")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)
keys = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=8)
documents = st.dictionaries(
    keys,
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    ),
    min_size=1,
    max_size=5,
)


def _has_exponent_text(value: object) -> bool:
    if isinstance(value, str):
        return bool(_EXP.match(value))
    if isinstance(value, dict):
        return any(_has_exponent_text(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_exponent_text(v) for v in value)
    return False


@given(documents)
def test_same_data_as_safe_load_for_dumped_documents(doc: dict[str, object]) -> None:
    assume(not _has_exponent_text(doc))  # the deliberate difference, tested above
    text = yaml.safe_dump(doc, allow_unicode=True)
    assert parse_yaml(text).data == yaml.safe_load(text)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_float_text_loads_as_that_float(x: float) -> None:
    for text in (repr(x), f"{x:e}", f"{x:E}"):
        value = parse_yaml(f"v: {text}\n").data["v"]
        assert isinstance(value, float | int)
        assert math.isclose(value, float(text), rel_tol=0, abs_tol=0)
