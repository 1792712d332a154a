"""How a worker delivers HTTP tasks: secrets, target policy, limits. Validated at start-up.

Secrets come from the environment or a file, never from the database:

    PGTASK_HTTP_SECRETS        whsec_... secrets, comma separated; all sign (rotation)
    PGTASK_HTTP_SECRETS_FILE   a file of secrets, one per line ('#' comments allowed)
    PGTASK_HTTP_ALLOW          URL prefixes per-task target URLs must start with, comma separated
    PGTASK_HTTP_ALLOW_CIDR     address ranges targets may be in though not public, comma separated
    PGTASK_HTTP_AUTHORIZATION  an Authorization header value sent with every request
    PGTASK_HTTP_LATENCY_THRESHOLD  seconds: slower answers lower the dispatch rate like a 503
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgtask.errors import ConfigError
from pgtask.signing import SECRET_PREFIX, SigningSecret
from pgtask.worker.http.egress import EgressPolicy, IPNetwork, parse_cidr
from pgtask.worker.http.throttle import AimdSettings

# httpx (via policy) loads when a config is built: `pgtask worker --help` reads only the
# names of the variables below, and httpx is a third of the CLI's start-up.
if TYPE_CHECKING:
    import httpx

SECRETS_ENV = "PGTASK_HTTP_SECRETS"
SECRETS_FILE_ENV = "PGTASK_HTTP_SECRETS_FILE"
ALLOW_ENV = "PGTASK_HTTP_ALLOW"
ALLOW_CIDR_ENV = "PGTASK_HTTP_ALLOW_CIDR"
AUTHORIZATION_ENV = "PGTASK_HTTP_AUTHORIZATION"
LATENCY_ENV = "PGTASK_HTTP_LATENCY_THRESHOLD"


@dataclass(frozen=True)
class HttpConfig:
    secrets: tuple[SigningSecret, ...] = field(default=(), repr=False)
    allow: tuple[httpx.URL, ...] = ()            # prefixes for per-task target URLs
    allow_cidrs: tuple[IPNetwork, ...] = ()      # non-public ranges targets may be in
    allow_link_local: bool = False               # permit link-local / metadata addresses
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # e.g. Authorization
    max_response_bytes: int = 64 * 1024          # read at most this much of a response
    journal_response_chars: int = 2048           # keep this much of it in the attempt journal
    max_connections: int = 100                   # per worker process, over all clients
    max_pace_wait: float = 5.0                   # hold a throttled task this long, then snooze it
    verify_tls: bool = True
    aimd: AimdSettings = AimdSettings()

    def __post_init__(self) -> None:
        if self.max_response_bytes < 0 or self.journal_response_chars < 0:
            raise ConfigError("response caps must not be negative")
        if self.max_connections < 1:
            raise ConfigError("max_connections must be at least 1")

    @property
    def egress(self) -> EgressPolicy:
        return EgressPolicy(self.allow_cidrs, self.allow_link_local)

    def secret_values(self) -> list[str]:
        """Every secret string that must never be printed (for the scrubber)."""
        values = [SECRET_PREFIX + base64.b64encode(s.key).decode() for s in self.secrets]
        values += [v for v in self.headers.values() if v]
        for value in self.headers.values():  # "Bearer abc": the token alone is secret too
            values.extend(part for part in value.split() if len(part) >= 8)
        return values

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, allow: Iterable[str] = (),
                 allow_cidrs: Iterable[str] = (), secrets_file: str | None = None,
                 **options: Any) -> HttpConfig:
        """Settings from the environment plus explicit options (e.g. CLI flags)."""
        from pgtask.worker.http.policy import parse_prefix

        env = os.environ if env is None else env
        texts = _split(env.get(SECRETS_ENV, ""))
        path = secrets_file or env.get(SECRETS_FILE_ENV)
        if path:
            texts += read_secrets_file(path)
        secrets = _parse_secrets(texts)
        try:
            prefixes = tuple(parse_prefix(p) for p in [*_split(env.get(ALLOW_ENV, "")), *allow])
            cidrs = tuple(parse_cidr(c)
                          for c in [*_split(env.get(ALLOW_CIDR_ENV, "")), *allow_cidrs])
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        headers = dict(options.pop("headers", {}))
        if env.get(AUTHORIZATION_ENV):
            headers["authorization"] = env[AUTHORIZATION_ENV]
        if env.get(LATENCY_ENV):
            try:
                threshold = float(env[LATENCY_ENV])
            except ValueError:
                raise ConfigError(f"{LATENCY_ENV} must be a number of seconds") from None
            options["aimd"] = replace(options.get("aimd", AimdSettings()),
                                      latency_threshold=threshold)
        return cls(secrets=secrets, allow=prefixes, allow_cidrs=cidrs, headers=headers,
                   **options)


def _parse_secrets(texts: list[str]) -> tuple[SigningSecret, ...]:
    parsed = []
    for number, text in enumerate(texts, 1):
        try:
            parsed.append(SigningSecret.parse(text))
        except ValueError as exc:  # the message never holds the secret; its position helps
            raise ConfigError(f"bad webhook secret (number {number} of {len(texts)} in "
                              f"{SECRETS_ENV} then the secrets file): {exc}") from None
    return tuple(parsed)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def read_secrets_file(path: str) -> list[str]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the webhook secrets file {path}: {exc.strerror}") from None
    return [part for line in lines if not line.lstrip().startswith("#") for part in _split(line)]

