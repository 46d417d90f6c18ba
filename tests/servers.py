"""`ecozone serve` as a real process for tests (and a free loopback port for any server)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ECOZONE = [sys.executable, "-c", "from ecozone.cli import main; main()"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`ecozone serve --port P [args]` with `env`, its output in `log`; start() returns once
    /healthz answers (the first start loads and compiles the demo)."""

    def __init__(self, env: dict, log: Path, *args: str):
        self.env, self.log, self.args = env, log, args
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 180) -> "Server":
        self.proc = subprocess.Popen(ECOZONE + ["serve", "--port", str(self.port), *self.args], env=self.env,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError("server did not start:\n" + self.log.read_text(errors="replace")[-3000:])

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(self.base + path, timeout=60, **kw)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
