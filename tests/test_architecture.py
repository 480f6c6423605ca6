"""The layout shows the design, and these tests keep it so (ARCHITECTURE.md draws it).

Layers: bots → flows → core ← storage; only scm_bot (the composition root) sees them all.
Inside the core, a small kernel (the modules directly in `core/`) and one package per domain:
the kernel imports no domain but their `model` modules (the unit of work and the buttons
name their types), and the domains import each other only downward:
incidents → analyse → roster → region. Inside flows, the router, the registry and the
conversation store are the kernel; each feature package stands alone. No import cycles,
no module over 600 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("bots", "core", "flows", "storage", "scm_bot")
FORBIDDEN = {
    "core": {
        "bots",
        "flows",
        "storage",
        "scm_bot",
        "telegram",
        "slack_bolt",
        "slack_sdk",
        "sqlalchemy",
        "sqlmodel",
        "aiosqlite",
        "asyncpg",
        "apscheduler",
        "alembic",
    },
    "flows": {
        "bots",
        "storage",
        "scm_bot",
        "telegram",
        "slack_bolt",
        "slack_sdk",
        "sqlalchemy",
        "sqlmodel",
    },
    "storage": {"bots", "flows", "scm_bot", "telegram", "slack_bolt", "slack_sdk"},
    "bots": {"storage", "scm_bot"},
}
# The core's domain packages and the domains each may import (besides the kernel). A new
# package gets its place here on purpose.
CORE_DOMAINS: dict[str, set[str]] = {
    "region": set(),
    "roster": {"region"},
    "analyse": {"region", "roster"},
    "incidents": {"region", "roster", "analyse"},
    "bt": {"region", "roster", "analyse", "incidents"},
}
# The flows' kernel imports a feature only where the stored conversation names its state.
FLOWS_KERNEL_MAY_IMPORT = {
    "flows.conversation": {"flows.analyse.state", "flows.incidents.alarm", "flows.bt.convening"},
}
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(*packages: str) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules(*OURS)


def _imports(path: Path) -> set[str]:
    """Every module this file imports, fully named: `from core.analyse import answers` is
    `core.analyse.answers`; a name that is no module counts as its module's import."""
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full in MODULES else node.module)
    return names


def _top(name: str) -> str:
    return name.split(".")[0]


def _ours(path: Path) -> set[str]:
    return {name for name in _imports(path) if _top(name) in OURS}


def _domain(module: str) -> str | None:
    """The core domain package of a core module; None for the kernel."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else None


def test_layers_import_only_inward() -> None:
    violations = []
    for package, forbidden in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            bad = {_top(name) for name in _imports(path)} & forbidden
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_every_core_package_is_a_known_domain() -> None:
    packages = {p.parent.name for p in (ROOT / "core").glob("*/__init__.py")}
    assert packages == set(CORE_DOMAINS)


def test_the_kernel_imports_only_the_domains_models() -> None:
    violations = []
    for module, path in MODULES.items():
        if _top(module) != "core" or _domain(module) is not None:
            continue
        for name in _ours(path):
            if _domain(name) is not None and not name.endswith(".model"):
                violations.append(f"{module} imports {name}")
    assert violations == []


def test_domain_models_import_only_the_kernels_model() -> None:
    """What the kernel may import of a domain stays plain data, so no cycle runs through it."""
    violations = []
    for module, path in MODULES.items():
        if _domain(module) is not None and _top(module) == "core" and module.endswith(".model"):
            bad = _ours(path) - {"core.model"}
            if bad:
                violations.append(f"{module} imports {sorted(bad)}")
    assert violations == []


def test_domains_import_only_the_domains_below_them() -> None:
    violations = []
    for module, path in MODULES.items():
        domain = _domain(module) if _top(module) == "core" else None
        if domain is None:
            continue
        for name in _ours(path):
            other = _domain(name)
            if other is not None and other != domain and other not in CORE_DOMAINS[domain]:
                violations.append(f"{module} imports {name}")
    assert violations == []


def test_flow_features_stand_alone() -> None:
    violations = []
    for module, path in MODULES.items():
        if _top(module) != "flows":
            continue
        parts = module.split(".")
        feature = parts[1] if len(parts) > 2 else None
        for name in _ours(path):
            if _top(name) != "flows":
                continue
            other = name.split(".")[1] if name.count(".") >= 2 else None
            if feature is None and other is not None:
                if name not in FLOWS_KERNEL_MAY_IMPORT.get(module, set()):
                    violations.append(f"{module} imports {name}")
            elif other is not None and other != feature:
                violations.append(f"{module} imports {name}")
    assert violations == []


def test_repositories_do_not_import_each_other() -> None:
    violations = []
    for module, path in MODULES.items():
        if module.startswith("storage.repos."):
            others = {n for n in _ours(path) if n.startswith("storage.repos.") and n != module}
            if others:
                violations.append(f"{module} imports {sorted(others)}")
    assert violations == []


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in the graph, if there is one."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles() -> None:
    graph = {module: _ours(path) & set(MODULES) for module, path in MODULES.items()}
    assert _cycle(graph) is None


def test_no_module_is_over_600_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in MODULES.values()
        if (n := len(path.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_check_itself_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text(
        "import telegram.ext\nfrom slack_bolt import App\n"
        "from core.analyse import answers\nfrom core.roster.model import Roster\n"
    )
    assert _imports(sample) == {
        "telegram.ext",
        "slack_bolt",
        "core.analyse.answers",
        "core.roster.model",
    }


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ],
)
def test_the_cycle_check_finds_cycles(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert _cycle(graph) == cycle
