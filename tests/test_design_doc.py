"""docs/design.md and the README name files, functions and patches that exist.

The design is read by people who have only this repository, and its "Where things happen"
sends them to a function: when code moves, this fails until the text follows.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DESIGN = REPO / "docs" / "design.md"
DOCS = [DESIGN, REPO / "README.md"]
# Where repository paths start, to tell them from other backticked names.
TOP = tuple(f"{name}/" for name in ("policies", "workflows", "activities", "intake", "workers"))
TOP += tuple(f"{name}/" for name in ("slawatch", "deploy", "tests", "benchmarks", "docs", ".ci"))


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _classes(folder: Path) -> dict[str, ast.ClassDef]:
    return {
        node.name: node
        for path in folder.glob("*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef)
    }


def _defined(path: Path, dotted: str) -> bool:
    """`name` or `Class.method` is defined in `path`; a method may come from a base class
    defined in the same folder (TicketSlaWorkflow's events live in a base class)."""
    name, _, method = dotted.partition(".")
    top = {
        node.name: node
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    if name not in top or not method:
        return name in top
    classes, todo = _classes(path.parent), [top[name]]
    while todo:
        cls = todo.pop()
        if not isinstance(cls, ast.ClassDef):
            return False
        if any(getattr(node, "name", None) == method for node in cls.body):
            return True
        todo += [classes[b.id] for b in cls.bases if isinstance(b, ast.Name) and b.id in classes]
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_repository_path_named_exists(doc: Path) -> None:
    named = set(re.findall(r"`([.\w/*-]+)`", doc.read_text()))
    paths = {n for n in named if n.startswith(TOP) and not n.startswith(".standins")}
    assert paths, "no paths found: the pattern above no longer matches the text"
    missing = sorted(p for p in paths if not list(REPO.glob(p.rstrip("/"))))
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


def test_where_things_happen_names_functions_that_exist() -> None:
    section = _section(DESIGN.read_text(), "Where things happen")
    pairs = re.findall(r"`([\w/]+\.py)`,\s*`([A-Za-z_][\w.]*)`", section)
    assert len(pairs) >= 8, pairs
    wrong = [(f, name) for f, name in pairs if not _defined(REPO / f, name)]
    assert not wrong, f"docs/design.md names functions that are not there: {wrong}"


def _patches_in_code() -> dict[str, set[str]]:
    """Each patch id asked in workflows/ and the files that ask it."""
    sources = {p.relative_to(REPO).as_posix(): p.read_text() for p in REPO.glob("workflows/*.py")}
    constants = {
        name: value
        for text in sources.values()
        for name, value in re.findall(r'^([A-Z_]+) = "([^"]+)"$', text, re.MULTILINE)
    }
    used: dict[str, set[str]] = {}
    for path, text in sources.items():
        # `workflow.patched(ID)`, `patched(ID, revision)` (workflows/versions.py), `_patched(ID)`
        for name in re.findall(r"\b_?patched\(([A-Z_]+)[,)]", text):
            used.setdefault(constants[name], set()).add(path)
    return used


def test_the_patch_tables_list_every_patch_and_where_it_is_used() -> None:
    section = _section(DESIGN.read_text(), "Temporal rules")
    rows = re.findall(r"^\| `([a-z-]+)` \| ([^|]+) \|", section, re.MULTILINE)
    where = {
        patch: set(re.findall(r"`([\w/]+\.py)`", cells)) for patch, cells in rows if ".py" in cells
    }
    assert where == _patches_in_code()
    added = {patch for patch, cells in rows if re.fullmatch(r"\s*[0-9a-f]{7,40}\s*", cells)}
    assert added == set(where), "'When each patch was added' lists other patches"
