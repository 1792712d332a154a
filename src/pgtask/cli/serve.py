"""pgtask serve: the HTTP API, the web dashboard and /metrics (see pgtask.web)."""

from __future__ import annotations

import logging
from typing import Any

import click

from pgtask.cli.common import dsn_option
from pgtask.cli.log_options import log_options
from pgtask.config import redact_dsn, resolve_dsn
from pgtask.durations import parse_duration
from pgtask.endpoints import is_loopback
from pgtask.store.base import Capability, require
from pgtask.store.operators import open_operator

log = logging.getLogger("pgtask.web")


def bind_refusal(host: str, auth_enabled: bool, insecure: bool) -> str | None:
    """Why `pgtask serve` must not bind `host`, or None when it may."""
    if auth_enabled or insecure or is_loopback(host):
        return None
    return (f"refusing to serve on {host} without authentication: set PGTASK_WEB_TOKENS, "
            "PGTASK_WEB_BASIC or --auth-file (see the README's Authentication section), "
            "or pass --insecure")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@dsn_option
@click.option("--auth-file", type=click.Path(dir_okay=False),
              help="Credentials file: lines 'token ROLE TOKEN' or 'basic ROLE USER PASSWORD'.")
@click.option("--insecure", is_flag=True,
              help="Allow a non-loopback address without authentication.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="A Host name (or *.domain) to answer besides localhost and the --host "
                   "address (repeatable; '*': any). Without auth every other name is "
                   "refused (DNS rebinding); with auth, giving names restricts to them.")
@click.option("--session-ttl", default="12h", show_default=True,
              help="How long a dashboard sign-in lasts (from sign-in, whatever the activity).")
@log_options
def serve(host: str, port: int, dsn: str | None, auth_file: str | None, insecure: bool,
          allowed_hosts: tuple[str, ...], session_ttl: str, log_level: str,
          log_format: str) -> None:
    """Serve the HTTP API, the web dashboard and Prometheus /metrics.

    Credentials (PGTASK_WEB_TOKENS, PGTASK_WEB_BASIC, --auth-file): tokens of at least 16
    characters, passwords of at least 12. Make a token with:

    \b
        python -c 'import secrets; print(secrets.token_urlsafe(32))'

    Five wrong credentials from one client address within 5 minutes lock it out for 5
    minutes (429, even with a right one). Dashboard sessions live in this process: a
    restart signs everyone out.
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise click.ClickException(
            f"pgtask serve needs the web extra: pip install 'pgtask[web]' ({exc.name} is missing)"
        ) from None
    app, url, auth_on = web_app(dsn, host, auth_file, insecure, allowed_hosts, session_ttl)
    from pgtask.logs import configure, uvicorn_options

    configure(log_level, log_format)
    log.info("serving %s on http://%s:%d (auth: %s)", redact_dsn(url), host, port,
             "on" if auth_on else "off", extra={"event": "serve.started"})
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False,
                **uvicorn_options(log_format))


def web_app(dsn: str | None, host: str, auth_file: str | None, insecure: bool,
            allowed_hosts: tuple[str, ...], session_ttl: str) -> tuple[Any, str, bool]:
    """The checked dashboard app (its resolved DSN, whether auth is on) that `pgtask serve`
    and `pgtask worker --serve-port` (cli/serve_inline.py) both run: one set of rules."""
    try:
        from pgtask.web.app import create_app
        from pgtask.web.auth import load
    except ImportError as exc:
        raise click.ClickException(
            f"pgtask serve needs the web extra: pip install 'pgtask[web]' ({exc.name} is missing)"
        ) from None
    auth = load(file=auth_file)
    try:
        ttl = parse_duration(session_ttl).total_seconds()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--session-ttl") from None
    if ttl <= 0:
        raise click.BadParameter("must be positive", param_hint="--session-ttl")
    refusal = bind_refusal(host, auth.enabled, insecure)
    if refusal:
        raise click.UsageError(refusal)
    url = resolve_dsn(dsn)
    # A wrong DSN, an unmigrated database or a backend without the web app (MySQL) fails
    # here, in one line, rather than at the first request.
    with open_operator(url) as operator:
        require(operator, Capability.WEB)
    app = create_app(url, auth=auth, allowed_hosts=allowed_hosts, bound=host,
                     session_ttl=ttl, insecure=True)  # bind_refusal has decided
    return app, url, auth.enabled


def register(group: click.Group) -> None:
    group.add_command(serve)
