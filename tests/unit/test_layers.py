"""The layers stay layers: handlers -> use cases -> services -> storage, never back up.

Read from the source with `ast`, so a forbidden import fails here even when nothing runs it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def modules(package: str) -> Iterator[tuple[str, Path]]:
    """Every module of a package, by dotted name."""
    base = ROOT / package.replace(".", "/")
    for path in sorted(base.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        yield ".".join(parts), path


def imports_of(path: Path, module: str) -> set[str]:
    """Absolute names of everything a module imports, at any depth (TYPE_CHECKING included)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def runtime_imports_of(path: Path) -> set[str]:
    """Absolute imports executed when the module loads (not under TYPE_CHECKING, not lazy)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


# Alembic's own entry point, run as a script by the `alembic` command: with no URL given, it
# reads the bot's configuration (lazily; `python -m bot migrate` always hands the URL over).
ENTRY_POINTS = frozenset({"storage.migrations.env"})


def forbidden(package: str, prefixes: tuple[str, ...]) -> list[str]:
    """`module imports name` for each import of a package that starts with a forbidden prefix."""
    bad = []
    for module, path in modules(package):
        if module in ENTRY_POINTS:
            continue
        for name in sorted(imports_of(path, module)):
            if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
                bad.append(f"{module} imports {name}")
    return bad


@pytest.mark.parametrize(
    ("package", "prefixes"),
    [
        # Storage knows nothing of Telegram or of the bot above it.
        ("storage", ("telegram", "bot")),
        # Services hold the rules; they run without Telegram and know no caller.
        ("bot.services", ("telegram", "bot.handlers", "bot.usecases", "bot.web", "bot.runtime")),
        # Use cases own transactions and return plain data: no Telegram, no handlers.
        ("bot.usecases", ("telegram", "bot.handlers", "bot.web", "bot.runtime")),
        # Web pages go through use cases, never through the chat handlers.
        ("bot.web", ("bot.handlers",)),
    ],
)
def test_a_layer_never_imports_the_layers_above_it(package: str, prefixes: tuple[str, ...]) -> None:
    assert forbidden(package, prefixes) == []


def test_handlers_never_open_a_database_session() -> None:
    """Handlers call use cases (`context.db`); sessions are the use cases' business."""
    opened = [
        f"{module}:{node.lineno}"
        for module, path in modules("bot.handlers")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr in {"sessions", "session_factory"}
    ]
    assert opened == []


def test_handlers_reach_the_database_only_through_use_cases() -> None:
    """Nothing of storage.database in a handler but the outage it must explain to a person
    (transactions, stamps and sessions belong to the use cases)."""
    imported = {
        f"{module}:{alias.name}"
        for module, path in modules("bot.handlers")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module == "storage.database"
        for alias in node.names
        if alias.name != "DatabaseUnavailable"
    }
    assert imported == set()


def test_the_services_have_no_import_cycle() -> None:
    """A cycle (once audit <-> roles) means two modules are one; load order then decides bugs."""
    graph = {
        module: {
            name
            for name in runtime_imports_of(path)
            if name.startswith("bot.services.") and name != module
        }
        for module, path in modules("bot.services")
    }
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, trail = stack.pop()
            for target in graph.get(node, ()):
                if target == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*trail, target]))
    assert cycles == []
