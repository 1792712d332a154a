"""Rules shared by the HTTP endpoints pgtask opens (`pgtask serve`, worker metrics): which
addresses are loopback, and how long a credential must be."""

from __future__ import annotations

import ipaddress

# A token is a random string a program sends; 16 characters of token_urlsafe are 96 bits.
# A password is typed by people, and guessing is rate-limited (web/limiter.py).
MIN_TOKEN_CHARS, MIN_PASSWORD_CHARS = 16, 12
MAKE_ONE = "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1, bracketed or not)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
