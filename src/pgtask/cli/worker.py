"""pgtask worker, pgtask enqueue, pgtask run, pgtask tasks."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

import click

from pgtask.cli.common import QUEUE, TASK_TYPE, dsn_option
from pgtask.cli.http_options import http_config, http_options
from pgtask.cli.log_options import log_options
from pgtask.cli.serve_inline import serve_inline, serve_inline_options
from pgtask.config import redact_dsn, resolve_dsn
from pgtask.contrib.django.cli import django_option
from pgtask.durations import parse_duration
from pgtask.errors import ConfigError, DatabaseUnavailable
from pgtask.registry import Registry, default_registry, load_handlers

if TYPE_CHECKING:
    from pgtask.worker.http.targets import HttpTargets
    from pgtask.worker.metrics import WorkerMetrics
    from pgtask.worker.runner import Worker

log = logging.getLogger("pgtask.worker")


def setup_logging(level: str, fmt: str = "text") -> None:
    from pgtask.logs import configure

    configure(level, fmt, "%(asctime)s %(levelname)-7s %(name)s [%(process)d] %(message)s")
    # alembic announces its plugins at INFO whenever the schema check reads its revisions
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _load(modules: tuple[str, ...]) -> Registry:
    if os.getcwd() not in sys.path:  # console scripts do not put the cwd on sys.path
        sys.path.insert(0, os.getcwd())
    try:
        return load_handlers(list(modules), default_registry)
    except ImportError as exc:
        raise ConfigError(f"{exc} (is it importable from {os.getcwd()}?)") from None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise click.BadParameter("the payload must be a JSON object, e.g. '{\"to\": \"a@b.c\"}'")
    return value


@click.command()
@dsn_option
@django_option
@click.option("--handlers", "-H", multiple=True, metavar="MODULE",
              help="Module that registers task handlers (repeatable), e.g. app.tasks. "
                   "Without it the worker serves HTTP targets only.")
@click.option("--queue", "-q", "queues", multiple=True, type=QUEUE,
              help="Queue to serve (repeatable; default all).")
@click.option("--http-targets/--no-http-targets", default=None,
              help="POST tasks bound for HTTP targets (default: on when no --handlers).")
@http_options
@click.option("--concurrency", "-c", default=100, show_default=True, type=click.IntRange(1, 10000),
              help="Tasks in flight per process (sync handlers: threads).")
@click.option("--processes", "-p", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Worker processes under a supervisor that restarts crashed ones.")
@click.option("--shutdown-timeout", default="30s", show_default=True,
              help="On SIGTERM/SIGINT, wait this long for running tasks, then release them.")
@click.option("--poll-interval", default="1s", show_default=True,
              help="Claim at least this often when idle (NOTIFY wakes workers sooner).")
@click.option("--heartbeat-interval", default="5s", show_default=True,
              help="Renew leases at least this often (more often for a short lease: a third "
                   "of it); at most 20s.")
@click.option("--rescue-interval", default="10s", show_default=True,
              help="Rescue tasks whose lease ran out (and prune old ones) this often.")
@click.option("--db-timeout", default="3s", show_default=True,
              help="Give up on a claim, heartbeat or finish the database has not answered "
                   "within this, and retry it on a fresh connection.")
@click.option("--restart-reset-after", default="60s", hidden=True,
              help="With --processes: a child that ran this long restarts without back-off.")
@click.option("--retention", default="7d", show_default=True,
              help="Prune finished tasks older than this ('none' keeps them).")
@click.option("--no-listen", is_flag=True, help="Do not LISTEN; rely on polling only.")
@click.option("--no-scheduler", is_flag=True,
              help="Never lead the cron/interval schedules (other workers will).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve this worker's Prometheus metrics on this port (with --processes, "
                   "child N uses port + N).")
@click.option("--metrics-addr", default="127.0.0.1", show_default=True,
              help="Address for --metrics-port; other than loopback, scrapers must send "
                   "Authorization: Bearer $PGTASK_METRICS_TOKEN (16+ characters).")
@log_options
@serve_inline_options
def worker(dsn: str | None, handlers: tuple[str, ...], queues: tuple[str, ...],
           http_targets: bool | None, http_allow: tuple[str, ...],
           http_allow_cidr: tuple[str, ...], http_allow_link_local: bool,
           http_secrets_file: str | None, concurrency: int, processes: int,
           shutdown_timeout: str, poll_interval: str, heartbeat_interval: str,
           rescue_interval: str, db_timeout: str, restart_reset_after: str, retention: str,
           no_listen: bool, no_scheduler: bool, metrics_port: int | None, metrics_addr: str,
           log_level: str, log_format: str) -> None:
    """Run tasks: claim, execute the registered handlers (or POST HTTP targets), record outcomes."""
    from pgtask.worker.runner import Worker, WorkerConfig

    setup_logging(log_level, log_format)
    registry = _load(handlers)
    url = resolve_dsn(dsn)
    targets: HttpTargets | None = None
    if http_targets or (http_targets is None and not (handlers or registry.tasks)):
        from pgtask.worker.http.targets import HttpTargets

        targets = HttpTargets(http_config(http_allow, http_allow_link_local, http_secrets_file,
                                          http_allow_cidr))
    try:
        config = WorkerConfig(
            queues=list(queues) or None, concurrency=concurrency,
            poll_interval=_seconds(poll_interval),
            heartbeat_interval=_seconds(heartbeat_interval),
            maintenance_interval=_seconds(rescue_interval), db_timeout=_seconds(db_timeout),
            shutdown_timeout=_seconds(shutdown_timeout),
            retention=None if retention == "none" else parse_duration(retention),
            listen=not no_listen, scheduler=not no_scheduler)
        reset_after = _seconds(restart_reset_after)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if (dashboard := serve_inline(url, processes)) is not None:  # --serve-port
        config.services.append(dashboard)
    if processes > 1:
        from pgtask.store.preflight import preflight
        from pgtask.worker.supervisor import Supervisor, child_args

        asyncio.run(preflight(url))  # one refusal line, not one from each child
        if metrics_port is not None:
            from pgtask.worker.metrics import TOKEN_ENV, metrics_token

            metrics_token(metrics_addr, os.environ.get(TOKEN_ENV) or None)  # likewise
        sys.exit(Supervisor(child_args(sys.argv[1:]), processes, reset_after).run())
    log.info("connecting to %s", redact_dsn(url), extra={"event": "worker.connecting"})
    metrics = None if metrics_port is None else _metrics(metrics_port, metrics_addr)
    sys.exit(_run_worker(Worker(url, registry, config, targets=targets, metrics=metrics)))


def _metrics(port: int, addr: str) -> WorkerMetrics:
    """Serve this process's metrics (child N of a supervisor on port + N; 0: any port)."""
    from pgtask.worker.metrics import start_worker_metrics

    if port:
        port += int(os.environ.get("PGTASK_WORKER_INDEX", "0"))
    metrics = start_worker_metrics(port, addr=addr)
    log.info("worker metrics on http://%s:%d/metrics", addr, metrics.port,
             extra={"event": "metrics.started"})
    return metrics


