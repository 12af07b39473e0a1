"""`slawatch worker` that kill -9s itself at the worst moment for exactly-once: right after the
ledger records a call as sent, before Temporal hears that the activity completed. Temporal then
retries that call on another worker, and only a ledger shared with it can stop a second call.

Run as `python tests/crash_worker.py MARKER`. Every worker started this way shares MARKER; the
first to record a call creates it (holding the call's key) and dies, the others never do.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from unittest.mock import patch

from activities.ledger import SendLedger, open_ledger
from slawatch.models import SendResult
from slawatch.settings import Settings
from workers.cli import worker


class DiesAfterFirstCall:
    """The worker's real ledger, plus the crash."""

    def __init__(self, inner: SendLedger, marker: Path) -> None:
        self._inner = inner
        self._marker = marker

    def mark_sent(self, key: str, result: SendResult) -> None:
        self._inner.mark_sent(key, result)
        if "/voice/" not in key:
            return
        try:
            fd = os.open(self._marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # another worker took the crash
        os.write(fd, key.encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    def begin(self, key: str, channel: str) -> SendResult | None:
        return self._inner.begin(key, channel)

    def release(self, key: str) -> None:
        self._inner.release(key)

    def mark_rejected(self, key: str, result: SendResult) -> None:
        self._inner.mark_rejected(key, result)

    def state(self, key: str) -> tuple[str, int] | None:
        return self._inner.state(key)

    def close(self) -> None:
        self._inner.close()


def main() -> None:
    marker = Path(sys.argv[1])

    def doomed(settings: Settings) -> SendLedger:
        return DiesAfterFirstCall(open_ledger(settings), marker)

    with patch("activities.notify.open_ledger", doomed):
        worker(processes=1)  # called as a function: typer fills no defaults


if __name__ == "__main__":
    main()
