"""The house's architecture: no import circles, no upward imports, no hidden imports, small rooms.

Every module of ``src/servicemap`` is parsed with :mod:`ast` (nothing is imported), and every
``import`` statement at any depth is an arrow from its module to the servicemap module it names:
inside functions, inside ``if TYPE_CHECKING:`` blocks (which do not run, but still say that one
module depends on another, so they count for cycles and wing order alike) and inside ``try``.

The rules (``HOUSE_STYLE.md`` rule 1, ``design/four-wings.md``):

(a) no import cycle among servicemap modules;
(b) a module imports only its own wing, earlier wings and the ground floor, in the order
    ground < geography < directory < analysis < render; ground-floor modules import only the
    ground floor, except the composers (the ``cli`` package and every module in it,
    ``__main__.py``, ``inputs.py`` and the package ``__init__.py``), which put everything
    together;
(c) no function-level import of a servicemap module, except in the ``cli`` package (its commands
    import lazily so that ``servicemap -h`` stays fast) and in a package ``__init__.py``'s PEP 562
    ``__getattr__`` (the lazy loader of the public names). The lazy loader's imports run only
    when a name is first asked for, after the modules it names are importable, so they are not
    arrows for (a) either;
(d) no module over :data:`MAX_MODULE_LINES` lines and no function over
    :data:`MAX_FUNCTION_LINES` (from ``def`` to its last line, docstring included).

Each check is parametrised over :data:`WINGS_DONE`, the wings whose renovation has landed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

import servicemap

#: The wings in import order: a module may import its own wing and those before it.
WINGS = ("ground", "geography", "directory", "analysis", "render")
#: The wings checked. The renovation lands wing by wing; when all are in, this is ``WINGS``.
WINGS_DONE = WINGS
#: Subpackages on the ground floor (not wings): the command line.
GROUND_PACKAGES = frozenset({"cli"})
#: Modules that compose every wing (they may import any of them).
COMPOSERS = frozenset({"servicemap", "servicemap.__main__", "servicemap.inputs"})
#: Packages whose every module composes every wing: the command line.
COMPOSER_PACKAGES = frozenset({"servicemap.cli"})
#: The one package whose functions may import servicemap modules (the lazy command imports).
LAZY_IMPORTERS = frozenset({"servicemap.cli"})
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80
#: Modules known to be over MAX_MODULE_LINES, with the size they may not grow past.
OVER_THE_LIMIT: dict[str, int] = {}

PACKAGE = "servicemap"
SOURCE = Path(servicemap.__file__).resolve().parent


@dataclass(frozen=True)
class Import:
    """One arrow: a servicemap module importing another."""

    source: str
    target: str
    line: int
    in_function: bool  # inside a def (at any depth)
    lazy_loader: bool  # inside a package __init__'s module-level __getattr__

    def __str__(self) -> str:
        return f"{self.source} (line {self.line}) imports {self.target}"


@dataclass(frozen=True)
class Module:
    """A parsed servicemap module."""

    name: str
    path: str  # as shown in messages
    tree: ast.Module
    lines: int

    @property
    def is_package(self) -> bool:
        return self.path.endswith("__init__.py")


def module_name(path: Path, root: Path) -> str:
    """Return the dotted name of a module file under ``root`` (the package folder)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def wing_of(name: str) -> str:
    """Return the wing of a module: its subpackage, or ``"ground"`` for a top-level module."""
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in GROUND_PACKAGES:
        return "ground"
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in WINGS) else "ground"


def in_any(name: str, packages: frozenset[str]) -> bool:
    """Return True if module ``name`` is one of ``packages`` or a module inside one of them."""
    return any(name == package or name.startswith(package + ".") for package in packages)


def is_composer(name: str) -> bool:
    """Return True if module ``name`` composes every wing (it may import any of them)."""
    return name in COMPOSERS or in_any(name, COMPOSER_PACKAGES)


def parse_modules(sources: Mapping[str, tuple[str, str]]) -> dict[str, Module]:
    """Parse ``{name: (path, text)}`` into modules."""
    return {
        name: Module(name, path, ast.parse(text, filename=path), len(text.splitlines()))
        for name, (path, text) in sources.items()
    }


@lru_cache(maxsize=1)
def _package() -> dict[str, Module]:
    files = sorted(SOURCE.rglob("*.py"))
    return parse_modules(
        {
            module_name(path, SOURCE): (str(path.relative_to(SOURCE.parent)), path.read_text())
            for path in files
        }
    )


def _base(module: Module, level: int) -> str:
    """Return the package a relative import of ``level`` dots starts from."""
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    parts = package.split(".")
    return ".".join(parts[: len(parts) - level + 1])


