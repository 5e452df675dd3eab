"""The package's shape, checked: no import cycle among sweeprun's modules, and imports inside
functions only where start-up needs them (command dispatch, optional extras, heavy libraries)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sweeprun"

# third-party modules a function may import lazily: heavy ones `--help`/`validate` must not load,
# and optional extras that may be missing
LAZY_OK = {
    "optuna",
    "sqlalchemy",
    "psutil",
    "plotly",
    "mlflow",
    "optuna_dashboard",
    "grpc",
    "redis",
    "psycopg",
    "pymysql",
    "scipy",
    "numpy",
    "torch",
    "rich",
    "typer",
    "alembic",
    "yaml",
    "pydantic",
    "wandb",
    "lightning",
    "pytorch_lightning",
    "transformers",
    "keras",
    "xgboost",
    "lightgbm",
    "hydra",
    "omegaconf",
    "fsspec",
    "sklearn",
    "junitparser",
    "cmaes",
}
# where a function may import sweeprun's own modules: the command line dispatches lazily
DISPATCH = ("sweeprun.cli", "sweeprun.commands")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path) -> Iterator[tuple[str, bool, int]]:
    """(module imported, inside a function, line) for every import outside TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    is_pkg = path.name == "__init__.py"

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[str, bool, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, in_function, child.lineno
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = me.split(".")[
                        : len(me.split(".")) - child.level + (1 if is_pkg else 0)
                    ]
                    base = ".".join([*anchor, base] if base else anchor)
                yield base, in_function, child.lineno
                for alias in child.names:
                    if f"{base}.{alias.name}" in MODULES:
                        yield f"{base}.{alias.name}", in_function, child.lineno
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            yield from walk(child, inner)

    yield from walk(tree, False)


def graph() -> dict[str, set[str]]:
    return {
        name: {m for m, _, _ in imports(path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


# Imports inside functions elsewhere (a ratchet: this number may only go down). Left: the crash
# log's tempfile/traceback (cli/main.py), json in client.py (training programs import sweeprun),
# writer_rdb behind storage/writer.py (SQLAlchemy for RDB storages only), fcntl in
# run/process/child.py, and stdlib modules in commands/status.py, commands/trials.py and
# integrations/wandb_path/
REMAINING = 9


def test_function_level_imports_only_where_start_up_needs_them() -> None:
    bad = []
    for name, path in sorted(MODULES.items()):
        for imported, in_function, line in imports(path):
            if not in_function:
                continue
            top = imported.split(".")[0]
            if top == "sweeprun":
                if not name.startswith(DISPATCH):
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {imported}")
            elif top not in LAZY_OK and imported not in ("importlib", "importlib.util"):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {imported}")
    assert len(bad) <= REMAINING, "\n".join(bad)
