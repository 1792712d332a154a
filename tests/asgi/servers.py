"""Start an ASGI example under a real uvicorn, or `pgtask worker --serve-port`, as a
subprocess the test signals; find its port in its log (it binds port 0)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
# uvicorn's own line, and pgtask's for the dashboard of `pgtask worker --serve-port`
PORT_LINE = re.compile(r"(?:Uvicorn running on|dashboard on) http://127\.0\.0\.1:(\d+)")


class Server:
    """A subprocess whose output goes to a temp file; stop() ends it (kill as last resort)."""

    def __init__(self, args: list[str], dsn: str) -> None:
        self.log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by stop()
            prefix="pgtask-asgi-", suffix=".log", delete=False)
        env = {**os.environ, "PGTASK_DSN": dsn,
               "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        self.proc = subprocess.Popen([sys.executable, "-m", *args], stdout=self.log_file,
                                     stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def log(self) -> str:
        return Path(self.log_file.name).read_text(errors="replace")

    def port(self) -> int:
        def found() -> int | None:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.log()}"
            match = PORT_LINE.search(self.log())
            return int(match.group(1)) if match else None

        return wait_until(found, timeout=20, message="the server's port in its log")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port()}{path}"

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log_file.close()


def uvicorn_app(target: str, dsn: str) -> Server:
    return Server(["uvicorn", target, "--port", "0", "--log-level", "info"], dsn)


def post(url: str, **kwargs: object) -> httpx.Response:
    response = httpx.post(url, timeout=10, **kwargs)  # type: ignore[arg-type]
    response.raise_for_status()
    return response
