"""A network path to Postgres that stops carrying bytes without closing (issue 14, item 2).

The worker connects through tests/support/silent_proxy.py; the test itself talks to the
private server directly. `silence()` models a NAT or load balancer that dropped its state
(old flows dead, new flows fine): the worker must notice within ~5 s on its pool and on its
LISTEN session, reconnect, keep heartbeating and lose no run. `blackhole()` kills the whole
path: SIGTERM must still stop the worker within its shutdown timeout and a bounded margin.

Each fault test prints a FIGURES line (detection times, exit time, counts): run with -s.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

import pgtask
from tests.support.silent_proxy import SilentProxy
from tests.support.waiting import wait_until
from tests.support.workers import ROOT, WorkerProcess

POOL_LOST = "no answer from the database within"  # a claim / heartbeat / finish abandoned
LISTEN_LOST = "LISTEN connection lost"
DETECT_BOUND = 8.0  # s from silence to the log line: ~5 s promised, room for a loaded CI box
SHUTDOWN_TIMEOUT = 5.0
EXIT_BOUND = 15.0  # s from SIGTERM to exit: the shutdown timeout + a bounded stop

HISTORY = "select state::text from pgtask.task_history where id = %s"
HISTORY_MANY = "select count(*) from pgtask.task_history where id = any(%s) and state = 'succeeded'"
RUNS = "select count(*) from public.chaos_runs where task_id = %s and attempt >= 0"
RUNS_MANY = "select count(*) from public.chaos_runs where task_id = any(%s) and attempt >= 0"
HEARTBEAT = "select heartbeat_at from pgtask.workers where pid = %s"
DB_NOW = "select clock_timestamp()"


# -- the proxy itself -------------------------------------------------------------------


@pytest.fixture
def target() -> Iterator[socket.socket]:
    """A listening socket standing in for the server: the test accepts and drives it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(5)
        yield server


@pytest.fixture
def proxy_to_target(target: socket.socket) -> Iterator[SilentProxy]:
    with SilentProxy(*target.getsockname()[:2]) as proxy:
        yield proxy


def connect(proxy: SilentProxy, target: socket.socket) -> tuple[socket.socket, socket.socket]:
    """(client end, server end) of one new flow through the proxy."""
    client = socket.create_connection((proxy.host, proxy.port), timeout=5)
    server, _ = target.accept()
    server.settimeout(5)
    return client, server


def round_trip(client: socket.socket, server: socket.socket) -> None:
    client.sendall(b"ping")
    assert server.recv(16) == b"ping"
    server.sendall(b"pong")
    assert client.recv(16) == b"pong"


def silent(sock: socket.socket, quiet: float = 0.3) -> bool:
    """Nothing arrives within `quiet` seconds, and the socket was not closed either (a
    bounded wait for something that must not happen)."""
    sock.settimeout(quiet)
    try:
        return sock.recv(16) == b"nothing"  # any bytes, or b"" (closed), is not silence
    except TimeoutError:
        return True


def test_proxy_forwards_both_ways(proxy_to_target, target):
    client, server = connect(proxy_to_target, target)
    with client, server:
        round_trip(client, server)
        server.sendall(b"x" * 3_000_000)  # more than the proxy buffers: backpressure works
        got = 0
        while got < 3_000_000:
            got += len(client.recv(1 << 16))
        round_trip(client, server)


def test_silence_freezes_open_flows_and_new_ones_forward(proxy_to_target, target):
    proxy = proxy_to_target
    old_client, old_server = connect(proxy, target)
    with old_client, old_server:
        round_trip(old_client, old_server)
        proxy.silence()
        old_client.sendall(b"lost")
        old_server.sendall(b"lost")
        assert silent(old_server) and silent(old_client)
        new_client, new_server = connect(proxy, target)
        with new_client, new_server:
            round_trip(new_client, new_server)
        assert proxy.stats() == {"accepted": 2, "forwarding": 0, "silent": 2}
        assert silent(old_server) and silent(old_client)  # still open, still silent