def _targets(node: ast.Import | ast.ImportFrom, module: Module, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            base = _base(module, node.level) + (f".{base}" if base else "")
        # "from a import b" imports module a.b when there is one, else a name from a.
        names = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
            for alias in node.names
        ]
    return sorted({n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")})


def imports_of(module: Module, known: set[str]) -> list[Import]:
    """Return every servicemap import in a module, at any depth."""
    found: list[Import] = []

    def visit(node: ast.AST, *, in_function: bool, lazy_loader: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.extend(
                    Import(module.name, target, child.lineno, in_function, lazy_loader)
                    for target in _targets(child, module, known)
                )
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                loader = lazy_loader or (
                    module.is_package
                    and node is module.tree
                    and isinstance(child, ast.FunctionDef)
                    and child.name == "__getattr__"
                )
                visit(child, in_function=True, lazy_loader=loader)
            else:
                visit(child, in_function=in_function, lazy_loader=lazy_loader)

    visit(module.tree, in_function=False, lazy_loader=False)
    return found


def all_imports(modules: Mapping[str, Module]) -> list[Import]:
    """Return every arrow between the given modules."""
    known = set(modules)
    return [i for module in modules.values() for i in imports_of(module, known)]


def import_cycles(imports: Iterable[Import]) -> list[list[str]]:
    """Return each import cycle (a strongly connected set of modules), lazy loaders aside."""
    graph: dict[str, set[str]] = {}
    for arrow in imports:
        if not arrow.lazy_loader:
            graph.setdefault(arrow.source, set()).add(arrow.target)
            graph.setdefault(arrow.target, set())
    # Tarjan's strongly connected components.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for after in sorted(graph[node]):
            if after not in index:
                connect(after)
                low[node] = min(low[node], low[after])
            elif after in on_stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(cycles)


def upward_imports(imports: Iterable[Import]) -> list[Import]:
    """Return the arrows that point at a later wing (composers may point anywhere)."""
    rank = {wing: number for number, wing in enumerate(WINGS)}
    return [
        i
        for i in imports
        if not is_composer(i.source) and rank[wing_of(i.target)] > rank[wing_of(i.source)]
    ]


def function_level_imports(imports: Iterable[Import]) -> list[Import]:
    """Return the servicemap imports made inside functions, outside the allowed places."""
    return [
        i
        for i in imports
        if i.in_function and not i.lazy_loader and not in_any(i.source, LAZY_IMPORTERS)
    ]


def long_functions(module: Module, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Return ``"path:line name (N lines)"`` for each function longer than ``limit`` lines."""
    return [
        f"{module.path}:{node.lineno} {node.name} ({length} lines)"
        for node in ast.walk(module.tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > limit
    ]


def _in_wing(wing: str) -> dict[str, Module]:
    return {name: module for name, module in _package().items() if wing_of(name) == wing}


def _shown(items: Iterable[object]) -> str:
    return "\n  ".join(map(str, items))


# --- the rules, wing by wing -------------------------------------------------------------------


def test_every_module_is_in_a_wing() -> None:
    assert {wing_of(name) for name in _package()} <= set(WINGS)
    assert set(WINGS_DONE) <= set(WINGS)


@pytest.mark.parametrize("wing", [w for w in WINGS if w != "ground"])
def test_a_wing_lists_its_public_modules(wing: str) -> None:
    import importlib

    folder = Path(servicemap.__file__).parent / wing
    public = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    assert importlib.import_module(f"servicemap.{wing}").__all__ == public


@pytest.mark.parametrize("wing", WINGS_DONE)
def test_no_import_cycle_through_the_wing(wing: str) -> None:
    cycles = [c for c in import_cycles(all_imports(_package())) if wing in map(wing_of, c)]
    assert not cycles, "Import cycles:\n  " + _shown(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("wing", WINGS_DONE)
def test_no_import_from_a_later_wing(wing: str) -> None:
    upward = upward_imports(all_imports(_package()))
    offending = [i for i in upward if wing_of(i.source) == wing]
    assert not offending, "Imports from a later wing:\n  " + _shown(offending)


@pytest.mark.parametrize("wing", WINGS_DONE)
def test_no_function_level_import_of_a_servicemap_module(wing: str) -> None:
    hidden = function_level_imports(all_imports(_package()))
    offending = [i for i in hidden if wing_of(i.source) == wing]
    assert not offending, "Imports inside functions:\n  " + _shown(offending)


@pytest.mark.parametrize("wing", WINGS_DONE)
def test_no_module_over_the_line_limit(wing: str) -> None:
    long = [
        f"{m.path} ({m.lines} lines)"
        for m in _in_wing(wing).values()
        if m.lines > OVER_THE_LIMIT.get(m.name, MAX_MODULE_LINES)
    ]
    assert not long, f"Modules over {MAX_MODULE_LINES} lines:\n  " + _shown(long)


@pytest.mark.parametrize("wing", WINGS_DONE)
def test_no_function_over_the_line_limit(wing: str) -> None:
    long = [entry for module in _in_wing(wing).values() for entry in long_functions(module)]
    assert not long, f"Functions over {MAX_FUNCTION_LINES} lines:\n  " + _shown(long)


# --- the checks themselves, on made-up modules ---------------------------------------------------


def _made_up(**texts: str) -> dict[str, Module]:
    """Modules named like ``geography__forces`` -> ``servicemap.geography.forces``."""
    sources = {}
    for key, text in texts.items():
        name = ".".join([PACKAGE, *key.split("__")]) if key != "init" else PACKAGE
        path = name.replace(".", "/") + ("/__init__.py" if key == "init" else ".py")
        sources[name] = (path, text)
    return parse_modules(sources)


def test_a_cycle_through_a_function_level_import_is_found() -> None:
    modules = _made_up(
        geography__forces="def f():\n    from servicemap.geography import areas\n",
        geography__areas="from servicemap.geography.forces import f\n",
        geography__need="from servicemap.geography import areas\n",
    )
    assert import_cycles(all_imports(modules)) == [
        ["servicemap.geography.areas", "servicemap.geography.forces"]
    ]


def test_relative_imports_are_resolved() -> None:
    modules = _made_up(
        directory__export="from .services import x\nfrom . import openreferral\n",
        directory__services="x = 1\n",
        directory__openreferral="from ..directory import export\n",
    )
    arrows = {(i.source, i.target) for i in all_imports(modules)}
    assert arrows == {
        ("servicemap.directory.export", "servicemap.directory.services"),
        ("servicemap.directory.export", "servicemap.directory.openreferral"),
        ("servicemap.directory.openreferral", "servicemap.directory.export"),
    }


def test_an_upward_import_under_type_checking_is_found() -> None:
    modules = _made_up(
        geography__boundaries=(
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from servicemap.render.maps import Map\n"
        ),
        render__maps="from servicemap.geography.boundaries import load\nMap = 1\n",
        _csv="from servicemap.directory import services\n",
        directory__services="x = 1\n",
        cli="from servicemap.render import maps\n",
        cli__commands_maps="from servicemap.render import maps\n",
    )
    upward = {(i.source, i.target) for i in upward_imports(all_imports(modules))}
    assert upward == {
        ("servicemap.geography.boundaries", "servicemap.render.maps"),
        ("servicemap._csv", "servicemap.directory.services"),
    }


def test_function_level_imports_are_found_except_cli_and_the_lazy_loader() -> None:
    modules = _made_up(
        geography__need=(
            "import numpy\n"
            "class Need:\n"
            "    def load(self):\n"
            "        import scipy\n"
            "        from servicemap.geography import _nomis\n"
        ),
        geography___nomis="x = 1\n",
        cli="def command():\n    from servicemap.geography.need import Need\n",
        cli__commands_data="def command():\n    from servicemap.geography.need import Need\n",
        init="def __getattr__(name):\n    from servicemap.geography.need import Need\n",
    )
    hidden = [(i.source, i.line) for i in function_level_imports(all_imports(modules))]
    assert hidden == [("servicemap.geography.need", 5)]


def test_a_lazy_loader_is_not_an_arrow_of_a_cycle() -> None:
    modules = _made_up(
        init="def __getattr__(name):\n    from servicemap.settings import Settings\n",
        settings="from servicemap import __version__\n",
    )
    assert import_cycles(all_imports(modules)) == []


def test_a_long_function_is_found() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))
    modules = _made_up(geography__areas=f"def short():\n{body}\ndef long():\n{body}    pass\n")
    assert long_functions(modules["servicemap.geography.areas"]) == [
        f"servicemap/geography/areas.py:{MAX_FUNCTION_LINES + 2} long "
        f"({MAX_FUNCTION_LINES + 1} lines)"
    ]


#: Test modules that hold shared worlds and helpers: the only ones other test modules may import
#: (``reach_before``: the served-area rules before vectorising, test_reach_equal's reference).
SHARED_TEST_MODULES = frozenset(
    {"worlds", "localserver", "conftest", "axe", "browsing", "reach_before"}
)


def test_no_test_module_imports_another() -> None:
    tests = Path(__file__).resolve().parent
    names = {path.stem for path in tests.glob("*.py")}
    found = []
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            else:
                continue
            for target in targets:
                parts = target.split(".")
                stem = parts[1] if parts[0] == "tests" and len(parts) > 1 else parts[0]
                if stem in names and stem not in SHARED_TEST_MODULES and stem != path.stem:
                    found.append(f"{path.name}:{node.lineno} imports {stem}")
    assert found == [], f"{found}: put shared worlds in tests/worlds.py and import them from there."