def _seconds(text: str) -> float:
    return parse_duration(text).total_seconds()


def _run_worker(worker: Worker) -> int:
    """Run until the first SIGTERM/SIGINT drains it; a second signal exits at once."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        signals: list[int] = []

        def on_signal(signum: int) -> None:
            signals.append(signum)
            if len(signals) > 1:
                log.warning("second signal: exiting now; leases will recover running tasks",
                            extra={"event": "worker.aborted"})
                logging.shutdown()
                os._exit(1)
            worker.stop()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        await worker.run()

    asyncio.run(main())
    logging.shutdown()
    if threading.active_count() > 1:
        # A sync handler that ignores cancellation still holds a thread; its task was
        # released, so leave without waiting for it.
        os._exit(0)
    return 0


@click.command()
@dsn_option
@click.argument("task_type", type=TASK_TYPE)
@click.option("--payload", default="{}", show_default=True, help="JSON object.")
@click.option("--queue", type=QUEUE, default=None,
              help="Queue (default: the task type's, as workers registered it, else 'default').")
@click.option("--delay", default=None, help="Run after this long, e.g. 30s.")
@click.option("--priority", default=None, type=int,
              help="-1000..1000, higher first (default: the task type's, else 0).")
@click.option("--idempotency-key", default=None, help="Same (queue, key) -> same task.")
@click.option("--max-attempts", default=None, type=int,
              help="Default: the task type's, else the queue's.")
@click.option("--target-url", default=None, help="POST the task to this URL (HTTP target).")
def enqueue(dsn: str | None, task_type: str, payload: str, queue: str | None,
            delay: str | None, priority: int | None, idempotency_key: str | None,
            max_attempts: int | None, target_url: str | None) -> None:
    """Put a task on a queue and print its id."""
    from pgtask.client import enqueue as do_enqueue
    from pgtask.store import enqueue_connection

    try:
        options = dict(queue=queue, priority=priority, idempotency_key=idempotency_key,
                       max_attempts=max_attempts, target_url=target_url,
                       delay=parse_duration(delay) if delay else None)
        body = _json_object(payload)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    try:
        with enqueue_connection(resolve_dsn(dsn)) as conn:
            task_id = do_enqueue(conn, task_type, body, **options)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    except DatabaseUnavailable as exc:  # as it has always read: the driver's own words
        click.echo(f"pgtask: database error: {exc}", err=True)
        sys.exit(2)
    click.echo(task_id)


@click.command("run")
@click.argument("task_type")
@click.option("--handlers", "-H", multiple=True, required=True, metavar="MODULE")
@click.option("--payload", default="{}", show_default=True, help="JSON object.")
def run_once(task_type: str, handlers: tuple[str, ...], payload: str) -> None:
    """Run one handler in-process, without the queue (for development)."""
    from pgtask.worker.devrun import run_handler_once

    registry = _load(handlers)
    setup_logging("info")
    ok, text = run_handler_once(registry, task_type, _json_object(payload))
    click.echo(text)
    sys.exit(0 if ok else 1)


@click.command("tasks")
@click.option("--handlers", "-H", multiple=True, metavar="MODULE",
              help="List what these handler modules define instead of the database's.")
@dsn_option
def list_tasks(handlers: tuple[str, ...], dsn: str | None) -> None:
    """List the task types workers registered: options, the live workers that run each,
    and when one was last seen (with --handlers: what the modules define)."""
    from pgtask.cli.task_types import print_database_types, print_module_types

    if handlers:
        print_module_types(_load(handlers))
    else:
        print_database_types(dsn)


def register(group: click.Group) -> None:
    for command in (worker, enqueue, run_once, list_tasks):
        group.add_command(command)