def test_blackhole_accepts_but_forwards_nothing_until_restore(proxy_to_target, target):
    proxy = proxy_to_target
    proxy.blackhole()
    with socket.create_connection((proxy.host, proxy.port), timeout=5) as dead:
        target.settimeout(0.3)
        with pytest.raises(TimeoutError):
            target.accept()  # no upstream connection was even attempted
        dead.sendall(b"hello")
        assert silent(dead)
        proxy.restore()
        target.settimeout(5)
        client, server = connect(proxy, target)
        with client, server:
            round_trip(client, server)
        assert silent(dead)  # restore() revives no flow that was dead


def test_dsn_points_at_the_proxy(proxy_to_target):
    proxy = proxy_to_target
    info = psycopg.conninfo.conninfo_to_dict(
        proxy.dsn("host=db.example hostaddr=10.0.0.1 port=5433 user=u dbname=d"))
    assert info == {"host": "127.0.0.1", "port": str(proxy.port), "user": "u", "dbname": "d"}
    url = psycopg.conninfo.conninfo_to_dict(proxy.dsn("postgresql://u@db.example:5433/d"))
    assert (url["host"], url["port"], url["dbname"]) == ("127.0.0.1", str(proxy.port), "d")


# -- a worker behind the proxy ------------------------------------------------------------


@pytest.fixture
def proxy(private_pg) -> Iterator[SilentProxy]:
    with SilentProxy(private_pg.host, private_pg.port) as proxy:
        yield proxy


