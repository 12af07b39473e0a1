"""One-way layers, read from the source: the foundation never imports what sits on it, and an
import inside a function says why (docs/design.md, "The parts").

The foundation is `policies/` and the parts of `slawatch/` that workflows, activities and the API
share (models, settings, paging rules, search attributes, telemetry, the Temporal connection,
logging, SQLite, the stand-in-mode rule). Above it: `activities/`, `workflows/`, `intake/`,
`workers/`, and the face of `slawatch/` (the CLI, `dev`, `doctor`, the stand-ins, start-up and
process helpers).

What the code did when this test was written is listed below, so the suite stays green while
the layers are split: a new case fails, and so does a listed case that is gone (delete its line,
the list only shrinks). An import inside a function is explained by a comment on its own line(s)
or on the line right above it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["policies", "workflows", "activities", "intake", "workers", "slawatch", "benchmarks"]
PACKAGES += ["tests"]
FOUNDATION = {
    "slawatch",
    "slawatch.models",
    "slawatch.settings",
    "slawatch.paging",
    "slawatch.search_attributes",
    "slawatch.telemetry",
    "slawatch.temporal",
    "slawatch.logging",
    "slawatch.sqlite",
    "slawatch.safety",
    "slawatch.secret_specs",
}

# (importing module, imported module): the foundation reaching up.
KNOWN_UPWARD: set[tuple[str, str]] = set()

# (file, import): imports inside a function with no comment saying why.
KNOWN_UNEXPLAINED = {
    ("tests/ledger_racer.py", "from activities.ledger.postgres import PostgresLedger"),
    ("tests/ledger_racer.py", "from activities.ledger.sqlite import SqliteLedger"),
    ("tests/test_notify_activities.py", "from slawatch.standins.outbox import read_jsonl"),
    ("tests/test_ticket_events.py", "from slawatch.models import AcknowledgeInput"),
    ("activities/ledger/__init__.py", "from activities.ledger.sqlite import SqliteLedger"),
    ("benchmarks/common.py", "from temporalio.service import RPCError"),
    ("benchmarks/common.py", "from workers.worker import ensure_search_attributes"),
    ("policies/calendar.py", "import holidays"),
    ("policies/clock.py", "import holidays"),
    ("slawatch/cli_ticket.py", "from intake.server import serve_api"),
    ("slawatch/cli_ticket.py", "from slawatch.logging import configure_logging"),
    ("slawatch/cli_ticket.py", "from slawatch.process import exit_now"),
    ("slawatch/cli_ticket.py", "from slawatch.safety import Role"),
    ("slawatch/cli_ticket.py", "from slawatch.standins.outbox import outbox_dir, read_outboxes"),
    ("slawatch/cli_ticket.py", "from slawatch.startup import refuse_unsafe_start"),
    ("slawatch/dev.py", "from intake.server import serve_api"),
    ("slawatch/dev.py", "from slawatch.cli_output import load_settings"),
    ("slawatch/dev.py", "from slawatch.logging import configure_logging"),
    ("slawatch/dev.py", "from slawatch.safety import ALL_ROLES"),
    ("slawatch/dev.py", "from slawatch.safety import api_docs_enabled"),
    ("slawatch/dev.py", "from slawatch.standins.stack import start_standins"),
    ("slawatch/dev.py", "from slawatch.standins.tools import StandinToolsMissing"),
    ("slawatch/dev.py", "from slawatch.startup import refuse_unsafe_start"),
    ("slawatch/dev.py", "from temporalio.service import RPCError"),
    ("slawatch/dev.py", "from workers.worker import ensure_search_attributes"),
    ("slawatch/dev.py", "from workers.worker import run_worker"),
    ("slawatch/doctor.py", "from activities.clients import vendors_from_settings"),
    ("slawatch/doctor.py", "from activities.credentials import sendgrid_problem, twilio_problem"),
    ("slawatch/doctor.py", "from activities.vendors import VendorError"),
    (
        "slawatch/doctor.py",
        "from policies.loader import BUILTIN_DIR, PolicyError, available_tenants, load_policy",
    ),
    ("slawatch/doctor.py", "from slawatch.cli_output import load_settings"),
    ("slawatch/doctor.py", "from slawatch.process import exit_now"),
    ("slawatch/doctor.py", "from slawatch.search_attributes import indexed_value_type"),
    ("slawatch/doctor.py", "from slawatch.temporal import connect"),
    (
        "slawatch/doctor.py",
        "from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest",
    ),
    (
        "slawatch/doctor.py",
        "from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest",
    ),
    ("slawatch/doctor.py", "from temporalio.service import RPCError, RPCStatusCode"),
    ("slawatch/doctor.py", "from workflows.search import DEFINITIONS"),
    ("slawatch/logging.py", "from temporalio import activity"),
    ("slawatch/standins/stack.py", "from slawatch.settings import Settings"),
    ("slawatch/startup.py", "from activities.credentials import sendgrid_problem, twilio_problem"),
    ("workers/worker.py", "from activities.notify import notification_activities"),
    ("workers/worker.py", "from slawatch.search_attributes import indexed_value_type"),
    ("workers/worker.py", "from slawatch.telemetry import runtime_for"),
    ("workers/worker.py", "from slawatch.temporal import connect"),
    (
        "workers/worker.py",
        "from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest",
    ),
    ("workers/worker.py", "from temporalio.service import RPCError, RPCStatusCode"),
    ("workers/worker.py", "from workflows.search import DEFINITIONS"),
}


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


def _in_foundation(module: str) -> bool:
    return module in FOUNDATION or module == "policies" or module.startswith("policies.")


def test_the_foundation_imports_nothing_that_sits_on_it() -> None:
    upward = {
        (i.module, i.target)
        for i in _all_imports()
        if _in_foundation(i.module)
        and i.target.split(".")[0] in PACKAGES
        and not _in_foundation(i.target)
    }
    assert upward - KNOWN_UPWARD == set(), "the foundation imports a layer above it"
    assert KNOWN_UPWARD - upward == set(), "fixed: delete these lines from KNOWN_UPWARD"


def test_an_import_inside_a_function_says_why() -> None:
    unexplained = {(i.path, i.text) for i in _all_imports() if i.in_function and not i.explained}
    assert unexplained - KNOWN_UNEXPLAINED == set(), (
        "import at the top of the file, or say on its line why it is inside the function"
    )
    assert KNOWN_UNEXPLAINED - unexplained == set(), (
        "fixed: delete these lines from KNOWN_UNEXPLAINED"
    )


def test_the_scan_sees_imports_inside_functions_and_their_comments(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n\n\ndef f() -> None:\n"
        "    # Imported here: only this path needs it.\n    import json\n"
        "    import csv\n"
    )
    found = [(i.in_function, i.explained) for i in _imports(sample, tmp_path)]
    assert found == [(False, False), (True, True), (True, False)]
    assert any(i.in_function and not i.explained for i in _imports(REPO / "slawatch" / "dev.py"))
