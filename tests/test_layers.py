"""lxm3's packages depend downward only, and no two packages import each other.

The layers, highest first:

    cli, containers (0.5 import path), contrib (lxm3 0.4 helpers)
    xm_cluster
    store, schedulers, packaging, transport, runtime, config
    xm
    errors, files, lazy

Every import in lxm3's source (top-level or inside a function, which are
still dependencies) is read with `ast`; a package importing one in a higher
layer, or a cycle between packages, fails with the offending import named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lxm3
from lxm3.cli.main import COMMANDS

ROOT = Path(lxm3.__file__).parent

LAYERS: dict[str, int] = {
    "errors": 0,
    "files": 0,
    "lazy": 0,  # lxm3.lazy: stdlib only, the lazy names of xm and xm_cluster
    "__init__": 0,
    "reporting": 0,  # lxm3.report: stdlib only, imported by `import lxm3`
    "xm": 1,
    "config": 2,
    "runtime": 2,
    "transport": 2,
    "packaging": 2,
    "schedulers": 2,
    "store": 2,
    "xm_cluster": 3,
    "containers": 4,
    "contrib": 4,  # site/tool helpers and parameter controllers, over the backend
    "cli": 5,
}


def _package_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "lxm3":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> list[tuple[str, str, str]]:
    """(importing package, imported package, where) for every import between lxm3 packages."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        module = ".".join(rel.parts)
        source = _package_of(module.removesuffix(".__init__"))
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module == "lxm3":
                    names = [f"lxm3.{a.name}" if a.name in LAYERS else "lxm3" for a in node.names]
            for name in names:
                target = _package_of(name)
                if target is not None and source is not None and target != source:
                    found.append((source, target, f"{rel}.py:{node.lineno} imports {name}"))
    return found


def test_every_package_has_a_layer() -> None:
    packages = {p.stem if p.is_file() else p.name for p in ROOT.iterdir() if not p.name.startswith("_")}
    packages = {p for p in packages if (ROOT / p).is_dir() or (ROOT / f"{p}.py").exists()}
    assert packages - set(LAYERS) == set(), "give each lxm3 package a layer in this test"


def test_layers_depend_downward_only() -> None:
    upward = [where for source, target, where in _imports() if LAYERS[target] > LAYERS[source]]
    assert upward == []


def test_no_import_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for source, target, _ in _imports():
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(package for package in graph if reaches(package, package, {package}))
    assert cycles == [], f"packages in an import cycle: {cycles}"


def test_every_cli_command_module_loads() -> None:
    """The command table is static: a broken command module fails here, not silently in `--help`."""
    import importlib

    for name, (module, _) in COMMANDS.items():
        loaded = importlib.import_module(module)
        assert callable(getattr(loaded, "add_parser", None)), name
        assert callable(getattr(loaded, "run", None)), name
