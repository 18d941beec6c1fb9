"""Roles do not import each other in cycles, and what lives directly under roles/ (the shared
modules every role may use) imports no role.

Read from the source with ast, so an import inside a function or under TYPE_CHECKING counts
as much as one at the top: deferring an import hides a cycle, it does not remove it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
# Packages under roles/ that are not roles: the typed host data every role reads.
NOT_ROLES = {"spec"}
ROLE_PACKAGES = sorted(
    path.parent.name for path in ROLES.glob("*/__init__.py") if path.parent.name not in NOT_ROLES
)
# Above the roles, not below them: it hands each role's own validation rules to roles.spec.
# No role may import it (a role that did would close a cycle through it).
ENTRY_MODULES = {"roles.hostdata"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> Iterator[str]:
    """Every module `path` imports: `from roles import backup` names roles.backup."""
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                anchor = (package or _module_name(path)).split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *filter(None, [base])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _unit(module: str) -> str | None:
    """The role package or shared module `module` is part of (roles.postgres.facts ->
    roles.postgres, roles.spec.types -> roles.spec, roles.units -> itself); None outside."""
    parts = module.split(".")
    if parts[0] != "roles" or len(parts) < 2:
        return None
    name = parts[1]
    if (ROLES / f"{name}.py").exists() or (ROLES / name / "__init__.py").exists():
        return f"roles.{name}"
    return None


def _graph() -> dict[str, set[str]]:
    """roles.<unit> -> the roles.<unit>s it imports (a role package or a shared module)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(ROLES.rglob("*.py")):
        unit = _unit(_module_name(path))
        if unit is None:  # roles/__init__.py: the namespace's docstring
            continue
        targets = {_unit(name) for name in _imported(path)}
        graph.setdefault(unit, set()).update(t for t in targets if t and t != unit)
    return graph


def _cycle(graph: dict[str, set[str]], nodes: set[str]) -> list[str] | None:
    """One cycle among `nodes` (following only edges between them), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph.get(node, set()) & nodes):
            found = visit(target, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(nodes):
        found = visit(start, [])
        if found:
            return found
    return None


def test_the_graph_sees_every_role() -> None:
    """The parser finds the roles and an edge known to exist (postgres writes pgBackRest's
    archive_command, from roles.backup.config)."""
    graph = _graph()
    assert {"roles.common", "roles.postgres", "roles.kafka"} <= set(graph)
    assert "roles.backup" in graph["roles.postgres"]


def test_no_import_cycle_between_roles() -> None:
    graph = _graph()
    cycle = _cycle(graph, {f"roles.{name}" for name in ROLE_PACKAGES})
    assert cycle is None, "import cycle between roles: " + " -> ".join(cycle or [])


def test_no_import_cycle_through_shared_modules() -> None:
    """Nor through anything else under roles/: role A -> shared module -> role B -> A."""
    graph = _graph()
    cycle = _cycle(graph, set(graph))
    assert cycle is None, "import cycle under roles/: " + " -> ".join(cycle or [])


def test_shared_modules_import_no_role() -> None:
    roles = {f"roles.{name}" for name in ROLE_PACKAGES}
    graph = _graph()
    wrong = {
        unit: sorted(graph[unit] & roles)
        for unit in graph
        if unit not in roles and unit not in ENTRY_MODULES and graph[unit] & roles
    }
    assert not wrong, f"shared modules importing a role: {wrong}"


def test_no_role_imports_an_entry_module() -> None:
    graph = _graph()
    wrong = {
        role: sorted(graph[role] & ENTRY_MODULES)
        for role in (f"roles.{name}" for name in ROLE_PACKAGES)
        if graph.get(role, set()) & ENTRY_MODULES
    }
    assert not wrong, f"roles importing what sits above them: {wrong}"
