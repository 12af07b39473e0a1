"""Container healthcheck: exit 0 when an HTTP endpoint answers 2xx, 1 otherwise (stdlib only).

Usage: healthcheck.py [URL]. Without a URL it probes the API's /healthz on SLAWATCH_API_PORT;
the worker passes its metrics URL (http://127.0.0.1:9464/metrics).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def default_url() -> str:
    """The intake API's health endpoint on this container's loopback."""
    return f"http://127.0.0.1:{os.environ.get('SLAWATCH_API_PORT', '8000')}/healthz"


def check(url: str, timeout: float = 4.0) -> tuple[bool, str]:
    """Whether url answers 2xx, and a one-line reason for `docker inspect` to show."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as err:
        return False, f"{url}: HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        return False, f"{url}: {getattr(err, 'reason', err)}"
    return 200 <= status < 300, f"{url}: HTTP {status}"


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else default_url()
    healthy, reason = check(url)
    print(("healthy " if healthy else "unhealthy ") + reason)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
