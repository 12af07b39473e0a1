"""Prism (Stoplight's OpenAPI mock server) as a subprocess serving Twilio's official spec."""

from __future__ import annotations

import subprocess
from pathlib import Path

from slawatch.tools.process import NotReady, port_open, stop_process, wait_until
from slawatch.tools.standins.tools import prism_binary, twilio_spec


class PrismProcess:
    """`prism mock --errors` on 127.0.0.1:`port`: validates requests against the spec."""

    def __init__(self, port: int, log_path: Path, spec: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self.spec = spec or twilio_spec()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> PrismProcess:
        """Start Prism and wait until it accepts connections (about 1.5 s)."""
        # --errors: a request that violates the spec gets a 4xx instead of a happy example.
        argv = [str(prism_binary()), "mock", "-h", "127.0.0.1", "-p", str(self.port)]
        argv += ["--errors", "-v", "warn", str(self.spec)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Own process group: node may spawn children, and stop() must end them all.
            self._proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_until(
                f"prism on port {self.port}",
                lambda: port_open(self.port),
                timeout,
                interval=0.05,
                proc=self._proc,
                log=self.log_path,
            )
        except NotReady:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL what is left after 5 s."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, grace=5, group=True)
