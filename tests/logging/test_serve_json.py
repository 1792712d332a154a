"""`pgtask serve --log-format json`: pgtask's own start-up line and uvicorn's server and
access lines are JSON objects naming their event (issue 18 item 3).

Before (old code): `--log-format` is a usage error.
"""

from __future__ import annotations

import re
import urllib.request

from tests.logging.procs import Pgtask
from tests.support.waiting import wait_until


def test_serve_logs_json_lines(dsn):
    server = Pgtask("serve", "--dsn", dsn, "--port", "0", "--log-format", "json")
    try:
        running = wait_until(lambda: [line for line in server.lines()
                                      if "Uvicorn running on" in line["message"]],
                             timeout=30, message="uvicorn to listen")
        url = re.search(r"http://\S+", running[0]["message"]).group(0)
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            assert response.status == 200
        wait_until(lambda: server.events("http.access"), message="the access line")
    finally:
        server.stop()
    lines = server.lines()
    (started,) = server.events("serve.started")
    assert started["logger"] == "pgtask.web" and started["level"] == "info"
    assert "serving host=" in started["message"]
    assert running[0]["event"] == "http.server" and running[0]["logger"] == "uvicorn.error"
    (access,) = server.events("http.access")
    assert "GET /healthz" in access["message"] and "200" in access["message"]
    assert all(line["time"] and line["level"] and line["event"] for line in lines)
