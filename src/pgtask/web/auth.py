"""Who may call the web app: credentials from the environment or a file, and the pure
decisions about a request (which role it has, whether a mutation is CSRF-safe).

    PGTASK_WEB_TOKENS="admin:TOKEN1,read:TOKEN2"      bearer tokens
    PGTASK_WEB_BASIC="alice:s3cret:admin,bob:pw:read"  HTTP basic (user:password:role)
    PGTASK_WEB_AUTH_FILE=/etc/pgtask/web-auth          one credential a line:
        token admin TOKEN1
        basic read bob pw

Role "read" may look; "admin" may also change things (enqueue, retry, cancel, queues).
Secrets are kept only as SHA-256 digests and compared in constant time; no error message
or repr ever contains one.

Minimum lengths: a token is made by a program, so it costs nothing to make it long: 16
characters (96 bits from token_urlsafe) put guessing out of reach even without the
failed-login limit (limiter.py). A password is typed by people: 12 characters, with the
limit of 5 guesses per 5 minutes per client, is far beyond what online guessing can cover.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pgtask.endpoints import MAKE_ONE, MIN_PASSWORD_CHARS, MIN_TOKEN_CHARS
from pgtask.errors import ConfigError

ROLES = ("read", "admin")
TOKENS_ENV, BASIC_ENV, FILE_ENV = "PGTASK_WEB_TOKENS", "PGTASK_WEB_BASIC", "PGTASK_WEB_AUTH_FILE"
SESSION_COOKIE, CSRF_COOKIE, CSRF_HEADER = "pgtask_session", "pgtask_csrf", "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True, slots=True)
class Credential:
    kind: str        # 'token' or 'basic'
    role: str
    digest: bytes    # of the token, or of "user:password"
    name: str = ""   # the basic-auth user (tokens have no name)

    def __repr__(self) -> str:
        return f"Credential({self.kind}, {self.role}, {self.name or '<token>'})"


@dataclass(frozen=True, slots=True)
class AuthConfig:
    credentials: tuple[Credential, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.credentials)

    @property
    def has_basic(self) -> bool:
        return any(c.kind == "basic" for c in self.credentials)


def _role(role: str, where: str) -> str:
    if role not in ROLES:
        raise ConfigError(f"{where}: role must be 'read' or 'admin', got {role!r}")
    return role


def token(role: str, secret: str, where: str = "token") -> Credential:
    role = _role(role, where)
    if not secret:
        raise ConfigError(f"{where}: the token is empty ({MAKE_ONE})")
    if len(secret) < MIN_TOKEN_CHARS:
        raise ConfigError(f"{where}: the token is shorter than {MIN_TOKEN_CHARS} characters "
                          f"({MAKE_ONE})")
    return Credential("token", role, _digest(secret))


def basic(user: str, password: str, role: str, where: str = "basic") -> Credential:
    if not user or not password or ":" in user:
        raise ConfigError(f"{where}: give user:password:role (the user may not contain ':')")
    role = _role(role, where)
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"{where}: the password of {user!r} is shorter than "
                          f"{MIN_PASSWORD_CHARS} characters ({MAKE_ONE})")
    return Credential("basic", role, _digest(f"{user}:{password}"), user)


def parse_tokens(text: str, where: str = TOKENS_ENV) -> list[Credential]:
    """'admin:TOKEN1,read:TOKEN2' (tokens themselves may not contain ',')."""
    out = []
    for n, item in enumerate(filter(None, (i.strip() for i in text.split(","))), 1):
        role, sep, secret = item.partition(":")
        if not sep:
            raise ConfigError(f"{where} entry {n}: use role:token, e.g. admin:xyz")
        out.append(token(role.strip(), secret, f"{where} entry {n}"))
    return out


def parse_basic(text: str, where: str = BASIC_ENV) -> list[Credential]:
    """'user:password:role,...' (the password may contain ':', not ',')."""
    out = []
    for n, item in enumerate(filter(None, (i.strip() for i in text.split(","))), 1):
        user, _, rest = item.partition(":")
        password, _, role = rest.rpartition(":")
        out.append(basic(user, password, role.strip(), f"{where} entry {n}"))
    return out


def parse_file(text: str, where: str) -> list[Credential]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        place = f"{where} line {n}"
        if words[0] == "token" and len(words) == 3:
            out.append(token(words[1], words[2], place))
        elif words[0] == "basic" and len(words) == 4:
            out.append(basic(words[2], words[3], words[1], place))
        else:
            raise ConfigError(f"{place}: use 'token ROLE TOKEN' or 'basic ROLE USER PASSWORD'")
    return out


def load(env: Mapping[str, str] | None = None, file: str | None = None) -> AuthConfig:
    """Credentials from the environment and/or a file (`file` wins over $PGTASK_WEB_AUTH_FILE)."""
    env = os.environ if env is None else env
    creds = parse_tokens(env.get(TOKENS_ENV, "")) + parse_basic(env.get(BASIC_ENV, ""))
    path = file or env.get(FILE_ENV)
    if path:
        try:
            creds += parse_file(Path(path).read_text(), path)
        except OSError as exc:
            raise ConfigError(f"cannot read auth file {path}: {exc.strerror}") from None
    return AuthConfig(tuple(creds))


def _match(config: AuthConfig, kind: str, secret: str) -> str | None:
    """The best role whose credential matches; every credential is compared (no early exit)."""
    digest, found = _digest(secret), None
    for cred in config.credentials:
        if cred.kind == kind and hmac.compare_digest(cred.digest, digest):
            found = "admin" if cred.role == "admin" or found == "admin" else cred.role
    return found


def token_role(config: AuthConfig, secret: str) -> str | None:
    """The role of a token (the sign-in form's), or None."""
    return _match(config, "token", secret) if secret else None


def authenticate(config: AuthConfig, authorization: str | None) -> tuple[str | None, str | None]:
    """(role, how) for a request's Authorization header: how is 'bearer' or 'basic';
    (None, None) without one. Session cookies are the guard's (sessions.py).

    With no credentials configured every request is admin ('open').
    """
    if not config.enabled:
        return "admin", "open"
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return _match(config, "token", value.strip()), "bearer"
    if scheme.lower() == "basic" and value.strip():
        try:
            pair = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            return None, "basic"
        return _match(config, "basic", pair), "basic"
    return None, None


def _netloc(url: str) -> str | None:
    try:
        return urlsplit(url).netloc
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None


def csrf_ok(method: str, headers: Mapping[str, str], how: str | None, cookies: Mapping[str, str],
            host: str) -> bool:
    """May this request change something? Only browsers can be tricked into sending one.

    A bearer token is never sent by a browser on its own, so such requests pass. Any other
    mutation that looks like it comes from a browser (an Origin, Sec-Fetch-Site or Cookie
    header) must come from this host and carry the X-CSRF-Token header equal to the
    pgtask_csrf cookie (double submit: another site can neither read the cookie nor set the
    header without a CORS preflight, which this app never grants). curl without cookies
    passes: it holds its credentials itself, nobody can make it send a request.
    """
    if method in SAFE_METHODS or how == "bearer":
        return True
    if not any(h in headers for h in ("origin", "sec-fetch-site", "cookie")):
        return True
    if "origin" in headers and _netloc(headers["origin"]) != host:
        return False
    if headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
        return False
    return csrf_matches(headers.get(CSRF_HEADER, ""), cookies.get(CSRF_COOKIE, ""))


def csrf_matches(sent: str, expected: str) -> bool:
    """The double-submit check: the token sent echoes the cookie (compared in constant time)."""
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def allowed(role: str | None, method: str) -> bool:
    """Reads need any role; mutations need admin."""
    return role == "admin" or (role == "read" and method in SAFE_METHODS)
