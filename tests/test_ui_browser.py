"""The operator's console: the Temporal UI, filtered by SlaState, shows the breached ticket."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote

from tests.browser import ARTIFACTS, chromium
from tests.e2e_fixtures import TENANT, Stack, wait_for


def test_breached_ticket_is_listed_in_the_ui_by_sla_state(e2e_stack: Stack, tmp_path: Path) -> None:
    ticket_id = f"UI-{uuid.uuid4().hex[:8]}"
    workflow_id = f"ticket/{TENANT}/{ticket_id}"
    with e2e_stack.http() as api:
        opened = api.post("/v1/tickets", json={"tenant": TENANT, "ticket_id": ticket_id})
        assert opened.status_code == 201, opened.text

        def breached() -> bool:
            rows = api.get("/v1/tickets", params={"tenant": TENANT, "state": "breached"}).json()
            return any(t["ticket_id"] == ticket_id for t in rows["tickets"])

        wait_for("visibility to show the ticket as breached", breached)

    # Filter by SLA state only: the workflow id must come from the result rows, not the filter.
    query = quote(f"SlaState = 'breached' AND SlaTenant = '{TENANT}'")
    url = f"{e2e_stack.ui}/namespaces/default/workflows?query={query}"
    dom = chromium(tmp_path, "--dump-dom", url)
    # The row's link to the ticket's history, the id's slashes escaped in the path.
    assert f"/workflows/{quote(workflow_id, safe='')}/" in dom, dom[-3000:]

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "temporal-ui-breached.png"
    shot.unlink(missing_ok=True)
    chromium(tmp_path, f"--screenshot={shot}", url)
    assert shot.stat().st_size > 10_000  # a rendered page, not an empty image
