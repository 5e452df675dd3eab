"""Read a sweep.yaml into plain Python data plus the line of every key.

PyYAML (YAML 1.1) is used through its composer so that each key keeps its line, with three
adjustments for sweep files:

* ``1e-5``, ``3e6``, ``-1.5E+3`` are floats everywhere (PyYAML 1.1 reads them as strings);
* mapping *keys* are always their text: a parameter named ``on`` or ``yes`` stays a string
  (PyYAML would turn it into a boolean), while *values* keep PyYAML's typing, so a W&B
  file's ``values: [true, false]`` still gives booleans;
* a key written twice in one mapping keeps its last value, as PyYAML (W&B's loader) does,
  and is recorded in :attr:`LoadedYaml.duplicates` with both lines, for a warning.

Every problem is a :class:`~sweeprun.errors.ConfigError` naming the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sweeprun.errors import ConfigError, ConfigProblem

KeyPath = tuple[str | int, ...]

EMPTY_MESSAGE = "the file is empty: a sweep needs at least `method` and `parameters`"

_EXP_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_MAX_DEPTH = 100
# YAML aliases may reuse a node many times ("billion laughs": 9 levels of 9 aliases expand to
# 9**9 values from a few hundred bytes). Nodes built again through an alias are counted; past
# this many the file is refused instead of hanging and filling memory.
_MAX_ALIAS_EXPANSION = 10_000
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"})


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads exponent-only floats such as ``1e-5``."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT, list("-+0123456789."))


@dataclass(frozen=True)
class DuplicateKey:
    """A key written twice in one mapping: PyYAML, and so W&B and sweeprun, keep the last."""

    path: KeyPath  # the key's path, e.g. ("parameters", "lr")
    first_line: int
    line: int  # the occurrence whose value is used (the last)


@dataclass(frozen=True)
class LoadedYaml:
    """The data of one YAML file, the 1-based line of each key path, and its keys written
    twice."""

    data: dict[str, Any]
    lines: dict[KeyPath, int] = field(default_factory=dict)
    source: str = "<config>"
    duplicates: tuple[DuplicateKey, ...] = ()

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        return line_of(self.lines, path)


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path`` in ``lines``, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def load_yaml(path: str | Path) -> LoadedYaml:
    """Read and parse the YAML file at ``path``; the top level must be a mapping."""
    source = str(path)
    p = Path(path)

    def fail(message: str, fix: str = "") -> ConfigError:
        return ConfigError(source, [ConfigProblem("", message, None, fix)])

    if p.is_dir():
        raise fail("this is a directory, not a sweep file", "pass the path of a .yaml file")
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise fail(
            "no such file", "check the path (relative paths start from the current directory)"
        ) from None
    except PermissionError:
        raise fail("cannot read the file: permission denied", "check its permissions") from None
    except OSError as exc:
        raise fail(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(
            f"cannot read the file: it is not UTF-8 text (byte {exc.start})",
            "save it as UTF-8 YAML",
        ) from None
    return parse_yaml(text, source)


def parse_yaml(text: str, source: str = "<config>") -> LoadedYaml:
    """Parse YAML ``text``; ``source`` names it in errors."""
    if not text.strip():
        raise ConfigError(source, [ConfigProblem("", EMPTY_MESSAGE)])
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # a control character such as NUL (the reader checks first)
        raise ConfigError(source, [_reader_problem(exc)]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(source, [ConfigProblem("", EMPTY_MESSAGE)])
        builder = _Builder(loader, source)
        data = builder.build(node, (), 0)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(source, [_syntax_problem(exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_reader_problem(exc)]) from None
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise ConfigError(
            source,
            [ConfigProblem("", "the YAML nests too deeply", None, "flatten the document")],
        ) from None
    finally:
        loader.dispose()
    if data is None:
        raise ConfigError(source, [ConfigProblem("", EMPTY_MESSAGE)])
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({data!r})"
        raise ConfigError(
            source,
            [
                ConfigProblem(
                    "",
                    f"the top level must be a mapping of keys such as `method:` and "
                    f"`parameters:`, not {kind}",
                    1,
                )
            ],
        )
    return LoadedYaml(data, builder.lines, source, tuple(builder.duplicates))


def _reader_problem(exc: yaml.YAMLError) -> ConfigProblem:
    text = " ".join(str(exc).split())
    return ConfigProblem("", f"YAML error: {text}", None, "remove control characters")


def _syntax_problem(exc: yaml.MarkedYAMLError) -> ConfigProblem:
    kind = (
        "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
    )
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem:
        what = f"{exc.problem} ({exc.context}"
        cm = exc.context_mark
        if cm is not None and exc.problem_mark is not None and cm.line != exc.problem_mark.line:
            what += f" that started at line {cm.line + 1}, column {cm.column + 1}"
        what += ")"
    if mark is None:
        return ConfigProblem("", f"{kind}: {what}", None, "fix the YAML syntax")
    line, col = mark.line + 1, mark.column + 1
    return ConfigProblem(
        "",
        f"{kind} at line {line}, column {col}: {what}",
        line,
        "check the indentation, colons and quotes around that spot",
    )


class _Builder:
    """Turns composed nodes into dicts, lists and scalars, recording key lines."""

    def __init__(self, loader: _Loader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.lines: dict[KeyPath, int] = {(): 1}
        self._stack: set[int] = set()
        self._built: set[int] = set()
        self._rebuilt = 0
        self.duplicates: list[DuplicateKey] = []

    def build(self, node: yaml.Node, path: KeyPath, depth: int) -> Any:
        if depth > _MAX_DEPTH or id(node) in self._stack:
            raise self._error(path, node, "the YAML nests too deeply (a recursive alias?)")
        if id(node) in self._built:
            self._rebuilt += 1
            if self._rebuilt > _MAX_ALIAS_EXPANSION:
                raise self._error(
                    path,
                    node,
                    f"YAML aliases expand to more than {_MAX_ALIAS_EXPANSION} values "
                    "(an alias bomb?): write the values out or use fewer aliases",
                )
        else:
            self._built.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                value = self.loader.construct_object(node, deep=True)
            except ValueError as exc:  # e.g. an integer of more than 4300 digits
                raise self._error(path, node, f"cannot read the value: {exc}") from None
            return self._text(value, path, node) if isinstance(value, str) else value
        if node.tag not in _PLAIN_TAGS:
            raise self._error(path, node, f"unsupported YAML tag {node.tag!r}: remove the tag")
        self._stack.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                items = []
                for i, item in enumerate(node.value):
                    self.lines.setdefault((*path, i), item.start_mark.line + 1)
                    items.append(self.build(item, (*path, i), depth + 1))
                return items
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, depth)
        finally:
            self._stack.discard(id(node))
        raise self._error(path, node, f"unsupported YAML node {type(node).__name__}")

    def _mapping(self, node: yaml.MappingNode, path: KeyPath, depth: int) -> dict[str, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self._key(key_node, path)
            line = key_node.start_mark.line + 1
            if key in seen:
                self.duplicates.append(DuplicateKey((*path, key), seen[key], line))
            else:
                seen[key] = line
        self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            if key in result and key in seen:  # a duplicate: the last value wins, as in PyYAML
                self._forget((*path, key))
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return result

    def _forget(self, path: KeyPath) -> None:
        """Drop the lines under ``path`` (a value replaced by a later duplicate key)."""
        n = len(path)
        for known in [k for k in self.lines if k[:n] == path]:
            del self.lines[known]

    def _key(self, key_node: yaml.Node, path: KeyPath) -> str:
        if not isinstance(key_node, yaml.ScalarNode):
            raise self._error(path, key_node, "a key must be plain text, not a list or mapping")
        return self._text(str(key_node.value), path, key_node)

    def _text(self, text: str, path: KeyPath, node: yaml.Node) -> str:
        """JSON-style escaped surrogate pairs (``"\\ud83d\\ude80"``) as the one character they
        encode; PyYAML keeps them as two halves, which no storage can round-trip."""
        if not _SURROGATE.search(text):
            return text
        try:
            return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
        except UnicodeDecodeError:
            raise self._error(
                path, node, "the text has a lone UTF-16 surrogate escape (\\ud800-\\udfff)"
            ) from None

    def _error(self, path: KeyPath, node: yaml.Node, message: str) -> ConfigError:
        return ConfigError(
            self.source, [ConfigProblem(render_path(path), message, node.start_mark.line + 1)]
        )


def render_path(path: KeyPath) -> str:
    """``("metrics", 1, "goal")`` → ``metrics[1].goal``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out
