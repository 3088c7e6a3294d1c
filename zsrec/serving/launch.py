"""Start ``zsrec serve`` as a child process on a free loopback port and stop it as an orchestrator
would (SIGTERM): what the tests and the load benchmark use, so both talk to the real service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..llama_server import free_port


@dataclass
class ServeProcess:
    args: list[str]
    log: Path | None = None  # the service's stderr goes here (else discarded)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    _sink: IO | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: float = 180.0) -> ServeProcess:
        self._sink = open(self.log, "w", encoding="utf-8") if self.log else subprocess.DEVNULL  # noqa: SIM115
        cmd = [sys.executable, "-m", "zsrec", "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.args]
        self.process = subprocess.Popen(cmd, stdout=self._sink, stderr=self._sink, env={**os.environ})
        end = time.monotonic() + wait_ready
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"zsrec serve exited with {self.process.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"zsrec serve was not ready in {wait_ready:.0f}s: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8")[-2000:] if self.log and self.log.is_file() else ""

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait for the drain; the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._sink not in (None, subprocess.DEVNULL):
            self._sink.close()
        return self.process.returncode

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def post_json(url: str, body: object, headers: dict[str, str] | None = None,
              timeout: float = 120.0) -> tuple[int, dict, dict[str, str]]:
    """(status, JSON body, headers with lower-case names) of a POST; HTTP errors are answers too, not exceptions."""
    data = json.dumps(body).encode("utf-8") if not isinstance(body, bytes) else body
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read()), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), {k.lower(): v for k, v in e.headers.items()}