def start_worker(spawn_on, proxy: SilentProxy, direct_dsn: str) -> WorkerProcess:
    """A chaos worker whose every connection goes through the proxy. Its handlers record
    runs on the direct DSN, so the run log stays readable whatever the proxy does; this
    tree's src comes first on the path, so an older checkout tests its own worker."""
    env = {"CHAOS_DSN": direct_dsn,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return spawn_on(proxy.dsn(direct_dsn), "--concurrency", "4", "--shutdown-timeout",
                    f"{SHUTDOWN_TIMEOUT:g}s", env=env)


def scalar(dsn: str, query: str, *params: object) -> object:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(query, params or None).fetchone()
    return None if row is None else row[0]


def running(dsn: str, worker: WorkerProcess, task_id: int) -> None:
    """Wait until the worker is registered and runs this task (a run is recorded)."""
    wait_until(lambda: scalar(dsn, HEARTBEAT, worker.pid) is not None, timeout=30,
               message=f"worker registered; log:\n{worker.log()[-2000:]}")
    wait_until(lambda: scalar(dsn, RUNS, task_id), timeout=30,
               message=f"task {task_id} running; log:\n{worker.log()[-2000:]}")


def soft_wait(predicate: Callable[[], object], timeout: float, started: float) -> float | None:
    """Seconds from `started` until predicate holds, or None if it did not within timeout
    (scaled): the figures are printed before anything is asserted, for the old code too."""
    try:
        wait_until(predicate, timeout=timeout, interval=0.05)
    except AssertionError:
        return None
    return round(time.monotonic() - started, 2)


def timeline(checks: dict[str, Callable[[], object]], started: float,
             timeout: float) -> dict[str, float | None]:
    """Seconds from `started` until each check first holds (None: not within timeout,
    scaled). All are polled together, so one slow event does not delay the others' times."""
    seen: dict[str, float | None] = dict.fromkeys(checks)

    def all_seen() -> bool:
        now = time.monotonic()
        for name, check in checks.items():
            if seen[name] is None and check():
                seen[name] = round(now - started, 2)
        return None not in seen.values()

    soft_wait(all_seen, timeout, started)
    return seen


def in_log(worker: WorkerProcess, needle: str, since: int) -> Callable[[], bool]:
    return lambda: needle in worker.log()[since:]


def answer(conn: psycopg.Connection, query: str, *params: object) -> object:
    row = conn.execute(query, params or None).fetchone()
    return None if row is None else row[0]


def worker_running_a_task(spawn_on, proxy, dsn: str,
                          seconds: float) -> tuple[WorkerProcess, int, int]:
    """A worker (through the proxy) running one task that sleeps `seconds`; and where its
    log stands then."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        task_id = pgtask.enqueue(conn, "chaos.run", {"do": "sleep", "seconds": seconds})
    worker = start_worker(spawn_on, proxy, dsn)
    running(dsn, worker, task_id)
    return worker, task_id, len(worker.log())


@pytest.mark.slow
def test_dropped_flows_are_noticed_and_the_worker_recovers(private_chaos_dsn, proxy, spawn_on):
    dsn = private_chaos_dsn
    worker, long_id, since = worker_running_a_task(spawn_on, proxy, dsn, seconds=15)
    before = proxy.stats()

    started = time.monotonic()
    proxy.silence()  # a NAT that dropped its state: every open flow dead, new ones fine
    with psycopg.connect(dsn, autocommit=True) as db:  # direct, never through the proxy
        silenced_at = answer(db, DB_NOW)
        fresh = pgtask.enqueue_many(db, [("chaos.run", {"do": "ok"})] * 10)
        times = timeline({
            "detect_pool": in_log(worker, POOL_LOST, since),
            "detect_listen": in_log(worker, LISTEN_LOST, since),
            "fresh_10_succeeded": lambda: answer(db, HISTORY_MANY, fresh) == len(fresh),
            # heartbeat_at is the renewing statement's now(): later means a new renewal
            "heartbeat_resumed": lambda: (answer(db, HEARTBEAT, worker.pid)
                                          or silenced_at) > silenced_at,
            "long_task_finished": lambda: answer(db, HISTORY, long_id),
        }, started, timeout=20)
        long_state, long_runs = answer(db, HISTORY, long_id), answer(db, RUNS, long_id)
        fresh_runs = answer(db, RUNS_MANY, fresh)
    after = proxy.stats()
    # Times in seconds from the silence; None: not within the wait (60 s at scale 3).
    print("\nFIGURES silence: " + " ".join(f"{k}_s={v}" for k, v in times.items())
          + f" long_task_state={long_state} long_task_runs={long_runs} "
          f"fresh_runs={fresh_runs} proxy_before={before} proxy_after={after} "
          f"alive={worker.proc.poll() is None}")

    tail = worker.log()[since:][-3000:]
    for event in ("detect_pool", "detect_listen"):
        took = times[event]
        assert took is not None and took <= DETECT_BOUND, f"{event}: {took}\n{tail}"
    assert times["fresh_10_succeeded"] is not None, f"tasks enqueued after the silence\n{tail}"
    assert fresh_runs == len(fresh), tail
    assert times["heartbeat_resumed"] is not None, f"the heartbeat did not resume\n{tail}"
    assert (long_state, long_runs) == ("succeeded", 1), tail
    assert after["accepted"] > before["accepted"], "the worker never reconnected"
    assert worker.proc.poll() is None, tail


@pytest.mark.slow
def test_sigterm_stops_the_worker_while_the_path_is_dead(private_chaos_dsn, proxy, spawn_on):
    dsn = private_chaos_dsn
    worker, task_id, since = worker_running_a_task(spawn_on, proxy, dsn, seconds=120)

    proxy.blackhole()  # the whole path is dead: old flows and new ones
    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    exited = soft_wait(lambda: worker.proc.poll() is not None, 20, started)
    code = worker.proc.poll()
    print(f"\nFIGURES sigterm-blackhole: shutdown_timeout_s={SHUTDOWN_TIMEOUT:g} "
          f"exit_after_s={exited} exit_code={code}")

    tail = worker.log()[since:][-3000:]
    assert exited is not None, f"SIGTERM not honoured while the path is dead\n{tail}"
    assert exited <= EXIT_BOUND, tail
    assert code is not None and code >= 0, f"ended by signal {code}\n{tail}"
