"""The kit's own modules and who imports whom, read from their source (ast): the layering a newcomer
can follow is one where no module imports, directly or round about, one that imports it back.

The ground floor (vocab/: words and the grounded prompt, standard library only) imports nothing of
the kit, and no module imports, directly or round about, one that imports it back.
"""

from __future__ import annotations

import ast

from tests.helpers import ROOT


PACKAGES = ("prep", "vocab")


def kit_modules() -> dict[str, object]:
    """name -> path of every module of the kit: the top-level stages and its packages."""
    mods = {p.stem: p for p in ROOT.glob("*.py")}
    for package in PACKAGES:
        mods.update({f"{package}.{p.stem}" if p.stem != "__init__" else package: p for p in (ROOT / package).glob("*.py")})
    return mods


def imports(mods: dict) -> dict[str, set[str]]:
    """name -> the kit modules its source imports, at the top or inside a function."""
    out: dict[str, set[str]] = {}
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            out.setdefault(name, set()).update(m for m in found if m in mods and m != name)
    return out


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                found.append(sorted([v, *group]))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_reader_finds_a_circle_it_is_shown():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_one_that_imports_it_back():
    assert circles(imports(kit_modules())) == []


def test_the_ground_floor_imports_nothing_of_the_kit():
    # vocab/: the manual's words and the grounded prompt, read by every floor above
    edges = imports(kit_modules())
    assert {name: sorted(found) for name, found in edges.items() if name.startswith("vocab") and found} == {}
