"""The stand-ins' outboxes: one JSON line per request they received, and how to read them."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel

TWILIO_OUTBOX = "twilio-outbox.jsonl"
SENDGRID_OUTBOX = "sendgrid-outbox.jsonl"


def outbox_dir(data_dir: Path) -> Path:
    return data_dir / "standins"


class OutboxWriter:
    """Appends records as JSON lines; one lock so concurrent requests never interleave."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps({"at": datetime.now(UTC).isoformat(), **record}, sort_keys=True)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete record in `path` (none if it does not exist yet)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line still being written when we read
    return records


class OutboxRecord(BaseModel):
    """One notification as a stand-in saw it, whichever vendor it went to."""

    at: datetime
    vendor: str
    channel: str
    to: list[str]
    text: str
    status: int
    idempotency_key: str | None = None
    # The message or call SID the stand-in answered with (Twilio's; none for SendGrid).
    sid: str | None = None


def _twilio_record(raw: dict[str, Any]) -> OutboxRecord:
    form: dict[str, str] = raw.get("form", {})
    callback = form.get("StatusCallback", "")
    keys = parse_qs(urlsplit(callback).query).get("key", [])
    path = str(raw.get("path", ""))
    channel = "sms" if path.endswith("/Messages.json") else "voice" if "/Calls" in path else path
    return OutboxRecord(
        at=raw["at"],
        vendor="twilio",
        channel=channel,
        to=[form.get("To", "")],
        text=form.get("Body") or form.get("Twiml") or form.get("Url", ""),
        status=int(raw.get("status", 0)),
        idempotency_key=keys[0] if keys else None,
        sid=raw.get("sid"),
    )


def _sendgrid_record(raw: dict[str, Any]) -> OutboxRecord:
    return OutboxRecord(
        at=raw["at"],
        vendor="sendgrid",
        channel="email",
        to=list(raw.get("to", [])),
        text=str(raw.get("subject", "")),
        status=int(raw.get("status", 202)),
        idempotency_key=(raw.get("custom_args") or {}).get("idempotency_key"),
    )


def read_outboxes(directory: Path) -> list[OutboxRecord]:
    """Both stand-ins' records from `directory` (see outbox_dir), oldest first."""
    records = [_twilio_record(r) for r in read_jsonl(directory / TWILIO_OUTBOX)]
    records += [_sendgrid_record(r) for r in read_jsonl(directory / SENDGRID_OUTBOX)]
    return sorted(records, key=lambda r: r.at)
