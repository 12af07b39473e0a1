"""One-way layers, read from the source: the foundation never imports what sits on it, and an
import inside a function says why (docs/design.md, "The parts").

The foundation is `policies/` and every module of `slawatch/` outside `slawatch/tools/`: what
workflows, activities and the API share (models, settings, page texts and TwiML, paging rules,
search attributes, telemetry, the Temporal connection, logging, SQLite, the stand-in-mode rule).
Above it: `activities/`, `workflows/`, `intake/`, `workers/`, and the face, `slawatch/tools/`
(the CLI, `dev`, `doctor`, the stand-ins, start-up, process and test helpers).

An import inside a function is explained by a comment on its own line(s) or on the line right
above it; there is no list of old exceptions any more. Test modules share code through helper
modules, never by importing each other.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from workers.sandbox import PASSTHROUGH

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["policies", "workflows", "activities", "intake", "workers", "slawatch", "benchmarks"]
PACKAGES += ["tests"]
# The face of `slawatch/` lives in `slawatch/tools/`; every other module of the package is the
# foundation, and so is `policies/`.
FACE = "slawatch.tools"

# An import inside a function is explained by a comment on its line or the line above; the list
# of unexplained ones left from before the rule is empty, and a new one fails.


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository
    module: str  # the importing module
    target: str  # the imported module
    text: str  # the statement, normalised
    in_function: bool
    explained: bool


def _module(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path = REPO) -> list[Import]:
    relative = path.relative_to(root)
    module, lines = _module(relative), path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    found: list[Import] = []

    def explained(node: ast.stmt) -> bool:
        end = node.end_lineno or node.lineno
        own = lines[node.lineno - 1 : end]
        above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
        return any("#" in line for line in own) or above.startswith("#")

    def visit(node: ast.AST, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            inner = depth + isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import | ast.ImportFrom):
                if isinstance(child, ast.Import):
                    targets = [alias.name for alias in child.names]
                else:
                    base = module.split(".")
                    if child.level:
                        keep = len(base) - child.level + (path.name == "__init__.py")
                        base = base[:keep]
                        targets = [".".join([*base, *([child.module] if child.module else [])])]
                    else:
                        targets = [child.module or ""]
                ok = depth > 0 and explained(child)
                for target in targets:
                    found.append(
                        Import(str(relative), module, target, ast.unparse(child), depth > 0, ok)
                    )
            visit(child, inner)

    visit(tree, 0)
    return found


def _all_imports() -> list[Import]:
    return [
        found
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        for found in _imports(path)
    ]


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _in_foundation(module: str) -> bool:
    return (_in(module, "slawatch") and not _in(module, FACE)) or _in(module, "policies")


def test_the_foundation_imports_nothing_that_sits_on_it() -> None:
    upward = {
        (i.module, i.target)
        for i in _all_imports()
        if _in_foundation(i.module)
        and i.target.split(".")[0] in PACKAGES
        and not _in_foundation(i.target)
    }
    assert upward == set(), "the foundation imports a layer above it"


def test_an_import_inside_a_function_says_why() -> None:
    unexplained = {(i.path, i.text) for i in _all_imports() if i.in_function and not i.explained}
    assert unexplained == set(), (
        "import at the top of the file, or say on its line why it is inside the function"
    )


def test_no_test_module_imports_another() -> None:
    # What two test modules share lives in a helper module (tests/*_fixtures.py, tests/probes.py
    # ...); a test module imported by another runs its module-level set-up twice and ties the
    # two files' edits together.
    crossing = {
        (i.path, i.target)
        for i in _all_imports()
        if i.path.startswith("tests/test_") and i.target.startswith("tests.test_")
    }
    assert crossing == set(), "move what the test modules share into a helper module"


def test_the_face_is_a_package_of_its_own() -> None:
    # The worker passes the foundation through the sandbox by name; the face is not among it.
    assert (REPO / "slawatch" / "tools" / "__init__.py").exists()
    assert not any(_in(m, FACE) for m in PASSTHROUGH)


def test_the_scan_sees_imports_inside_functions_and_their_comments(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n\n\ndef f() -> None:\n"
        "    # Imported here: only this path needs it.\n    import json\n"
        "    import csv\n"
    )
    found = [(i.in_function, i.explained) for i in _imports(sample, tmp_path)]
    assert found == [(False, False), (True, True), (True, False)]
    assert any(
        i.in_function and i.explained
        for i in _imports(REPO / "activities" / "ledger" / "__init__.py")
    )
