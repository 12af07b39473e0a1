"""Customer notices from the tenant's templates: `<policy dir>/<tenant>/notices/<kind>.<lang>.txt`.

A template's first line is `Subject: ...`, then a blank line, then the body. Placeholders are
`string.Template`'s `$name`: only the fields below exist, so a template can show nothing
internal (no pages, responders or codes: the event does not carry them). An unknown
placeholder is an error naming the file, not a half-filled email.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfo

from policies.loader import BUILTIN_DIR
from slawatch.models import ticket_ref
from slawatch.outbound import DeliveryInput


def local_time(iso: str | None, zone: str) -> str:
    """An instant on the customer's wall clock: "2026-12-08 10:00 (Europe/Tallinn, UTC+02:00)"."""
    if iso is None:
        return "-"
    at = datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
    offset = at.strftime("%z")
    return f"{at:%Y-%m-%d %H:%M} ({zone}, UTC{offset[:3]}:{offset[3:]})"


def template_path(policy_dir: Path | None, tenant: str, kind: str, language: str) -> Path:
    return (policy_dir or BUILTIN_DIR) / tenant / "notices" / f"{kind}.{language}.txt"


def render_notice(policy_dir: Path | None, input: DeliveryInput) -> tuple[str, str]:
    """(subject, body) of the notice `input.event` asks for, in the customer's language."""
    dest = input.destination
    customer = dest.customer
    assert customer is not None
    language = customer.language if customer.language in dest.languages else None
    language = language or dest.default_language
    kind = input.event.type.removeprefix("notice.")
    path = template_path(policy_dir, input.tenant, kind, language)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ValueError(f"{path}: no such notice template") from None
    zone = customer.zone or "UTC"
    data = input.event.data
    fields = {
        "ticket_ref": ticket_ref(input.tenant, input.ticket_id),
        "ticket_id": input.ticket_id,
        "class": str(data.get("class", "")),
        "previous_class": str(data.get("previous_class", "")),
        "response_due": local_time(data.get("response_due"), zone),
        "zone": zone,
    }
    try:
        rendered = Template(text).substitute(fields)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: unknown or malformed placeholder {exc}") from None
    first, _, body = rendered.partition("\n")
    if not first.startswith("Subject:") or not first.removeprefix("Subject:").strip():
        raise ValueError(f"{path}: the first line must be 'Subject: ...'")
    return first.removeprefix("Subject:").strip(), body.lstrip("\n")
