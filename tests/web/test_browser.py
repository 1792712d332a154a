"""End to end in headless Chromium: `pgtask serve` under uvicorn, the dashboard updating
live as tasks arrive through the API, and its retry button re-queueing a dead task.

Uses Debian's /usr/bin/chromium and /usr/bin/chromedriver (`make test` installs them when
missing, see scripts/ensure-browser.sh). With CI=true a missing browser fails the test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import httpx
import pytest

from tests.support.waiting import wait_until

from .conftest import make

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CI = os.environ.get("CI", "").lower() == "true"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=1400,1000")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(dsn: str) -> Iterator[str]:
    """`pgtask serve` on a free loopback port (no auth: loopback needs none)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGTASK_WEB_")}
    proc = subprocess.Popen([sys.executable, "-m", "pgtask", "serve", "--dsn", dsn,
                             "--port", str(port), "--log-level", "warning"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert proc.poll() is None, proc.stdout.read().decode()
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, timeout=30, interval=0.1, message="pgtask serve to answer")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def browser() -> Iterator:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        message = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="pgtask-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def test_dashboard_updates_live_and_retries_a_dead_task(server, browser, db):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    dead = make(db, "dead", task_type="reports.build")
    browser.get(server + "/")
    wait = WebDriverWait(browser, 15)
    wait.until(seen.presence_of_element_located((By.ID, f"task-{dead}")))
    browser.execute_script("window.pgtaskNoReload = true")

    r = httpx.post(f"{server}/api/tasks", json={"type": "emails.send", "payload": {"to": "x"}})
    assert r.status_code == 201
    new_id = r.json()["id"]
    wait.until(seen.presence_of_element_located((By.ID, f"task-{new_id}")))

    # The live refresh re-renders rows every two seconds, so an element found a moment ago
    # may be gone: find and click in one retried step, and read the state the same way.
    live = WebDriverWait(browser, 15, ignored_exceptions=(StaleElementReferenceException,))
    live.until(lambda d: d.find_element(By.CSS_SELECTOR, f"#task-{dead} button.retry").click()
               or True)
    live.until(lambda d: d.find_element(By.ID, f"task-{dead}").get_attribute("data-state")
               == "queued")
    state = db.execute("select state::text from pgtask.all_tasks where id = %s",
                       (dead,)).fetchone()["state"]
    assert state == "queued"
    assert browser.execute_script("return window.pgtaskNoReload") is True  # never reloaded
    assert "not updating" not in browser.find_element(By.ID, "status").text
