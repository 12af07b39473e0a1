"""What the policy and event fuzzers share: the Prokuria seed as a document, paths into it, junk
values, the check that a policy is parsed or refused cleanly, and the history entry each update
records."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import strategies as st

from policies.loader import BUILTIN_DIR, PolicyError, parse_policy
from policies.schema import Policy

SEED: dict[str, Any] = yaml.safe_load((BUILTIN_DIR / "prokuria.yaml").read_text())


DocPath = tuple[str | int, ...]


def paths_of(node: Any, path: DocPath = ()) -> list[DocPath]:
    """Every key and list item in the document, as a path from the top."""
    found: list[DocPath] = [path] if path else []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for k, child in items:
        found += paths_of(child, (*path, k))
    return found


def set_at(doc: dict[str, Any], path: DocPath, value: Any, delete: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    parent: Any = doc
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def check_outcome(text: str, source: str = "fuzz.yaml") -> Policy | PolicyError:
    """parse_policy's answer; anything but a Policy or a PolicyError fails the test."""
    try:
        return parse_policy(text, source)
    except PolicyError as exc:
        assert exc.problems, "a PolicyError without problems"
        for problem in exc.problems:
            assert problem.file == source
            assert problem.message.strip(), problem
            assert "\n" not in str(problem), str(problem)
        return exc


# Update name -> the entry the ticket's history records when it is accepted.
RECORDED = {
    "first_response": "first_response",
    "reclassify": "reclassified",
    "pause": "waiting_on_customer",
    "resume": "resumed",
    "resolve": "resolved",
    "reopen": "reopened",
    "close": "closed",
    "acknowledge": "acknowledged",
}
