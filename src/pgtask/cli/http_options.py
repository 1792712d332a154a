"""Worker flags for HTTP targets, for `pgtask worker` to add with one decorator:

    @http_options
    def worker(..., http_allow, http_allow_cidr, http_allow_link_local, http_secrets_file): ...
        targets = HttpTargets(http_config(http_allow, http_allow_link_local, http_secrets_file,
                                          http_allow_cidr))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from pgtask.worker.http.config import (
    ALLOW_CIDR_ENV,
    ALLOW_ENV,
    SECRETS_ENV,
    SECRETS_FILE_ENV,
    HttpConfig,
)


def http_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--http-secrets-file", default=None, metavar="PATH",
        help=f"File of whsec_ signing secrets, one per line (or ${SECRETS_FILE_ENV}; "
             f"${SECRETS_ENV} also works). Two secrets sign together during a rotation.")(command)
    command = click.option(
        "--http-allow-link-local", is_flag=True,
        help="Allow link-local and cloud-metadata target addresses (refused by default).")(command)
    command = click.option(
        "--http-allow-cidr", multiple=True, metavar="CIDR",
        help=f"Address range HTTP targets may be in although it is not public, e.g. "
             f"10.0.0.0/8 or 127.0.0.1/32 (repeatable; also ${ALLOW_CIDR_ENV}, comma "
             f"separated). Loopback, private, CGNAT and reserved addresses are refused "
             f"otherwise, whatever the name.")(command)
    command = click.option(
        "--http-allow", multiple=True, metavar="PREFIX",
        help=f"URL prefix a task's own target_url may start with (repeatable; also "
             f"${ALLOW_ENV}, comma separated). Queue target URLs need no entry.")(command)
    return command


def http_config(http_allow: Sequence[str] = (), http_allow_link_local: bool = False,
                http_secrets_file: str | None = None,
                http_allow_cidr: Sequence[str] = ()) -> HttpConfig:
    """The HttpConfig those flags (plus the environment) describe; ConfigError when wrong."""
    return HttpConfig.from_env(allow=http_allow, allow_cidrs=http_allow_cidr,
                               secrets_file=http_secrets_file,
                               allow_link_local=http_allow_link_local)
